//! Load test: open alerts in a real Alertmanager and incidents already stored; every open
//! alert must be counted and the history rebuilt. In the test run it uses 1 000 open alerts
//! and 10 000 stored incidents; `scripts/bench-incident.sh` (WATCHKEEPER_BENCH=1) runs the
//! benchmark size, 10 000 and 100 000, and reports start-up time (history rebuilt), poll cost
//! (CPU per poll, `incident_poll_duration_seconds`), scrape and page latency, and RSS (the
//! numbers in docs/incident.md; a debug build is several times slower than release).

mod common;
use common::*;
use std::time::{Duration, Instant};
use watchkeeper_incident::incident::{Ack, Incident, Kind};
use watchkeeper_incident::store::Store;
use watchkeeper_incident::tracker::{Change, Event};

/// Open alerts and stored incidents: the benchmark's sizes, or a tenth in the test run.
fn sizes() -> (usize, usize) {
    if std::env::var_os("WATCHKEEPER_BENCH").is_some() {
        (10_000, 100_000)
    } else {
        (1_000, 10_000)
    }
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 (1-based), 11 and 12 after the command.
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb / 1024.0
}

#[test]
fn many_open_alerts_and_stored_incidents() {
    #[allow(non_snake_case)]
    let (OPEN, STORED) = sizes();
    if !have_alertmanager() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("incidents.db");
    let t0 = Instant::now();
    {
        let mut store = Store::open(&db).unwrap();
        let now_ms = (now() * 1000.0) as i64;
        let mut batch = Vec::with_capacity(10_000);
        for i in 0..STORED {
            let start = now_ms - 300 * 86_400_000 + (i as i64) * 250_000;
            let labels = [
                ("alertname".to_string(), format!("Stored{}", i % 50)),
                ("severity".to_string(), "critical".to_string()),
                ("instance".to_string(), format!("host-{}:9100", i % 400)),
                ("job".to_string(), "node".to_string()),
            ]
            .into();
            batch.push(Change {
                event: Event::Resolved,
                incident: Incident {
                    fingerprint: format!("{i:016x}"),
                    start,
                    labels,
                    kind: Kind::Incident,
                    ack: Some(Ack {
                        at: start + 600_000,
                        by: "alice".into(),
                        comment: "on it".into(),
                        via: "api".into(),
                    }),
                    resolved: Some(start + 3_000_000),
                    last_ends_at: None,
                },
            });
            if batch.len() == 10_000 {
                store.apply(&batch).unwrap();
                batch.clear();
            }
        }
    }
    let db_mib = std::fs::metadata(&db).unwrap().len() as f64 / (1 << 20) as f64;
    println!(
        "filled {STORED} incidents in {:.1}s ({db_mib:.1} MiB)",
        t0.elapsed().as_secs_f64()
    );

    let am = Alertmanager::start();
    let t = now();
    for chunk in 0..OPEN / 1000 {
        let alerts: Vec<String> = (0..1000)
            .map(|j| {
                let n = chunk * 1000 + j;
                format!(
                    "{{\"labels\":{{\"alertname\":\"Open{}\",\"severity\":\"critical\",\"instance\":\"host-{n}:9100\",\"job\":\"node\"}},\"startsAt\":\"{}\",\"endsAt\":\"{}\"}}",
                    n % 100,
                    rfc3339(t - 600.0),
                    rfc3339(t + 7200.0)
                )
            })
            .collect();
        let body = format!("[{}]", alerts.join(","));
        let (status, answer) = http(
            am.addr(),
            "POST",
            "/api/v2/alerts",
            "application/json",
            body.as_bytes(),
        );
        assert_eq!(status, 200, "{answer}");
    }

    let config = write_config(dir.path(), &[am.url()], "");
    // Poll every 5s with a generous timeout: 10 000 alerts are about 5 MB of JSON.
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "poll_interval: 1s\ntimeout: 1s",
        "poll_interval: 5s\ntimeout: 5s",
    );
    std::fs::write(&config, text).unwrap();
    let started = Instant::now();
    let exporter = Exporter::start(&config);
    let startup = started.elapsed().as_secs_f64();
    let pid = exporter.pid();
    let first = Instant::now();
    loop {
        if exporter.value("incidents_open{severity=\"critical\",state=\"unacknowledged\"}")
            == Some(OPEN as f64)
        {
            break;
        }
        assert!(
            first.elapsed() < Duration::from_secs(120),
            "{}",
            exporter.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let first_poll = first.elapsed().as_secs_f64();
    assert_eq!(
        exporter.value("incidents_total{severity=\"critical\"}"),
        Some((STORED + OPEN) as f64)
    );

    // Steady state: 6 polls of 10 000 unchanged alerts.
    std::thread::sleep(Duration::from_secs(2));
    let cpu0 = cpu_seconds(pid);
    let w0 = Instant::now();
    std::thread::sleep(Duration::from_secs(30));
    let cpu = cpu_seconds(pid) - cpu0;
    let polls = w0.elapsed().as_secs_f64() / 5.0;
    let poll_wall = exporter.value("incident_poll_duration_seconds").unwrap();

    let n = 50;
    let s0 = Instant::now();
    let mut bytes = 0;
    for _ in 0..n {
        bytes = exporter.metrics().len();
    }
    let scrape_ms = s0.elapsed().as_secs_f64() * 1000.0 / n as f64;
    let p0 = Instant::now();
    let (status, page) = get(exporter.addr, "/incidents");
    assert_eq!(status, 200);
    let page_ms = p0.elapsed().as_secs_f64() * 1000.0;
    let rss = rss_mib(pid);

    println!("start-up with {STORED} stored incidents: {startup:.2}s to listening");
    println!("first poll of {OPEN} new alerts (stored): {first_poll:.2}s until all counted");
    println!("steady poll: {:.3}s CPU per poll ({cpu:.2}s over {polls:.1} polls), last poll {poll_wall:.3}s wall", cpu / polls);
    println!(
        "scrape /metrics: {scrape_ms:.2} ms ({bytes} bytes); /incidents: {page_ms:.1} ms ({} KiB)",
        page.len() / 1024
    );
    println!("RSS: {rss:.1} MiB");
}
