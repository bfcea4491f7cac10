//! Alertmanager's data as this exporter uses it: alerts and silences from the v2 API
//! (`/api/v2/alerts`, `/api/v2/silences`) and the webhook notification body.

use crate::matcher::{Labels, SilenceMatcher};
use crate::timestamp::{self, Millis};
use serde::Deserialize;

/// An alert: fingerprint, labels and when it started (and is due to end).
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Alertmanager's fingerprint of the label set (the same on every peer of a cluster).
    pub fingerprint: String,
    /// The labels.
    pub labels: Labels,
    /// `startsAt`.
    pub starts_at: Millis,
    /// `endsAt`, when set.
    pub ends_at: Option<Millis>,
    /// Whether the alert has ended (webhook `status: resolved`).
    pub resolved: bool,
}

/// A silence: who created it, why, when it was in force and what it matches.
#[derive(Debug, Clone)]
pub struct Silence {
    /// Its id.
    pub id: String,
    /// Its matchers (all must match).
    pub matchers: Vec<SilenceMatcher>,
    /// `startsAt`: when it came into force (Alertmanager sets it to the creation time).
    pub starts_at: Millis,
    /// `endsAt`.
    pub ends_at: Millis,
    /// `createdBy`.
    pub created_by: String,
    /// `comment`.
    pub comment: String,
}

impl Silence {
    /// Whether the silence matches `labels` (a silence without matchers matches nothing).
    pub fn matches(&self, labels: &Labels) -> bool {
        !self.matchers.is_empty() && self.matchers.iter().all(|m| m.matches(labels))
    }
}

/// Why an API answer or a webhook body was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not the JSON we expect.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A timestamp that is not RFC 3339.
    #[error("invalid timestamp {0:?}")]
    Timestamp(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireAlert {
    #[serde(default)]
    fingerprint: String,
    #[serde(default)]
    labels: Labels,
    starts_at: String,
    #[serde(default)]
    ends_at: Option<String>,
    // `/api/v2/alerts` has an object here (`{state: ...}`), the webhook a string.
    #[serde(default)]
    status: Option<serde_json::Value>,
}

fn ts(s: &str) -> Result<Millis, DecodeError> {
    timestamp::parse(s).ok_or_else(|| DecodeError::Timestamp(s.chars().take(64).collect()))
}

impl WireAlert {
    fn into_alert(self) -> Result<Alert, DecodeError> {
        let starts_at = ts(&self.starts_at)?;
        // Go's zero time (year 1) means "not set".
        let ends_at = match self.ends_at.as_deref() {
            None | Some("") => None,
            Some(s) => Some(ts(s)?).filter(|&t| t > 0),
        };
        let resolved = self
            .status
            .as_ref()
            .and_then(|s| s.as_str())
            .is_some_and(|s| s == "resolved");
        let fingerprint = if self.fingerprint.is_empty() {
            fingerprint_of(&self.labels)
        } else {
            self.fingerprint
        };
        Ok(Alert {
            fingerprint,
            labels: self.labels,
            starts_at,
            ends_at,
            resolved,
        })
    }
}

/// A stand-in fingerprint (FNV-1a of the sorted label pairs) for a webhook alert that has none.
fn fingerprint_of(labels: &Labels) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in labels {
        for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xfe]) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// Decodes the body of `GET /api/v2/alerts`.
pub fn decode_alerts(body: &[u8]) -> Result<Vec<Alert>, DecodeError> {
    let wire: Vec<WireAlert> = serde_json::from_slice(body)?;
    wire.into_iter().map(WireAlert::into_alert).collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireMatcher {
    name: String,
    value: String,
    #[serde(default)]
    is_regex: bool,
    #[serde(default = "yes")]
    is_equal: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSilence {
    id: String,
    matchers: Vec<WireMatcher>,
    starts_at: String,
    ends_at: String,
    #[serde(default)]
    created_by: String,
    #[serde(default)]
    comment: String,
}

/// Decodes the body of `GET /api/v2/silences`.
pub fn decode_silences(body: &[u8]) -> Result<Vec<Silence>, DecodeError> {
    let wire: Vec<WireSilence> = serde_json::from_slice(body)?;
    wire.into_iter()
        .map(|w| {
            let matchers: Option<Vec<SilenceMatcher>> = w
                .matchers
                .iter()
                .map(|m| SilenceMatcher::new(&m.name, &m.value, m.is_regex, m.is_equal))
                .collect();
            Ok(Silence {
                id: w.id,
                matchers: matchers.unwrap_or_default(),
                starts_at: ts(&w.starts_at)?,
                ends_at: ts(&w.ends_at)?,
                created_by: w.created_by,
                comment: w.comment,
            })
        })
        .collect()
}

#[derive(Deserialize)]
struct WireWebhook {
    alerts: Vec<WireAlert>,
}

/// Decodes an Alertmanager webhook notification (`{"version":"4", ..., "alerts":[...]}`).
pub fn decode_webhook(body: &[u8]) -> Result<Vec<Alert>, DecodeError> {
    let wire: WireWebhook = serde_json::from_slice(body)?;
    wire.alerts.into_iter().map(WireAlert::into_alert).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_api_alerts_and_silences() {
        let alerts = decode_alerts(br#"[{"annotations":{},"endsAt":"2026-12-01T22:05:00.000Z","fingerprint":"abc","receivers":[{"name":"x"}],"startsAt":"2026-12-01T21:50:00.000Z","status":{"inhibitedBy":[],"silencedBy":[],"state":"active"},"updatedAt":"2026-12-01T21:50:00.000Z","labels":{"alertname":"A","severity":"critical"}}]"#).unwrap();
        assert_eq!(alerts[0].fingerprint, "abc");
        assert_eq!(alerts[0].labels["severity"], "critical");
        assert!(!alerts[0].resolved);
        assert_eq!(
            alerts[0].ends_at.unwrap() - alerts[0].starts_at,
            15 * 60 * 1000
        );
        let s = decode_silences(br#"[{"id":"s1","status":{"state":"active"},"updatedAt":"2026-12-01T21:51:00Z","comment":"on it","createdBy":"alice","endsAt":"2026-12-01T23:00:00Z","startsAt":"2026-12-01T21:51:00Z","matchers":[{"name":"alertname","value":"A","isRegex":false,"isEqual":true}]}]"#).unwrap();
        assert_eq!(s[0].created_by, "alice");
        assert!(s[0].matches(&alerts[0].labels));
        assert!(decode_alerts(b"<html>").is_err());
        assert!(decode_alerts(br#"[{"startsAt":"soon"}]"#).is_err());
    }

    #[test]
    fn decodes_webhook_with_zero_end() {
        let a = decode_webhook(br#"{"version":"4","status":"firing","alerts":[{"status":"resolved","labels":{"a":"b"},"startsAt":"2026-12-01T21:50:00Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":""}]}"#).unwrap();
        assert!(a[0].resolved);
        assert_eq!(a[0].ends_at, None);
        assert_eq!(a[0].fingerprint.len(), 16);
    }
}
