//! `/incidents`: the open incidents and the most recent ones, newest first, with the two
//! durations and which target was breached. Self-contained HTML (no scripts, no external
//! assets); every value from an alert is escaped.

use crate::config::Targets;
use crate::engine::Engine;
use crate::incident::{Incident, Kind};
use crate::timestamp::{self, Millis};
use std::fmt::Write as _;
use std::sync::Arc;
use watchkeeper_core::page::{html_escape, Page, PageResponse};

/// At most this many open incidents are listed (newest first; the metrics count them all).
pub const MAX_ROWS: usize = 1000;

/// A time for the table: `2026-12-01 22:07:21Z`.
fn when(ms: Millis) -> String {
    timestamp::format(ms).replacen('T', " ", 1)
}

/// The page over the engine's state.
pub struct IncidentsPage(pub Arc<Engine>);

impl Page for IncidentsPage {
    fn render(&self, _query: &str) -> PageResponse {
        let st = self.0.state();
        let mut open: Vec<&Incident> = st.tracker.open().collect();
        open.sort_by_key(|i| std::cmp::Reverse(i.start));
        let open_total = open.len();
        open.truncate(MAX_ROWS);
        let recent: Vec<&Incident> = st
            .tracker
            .recent()
            .filter(|i| i.resolved.is_some())
            .collect();
        PageResponse::html(render(
            &open,
            open_total,
            &recent,
            st.targets,
            timestamp::now(),
        ))
    }
}

/// `1h 5m`, `12m 3s`, `40s`.
pub fn human(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    let (d, h, m, sec) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {sec}s")
    } else {
        format!("{sec}s")
    }
}

fn row(out: &mut String, i: &Incident, targets: Option<Targets>, now: Millis) {
    let e = |s: &str| html_escape(s);
    let ack_target = targets.map(|t| t.acknowledge.get().as_secs_f64());
    let res_target = targets.map(|t| t.resolve.get().as_secs_f64());
    let ack_secs = i.ack_seconds();
    let res_secs = i.resolve_seconds();
    let (ack_who, ack_when) = match (&i.ack, i.kind) {
        (Some(a), Kind::Suppressed) => (
            format!("suppressed by {} ({})", e(&a.by), e(&a.via)),
            String::new(),
        ),
        (Some(a), Kind::Incident) => {
            let comment = if a.comment.is_empty() {
                String::new()
            } else {
                format!("<br><small>{}</small>", e(&a.comment))
            };
            (
                format!("{} <small>({})</small>{comment}", e(&a.by), e(&a.via)),
                e(&when(a.at)),
            )
        }
        (None, _) => ("—".into(), String::new()),
    };
    let mut breached = Vec::new();
    if i.kind == Kind::Incident {
        let ack_elapsed = ack_secs.unwrap_or_else(|| timestamp::seconds_between(i.start, now));
        let res_elapsed = res_secs.unwrap_or_else(|| timestamp::seconds_between(i.start, now));
        if ack_target.is_some_and(|t| ack_elapsed > t) {
            breached.push("acknowledge");
        }
        if res_target.is_some_and(|t| res_elapsed > t) {
            breached.push("resolve");
        }
    }
    let labels: Vec<String> = i
        .labels
        .iter()
        .filter(|(k, _)| k.as_str() != "alertname" && k.as_str() != "severity")
        .map(|(k, v)| format!("{}={}", e(k), e(v)))
        .collect();
    let class = if breached.is_empty() {
        ""
    } else {
        " class=\"breach\""
    };
    let _ = writeln!(
        out,
        "<tr{class}><td><b>{}</b><br><small>{}</small></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        e(i.alertname()),
        labels.join(", "),
        e(i.severity()),
        e(&when(i.start)),
        ack_who,
        ack_when,
        i.resolved.map(|r| e(&when(r))).unwrap_or_else(|| "open".into()),
        ack_secs.map(human).unwrap_or_default(),
        res_secs.map(human).unwrap_or_default(),
        if breached.is_empty() { "—".to_string() } else { breached.join(", ") },
    );
}

fn table(
    out: &mut String,
    title: &str,
    total: usize,
    incidents: &[&Incident],
    targets: Option<Targets>,
    now: Millis,
) {
    let _ = writeln!(out, "<h2>{} ({total})</h2>", html_escape(title));
    if total > incidents.len() {
        let _ = writeln!(out, "<p>Showing the newest {}.</p>", incidents.len());
    }
    if incidents.is_empty() {
        out.push_str("<p>None.</p>\n");
        return;
    }
    out.push_str("<table><thead><tr><th>Alert</th><th>Severity</th><th>Started</th><th>Acknowledged by</th><th>Acknowledged</th><th>Resolved</th><th>Time to acknowledge</th><th>Time to resolve</th><th>Target breached</th></tr></thead><tbody>\n");
    for i in incidents {
        row(out, i, targets, now);
    }
    out.push_str("</tbody></table>\n");
}

/// The whole page.
pub fn render(
    open: &[&Incident],
    open_total: usize,
    recent: &[&Incident],
    targets: Option<Targets>,
    now: Millis,
) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Incidents</title>\n<style>\nbody{font-family:sans-serif;margin:1.5em;color:#222}\ntable{border-collapse:collapse;width:100%;margin-bottom:2em}\nth,td{border:1px solid #ccc;padding:.35em .5em;text-align:left;vertical-align:top;font-size:14px}\nth{background:#eee}\ntr.breach td{background:#fde8e8}\nsmall{color:#555}\n</style></head><body>\n<h1>Incidents</h1>\n",
    );
    if let Some(t) = targets {
        let _ = writeln!(
            out,
            "<p>Targets: acknowledge within {}, resolve within {}.</p>",
            html_escape(&t.acknowledge.to_string()),
            html_escape(&t.resolve.to_string())
        );
    }
    table(&mut out, "Open", open_total, open, targets, now);
    table(
        &mut out,
        "Recently resolved",
        recent.len(),
        recent,
        targets,
        now,
    );
    out.push_str("<p><a href=\"/\">Exporter home</a> · <a href=\"/metrics\">Metrics</a></p>\n</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        let inc = Incident {
            fingerprint: "f".into(),
            start: 0,
            labels: [
                (
                    "alertname".to_string(),
                    "<script>alert(1)</script>".to_string(),
                ),
                ("team".to_string(), "\"a&b\"".to_string()),
            ]
            .into(),
            kind: Kind::Incident,
            ack: None,
            resolved: Some(3_600_000),
            last_ends_at: None,
        };
        let html = render(&[], 0, &[&inc], None, 0);
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("team=&quot;a&amp;b&quot;"));
        assert!(html.contains("1h 0m"));
        assert_eq!(human(65.0), "1m 5s");
    }
}
