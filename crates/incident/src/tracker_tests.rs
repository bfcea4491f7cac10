//! The lifecycle, event by event.

use crate::api::{Alert, Silence};
use crate::incident::Kind;
use crate::matcher::{MatchValue, SilenceMatcher};
use crate::stats::Histogram;
use crate::timestamp::Millis;
use crate::tracker::{AckOutcome, Event, Tracker};
use std::collections::BTreeMap;

const MIN: Millis = 60_000;

fn tracker() -> Tracker {
    let mut m = BTreeMap::new();
    m.insert(
        "severity".to_string(),
        MatchValue::parse("critical").unwrap(),
    );
    Tracker::new(m, "Watchdog".into())
}

fn alert(fp: &str, name: &str, start: Millis) -> Alert {
    Alert {
        fingerprint: fp.into(),
        labels: [
            ("alertname".to_string(), name.to_string()),
            ("severity".to_string(), "critical".to_string()),
        ]
        .into(),
        starts_at: start,
        ends_at: Some(start + 1000 * MIN),
        resolved: false,
    }
}

fn silence(id: &str, name: &str, start: Millis) -> Silence {
    Silence {
        id: id.into(),
        matchers: vec![SilenceMatcher::new("alertname", name, false, true).unwrap()],
        starts_at: start,
        ends_at: start + 60 * MIN,
        created_by: "alice".into(),
        comment: "looking".into(),
    }
}

fn bucket(h: &Histogram, le: &str) -> u64 {
    h.cumulative().into_iter().find(|(l, _)| l == le).unwrap().1
}

#[test]
fn silence_after_start_acknowledges_and_absence_resolves() {
    let mut t = tracker();
    let a = alert("f1", "DiskFull", 0);
    let c = t.observe_poll(std::slice::from_ref(&a), vec![], MIN);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].event, Event::Started);
    // 20 minutes later a silence is created: acknowledged at its start.
    let c = t.observe_poll(
        std::slice::from_ref(&a),
        vec![silence("s1", "DiskFull", 20 * MIN)],
        21 * MIN,
    );
    assert_eq!(c.len(), 1);
    let ack = c[0].incident.ack.clone().unwrap();
    assert_eq!(
        (
            ack.at,
            ack.by.as_str(),
            ack.comment.as_str(),
            ack.via.as_str()
        ),
        (20 * MIN, "alice", "looking", "silence:s1")
    );
    // Seen again: nothing new.
    assert!(t
        .observe_poll(
            std::slice::from_ref(&a),
            vec![silence("s1", "DiskFull", 20 * MIN)],
            22 * MIN
        )
        .is_empty());
    // Gone: resolved when found gone (its endsAt is still ahead).
    let c = t.observe_poll(&[], vec![], 70 * MIN);
    assert_eq!(c[0].event, Event::Resolved);
    assert_eq!(c[0].incident.resolved, Some(70 * MIN));
    let s = &t.stats.by_severity["critical"];
    assert_eq!(s.total, 1);
    assert_eq!(
        (
            bucket(&s.acknowledge, "900"),
            bucket(&s.acknowledge, "1800")
        ),
        (0, 1)
    );
    assert_eq!(
        (bucket(&s.resolve, "3600"), bucket(&s.resolve, "7200")),
        (0, 1)
    );
    assert_eq!(t.open().count(), 0);
}

#[test]
fn silence_before_start_suppresses() {
    let mut t = tracker();
    let c = t.observe_poll(
        &[alert("f1", "Maint", 10 * MIN)],
        vec![silence("m", "Maint", 0)],
        11 * MIN,
    );
    assert_eq!(c[0].incident.kind, Kind::Suppressed);
    assert_eq!(c[0].incident.ack.as_ref().unwrap().via, "silence:m");
    let c = t.observe_poll(&[], vec![], 12 * MIN);
    assert_eq!(c[0].event, Event::Resolved);
    let s = &t.stats.by_severity["critical"];
    assert_eq!((s.total, s.suppressed), (0, 1));
    assert_eq!((s.acknowledge.count(), s.resolve.count()), (0, 0));
}

#[test]
fn non_matching_alerts_and_silences_are_ignored() {
    let mut t = tracker();
    let mut warn = alert("w", "Slow", 0);
    warn.labels.insert("severity".into(), "warning".into());
    assert!(t.observe_poll(&[warn], vec![], MIN).is_empty());
    t.observe_poll(&[alert("f1", "A", 0)], vec![], MIN);
    let c = t.observe_poll(
        &[alert("f1", "A", 0)],
        vec![silence("s", "B", 2 * MIN)],
        3 * MIN,
    );
    assert!(
        c.is_empty(),
        "a silence of another alert is no acknowledgement"
    );
}

