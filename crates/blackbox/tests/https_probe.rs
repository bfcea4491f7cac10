//! The http prober over TLS: HTTP/2 and HTTP/1.1 with certificates generated here (valid,
//! expired, wrong host, unknown CA, with an intermediate).

mod common;

use common::*;

fn modules(ca_file: &std::path::Path) -> String {
    let ca = ca_file.display();
    format!(
        r#"
modules:
  https:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      fail_if_not_ssl: true
      tls_config:
        ca_file: {ca}
  https_h1:
    prober: http
    http:
      preferred_ip_protocol: ip4
      enable_http2: false
      tls_config:
        ca_file: {ca}
  https_insecure:
    prober: http
    http:
      preferred_ip_protocol: ip4
      tls_config:
        insecure_skip_verify: true
  https_named:
    prober: http
    http:
      preferred_ip_protocol: ip4
      tls_config:
        ca_file: {ca}
        server_name: localhost
  https_no_ssl_wanted:
    prober: http
    http:
      preferred_ip_protocol: ip4
      fail_if_ssl: true
      tls_config:
        ca_file: {ca}
"#
    )
}

#[tokio::test]
async fn valid_certificate_over_http2() {
    let pki = Pki::new("Test Root CA");
    let cert = pki.leaf(&["127.0.0.1", "localhost"], false);
    let server = start_https(&cert).await;
    let ex = TestExporter::start(&modules(&pki.ca_file())).await;
    let m = ex.probe_ok("https", &format!("https://{server}/")).await;
    m.assert_ok();
    assert_eq!(m.val("probe_http_ssl", ""), 1.0);
    assert_eq!(m.val("probe_http_version", ""), 2.0);
    assert_eq!(m.val("probe_http_status_code", ""), 200.0);
    assert_eq!(
        m.val("probe_ssl_earliest_cert_expiry", ""),
        cert.not_after as f64
    );
    assert_eq!(
        m.val("probe_ssl_last_chain_expiry_timestamp_seconds", ""),
        cert.not_after as f64
    );
    assert_eq!(m.val("probe_tls_version_info", "version=\"TLS 1.3\""), 1.0);
    assert!(
        m.0.contains("probe_tls_cipher_info{cipher=\"TLS_"),
        "{}",
        m.0
    );
    assert!(m.0.contains("issuer=\"CN=Test Root CA\""), "{}", m.0);
    assert!(m.0.contains("subject=\"CN=127.0.0.1\""), "{}", m.0);
    // DNS names only, as blackbox_exporter lists them.
    assert!(m.0.contains("subjectalternative=\"localhost\""), "{}", m.0);
    assert!(m.val("probe_http_duration_seconds", "phase=\"tls\"") > 0.0);
}

#[tokio::test]
async fn valid_certificate_over_http1() {
    let pki = Pki::new("Test Root CA");
    let cert = pki.leaf(&["127.0.0.1"], false);
    let server = start_https(&cert).await;
    let ex = TestExporter::start(&modules(&pki.ca_file())).await;
    let m = ex.probe_ok("https_h1", &format!("https://{server}/")).await;
    m.assert_ok();
    assert_eq!(m.val("probe_http_version", ""), 1.1);
    assert_eq!(m.val("probe_http_ssl", ""), 1.0);
}

#[tokio::test]
async fn expired_certificate_fails_verification_unless_skipped() {
    let pki = Pki::new("Test Root CA");
    let cert = pki.leaf(&["127.0.0.1"], true);
    let server = start_https(&cert).await;
    let ex = TestExporter::start(&modules(&pki.ca_file())).await;
    let m = ex.probe_ok("https", &format!("https://{server}/")).await;
    m.assert_failed("tls_verify");
    let m = ex
        .probe_ok("https_insecure", &format!("https://{server}/"))
        .await;
    m.assert_ok();
    // The expiry is still reported, so an alert on it keeps working with verification off.
    assert_eq!(
        m.val("probe_ssl_earliest_cert_expiry", ""),
        cert.not_after as f64
    );
    // No verified chain: Go's zero time, as blackbox_exporter reports it.
    assert_eq!(
        m.val("probe_ssl_last_chain_expiry_timestamp_seconds", ""),
        -62_135_596_800.0
    );
}

#[tokio::test]
async fn wrong_host_fails_verification_and_server_name_fixes_it() {
    let pki = Pki::new("Test Root CA");
    let cert = pki.leaf(&["localhost"], false);
    let server = start_https(&cert).await;
    let ex = TestExporter::start(&modules(&pki.ca_file())).await;
    ex.probe_ok("https", &format!("https://{server}/"))
        .await
        .assert_failed("tls_verify");
    ex.probe_ok("https_named", &format!("https://{server}/"))
        .await
        .assert_ok();
    // The hostname parameter also names the server (SNI and verification).
    let (status, body) = ex
        .probe(&format!(
            "module=https&hostname=localhost&target={}",
            enc(&format!("https://{server}/"))
        ))
        .await;
    assert_eq!(status, 200);
    Metrics(body).assert_ok();
}

#[tokio::test]
async fn unknown_ca_fails_verification() {
    let trusted = Pki::new("Trusted CA");
    let other = Pki::new("Someone Else's CA");
    let cert = other.leaf(&["127.0.0.1"], false);
    let server = start_https(&cert).await;
    let ex = TestExporter::start(&modules(&trusted.ca_file())).await;
    ex.probe_ok("https", &format!("https://{server}/"))
        .await
        .assert_failed("tls_verify");
}

#[tokio::test]
async fn chain_with_intermediate_verifies_and_reports_its_earliest_expiry() {
    let pki = Pki::new("Test Root CA");
    let cert = pki.leaf_via_intermediate(&["127.0.0.1"]);
    let server = start_https(&cert).await;
    let ex = TestExporter::start(&modules(&pki.ca_file())).await;
    let m = ex.probe_ok("https", &format!("https://{server}/")).await;
    m.assert_ok();
    assert_eq!(
        m.val("probe_ssl_earliest_cert_expiry", ""),
        cert.not_after as f64
    );
    assert!(m.0.contains("issuer=\"CN=Test Intermediate\""), "{}", m.0);
}

#[tokio::test]
async fn fail_if_ssl_and_a_plain_server_behind_https() {
    let pki = Pki::new("Test Root CA");
    let cert = pki.leaf(&["127.0.0.1"], false);
    let server = start_https(&cert).await;
    let plain = start_http().await;
    let ex = TestExporter::start(&modules(&pki.ca_file())).await;
    ex.probe_ok("https_no_ssl_wanted", &format!("https://{server}/"))
        .await
        .assert_failed("tls_present");
    // TLS to a server that speaks plain HTTP: a handshake failure, not a certificate one.
    ex.probe_ok("https", &format!("https://{plain}/"))
        .await
        .assert_failed("tls_handshake");
}
