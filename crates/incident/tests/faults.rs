//! Bad input never crashes the exporter: Alertmanagers that are unreachable or answer garbage
//! or 500, malformed and huge webhooks, a damaged database file. Each is a metric and a log
//! line, and the state is kept. Labels stay escaped on `/incidents`.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;

/// A server that answers every request with `response` (raw HTTP).
fn fake_server(response: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut conn in listener.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(response.as_bytes());
        }
    });
    url
}

#[test]
fn bad_sources_and_bad_requests() {
    if !have_alertmanager() {
        return;
    }
    let mut am = Alertmanager::start();
    let garbage = fake_server("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\nConnection: close\r\n\r\n<html>oops</ht>");
    let failing = fake_server(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\nConnection: close\r\n\r\nerror",
    );
    let unreachable = format!("http://127.0.0.1:{}", free_port());
    // Accepts connections and never answers: the poll times out (timeout: 1s).
    let hanging_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let hanging = format!("http://{}", hanging_listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in hanging_listener.incoming().map_while(Result::ok) {
            held.push(conn);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let sources = [
        am.url(),
        garbage.clone(),
        failing.clone(),
        unreachable.clone(),
        hanging.clone(),
    ];
    let config = write_config(dir.path(), &sources, "");
    let mut exporter = Exporter::start(&config);
    let up = |url: &str| format!("incident_alertmanager_up{{instance=\"{url}\"}}");
    exporter.wait_for(&up(&am.url()), 1.0);
    for bad in [&garbage, &failing, &unreachable, &hanging] {
        exporter.wait_for(&up(bad), 0.0);
        assert!(
            exporter
                .value(&format!(
                    "incident_alertmanager_errors_total{{instance=\"{bad}\"}}"
                ))
                .unwrap()
                >= 1.0
        );
        assert_eq!(
            exporter.value(&format!(
                "incident_alertmanager_last_success_timestamp_seconds{{instance=\"{bad}\"}}"
            )),
            None
        );
    }
    for needle in [
        "invalid JSON",
        "HTTP status 500",
        "timed out",
        "connection refused or unreachable",
    ] {
        assert!(exporter.log_shows(needle), "{needle}: {}", exporter.logs());
    }

    // A label with markup stays text on /incidents.
    let start = now() - 10.0 * 60.0;
    let labels = [
        ("alertname", "Xss"),
        ("severity", "critical"),
        ("summary", "<script>alert(1)</script>"),
    ];
    am.post_alert(&labels, start, now() + 3600.0);
    exporter.wait_for("incidents_total{severity=\"critical\"}", 1.0);
    let (_, page) = get(exporter.addr, "/incidents");
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>"), "{page}");

    // Malformed webhook: 400, counted, logged.
    let (status, body) = exporter.post(
        "/webhook",
        "application/json",
        b"{\"alerts\": [{\"labels\":",
    );
    assert_eq!(status, 400, "{body}");
    exporter.wait_for("incident_webhook_requests_total{outcome=\"invalid\"}", 1.0);
    assert!(exporter.log_shows("Invalid webhook notification refused"));
    // A body over the limit: 413 before it is read.
    let huge = vec![b'['; 5 << 20];
    let (status, _) = exporter.post("/webhook", "application/json", &huge);
    assert_eq!(status, 413);
    // GET on a POST route.
    assert_eq!(get(exporter.addr, "/webhook").0, 405);
    assert!(exporter.is_running());

    // A valid webhook (as Alertmanager sends it) resolves at its endsAt: 5 minutes in.
    let fp = fingerprint(&am, "Xss");
    let webhook = format!(
        "{{\"version\":\"4\",\"status\":\"resolved\",\"receiver\":\"incident\",\"groupLabels\":{{}},\"commonLabels\":{{}},\"commonAnnotations\":{{}},\"externalURL\":\"http://am\",\"alerts\":[{{\"status\":\"resolved\",\"labels\":{{\"alertname\":\"Xss\",\"severity\":\"critical\",\"summary\":\"<script>alert(1)</script>\"}},\"annotations\":{{}},\"startsAt\":\"{}\",\"endsAt\":\"{}\",\"generatorURL\":\"\",\"fingerprint\":\"{fp}\"}}]}}",
        rfc3339(start),
        rfc3339(start + 300.0)
    );
    let (status, body) = exporter.post("/webhook", "application/json", webhook.as_bytes());
    assert_eq!(status, 200, "{body}");
    exporter.wait_for(
        "incident_resolve_duration_seconds_count{severity=\"critical\"}",
        1.0,
    );
    assert_eq!(
        exporter
            .value("incident_resolve_duration_seconds_bucket{severity=\"critical\",le=\"300\"}"),
        Some(1.0)
    );
    assert_eq!(
        exporter.value("incident_resolve_duration_seconds_bucket{severity=\"critical\",le=\"60\"}"),
        Some(0.0)
    );
    // Alertmanager still lists it for a moment: not a new incident.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        exporter.value("incidents_total{severity=\"critical\"}"),
        Some(1.0)
    );

    // A second incident stays open when the only real Alertmanager dies.
    am.post_alert(
        &[("alertname", "Second"), ("severity", "critical")],
        now() - 60.0,
        now() + 3600.0,
    );
    exporter.wait_for(
        "incidents_open{severity=\"critical\",state=\"unacknowledged\"}",
        1.0,
    );
    am.kill();
    exporter.wait_for(&up(&am.url()), 0.0);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        exporter.value("incidents_open{severity=\"critical\",state=\"unacknowledged\"}"),
        Some(1.0)
    );
    assert_eq!(
        exporter.value("incident_resolve_duration_seconds_count{severity=\"critical\"}"),
        Some(1.0)
    );
    assert!(exporter.is_running());
}

