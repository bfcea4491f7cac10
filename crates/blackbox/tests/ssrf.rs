//! The optional SSRF guard: denied addresses are refused after resolution and on redirects.

mod common;

use common::*;
use watchkeeper_blackbox::ssrf::SsrfGuard;

const MODULES: &str = r#"
modules:
  http_2xx:
    prober: http
    timeout: 2s
    http:
      preferred_ip_protocol: ip4
  tcp_connect:
    prober: tcp
    timeout: 2s
    tcp:
      preferred_ip_protocol: ip4
"#;

#[tokio::test]
async fn off_by_default() {
    let target = start_http().await;
    let ex = TestExporter::start(MODULES).await;
    ex.probe_ok("http_2xx", &format!("http://{target}/"))
        .await
        .assert_ok();
}

#[tokio::test]
async fn a_denied_address_is_never_connected_to() {
    let target = start_http().await;
    let guard = SsrfGuard::new(&[], &["127.0.0.0/8".into()]).unwrap();
    let ex = TestExporter::start_with(MODULES, guard).await;
    let m = ex.probe_ok("http_2xx", &format!("http://{target}/")).await;
    m.assert_failed("denied");
    assert_eq!(
        m.val("probe_http_duration_seconds", "phase=\"connect\""),
        0.0
    );
    ex.probe_ok("tcp_connect", &target.to_string())
        .await
        .assert_failed("denied");
    // A name that resolves into the denied range is refused too.
    let port = target.port();
    ex.probe_ok("tcp_connect", &format!("localhost:{port}"))
        .await
        .assert_failed("denied");
}

#[tokio::test]
async fn a_redirect_into_a_denied_range_is_refused() {
    let target = start_http().await;
    let guard = SsrfGuard::new(&["127.0.0.1/32".into()], &[]).unwrap();
    let ex = TestExporter::start_with(MODULES, guard).await;
    ex.probe_ok("http_2xx", &format!("http://{target}/redirect"))
        .await
        .assert_ok();
    let m = ex
        .probe_ok("http_2xx", &format!("http://{target}/to-127.0.0.2"))
        .await;
    m.assert_failed("denied");
    assert_eq!(m.val("probe_http_redirects", ""), 1.0);
}

#[test]
fn a_bad_cidr_flag_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "blackbox.yml", MODULES);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_watchkeeper-blackbox"))
        .arg("--config.file")
        .arg(&path)
        .args(["--probe.deny-cidr", "169.254.0.0/33", "--config.check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "error: --probe.deny-cidr: \"169.254.0.0/33\" is not a CIDR (like 169.254.0.0/16)"
    );
}