#[test]
fn ha_pair_reports_one_incident() {
    let mut t = tracker();
    let a = alert("f1", "A", 0);
    let c = t.observe_poll(
        &[a.clone(), a.clone()],
        vec![silence("s", "A", MIN), silence("s", "A", MIN)],
        2 * MIN,
    );
    assert_eq!(c.iter().filter(|c| c.event == Event::Started).count(), 1);
    assert_eq!(t.stats.by_severity["critical"].total, 1);
    assert_eq!(t.stats.by_severity["critical"].acknowledge.count(), 1);
}

#[test]
fn explicit_acknowledge() {
    let mut t = tracker();
    t.observe_poll(&[alert("f1", "A", 0)], vec![], MIN);
    assert_eq!(
        t.acknowledge("nope", "bob", "", 2 * MIN),
        AckOutcome::NotOpen
    );
    match t.acknowledge("f1", "bob", "paged", 5 * MIN) {
        AckOutcome::Acknowledged(c) => {
            let a = c.incident.ack.unwrap();
            assert_eq!(
                (a.at, a.by.as_str(), a.via.as_str()),
                (5 * MIN, "bob", "api")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(t.acknowledge("f1", "carol", "", 6 * MIN), AckOutcome::Already(a) if a.by == "bob")
    );
    // A later silence does not acknowledge it twice.
    assert!(t
        .observe_poll(
            &[alert("f1", "A", 0)],
            vec![silence("s", "A", 7 * MIN)],
            8 * MIN
        )
        .is_empty());
    assert_eq!(t.stats.by_severity["critical"].acknowledge.count(), 1);
}

#[test]
fn webhook_resolves_at_ends_at_and_repeats_do_not_count() {
    let mut t = tracker();
    let mut a = alert("f1", "A", 0);
    assert_eq!(
        t.observe_webhook(&[a.clone()], MIN)[0].event,
        Event::Started
    );
    a.resolved = true;
    a.ends_at = Some(30 * MIN);
    let c = t.observe_webhook(&[a.clone()], 31 * MIN);
    assert_eq!(c[0].incident.resolved, Some(30 * MIN));
    assert!(
        t.observe_webhook(&[a.clone()], 32 * MIN).is_empty(),
        "repeated resolved notification"
    );
    a.resolved = false;
    assert!(
        t.observe_poll(&[a], vec![], 33 * MIN).is_empty(),
        "a lagging peer still showing it"
    );
    assert_eq!(t.stats.by_severity["critical"].total, 1);
    assert_eq!(t.stats.by_severity["critical"].resolve.count(), 1);
}

#[test]
fn refiring_with_a_new_start_is_a_new_incident() {
    let mut t = tracker();
    t.observe_poll(&[alert("f1", "A", 0)], vec![], MIN);
    let c = t.observe_poll(&[alert("f1", "A", 10 * MIN)], vec![], 11 * MIN);
    assert_eq!(
        c.iter().map(|c| c.event).collect::<Vec<_>>(),
        vec![Event::Resolved, Event::Started]
    );
    assert_eq!(c[0].incident.resolved, Some(10 * MIN));
    assert_eq!(t.stats.by_severity["critical"].total, 2);
}

#[test]
fn expired_alert_resolves_at_its_end() {
    let mut t = tracker();
    let mut a = alert("f1", "A", 0);
    a.ends_at = Some(5 * MIN);
    t.observe_poll(&[a], vec![], MIN);
    let c = t.observe_poll(&[], vec![], 9 * MIN);
    assert_eq!(c[0].incident.resolved, Some(5 * MIN));
}

#[test]
fn restore_continues_counts_and_open_incidents() {
    let mut t = tracker();
    t.observe_poll(&[alert("f1", "A", 0), alert("f2", "B", 0)], vec![], MIN);
    t.observe_poll(
        &[alert("f1", "A", 0)],
        vec![silence("s", "A", 3 * MIN)],
        4 * MIN,
    );
    let stored: Vec<_> = t.recent().cloned().collect();
    let mut r = tracker();
    r.restore(stored, 5 * MIN);
    assert_eq!(r.stats, t.stats);
    assert_eq!(r.open().count(), 1);
    // The open one continues: no new start when seen again, resolves once.
    let c = r.observe_poll(
        &[alert("f1", "A", 0)],
        vec![silence("s", "A", 3 * MIN)],
        6 * MIN,
    );
    assert!(c.is_empty(), "{c:?}");
    // f2 was resolved before the restart; a late report of it is not a new incident.
    assert!(r
        .observe_poll(&[alert("f1", "A", 0), alert("f2", "B", 0)], vec![], 7 * MIN)
        .is_empty());
    assert_eq!(r.stats.by_severity["critical"].total, 2);
}

#[test]
fn watchdog_is_tracked() {
    let mut t = tracker();
    let mut w = alert("w", "Watchdog", 0);
    w.labels.insert("severity".into(), "none".into());
    t.observe_poll(&[w], vec![], MIN);
    assert!(t.watchdog_seen);
    assert_eq!(t.watchdog_last_seen, Some(MIN));
    t.observe_poll(&[], vec![], 2 * MIN);
    assert!(!t.watchdog_seen);
    assert_eq!(t.watchdog_last_seen, Some(MIN));
}
