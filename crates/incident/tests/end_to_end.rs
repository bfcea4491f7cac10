//! The whole pipeline with real components: a real Prometheus scrapes a target and evaluates
//! a rule that fires; the real Alertmanager routes it, with a webhook to the exporter; the
//! incident appears; a silence made with amtool acknowledges it; the target recovers; the
//! incident resolves. Also the always-firing Watchdog reaches the exporter.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PROMETHEUS: &str = "/usr/bin/prometheus";

/// A scrape target whose `app_up` is what `healthy` says.
fn target(healthy: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let body = format!(
                "# TYPE app_up gauge\napp_up {}\n",
                u8::from(healthy.load(Ordering::SeqCst))
            );
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_prometheus(dir: &Path, target_port: u16, am_port: u16) -> Prometheus {
    std::fs::write(
        dir.join("rules.yml"),
        "groups:\n  - name: e2e\n    rules:\n      - alert: AppDown\n        expr: app_up == 0\n        labels: {severity: critical}\n      - alert: Watchdog\n        expr: vector(1)\n        labels: {severity: ticket}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [rules.yml]\nalerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]\nscrape_configs:\n  - job_name: app\n    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let child = Command::new(PROMETHEUS)
        .current_dir(dir)
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--rules.alert.resend-delay=1s")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn prometheus");
    Prometheus(child)
}

#[test]
fn prometheus_alertmanager_exporter_pipeline() {
    if !have_alertmanager() {
        return;
    }
    if !Path::new(PROMETHEUS).exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{PROMETHEUS} is required in CI (apt-get install prometheus)");
        }
        eprintln!("NOTICE: prometheus not installed; test not run");
        return;
    }
    let healthy = Arc::new(AtomicBool::new(true));
    let target_port = target(Arc::clone(&healthy));
    let exporter_port = free_port();
    let am = Alertmanager::start_full(
        None,
        &[],
        &format!(
            "route:\n  receiver: incident\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: incident\n    webhook_configs:\n      - url: http://127.0.0.1:{exporter_port}/webhook\n        send_resolved: true\n"
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &[am.url()], "");
    let exporter = Exporter::start_on(&config, &format!("127.0.0.1:{exporter_port}"));
    let _prometheus = start_prometheus(dir.path(), target_port, am.port);

    // Prometheus evaluates Watchdog and sends it: the exporter sees the pipeline work.
    exporter.wait_for("incident_watchdog_seen", 1.0);
    // The series exist at zero before the first incident (so increase() counts that one too).
    assert_eq!(
        exporter.value("incidents_total{severity=\"critical\"}"),
        Some(0.0)
    );
    assert_eq!(
        exporter.value(
            "incident_acknowledge_duration_seconds_bucket{severity=\"critical\",le=\"+Inf\"}"
        ),
        Some(0.0)
    );

    // The target goes down: AppDown fires, is routed, becomes an incident.
    healthy.store(false, Ordering::SeqCst);
    exporter.wait_for("incidents_total{severity=\"critical\"}", 1.0);
    exporter.wait_for(
        "incidents_open{severity=\"critical\",state=\"unacknowledged\"}",
        1.0,
    );
    // Alertmanager's notifications reach the webhook too.
    let start = Instant::now();
    while exporter
        .value("incident_webhook_requests_total{outcome=\"accepted\"}")
        .unwrap_or(0.0)
        < 1.0
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no webhook arrived: {}",
            am.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The on-call silences it: acknowledged, within the first minute.
    am.silence("alertname=AppDown", "oncall", "restarting app");
    exporter.wait_for(
        "incident_acknowledge_duration_seconds_count{severity=\"critical\"}",
        1.0,
    );
    assert_eq!(
        exporter
            .value("incident_acknowledge_duration_seconds_bucket{severity=\"critical\",le=\"60\"}"),
        Some(1.0)
    );

    // The target recovers: Prometheus resolves the alert, the incident resolves once.
    healthy.store(true, Ordering::SeqCst);
    exporter.wait_for(
        "incident_resolve_duration_seconds_count{severity=\"critical\"}",
        1.0,
    );
    exporter.wait_for(
        "incidents_open{severity=\"critical\",state=\"acknowledged\"}",
        0.0,
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        exporter.value("incidents_total{severity=\"critical\"}"),
        Some(1.0)
    );
    assert_eq!(
        exporter.value("incident_resolve_duration_seconds_count{severity=\"critical\"}"),
        Some(1.0)
    );
    let (_, page) = get(exporter.addr, "/incidents");
    assert!(
        page.contains("AppDown") && page.contains("oncall") && page.contains("restarting app"),
        "{page}"
    );
}
