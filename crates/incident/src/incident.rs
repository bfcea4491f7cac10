//! An incident and how it was acknowledged.

use crate::matcher::Labels;
use crate::timestamp::Millis;

/// Whether an alert is an incident to respond to, or was expected (silenced before it started).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A real incident: counted in `incidents_total` and the duration histograms.
    Incident,
    /// Suppressed by a silence that existed when it started (maintenance): counted apart.
    Suppressed,
}

impl Kind {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Incident => "incident",
            Kind::Suppressed => "suppressed",
        }
    }

    /// Reads the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "incident" => Some(Kind::Incident),
            "suppressed" => Some(Kind::Suppressed),
            _ => None,
        }
    }
}

/// How an incident was acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// When.
    pub at: Millis,
    /// Who: the silence's `createdBy`, or the acknowledge request's `by`.
    pub by: String,
    /// The silence's comment or the request's comment.
    pub comment: String,
    /// `silence:<id>` or `api`.
    pub via: String,
}

/// One incident: an alert occurrence identified by fingerprint and start time.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// The alert's fingerprint.
    pub fingerprint: String,
    /// The alert's `startsAt`.
    pub start: Millis,
    /// The alert's labels.
    pub labels: Labels,
    /// Incident or suppressed.
    pub kind: Kind,
    /// The acknowledgement (or, for a suppressed one, the silence that suppressed it).
    pub ack: Option<Ack>,
    /// When the alert ended.
    pub resolved: Option<Millis>,
    /// The last `endsAt` seen while open (not stored: a hint for when an alert that vanished
    /// from the API ended).
    pub last_ends_at: Option<Millis>,
}

impl Incident {
    /// The `severity` label (`none` when absent).
    pub fn severity(&self) -> &str {
        self.labels
            .get("severity")
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("none")
    }

    /// The `alertname` label.
    pub fn alertname(&self) -> &str {
        self.labels
            .get("alertname")
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Seconds from start to acknowledgement.
    pub fn ack_seconds(&self) -> Option<f64> {
        self.ack
            .as_ref()
            .map(|a| crate::timestamp::seconds_between(self.start, a.at))
    }

    /// Seconds from start to resolution.
    pub fn resolve_seconds(&self) -> Option<f64> {
        self.resolved
            .map(|r| crate::timestamp::seconds_between(self.start, r))
    }
}
