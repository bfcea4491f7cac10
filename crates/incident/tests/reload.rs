//! A reload (POST /-/reload) changes the targets and matchers in force; an invalid file keeps
//! the old configuration and says why.

mod common;
use common::*;

#[test]
fn reload_changes_targets_and_matchers() {
    if !have_alertmanager() {
        return;
    }
    let am = Alertmanager::start();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &[am.url()], "");
    let exporter = Exporter::start(&config);
    exporter.wait_for(
        &format!("incident_alertmanager_up{{instance=\"{}\"}}", am.url()),
        1.0,
    );
    am.post_alert(
        &[("alertname", "Slow"), ("severity", "page")],
        now() - 60.0,
        now() + 3600.0,
    );
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(exporter.value("incidents_total{severity=\"page\"}"), None);

    // Targets and matchers change.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("targets: {acknowledge: 15m, resolve: 2h}", "targets: {acknowledge: 30m, resolve: 4h}\nincidents: {match: {severity: \"=~critical|page\"}}");
    std::fs::write(&config, text).unwrap();
    let (status, body) = exporter.post("/-/reload", "text/plain", b"");
    assert_eq!(status, 200, "{body}");
    exporter.wait_for("incident_target_seconds{target=\"acknowledge\"}", 1800.0);
    assert_eq!(
        exporter.value("incident_target_seconds{target=\"resolve\"}"),
        Some(14400.0)
    );
    exporter.wait_for("incidents_total{severity=\"page\"}", 1.0);

    // An invalid file: refused, the old one stays.
    std::fs::write(
        &config,
        "alertmanagers: [http://127.0.0.1:9093]\npoll_intervall: 1s\n",
    )
    .unwrap();
    let (status, body) = exporter.post("/-/reload", "text/plain", b"");
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("incident.yml:2:1") && body.contains("poll_intervall"),
        "{body}"
    );
    assert_eq!(
        exporter.value("incident_target_seconds{target=\"acknowledge\"}"),
        Some(1800.0)
    );
    assert_eq!(
        exporter.value(&format!(
            "incident_alertmanager_up{{instance=\"{}\"}}",
            am.url()
        )),
        Some(1.0)
    );
}
