//! The counters and histograms, per severity, that `/metrics` exports. They are rebuilt from
//! the stored incidents at start-up, so their counts continue across restarts.

use crate::incident::{Incident, Kind};
use std::collections::BTreeMap;

/// Upper bounds of the duration histograms, in seconds: they include the targets' usual
/// values (15 min, 1 h, 2 h) so the share within target is exact.
pub const BUCKETS: [f64; 11] = [
    60.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 604800.0,
];

/// A classic histogram with [`BUCKETS`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last slot is `+Inf` only.
    pub counts: [u64; BUCKETS.len() + 1],
    /// Sum of observations.
    pub sum: f64,
}

impl Histogram {
    /// Records one value.
    pub fn observe(&mut self, v: f64) {
        let i = BUCKETS
            .iter()
            .position(|&b| v <= b)
            .unwrap_or(BUCKETS.len());
        self.counts[i] += 1;
        self.sum += v;
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Cumulative counts for each bound, then `+Inf`.
    pub fn cumulative(&self) -> Vec<(String, u64)> {
        let mut acc = 0;
        let mut out = Vec::with_capacity(self.counts.len());
        for (i, c) in self.counts.iter().enumerate() {
            acc += c;
            let le = match BUCKETS.get(i) {
                Some(b) => format!("{b}"),
                None => "+Inf".to_string(),
            };
            out.push((le, acc));
        }
        out
    }
}

/// Everything counted for one severity.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeverityStats {
    /// Incidents started.
    pub total: u64,
    /// Suppressed alerts started.
    pub suppressed: u64,
    /// Time to acknowledge.
    pub acknowledge: Histogram,
    /// Time to resolve.
    pub resolve: Histogram,
}

/// Counters per severity.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// By severity label value.
    pub by_severity: BTreeMap<String, SeverityStats>,
}

impl Stats {
    fn of(&mut self, inc: &Incident) -> &mut SeverityStats {
        self.by_severity
            .entry(inc.severity().to_string())
            .or_default()
    }

    /// Counts a new incident (or suppressed alert).
    pub fn started(&mut self, inc: &Incident) {
        match inc.kind {
            Kind::Incident => self.of(inc).total += 1,
            Kind::Suppressed => self.of(inc).suppressed += 1,
        }
    }

    /// Records the time to acknowledge of an incident just acknowledged.
    pub fn acknowledged(&mut self, inc: &Incident) {
        if inc.kind == Kind::Incident {
            if let Some(s) = inc.ack_seconds() {
                self.of(inc).acknowledge.observe(s);
            }
        }
    }

    /// Records the time to resolve of an incident just resolved.
    pub fn resolved(&mut self, inc: &Incident) {
        if inc.kind == Kind::Incident {
            if let Some(s) = inc.resolve_seconds() {
                self.of(inc).resolve.observe(s);
            }
        }
    }

    /// Counts a stored incident as if it had been followed live (used at start-up).
    pub fn replay(&mut self, inc: &Incident) {
        self.started(inc);
        self.acknowledged(inc);
        self.resolved(inc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_inclusive_upper_bounds() {
        let mut h = Histogram::default();
        h.observe(900.0);
        h.observe(900.5);
        h.observe(1e9);
        let c = h.cumulative();
        assert_eq!(c[3], ("900".to_string(), 1));
        assert_eq!(c[4], ("1800".to_string(), 2));
        assert_eq!(c.last().unwrap(), &("+Inf".to_string(), 3));
        assert_eq!(h.count(), 3);
        for t in [900.0, 3600.0, 7200.0] {
            assert!(BUCKETS.contains(&t));
        }
    }
}
