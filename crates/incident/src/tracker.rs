//! The incident lifecycle as a pure state machine: alerts and silences go in (from a poll of
//! the Alertmanagers, a webhook, or an acknowledge request), the changed incidents come out to
//! be stored, and the counters follow.
//!
//! - An incident starts at the alert's `startsAt`, keyed by fingerprint (so the copies an HA
//!   pair reports are one incident).
//! - A matching silence in force when the alert started makes it *suppressed* (counted apart).
//! - A matching silence that came into force after the start *acknowledges* it, at the
//!   silence's `startsAt` (its creator and comment are kept); so does an explicit acknowledge.
//! - It is *resolved* when the alert ends: gone from every Alertmanager that answered (at its
//!   last known `endsAt` if that has passed, else when it was found gone), or a webhook
//!   reporting it resolved (at its `endsAt`).

use crate::api::{Alert, Silence};
use crate::incident::{Ack, Incident, Kind};
use crate::matcher::{all_match, MatchValue};
use crate::stats::Stats;
use crate::timestamp::Millis;
use std::collections::{BTreeMap, HashMap, HashSet};

/// How long a resolved incident's key is remembered, so a late or repeated report of the same
/// alert occurrence (a lagging HA peer, a repeated webhook) is not counted again.
pub const RESOLVED_MEMORY_MS: Millis = 7 * 86_400_000;

/// How many of the newest incidents are kept in memory for the `/incidents` page.
pub const RECENT: usize = 500;

/// What happened to an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// It started (or a suppressed alert started).
    Started,
    /// It was acknowledged.
    Acknowledged,
    /// It was resolved.
    Resolved,
}

/// A changed incident, to be stored (the whole incident as it is now).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// What happened.
    pub event: Event,
    /// The incident after the change.
    pub incident: Incident,
}

/// The answer to an explicit acknowledge request.
#[derive(Debug, Clone, PartialEq)]
pub enum AckOutcome {
    /// Acknowledged now.
    Acknowledged(Change),
    /// It already was.
    Already(Ack),
    /// The alert was suppressed by a silence: nothing to acknowledge.
    Suppressed,
    /// No open incident has that fingerprint.
    NotOpen,
}

/// The open incidents, the recent ones and the counters.
#[derive(Debug, Default)]
pub struct Tracker {
    matchers: BTreeMap<String, MatchValue>,
    watchdog: String,
    open: HashMap<String, Incident>,
    resolved_keys: HashMap<(String, Millis), Millis>,
    recent: BTreeMap<(Millis, String), Incident>,
    silences: Vec<Silence>,
    /// Counters and histograms.
    pub stats: Stats,
    /// Whether the last successful poll saw the watchdog alert.
    pub watchdog_seen: bool,
    /// When the watchdog alert was last seen.
    pub watchdog_last_seen: Option<Millis>,
}

impl Tracker {
    /// A tracker for alerts matching `matchers`, watching for the `watchdog` alertname.
    pub fn new(matchers: BTreeMap<String, MatchValue>, watchdog: String) -> Self {
        let mut t = Self {
            matchers,
            watchdog,
            ..Self::default()
        };
        t.seed_severities();
        t
    }

    /// Creates the (zero) counters of every severity the matchers name, so each series exists
    /// before its first incident and `increase()` sees that first one too.
    fn seed_severities(&mut self) {
        if let Some(m) = self.matchers.get("severity") {
            for s in m.literal_values() {
                self.stats.by_severity.entry(s).or_default();
            }
        }
    }

    /// Continues from stored incidents: open ones resume, every one is counted again.
    pub fn restore(&mut self, stored: impl IntoIterator<Item = Incident>, now: Millis) {
        for inc in stored {
            self.restore_one(inc, now);
        }
    }

    /// Continues from one stored incident (see [`Tracker::restore`]).
    pub fn restore_one(&mut self, inc: Incident, now: Millis) {
        self.stats.replay(&inc);
        self.remember(&inc);
        match inc.resolved {
            None => {
                // Two open rows for one fingerprint cannot be both live: keep the newer.
                let newer = self
                    .open
                    .get(&inc.fingerprint)
                    .is_none_or(|o| o.start < inc.start);
                if newer {
                    self.open.insert(inc.fingerprint.clone(), inc);
                }
            }
            Some(at) => {
                if now - at < RESOLVED_MEMORY_MS {
                    self.resolved_keys
                        .insert((inc.fingerprint.clone(), inc.start), at);
                }
            }
        }
    }

