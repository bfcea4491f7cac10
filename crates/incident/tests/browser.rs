//! `/incidents` in a real browser (Debian's headless Chromium): the DOM it builds has the
//! table and its rows, a label with `<script>` stays text (no script element is created), and
//! a screenshot is taken at a readable size (written next to the test's temporary files and,
//! with WATCHKEEPER_SCREENSHOT_DIR set, kept there for a person to look at).

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium(args: &[&str], url: &str, home: &Path) -> std::process::Output {
    Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ])
        .args(args)
        .arg(url)
        .env("HOME", home)
        .output()
        .expect("run chromium")
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(data: &[u8]) -> (u32, u32) {
    assert_eq!(&data[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let w = u32::from_be_bytes([data[16], data[17], data[18], data[19]]);
    let h = u32::from_be_bytes([data[20], data[21], data[22], data[23]]);
    (w, h)
}

#[test]
fn incidents_page_in_headless_chromium() {
    if !have_alertmanager() {
        return;
    }
    if !Path::new(CHROMIUM).exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{CHROMIUM} is required in CI (apt-get install chromium)");
        }
        eprintln!("NOTICE: chromium not installed; test not run");
        return;
    }
    let am = Alertmanager::start();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &[am.url()], "");
    let exporter = Exporter::start(&config);
    let t = now();
    am.post_alert(
        &[
            ("alertname", "DiskFull"),
            ("severity", "critical"),
            ("instance", "db-1"),
            ("summary", "<script>document.title='pwned'</script>"),
        ],
        t - 40.0 * 60.0,
        t + 3600.0,
    );
    am.post_alert(
        &[
            ("alertname", "ReplicationBroken"),
            ("severity", "critical"),
            ("cluster", "orders"),
        ],
        t - 5.0 * 60.0,
        t + 3600.0,
    );
    am.post_alert(
        &[
            ("alertname", "CertificateExpired"),
            ("severity", "critical"),
        ],
        t - 150.0 * 60.0,
        t + 3600.0,
    );
    exporter.wait_for("incidents_total{severity=\"critical\"}", 3.0);
    am.silence(
        "alertname=ReplicationBroken",
        "alice",
        "failing over to the replica",
    );
    exporter.wait_for(
        "incident_acknowledge_duration_seconds_count{severity=\"critical\"}",
        1.0,
    );
    am.post_alert(
        &[
            ("alertname", "CertificateExpired"),
            ("severity", "critical"),
        ],
        t - 150.0 * 60.0,
        now(),
    );
    exporter.wait_for(
        "incident_resolve_duration_seconds_count{severity=\"critical\"}",
        1.0,
    );

    let url = format!("http://{}/incidents", exporter.addr);
    let home = tempfile::tempdir().unwrap();
    let out = chromium(&["--dump-dom"], &url, home.path());
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("<table>"),
        "no table in the DOM: {dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        dom.matches("<tr").count(),
        2 + 2 + 1,
        "header rows, 2 open, 1 resolved: {dom}"
    );
    assert!(
        dom.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"),
        "{dom}"
    );
    assert!(
        !dom.contains("<script"),
        "a script element was created: {dom}"
    );
    assert!(
        dom.contains("<title>Incidents</title>"),
        "the title was changed: {dom}"
    );
    assert!(dom.contains("failing over to the replica"));
    assert!(
        dom.contains("class=\"breach\""),
        "the 150-minute incident breached both targets"
    );

    let shot = dir.path().join("incidents.png");
    let out = chromium(
        &[
            "--window-size=1400,900",
            &format!("--screenshot={}", shot.display()),
        ],
        &url,
        home.path(),
    );
    let png = std::fs::read(&shot)
        .unwrap_or_else(|_| panic!("no screenshot: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(png_size(&png), (1400, 900));
    assert!(
        png.len() > 20_000,
        "a blank page compresses to almost nothing ({} bytes)",
        png.len()
    );
    if let Ok(keep) = std::env::var("WATCHKEEPER_SCREENSHOT_DIR") {
        std::fs::copy(&shot, Path::new(&keep).join("incidents.png")).unwrap();
    }
}
