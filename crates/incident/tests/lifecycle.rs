//! The incident lifecycle against a real Alertmanager: alerts posted through its API, silences
//! created with amtool, an explicit acknowledge, resolution; exact histogram counts and
//! buckets; a kill -9 and restart mid-incident loses and double-counts nothing.

mod common;
use common::*;

const CRIT: &str = "severity=\"critical\"";

fn bucket(name: &str, le: &str) -> String {
    format!("{name}_bucket{{{CRIT},le=\"{le}\"}}")
}

#[test]
fn lifecycle_with_restart() {
    if !have_alertmanager() {
        return;
    }
    let am = Alertmanager::start();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &[am.url()], "");
    let mut exporter = Exporter::start(&config);
    exporter.wait_for(
        &format!("incident_alertmanager_up{{instance=\"{}\"}}", am.url()),
        1.0,
    );
    assert_eq!(
        exporter.value("incident_target_seconds{target=\"acknowledge\"}"),
        Some(900.0)
    );
    assert_eq!(
        exporter.value("incident_target_seconds{target=\"resolve\"}"),
        Some(7200.0)
    );

    let t = now();
    let disk_start = t - 20.0 * 60.0;
    let repl_start = t - 90.0 * 60.0;
    am.post_alert(
        &[
            ("alertname", "DiskFull"),
            ("severity", "critical"),
            ("instance", "db-1"),
        ],
        disk_start,
        t + 3600.0,
    );
    am.post_alert(
        &[("alertname", "ReplicationBroken"), ("severity", "critical")],
        repl_start,
        t + 3600.0,
    );
    am.post_alert(
        &[("alertname", "Watchdog"), ("severity", "none")],
        t - 60.0,
        t + 3600.0,
    );
    am.post_alert(
        &[("alertname", "SlowQueries"), ("severity", "warning")],
        t - 60.0,
        t + 3600.0,
    );

    exporter.wait_for(&format!("incidents_total{{{CRIT}}}"), 2.0);
    exporter.wait_for(
        &format!("incidents_open{{{CRIT},state=\"unacknowledged\"}}"),
        2.0,
    );
    exporter.wait_for("incident_watchdog_seen", 1.0);
    let oldest = exporter
        .value(&format!(
            "incident_oldest_unacknowledged_start_timestamp_seconds{{{CRIT}}}"
        ))
        .unwrap();
    assert!(
        (oldest - repl_start).abs() < 0.01,
        "{oldest} vs {repl_start}"
    );
    assert!(
        !exporter.metrics().contains("severity=\"warning\""),
        "a warning is no incident"
    );

    // Acknowledged by a silence 20 minutes after the start: in the (900, 1800] bucket.
    am.silence("alertname=DiskFull", "alice", "disk cleanup under way");
    let ack = "incident_acknowledge_duration_seconds";
    exporter.wait_for(&format!("{ack}_count{{{CRIT}}}"), 1.0);
    assert_eq!(exporter.value(&bucket(ack, "900")), Some(0.0));
    assert_eq!(exporter.value(&bucket(ack, "1800")), Some(1.0));

    // Acknowledged through the endpoint 90 minutes after the start: in (3600, 7200].
    let fp = fingerprint(&am, "ReplicationBroken");
    let (status, body) = exporter.post(
        &format!("/acknowledge?fingerprint={fp}&by=bob&comment=paged+via+phone"),
        "text/plain",
        b"",
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.starts_with("acknowledged ReplicationBroken by bob"),
        "{body}"
    );
    let (status, body) = exporter.post(
        &format!("/acknowledge?fingerprint={fp}&by=carol"),
        "text/plain",
        b"",
    );
    assert_eq!(
        (status, body.starts_with("already acknowledged by bob")),
        (200, true),
        "{body}"
    );
    let (status, _) = exporter.post("/acknowledge?fingerprint=0000&by=carol", "text/plain", b"");
    assert_eq!(status, 404);
    exporter.wait_for(&format!("{ack}_count{{{CRIT}}}"), 2.0);
    assert_eq!(exporter.value(&bucket(ack, "3600")), Some(1.0));
    assert_eq!(exporter.value(&bucket(ack, "7200")), Some(2.0));
    assert_eq!(
        exporter.value(&format!("incidents_open{{{CRIT},state=\"acknowledged\"}}")),
        Some(2.0)
    );
    assert_eq!(
        exporter.value(&format!(
            "incident_oldest_unacknowledged_start_timestamp_seconds{{{CRIT}}}"
        )),
        None
    );

    // DiskFull ends: resolved about 20 minutes after its start.
    am.post_alert(
        &[
            ("alertname", "DiskFull"),
            ("severity", "critical"),
            ("instance", "db-1"),
        ],
        disk_start,
        now(),
    );
    let res = "incident_resolve_duration_seconds";
    exporter.wait_for(&format!("{res}_count{{{CRIT}}}"), 1.0);
    assert_eq!(exporter.value(&bucket(res, "900")), Some(0.0));
    assert_eq!(exporter.value(&bucket(res, "1800")), Some(1.0));

    // Killed mid-incident (ReplicationBroken open) and started again: nothing lost or doubled.
    exporter.kill();
    let exporter = Exporter::start(&config);
    exporter.wait_for(
        &format!("incident_alertmanager_up{{instance=\"{}\"}}", am.url()),
        1.0,
    );
    std::thread::sleep(std::time::Duration::from_millis(2500)); // a few polls
    assert_eq!(
        exporter.value(&format!("incidents_total{{{CRIT}}}")),
        Some(2.0)
    );
    assert_eq!(exporter.value(&format!("{ack}_count{{{CRIT}}}")), Some(2.0));
    assert_eq!(exporter.value(&bucket(ack, "1800")), Some(1.0));
    assert_eq!(exporter.value(&format!("{res}_count{{{CRIT}}}")), Some(1.0));
    assert_eq!(
        exporter.value(&format!("incidents_open{{{CRIT},state=\"acknowledged\"}}")),
        Some(1.0)
    );
    assert_eq!(
        exporter.value(&format!(
            "incidents_open{{{CRIT},state=\"unacknowledged\"}}"
        )),
        Some(0.0)
    );

    let (status, page) = get(exporter.addr, "/incidents");
    assert_eq!(status, 200);
    for needle in [
        "DiskFull",
        "alice",
        "disk cleanup under way",
        "ReplicationBroken",
        "bob",
        "paged via phone",
        "silence:",
    ] {
        assert!(
            page.contains(needle),
            "{needle} missing from /incidents:\n{page}"
        );
    }
    assert!(page.find("DiskFull") < page.find("ReplicationBroken") || page.contains("Open (1)"));

    // ReplicationBroken ends 90 minutes after its start: (3600, 7200].
    am.post_alert(
        &[("alertname", "ReplicationBroken"), ("severity", "critical")],
        repl_start,
        now(),
    );
    exporter.wait_for(&format!("{res}_count{{{CRIT}}}"), 2.0);
    assert_eq!(exporter.value(&bucket(res, "3600")), Some(1.0));
    assert_eq!(exporter.value(&bucket(res, "7200")), Some(2.0));
    assert_eq!(
        exporter.value(&format!("incidents_open{{{CRIT},state=\"acknowledged\"}}")),
        Some(0.0)
    );

    // A silence that exists before an alert starts suppresses it: counted apart.
    am.silence("alertname=PlannedMaintenance", "ops", "window CHG-1");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    am.post_alert(
        &[
            ("alertname", "PlannedMaintenance"),
            ("severity", "critical"),
        ],
        now(),
        now() + 3600.0,
    );
    exporter.wait_for(&format!("incidents_suppressed_total{{{CRIT}}}"), 1.0);
    assert_eq!(
        exporter.value(&format!("incidents_total{{{CRIT}}}")),
        Some(2.0)
    );
    assert_eq!(exporter.value(&format!("{ack}_count{{{CRIT}}}")), Some(2.0));
    assert_eq!(
        exporter.value(&format!(
            "incidents_open{{{CRIT},state=\"unacknowledged\"}}"
        )),
        Some(0.0)
    );
}