    /// Follows a configuration change.
    pub fn reconfigure(&mut self, matchers: BTreeMap<String, MatchValue>, watchdog: String) {
        self.matchers = matchers;
        self.watchdog = watchdog;
        self.seed_severities();
    }

    /// The open incidents (suppressed ones included).
    pub fn open(&self) -> impl Iterator<Item = &Incident> {
        self.open.values()
    }

    /// The newest incidents, newest first.
    pub fn recent(&self) -> impl Iterator<Item = &Incident> {
        self.recent.values().rev()
    }

    fn remember(&mut self, inc: &Incident) {
        self.recent
            .insert((inc.start, inc.fingerprint.clone()), inc.clone());
        while self.recent.len() > RECENT {
            self.recent.pop_first();
        }
    }

    fn record(&mut self, event: Event, inc: &Incident, out: &mut Vec<Change>) {
        match event {
            Event::Started => self.stats.started(inc),
            Event::Acknowledged => self.stats.acknowledged(inc),
            Event::Resolved => self.stats.resolved(inc),
        }
        self.remember(inc);
        out.push(Change {
            event,
            incident: inc.clone(),
        });
    }

    /// Applies one poll: the alerts and silences of every Alertmanager that answered (at least
    /// one must have). Alerts missing from all of them have ended.
    pub fn observe_poll(
        &mut self,
        alerts: &[Alert],
        silences: Vec<Silence>,
        now: Millis,
    ) -> Vec<Change> {
        let mut out = Vec::new();
        self.silences = dedupe_silences(silences);
        let alerts = dedupe_alerts(alerts);
        self.watchdog_seen = !self.watchdog.is_empty()
            && alerts
                .values()
                .any(|a| a.labels.get("alertname") == Some(&self.watchdog));
        if self.watchdog_seen {
            self.watchdog_last_seen = Some(now);
        }
        let present: HashSet<&str> = alerts.keys().map(String::as_str).collect();
        for alert in alerts.values() {
            if all_match(&self.matchers, &alert.labels) {
                self.firing(alert, now, &mut out);
            }
        }
        self.acknowledge_by_silences(now, &mut out);
        let gone: Vec<String> = self
            .open
            .keys()
            .filter(|fp| !present.contains(fp.as_str()))
            .cloned()
            .collect();
        for fp in gone {
            let ends = self.open.get(&fp).and_then(|i| i.last_ends_at);
            let at = ends.map_or(now, |e| e.min(now));
            self.resolve(&fp, at, &mut out);
        }
        self.forget_old(now);
        out
    }

    /// Applies a webhook notification: firing alerts start (or continue) incidents, resolved
    /// ones end them at their `endsAt`. Silences are those of the last poll.
    pub fn observe_webhook(&mut self, alerts: &[Alert], now: Millis) -> Vec<Change> {
        let mut out = Vec::new();
        for alert in alerts {
            if !all_match(&self.matchers, &alert.labels) || alert.starts_at > now {
                continue;
            }
            if alert.resolved {
                let at = alert.ends_at.unwrap_or(now).min(now);
                let open_same = self
                    .open
                    .get(&alert.fingerprint)
                    .is_some_and(|i| i.start <= alert.starts_at);
                if !open_same {
                    // Never seen firing (we were down): it still happened.
                    self.firing(alert, now, &mut out);
                }
                if self
                    .open
                    .get(&alert.fingerprint)
                    .is_some_and(|i| i.start <= alert.starts_at)
                {
                    self.resolve(&alert.fingerprint, at, &mut out);
                }
            } else {
                self.firing(alert, now, &mut out);
            }
        }
        self.acknowledge_by_silences(now, &mut out);
        out
    }

    /// An explicit acknowledgement of the open incident with `fingerprint`.
    pub fn acknowledge(
        &mut self,
        fingerprint: &str,
        by: &str,
        comment: &str,
        now: Millis,
    ) -> AckOutcome {
        let Some(inc) = self.open.get_mut(fingerprint) else {
            return AckOutcome::NotOpen;
        };
        if inc.kind == Kind::Suppressed {
            return AckOutcome::Suppressed;
        }
        if let Some(a) = &inc.ack {
            return AckOutcome::Already(a.clone());
        }
        inc.ack = Some(Ack {
            at: now.max(inc.start),
            by: by.to_string(),
            comment: comment.to_string(),
            via: "api".to_string(),
        });
        let inc = inc.clone();
        let mut out = Vec::new();
        self.record(Event::Acknowledged, &inc, &mut out);
        match out.pop() {
            Some(c) => AckOutcome::Acknowledged(c),
            None => AckOutcome::NotOpen,
        }
    }