#[test]
fn a_damaged_database_stops_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &["http://127.0.0.1:9".to_string()], "");
    std::fs::write(dir.path().join("incidents.db"), vec![0x5a; 16384]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_watchkeeper-incident"))
        .arg("--config.file")
        .arg(&config)
        .args(["--web.listen-address", "127.0.0.1:0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: storage "), "{stderr}");
    assert!(
        stderr.contains("not a readable incident database"),
        "{stderr}"
    );
    assert!(stderr.contains("move the file aside"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn config_check() {
    let dir = tempfile::tempdir().unwrap();
    let check = |text: &str| {
        let path = dir.path().join("incident.yml");
        std::fs::write(&path, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_watchkeeper-incident"))
            .current_dir(dir.path())
            .args(["--config.check", "--config.file", "incident.yml"])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = check(
        "alertmanagers: [http://127.0.0.1:9093]\npoll_interval: 15s\nincidents:\n  match: {severity: critical}\ntargets: {acknowledge: 15m, resolve: 2h}\nstorage: /nonexistent/incidents.db\nretention: 400d\n",
    );
    assert_eq!(
        (code, stdout.as_str()),
        (Some(0), "incident.yml: OK (1 alertmanager, 1 matcher)\n"),
        "{stderr}"
    );
    let (code, _, stderr) =
        check("alertmanagers: [http://127.0.0.1:9093]\ntargets: {acknowledge: 15m, resolv: 2h}\n");
    assert_eq!(code, Some(2));
    assert!(stderr.starts_with("error: incident.yml:2:"), "{stderr}");
    assert!(stderr.contains("unknown field `resolv`"), "{stderr}");
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/examples/incident.yml"
    ))
    .unwrap();
    let (code, stdout, stderr) = check(&example);
    assert_eq!(
        (code, stdout.as_str()),
        (Some(0), "incident.yml: OK (1 alertmanager, 1 matcher)\n"),
        "{stderr}"
    );
    let (code, _, stderr) = check("incidents:\n  match:\n    team: \"=~(db\"\n");
    assert_eq!(code, Some(2));
    assert!(stderr.starts_with("error: incident.yml:3:"), "{stderr}");
}
