//! The running exporter's state: the tracker behind a lock, the store behind another, and
//! the health of each source. Every change to incidents goes through here, one at a time, so
//! the database sees them in the order they happened. SQLite runs on the blocking pool.

use crate::api::{Alert, Silence};
use crate::config::Targets;
use crate::store::Store;
use crate::timestamp::{self, Millis};
use crate::tracker::{AckOutcome, Change, Event, Tracker};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// The health of one Alertmanager as last polled.
#[derive(Debug, Clone, Default)]
pub struct SourceStatus {
    /// Whether the last poll succeeded.
    pub up: bool,
    /// When a poll last succeeded.
    pub last_success: Option<Millis>,
    /// Failed polls since start.
    pub errors: u64,
    /// The last failure, while it lasts (logged at warning level once, then at debug).
    pub last_error: Option<String>,
}

/// What one poll of one Alertmanager found.
pub type PollResult = Result<(Vec<Alert>, Vec<Silence>), String>;

/// Everything the metrics and the page read.
#[derive(Debug, Default)]
pub struct State {
    /// The lifecycle state.
    pub tracker: Tracker,
    /// By Alertmanager `instance`.
    pub sources: BTreeMap<String, SourceStatus>,
    /// Webhook requests by outcome (`accepted`, `invalid`).
    pub webhook: BTreeMap<&'static str, u64>,
    /// Acknowledge requests by outcome.
    pub acknowledge: BTreeMap<&'static str, u64>,
    /// Failed writes to the store.
    pub storage_errors: u64,
    /// The targets in force.
    pub targets: Option<Targets>,
    /// How long the last round of polls took, reading and applying (seconds).
    pub last_poll_seconds: Option<f64>,
}

