//! An HA pair of real Alertmanagers (gossiping peers) reports each alert twice: one incident.
//! Losing one peer keeps the state; the other still resolves it.

mod common;
use common::*;
use std::time::Duration;

#[test]
fn ha_pair_is_one_incident() {
    if !have_alertmanager() {
        return;
    }
    let (c1, c2) = (free_port(), free_port());
    let mut am1 = Alertmanager::start_with(Some(c1), &[c2]);
    let am2 = Alertmanager::start_with(Some(c2), &[c1]);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &[am1.url(), am2.url()], "");
    let exporter = Exporter::start(&config);
    let up = |am: &Alertmanager| format!("incident_alertmanager_up{{instance=\"{}\"}}", am.url());
    exporter.wait_for(&up(&am1), 1.0);
    exporter.wait_for(&up(&am2), 1.0);

    // Prometheus sends every alert to both peers.
    let start = now() - 5.0 * 60.0;
    let labels = [
        ("alertname", "ApiDown"),
        ("severity", "critical"),
        ("job", "api"),
    ];
    am1.post_alert(&labels, start, now() + 3600.0);
    am2.post_alert(&labels, start, now() + 3600.0);
    exporter.wait_for("incidents_total{severity=\"critical\"}", 1.0);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        exporter.value("incidents_total{severity=\"critical\"}"),
        Some(1.0)
    );
    assert_eq!(
        exporter.value("incidents_open{severity=\"critical\",state=\"unacknowledged\"}"),
        Some(1.0)
    );

    // A silence created on one peer (and gossiped to the other) acknowledges once.
    am1.silence("alertname=ApiDown", "alice", "restarting api");
    exporter.wait_for(
        "incident_acknowledge_duration_seconds_count{severity=\"critical\"}",
        1.0,
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        exporter.value("incident_acknowledge_duration_seconds_count{severity=\"critical\"}"),
        Some(1.0)
    );
    // Acknowledged 5 minutes in: (300, 600].
    assert_eq!(
        exporter.value(
            "incident_acknowledge_duration_seconds_bucket{severity=\"critical\",le=\"300\"}"
        ),
        Some(0.0)
    );
    assert_eq!(
        exporter.value(
            "incident_acknowledge_duration_seconds_bucket{severity=\"critical\",le=\"600\"}"
        ),
        Some(1.0)
    );

    // One peer dies: marked down, the incident stays open (the other still reports it).
    am1.kill();
    exporter.wait_for(&up(&am1), 0.0);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(exporter.value(&up(&am2)), Some(1.0));
    assert_eq!(
        exporter.value("incidents_open{severity=\"critical\",state=\"acknowledged\"}"),
        Some(1.0)
    );
    assert!(
        exporter.log_shows("Cannot read Alertmanager"),
        "{}",
        exporter.logs()
    );

    // The survivor resolves it.
    am2.post_alert(&labels, start, now());
    exporter.wait_for(
        "incident_resolve_duration_seconds_count{severity=\"critical\"}",
        1.0,
    );
    assert_eq!(
        exporter.value("incidents_total{severity=\"critical\"}"),
        Some(1.0)
    );
}
