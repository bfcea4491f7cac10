//! Retention: incidents resolved longer ago than `retention` are deleted from the database at
//! start-up (and hourly); open ones are kept whatever their age. Counters in memory continue
//! until the next restart, which counts what is left.

mod common;
use common::*;
use std::time::Duration;
use watchkeeper_incident::incident::{Incident, Kind};
use watchkeeper_incident::store::Store;
use watchkeeper_incident::tracker::{Change, Event};

fn incident(fp: &str, start: i64, resolved: Option<i64>) -> Change {
    Change {
        event: Event::Started,
        incident: Incident {
            fingerprint: fp.into(),
            start,
            labels: [
                ("alertname".to_string(), fp.to_string()),
                ("severity".to_string(), "critical".to_string()),
            ]
            .into(),
            kind: Kind::Incident,
            ack: None,
            resolved,
            last_ends_at: None,
        },
    }
}

#[test]
fn old_resolved_incidents_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("incidents.db");
    let day = 86_400_000;
    let now_ms = (now() * 1000.0) as i64;
    Store::open(&db)
        .unwrap()
        .apply(&[
            incident("old", now_ms - 10 * day, Some(now_ms - 9 * day)),
            incident(
                "recent",
                now_ms - 2 * day,
                Some(now_ms - 2 * day + 3_600_000),
            ),
            incident("open-for-ages", now_ms - 30 * day, None),
        ])
        .unwrap();
    // No Alertmanager answers: nothing is resolved, only the retention acts.
    let config = write_config(
        dir.path(),
        &[format!("http://127.0.0.1:{}", free_port())],
        "retention: 7d\n",
    );
    let mut exporter = Exporter::start(&config);
    assert_eq!(
        exporter.value("incidents_total{severity=\"critical\"}"),
        Some(3.0),
        "counters continue until restart"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<String> = Store::open(&db)
            .unwrap()
            .load_all()
            .unwrap()
            .into_iter()
            .map(|i| i.fingerprint)
            .collect();
        if left == ["open-for-ages", "recent"] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "retention did not run: {left:?}\n{}",
            exporter.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(exporter.log_shows("Deleted incidents past the retention"));
    exporter.kill();
    let exporter = Exporter::start(&config);
    assert_eq!(
        exporter.value("incidents_total{severity=\"critical\"}"),
        Some(2.0)
    );
    assert_eq!(
        exporter.value("incidents_open{severity=\"critical\",state=\"unacknowledged\"}"),
        Some(1.0)
    );
}