/// Shared by the follower, the POST handlers, the collector and the page.
pub struct Engine {
    state: Mutex<State>,
    store: Arc<Mutex<Store>>,
    writer: tokio::sync::Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Engine {
    /// Starts from a tracker already restored from `store`.
    pub fn new(tracker: Tracker, store: Store, targets: Targets) -> Arc<Engine> {
        Arc::new(Engine {
            state: Mutex::new(State {
                tracker,
                targets: Some(targets),
                ..State::default()
            }),
            store: Arc::new(Mutex::new(store)),
            writer: tokio::sync::Mutex::new(()),
        })
    }

    /// Reads the state (briefly: never hold it across an await).
    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Writes changes to the store on the blocking pool; a failure is logged and counted.
    async fn persist(&self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        for c in &changes {
            log_change(c);
        }
        let store = Arc::clone(&self.store);
        let result = tokio::task::spawn_blocking(move || lock(&store).apply(&changes)).await;
        let failure = match result {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("storage task failed: {e}"),
        };
        tracing::error!(error = %failure, "Cannot store incident changes; they are kept in memory only");
        self.state().storage_errors += 1;
    }

    /// Applies one round of polls (one result per Alertmanager). The matching (thousands of
    /// alerts against the open incidents and silences) runs on the blocking pool, so the
    /// async thread keeps serving scrapes meanwhile.
    pub async fn apply_poll(self: &Arc<Self>, results: Vec<(String, PollResult)>) {
        let _one = self.writer.lock().await;
        let engine = Arc::clone(self);
        let changes = tokio::task::spawn_blocking(move || engine.apply_poll_blocking(results))
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "Applying a poll failed");
                Vec::new()
            });
        self.persist(changes).await;
    }

    fn apply_poll_blocking(&self, results: Vec<(String, PollResult)>) -> Vec<Change> {
        let now = timestamp::now();
        {
            let mut st = self.state();
            let mut alerts = Vec::new();
            let mut silences = Vec::new();
            let mut any = false;
            for (instance, result) in results {
                let status = st.sources.entry(instance.clone()).or_default();
                match result {
                    Ok((a, s)) => {
                        if status.last_error.take().is_some() {
                            tracing::info!(alertmanager = %instance, "Alertmanager answers again");
                        }
                        status.up = true;
                        status.last_success = Some(now);
                        alerts.extend(a);
                        silences.extend(s);
                        any = true;
                    }
                    Err(e) => {
                        status.up = false;
                        status.errors += 1;
                        if status.last_error.as_deref() == Some(e.as_str()) {
                            tracing::debug!(alertmanager = %instance, error = %e, "Cannot read Alertmanager; keeping the previous state");
                        } else {
                            tracing::warn!(alertmanager = %instance, error = %e, "Cannot read Alertmanager; keeping the previous state");
                            status.last_error = Some(e);
                        }
                    }
                }
            }
            if any {
                st.tracker.observe_poll(&alerts, silences, now)
            } else {
                Vec::new()
            }
        }
    }

    /// Follows a reloaded configuration (matchers, watchdog, targets; storage needs a restart).
    pub fn reconfigure(&self, config: &crate::config::Config) {
        let mut st = self.state();
        st.tracker
            .reconfigure(config.matchers(), config.watchdog.clone());
        st.targets = Some(config.targets);
    }

    /// Records how long a round of polls took.
    pub fn poll_took(&self, seconds: f64) {
        self.state().last_poll_seconds = Some(seconds);
    }

    /// Forgets sources no longer configured.
    pub fn retain_sources(&self, instances: &[String]) {
        self.state().sources.retain(|k, _| instances.contains(k));
    }

    /// Applies a webhook notification.
    pub async fn apply_webhook(&self, alerts: Vec<Alert>) {
        let _one = self.writer.lock().await;
        let changes = {
            let mut st = self.state();
            *st.webhook.entry("accepted").or_default() += 1;
            st.tracker.observe_webhook(&alerts, timestamp::now())
        };
        self.persist(changes).await;
    }

    /// Counts a webhook request that was refused.
    pub fn webhook_invalid(&self) {
        *self.state().webhook.entry("invalid").or_default() += 1;
    }

    /// Acknowledges the open incident with `fingerprint`.
    pub async fn acknowledge(&self, fingerprint: &str, by: &str, comment: &str) -> AckOutcome {
        let _one = self.writer.lock().await;
        let outcome = {
            let mut st = self.state();
            let outcome = st
                .tracker
                .acknowledge(fingerprint, by, comment, timestamp::now());
            let key = match &outcome {
                AckOutcome::Acknowledged(_) => "acknowledged",
                AckOutcome::Already(_) => "already",
                AckOutcome::Suppressed => "suppressed",
                AckOutcome::NotOpen => "not_open",
            };
            *st.acknowledge.entry(key).or_default() += 1;
            outcome
        };
        if let AckOutcome::Acknowledged(c) = &outcome {
            self.persist(vec![c.clone()]).await;
        }
        outcome
    }

    /// Counts an acknowledge request that was refused before reaching an incident.
    pub fn acknowledge_invalid(&self) {
        *self.state().acknowledge.entry("invalid").or_default() += 1;
    }

    /// Deletes incidents resolved longer ago than `retention_ms`.
    pub async fn prune(&self, retention_ms: Millis) {
        let before = timestamp::now().saturating_sub(retention_ms);
        let store = Arc::clone(&self.store);
        match tokio::task::spawn_blocking(move || lock(&store).prune(before)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(deleted = n, "Deleted incidents past the retention"),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "Cannot apply the retention");
                self.state().storage_errors += 1;
            }
            Err(e) => tracing::error!(error = %e, "Retention task failed"),
        }
    }
}

fn log_change(c: &Change) {
    let i = &c.incident;
    let what = match c.event {
        Event::Started => "Incident started",
        Event::Acknowledged => "Incident acknowledged",
        Event::Resolved => "Incident resolved",
    };
    tracing::info!(
        fingerprint = %i.fingerprint,
        alertname = %i.alertname(),
        severity = %i.severity(),
        kind = i.kind.as_str(),
        start = %timestamp::format(i.start),
        by = i.ack.as_ref().map(|a| a.by.as_str()).unwrap_or(""),
        "{what}"
    );
}
