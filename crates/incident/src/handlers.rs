//! The POST endpoints: Alertmanager's webhook (`/webhook`) and the acknowledge endpoint
//! (`/acknowledge`) a chat button or a pager link calls.

use crate::api;
use crate::engine::Engine;
use crate::timestamp;
use crate::tracker::AckOutcome;
use bytes::Bytes;
use serde::Deserialize;
use std::sync::Arc;
use watchkeeper_core::exporter::PostHandler;
use watchkeeper_core::page::PageResponse;
use watchkeeper_core::BoxFuture;

/// The largest webhook body accepted (Alertmanager sends whole groups: allow many alerts).
pub const MAX_WEBHOOK_BODY: usize = 4 << 20;
/// The largest acknowledge request body.
pub const MAX_ACK_BODY: usize = 16 << 10;

/// `POST /webhook`: an Alertmanager webhook notification (`webhook_configs` `url`).
pub struct Webhook(pub Arc<Engine>);

impl PostHandler for Webhook {
    fn post(&self, _query: &str, body: Bytes) -> BoxFuture<'_, PageResponse> {
        Box::pin(async move {
            match api::decode_webhook(&body) {
                Ok(alerts) => {
                    self.0.apply_webhook(alerts).await;
                    PageResponse::text(200, "OK\n".into())
                }
                Err(e) => {
                    tracing::warn!(error = %e, bytes = body.len(), "Invalid webhook notification refused");
                    self.0.webhook_invalid();
                    PageResponse::text(400, format!("invalid webhook notification: {e}\n"))
                }
            }
        })
    }
}

/// What an acknowledge request carries, from the query string, a form or a JSON body.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    /// The alert's fingerprint.
    #[serde(default)]
    pub fingerprint: String,
    /// Who acknowledges.
    #[serde(default)]
    pub by: String,
    /// Why, or what is being done.
    #[serde(default)]
    pub comment: String,
}

fn form(s: &str, into: &mut AckRequest) -> Result<(), String> {
    for pair in s.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_encoding::percent_decode_str(&v.replace('+', " "))
            .decode_utf8()
            .map_err(|_| format!("parameter {k:?} is not UTF-8"))?
            .into_owned();
        match k {
            "fingerprint" => into.fingerprint = v,
            "by" => into.by = v,
            "comment" => into.comment = v,
            other => {
                let shown: String = other.chars().take(32).collect();
                return Err(format!(
                    "unknown parameter {shown:?} (use fingerprint, by, comment)"
                ));
            }
        }
    }
    Ok(())
}

/// Reads an acknowledge request: query parameters, then a JSON object or a form body.
pub fn parse_ack(query: &str, body: &[u8]) -> Result<AckRequest, String> {
    let mut req = AckRequest::default();
    form(query, &mut req)?;
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string())?;
    let text = text.trim();
    if text.starts_with('{') {
        let j: AckRequest = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
        for (to, from) in [
            (&mut req.fingerprint, j.fingerprint),
            (&mut req.by, j.by),
            (&mut req.comment, j.comment),
        ] {
            if !from.is_empty() {
                *to = from;
            }
        }
    } else {
        form(text, &mut req)?;
    }
    if req.fingerprint.is_empty() {
        return Err("missing fingerprint".into());
    }
    if req.by.is_empty() {
        return Err("missing by (who acknowledges)".into());
    }
    if req.fingerprint.len() > 128 || req.by.len() > 256 || req.comment.len() > 4096 {
        return Err("fingerprint, by or comment too long".into());
    }
    Ok(req)
}

/// `POST /acknowledge?fingerprint=…&by=…&comment=…` (or the same as a form or JSON body).
pub struct Acknowledge(pub Arc<Engine>);

impl PostHandler for Acknowledge {
    fn post(&self, query: &str, body: Bytes) -> BoxFuture<'_, PageResponse> {
        let parsed = parse_ack(query, &body);
        Box::pin(async move {
            let req = match parsed {
                Ok(r) => r,
                Err(e) => {
                    self.0.acknowledge_invalid();
                    return PageResponse::text(400, format!("{e}\n"));
                }
            };
            match self
                .0
                .acknowledge(&req.fingerprint, &req.by, &req.comment)
                .await
            {
                AckOutcome::Acknowledged(c) => PageResponse::text(
                    200,
                    format!(
                        "acknowledged {} by {} at {}\n",
                        c.incident.alertname(),
                        req.by,
                        c.incident
                            .ack
                            .as_ref()
                            .map(|a| timestamp::format(a.at))
                            .unwrap_or_default()
                    ),
                ),
                AckOutcome::Already(a) => PageResponse::text(
                    200,
                    format!(
                        "already acknowledged by {} at {}\n",
                        a.by,
                        timestamp::format(a.at)
                    ),
                ),
                AckOutcome::Suppressed => PageResponse::text(
                    409,
                    "the alert is suppressed by a silence: nothing to acknowledge\n".into(),
                ),
                AckOutcome::NotOpen => {
                    PageResponse::text(404, "no open incident has that fingerprint\n".into())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_requests_from_query_form_and_json() {
        let r = parse_ack("fingerprint=abc&by=alice&comment=on+it%21", b"").unwrap();
        assert_eq!(
            (r.fingerprint.as_str(), r.by.as_str(), r.comment.as_str()),
            ("abc", "alice", "on it!")
        );
        let r = parse_ack("", br#"{"fingerprint":"f","by":"bob"}"#).unwrap();
        assert_eq!(r.by, "bob");
        let r = parse_ack("fingerprint=f", b"by=carol").unwrap();
        assert_eq!(r.by, "carol");
        assert!(parse_ack("", b"").unwrap_err().contains("fingerprint"));
        assert!(parse_ack("fingerprint=f", b"").unwrap_err().contains("by"));
        assert!(parse_ack("fingerprint=f&by=x&evil=1", b"")
            .unwrap_err()
            .contains("unknown"));
        assert!(parse_ack("", b"{not json").is_err());
        assert!(parse_ack("", &[0xff, 0xfe]).is_err());
    }
}