    fn firing(&mut self, alert: &Alert, now: Millis, out: &mut Vec<Change>) {
        if alert.starts_at > now {
            return;
        }
        if let Some(inc) = self.open.get_mut(&alert.fingerprint) {
            if inc.start == alert.starts_at {
                inc.last_ends_at = alert.ends_at;
                return;
            }
            if alert.starts_at < inc.start {
                return; // an older occurrence reported late
            }
            // The alert ended and fired again between two looks: close the old occurrence.
            let at = alert.starts_at.min(now);
            self.resolve(&alert.fingerprint, at, out);
        }
        if self
            .resolved_keys
            .contains_key(&(alert.fingerprint.clone(), alert.starts_at))
        {
            return;
        }
        let suppressor = self
            .silences
            .iter()
            .filter(|s| {
                s.starts_at <= alert.starts_at
                    && s.ends_at > alert.starts_at
                    && s.matches(&alert.labels)
            })
            .min_by_key(|s| s.starts_at);
        let (kind, ack) = match suppressor {
            Some(s) => (
                Kind::Suppressed,
                Some(Ack {
                    at: alert.starts_at,
                    by: s.created_by.clone(),
                    comment: s.comment.clone(),
                    via: format!("silence:{}", s.id),
                }),
            ),
            None => (Kind::Incident, None),
        };
        let inc = Incident {
            fingerprint: alert.fingerprint.clone(),
            start: alert.starts_at,
            labels: alert.labels.clone(),
            kind,
            ack,
            resolved: None,
            last_ends_at: alert.ends_at,
        };
        self.open.insert(inc.fingerprint.clone(), inc.clone());
        self.record(Event::Started, &inc, out);
    }

    fn acknowledge_by_silences(&mut self, now: Millis, out: &mut Vec<Change>) {
        let mut acked = Vec::new();
        for inc in self.open.values_mut() {
            if inc.kind != Kind::Incident || inc.ack.is_some() {
                continue;
            }
            let silence = self
                .silences
                .iter()
                .filter(|s| s.starts_at <= now && s.ends_at > inc.start && s.matches(&inc.labels))
                .min_by_key(|s| s.starts_at);
            if let Some(s) = silence {
                inc.ack = Some(Ack {
                    at: s.starts_at.max(inc.start),
                    by: s.created_by.clone(),
                    comment: s.comment.clone(),
                    via: format!("silence:{}", s.id),
                });
                acked.push(inc.clone());
            }
        }
        acked.sort_by_key(|i| i.start);
        for inc in acked {
            self.record(Event::Acknowledged, &inc, out);
        }
    }

    fn resolve(&mut self, fingerprint: &str, at: Millis, out: &mut Vec<Change>) {
        let Some(mut inc) = self.open.remove(fingerprint) else {
            return;
        };
        let at = at.max(inc.start);
        inc.resolved = Some(at);
        self.resolved_keys
            .insert((inc.fingerprint.clone(), inc.start), at);
        self.record(Event::Resolved, &inc, out);
    }

    fn forget_old(&mut self, now: Millis) {
        if self.resolved_keys.len() > 1024 {
            self.resolved_keys
                .retain(|_, at| now - *at < RESOLVED_MEMORY_MS);
        }
    }
}

/// One alert per fingerprint (an HA pair reports each twice), the earliest start winning.
fn dedupe_alerts(alerts: &[Alert]) -> BTreeMap<String, Alert> {
    let mut out: BTreeMap<String, Alert> = BTreeMap::new();
    for a in alerts {
        match out.get_mut(&a.fingerprint) {
            Some(have) if have.starts_at <= a.starts_at => {
                if have.starts_at == a.starts_at {
                    have.ends_at = have.ends_at.max(a.ends_at);
                }
            }
            _ => {
                out.insert(a.fingerprint.clone(), a.clone());
            }
        }
    }
    out
}

/// One silence per id (clustered peers share theirs).
fn dedupe_silences(mut silences: Vec<Silence>) -> Vec<Silence> {
    let mut seen = HashSet::new();
    silences.retain(|s| seen.insert(s.id.clone()));
    silences
}
