//! `/metrics`: the incident counters, histograms and gauges, and the health of the sources.

use crate::engine::{Engine, State};
use crate::incident::Kind;
use crate::stats::Histogram;
use std::collections::BTreeMap;
use std::sync::Arc;
use watchkeeper_core::metrics::{MetricSet, MetricType};
use watchkeeper_core::{BoxFuture, CollectError, Collector, ScrapeContext};

/// The collector over the engine's state.
pub struct IncidentCollector(pub Arc<Engine>);

impl Collector for IncidentCollector {
    fn name(&self) -> &str {
        "incidents"
    }

    fn collect(&self, _ctx: ScrapeContext) -> BoxFuture<'_, Result<MetricSet, CollectError>> {
        Box::pin(async move {
            let mut out = MetricSet::new();
            render(&self.0.state(), &mut out);
            Ok(out)
        })
    }
}

fn histogram(
    out: &mut MetricSet,
    name: &'static str,
    help: &'static str,
    by: &[(&str, &Histogram)],
) {
    let fam = out.family(name, help, MetricType::Histogram);
    for (severity, h) in by {
        for (le, n) in h.cumulative() {
            fam.sample_with_suffix("_bucket", &[("severity", severity), ("le", &le)], n as f64);
        }
        fam.sample_with_suffix("_sum", &[("severity", severity)], h.sum);
        fam.sample_with_suffix("_count", &[("severity", severity)], h.count() as f64);
    }
}

/// Writes every family for `st` into `out`.
pub fn render(st: &State, out: &mut MetricSet) {
    let stats = &st.tracker.stats.by_severity;
    let ack: Vec<(&str, &Histogram)> = stats
        .iter()
        .map(|(s, v)| (s.as_str(), &v.acknowledge))
        .collect();
    let res: Vec<(&str, &Histogram)> = stats
        .iter()
        .map(|(s, v)| (s.as_str(), &v.resolve))
        .collect();
    histogram(
        out,
        "incident_acknowledge_duration_seconds",
        "Time from an incident's start to its acknowledgement (a silence created after the start, or the acknowledge endpoint).",
        &ack,
    );
    histogram(
        out,
        "incident_resolve_duration_seconds",
        "Time from an incident's start to its resolution.",
        &res,
    );
    let fam = out.family("incidents_total", "Incidents started.", MetricType::Counter);
    for (s, v) in stats {
        fam.sample(&[("severity", s)], v.total as f64);
    }
    let fam = out.family(
        "incidents_suppressed_total",
        "Alerts matching the incident matchers that started while a matching silence was in force (maintenance): not incidents.",
        MetricType::Counter,
    );
    for (s, v) in stats {
        fam.sample(&[("severity", s)], v.suppressed as f64);
    }

    // Open incidents by severity: every severity ever counted has both states, even at 0.
    let mut open: BTreeMap<&str, (u64, u64, Option<i64>)> =
        stats.keys().map(|s| (s.as_str(), (0, 0, None))).collect();
    let mut oldest_open: BTreeMap<&str, i64> = BTreeMap::new();
    for inc in st.tracker.open().filter(|i| i.kind == Kind::Incident) {
        let o = oldest_open.entry(inc.severity()).or_insert(inc.start);
        *o = (*o).min(inc.start);
        let e = open.entry(inc.severity()).or_insert((0, 0, None));
        if inc.ack.is_some() {
            e.1 += 1;
        } else {
            e.0 += 1;
            e.2 = Some(e.2.map_or(inc.start, |o: i64| o.min(inc.start)));
        }
    }
    let fam = out.family(
        "incidents_open",
        "Incidents not yet resolved, by state.",
        MetricType::Gauge,
    );
    for (s, (unacked, acked, _)) in &open {
        fam.sample(
            &[("severity", s), ("state", "unacknowledged")],
            *unacked as f64,
        );
        fam.sample(&[("severity", s), ("state", "acknowledged")], *acked as f64);
    }
    let fam = out.family(
        "incident_oldest_unacknowledged_start_timestamp_seconds",
        "Start of the oldest open incident not yet acknowledged (absent when there is none).",
        MetricType::Gauge,
    );
    for (s, (_, _, oldest)) in &open {
        if let Some(t) = oldest {
            fam.sample(&[("severity", s)], *t as f64 / 1000.0);
        }
    }
    let fam = out.family(
        "incident_oldest_open_start_timestamp_seconds",
        "Start of the oldest incident not yet resolved (absent when there is none).",
        MetricType::Gauge,
    );
    for (s, t) in &oldest_open {
        fam.sample(&[("severity", s)], *t as f64 / 1000.0);
    }
    if let Some(t) = st.targets {
        let fam = out.family(
            "incident_target_seconds",
            "The response targets of the configuration.",
            MetricType::Gauge,
        );
        fam.sample(
            &[("target", "acknowledge")],
            t.acknowledge.get().as_secs_f64(),
        );
        fam.sample(&[("target", "resolve")], t.resolve.get().as_secs_f64());
    }

    let fam = out.family(
        "incident_alertmanager_up",
        "Whether the last poll of the Alertmanager's API succeeded.",
        MetricType::Gauge,
    );
    for (i, s) in &st.sources {
        fam.sample(&[("instance", i)], if s.up { 1.0 } else { 0.0 });
    }
    let fam = out.family(
        "incident_alertmanager_last_success_timestamp_seconds",
        "When a poll of the Alertmanager's API last succeeded (absent until one has).",
        MetricType::Gauge,
    );
    for (i, s) in &st.sources {
        if let Some(t) = s.last_success {
            fam.sample(&[("instance", i)], t as f64 / 1000.0);
        }
    }
    let fam = out.family(
        "incident_alertmanager_errors_total",
        "Failed polls of the Alertmanager's API.",
        MetricType::Counter,
    );
    for (i, s) in &st.sources {
        fam.sample(&[("instance", i)], s.errors as f64);
    }
    out.gauge(
        "incident_watchdog_seen",
        "Whether the last successful poll saw the always-firing Watchdog alert (0: the alerting pipeline is broken).",
        if st.tracker.watchdog_seen { 1.0 } else { 0.0 },
    );
    if let Some(t) = st.tracker.watchdog_last_seen {
        out.gauge(
            "incident_watchdog_last_seen_timestamp_seconds",
            "When the Watchdog alert was last seen.",
            t as f64 / 1000.0,
        );
    }
    let fam = out.family(
        "incident_webhook_requests_total",
        "Webhook notifications received, by outcome (accepted, invalid).",
        MetricType::Counter,
    );
    for outcome in ["accepted", "invalid"] {
        fam.sample(
            &[("outcome", outcome)],
            st.webhook.get(outcome).copied().unwrap_or(0) as f64,
        );
    }
    let fam = out.family(
        "incident_acknowledge_requests_total",
        "Acknowledge requests, by outcome (acknowledged, already, suppressed, not_open, invalid).",
        MetricType::Counter,
    );
    for outcome in [
        "acknowledged",
        "already",
        "suppressed",
        "not_open",
        "invalid",
    ] {
        fam.sample(
            &[("outcome", outcome)],
            st.acknowledge.get(outcome).copied().unwrap_or(0) as f64,
        );
    }
    if let Some(secs) = st.last_poll_seconds {
        out.gauge(
            "incident_poll_duration_seconds",
            "How long the last round of polls took: reading every Alertmanager and applying the result.",
            secs,
        );
    }
    out.counter(
        "incident_storage_errors_total",
        "Failed writes to the incident database (the change is kept in memory only).",
        st.storage_errors as f64,
    );
    out.prune_empty();
}
