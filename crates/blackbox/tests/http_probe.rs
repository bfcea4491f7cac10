//! The http prober against real local servers, scraped through the exporter's `/probe`.

mod common;

use common::*;
use std::time::{Duration, Instant};

const MODULES: &str = r#"
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
  ip6_only:
    prober: http
    http:
      ip_protocol_fallback: false
  short:
    prober: http
    timeout: 1s
    http:
      preferred_ip_protocol: ip4
  limited:
    prober: http
    http:
      preferred_ip_protocol: ip4
      body_size_limit: 1KB
  body_must_say_goodbye:
    prober: http
    http:
      preferred_ip_protocol: ip4
      fail_if_body_not_matches_regexp: ["goodbye"]
  body_must_not_say_hello:
    prober: http
    http:
      preferred_ip_protocol: ip4
      fail_if_body_matches_regexp: ["hel+o"]
  header_check:
    prober: http
    http:
      preferred_ip_protocol: ip4
      fail_if_header_matches:
        - header: X-Served-By
          regexp: "test-.*"
  header_required:
    prober: http
    http:
      preferred_ip_protocol: ip4
      fail_if_header_not_matches:
        - header: X-Missing
          regexp: ".*"
  accept_404:
    prober: http
    http:
      preferred_ip_protocol: ip4
      valid_status_codes: [404]
  no_follow:
    prober: http
    http:
      preferred_ip_protocol: ip4
      follow_redirects: false
  must_be_tls:
    prober: http
    http:
      preferred_ip_protocol: ip4
      fail_if_not_ssl: true
  only_http2:
    prober: http
    http:
      preferred_ip_protocol: ip4
      valid_http_versions: ["HTTP/2.0"]
  basic:
    prober: http
    http:
      preferred_ip_protocol: ip4
      basic_auth:
        username: user
        password: pass
  bearer:
    prober: http
    http:
      preferred_ip_protocol: ip4
      bearer_token: s3cret
  post:
    prober: http
    http:
      preferred_ip_protocol: ip4
      method: POST
      body: '{}'
      fail_if_body_not_matches_regexp: ["^POST$"]
  gzip:
    prober: http
    http:
      preferred_ip_protocol: ip4
      compression: gzip
      headers:
        Accept-Encoding: gzip
  brotli:
    prober: http
    http:
      preferred_ip_protocol: ip4
      compression: br
      fail_if_body_not_matches_regexp: ["line 199: .* goodbye"]
  brotli_wants_hello:
    prober: http
    http:
      preferred_ip_protocol: ip4
      compression: br
      fail_if_body_not_matches_regexp: ["hello"]
  vhost:
    prober: http
    http:
      preferred_ip_protocol: ip4
      headers:
        Host: vhost.example
      fail_if_body_not_matches_regexp: ["host=vhost.example"]
  ws:
    prober: websocket
  cel:
    prober: http
    http:
      fail_if_body_json_matches_cel: "body.ok == false"
"#;

#[tokio::test]
async fn a_healthy_target_reports_blackbox_metrics() {
    let target = start_http().await;
    let ex = TestExporter::start(MODULES).await;
    let m = ex.probe_ok("http_2xx", &format!("http://{target}/")).await;
    m.assert_ok();
    assert_eq!(m.val("probe_http_status_code", ""), 200.0);
    assert_eq!(m.val("probe_http_content_length", ""), 11.0);
    assert_eq!(m.val("probe_http_uncompressed_body_length", ""), 11.0);
    assert_eq!(m.val("probe_http_version", ""), 1.1);
    assert_eq!(m.val("probe_http_ssl", ""), 0.0);
    assert_eq!(m.val("probe_http_redirects", ""), 0.0);
    assert_eq!(m.val("probe_ip_protocol", ""), 4.0);
    assert_eq!(m.val("probe_ip_addr_hash", ""), 3668918509.0);
    assert_eq!(m.val("probe_failed_due_to_regex", ""), 0.0);
    assert_eq!(
        m.val("probe_http_last_modified_timestamp_seconds", ""),
        784111777.0
    );
    for phase in ["resolve", "connect", "tls", "processing", "transfer"] {
        assert!(m.val("probe_http_duration_seconds", &format!("phase=\"{phase}\"")) >= 0.0);
    }
    assert!(m.val("probe_http_duration_seconds", "phase=\"processing\"") > 0.0);
    assert!(m.val("probe_duration_seconds", "") > 0.0);
}

#[tokio::test]
async fn module_defaults_to_http_2xx_and_a_bare_host_means_http() {
    let target = start_http().await;
    let ex = TestExporter::start(MODULES).await;
    let (status, body) = ex
        .probe(&format!("target={}", enc(&target.to_string())))
        .await;
    assert_eq!(status, 200);
    Metrics(body).assert_ok();
}

#[tokio::test]
async fn connection_refused() {
    let port = closed_port().await;
    let ex = TestExporter::start(MODULES).await;
    let m = ex
        .probe_ok("http_2xx", &format!("http://127.0.0.1:{port}/"))
        .await;
    m.assert_failed("connect_refused");
    assert_eq!(m.val("probe_http_status_code", ""), 0.0);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_within_the_module_timeout() {
    let silent = start_silent().await;
    let ex = TestExporter::start(MODULES).await;
    let started = Instant::now();
    let m = ex.probe_ok("short", &format!("http://{silent}/")).await;
    let took = started.elapsed();
    m.assert_failed("timeout");
    // timeout: 1s; the probe must come back within 10% of it (plus scheduling slack).
    assert!(
        took >= Duration::from_millis(950),
        "returned too early: {took:?}"
    );
    assert!(took < Duration::from_millis(1100 + 150), "took {took:?}");
    assert!(m.val("probe_duration_seconds", "") < 1.1);
}

#[tokio::test]
async fn the_scrape_timeout_header_minus_offset_bounds_the_probe() {
    let silent = start_silent().await;
    let ex = TestExporter::start(MODULES).await;
    let started = Instant::now();
    let (status, body) = get(
        ex.addr,
        &format!(
            "/probe?module=http_2xx&target={}",
            enc(&format!("http://{silent}/"))
        ),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "1.5")],
    )
    .await;
    let took = started.elapsed();
    assert_eq!(status, 200);
    Metrics(body).assert_failed("timeout");
    // 1.5 s minus the default 0.5 s offset.
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_millis(1250),
        "took {took:?}"
    );
}

#[tokio::test]
async fn redirects_are_followed_and_a_loop_hits_the_limit() {
    let target = start_http().await;
    let ex = TestExporter::start(MODULES).await;
    let m = ex
        .probe_ok("http_2xx", &format!("http://{target}/redirect"))
        .await;
    m.assert_ok();
    assert_eq!(m.val("probe_http_redirects", ""), 1.0);

    let m = ex
        .probe_ok("http_2xx", &format!("http://{target}/loop"))
        .await;
    m.assert_failed("redirect_limit");
    assert_eq!(m.val("probe_http_redirects", ""), 11.0);
    assert_eq!(m.val("probe_http_status_code", ""), 302.0);

    let m = ex
        .probe_ok("no_follow", &format!("http://{target}/redirect"))
        .await;
    m.assert_failed("status_code");
    assert_eq!(m.val("probe_http_status_code", ""), 301.0);

    // The body of a redirect not followed is not read (blackbox_exporter: length 0).
    let m = ex
        .probe_ok("no_follow", &format!("http://{target}/goto?/"))
        .await;
    assert_eq!(m.val("probe_http_status_code", ""), 302.0);
    assert_eq!(m.val("probe_http_uncompressed_body_length", ""), 0.0);
    assert_eq!(m.val("probe_http_content_length", ""), 11.0);
}

#[tokio::test]
async fn cookies_set_by_a_redirect_are_sent_to_its_target() {
    let target = start_http().await;
    let ex = TestExporter::start(MODULES).await;
    let m = ex
        .probe_ok("http_2xx", &format!("http://{target}/cookie/set"))
        .await;
    m.assert_ok();
    assert_eq!(m.val("probe_http_redirects", ""), 1.0);
    // A cookie for another path, or an expired one, is not sent.
    for path in ["/cookie/set-path", "/cookie/set-expired"] {
        let m = ex
            .probe_ok("http_2xx", &format!("http://{target}{path}"))
            .await;
        m.assert_failed("status_code");
        assert_eq!(m.val("probe_http_status_code", ""), 403.0);
    }
}

#[tokio::test]
async fn a_body_without_content_has_length_zero() {
    let target = start_http().await;
    let ex = TestExporter::start(MODULES).await;
    let m = ex
        .probe_ok("http_2xx", &format!("http://{target}/no-content"))
        .await;
    m.assert_ok();
    assert_eq!(m.val("probe_http_status_code", ""), 204.0);
    assert_eq!(m.val("probe_http_content_length", ""), 0.0);
}

#[tokio::test]
async fn a_body_over_the_limit_fails() {
    let target = start_http().await;
    let ex = TestExporter::start(MODULES).await;
    let m = ex
        .probe_ok("limited", &format!("http://{target}/big"))
        .await;
    m.assert_failed("body_too_large");
    let m = ex.probe_ok("limited", &format!("http://{target}/")).await;
    m.assert_ok();
}

#[tokio::test]
async fn a_slow_drip_body_times_out() {
    let target = start_http().await;
    let ex = TestExporter::start(MODULES).await;
    let started = Instant::now();
    let m = ex.probe_ok("short", &format!("http://{target}/drip")).await;
    m.assert_failed("timeout");
    assert!(started.elapsed() < Duration::from_millis(1250));
    // The headers arrived, so the status is known even though the body never finished.
    assert_eq!(m.val("probe_http_status_code", ""), 200.0);
}

#[tokio::test]
async fn body_regexes() {
    let target = start_http().await;
    let ex = TestExporter::start(MODULES).await;
    let m = ex
        .probe_ok("body_must_say_goodbye", &format!("http://{target}/"))
        .await;
    m.assert_failed("body_regex");
    assert_eq!(m.val("probe_failed_due_to_regex", ""), 1.0);
    let m = ex
        .probe_ok("body_must_not_say_hello", &format!("http://{target}/"))
        .await;
    m.assert_failed("body_regex");
    let m = ex
        .probe_ok(
            "body_must_not_say_hello",
            &format!("http://{target}/method"),
        )
        .await;
    m.assert_ok();
}

#[tokio::test]
async fn header_regexes() {
    let target = start_http().await;
    let ex = TestExporter::start(MODULES).await;
    let m = ex
        .probe_ok("header_check", &format!("http://{target}/"))
        .await;
    m.assert_failed("header_regex");
    // As blackbox_exporter: header regex failures also set probe_failed_due_to_regex.
    assert_eq!(m.val("probe_failed_due_to_regex", ""), 1.0);
    ex.probe_ok("header_check", &format!("http://{target}/method"))
        .await
        .assert_failed("header_regex");
    ex.probe_ok("header_required", &format!("http://{target}/"))
        .await
        .assert_failed("header_regex");
}

#[tokio::test]
async fn status_codes() {
    let target = start_http().await;
    let ex = TestExporter::start(MODULES).await;
    let m = ex
        .probe_ok("http_2xx", &format!("http://{target}/status/500"))
        .await;
    m.assert_failed("status_code");
    assert_eq!(m.val("probe_http_status_code", ""), 500.0);
    ex.probe_ok("accept_404", &format!("http://{target}/nothing-here"))
        .await
        .assert_ok();
    ex.probe_ok("accept_404", &format!("http://{target}/"))
        .await
        .assert_failed("status_code");
}

#[tokio::test]
async fn tls_and_version_requirements() {
    let target = start_http().await;
    let ex = TestExporter::start(MODULES).await;
    ex.probe_ok("must_be_tls", &format!("http://{target}/"))
        .await
        .assert_failed("tls_missing");
    ex.probe_ok("only_http2", &format!("http://{target}/"))
        .await
        .assert_failed("http_version");
}

#[tokio::test]
async fn credentials_methods_bodies_and_virtual_hosts() {
    let target = start_http().await;
    let ex = TestExporter::start(MODULES).await;
    ex.probe_ok("http_2xx", &format!("http://{target}/auth"))
        .await
        .assert_failed("status_code");
    ex.probe_ok("basic", &format!("http://{target}/auth"))
        .await
        .assert_ok();
    ex.probe_ok("bearer", &format!("http://{target}/auth"))
        .await
        .assert_ok();
    ex.probe_ok("post", &format!("http://{target}/method"))
        .await
        .assert_ok();
    ex.probe_ok("vhost", &format!("http://{target}/host"))
        .await
        .assert_ok();
    // The hostname parameter overrides the Host header.
    let (status, body) = ex
        .probe(&format!(
            "module=vhost&hostname=other.example&target={}",
            enc(&format!("http://{target}/host"))
        ))
        .await;
    assert_eq!(status, 200);
    Metrics(body).assert_failed("body_regex");
}

#[tokio::test]
async fn gzip_bodies_are_measured_uncompressed() {
    let target = start_http().await;
    let ex = TestExporter::start(MODULES).await;
    let m = ex.probe_ok("gzip", &format!("http://{target}/gzip")).await;
    m.assert_ok();
    assert_eq!(m.val("probe_http_uncompressed_body_length", ""), 10_000.0);
    assert!(m.val("probe_http_content_length", "") < 10_000.0);
}

#[tokio::test]
async fn brotli_bodies_are_decoded_before_the_checks() {
    let target = start_http().await;
    let ex = TestExporter::start(MODULES).await;
    let plain = include_bytes!("fixtures/brotli/body.txt");
    let encoded = include_bytes!("fixtures/brotli/body.txt.br");
    let m = ex.probe_ok("brotli", &format!("http://{target}/br")).await;
    m.assert_ok();
    assert_eq!(
        m.val("probe_http_uncompressed_body_length", ""),
        plain.len() as f64
    );
    assert_eq!(m.val("probe_http_content_length", ""), encoded.len() as f64);
    // The regex sees the decoded text, so a word absent from it fails the probe.
    let m = ex
        .probe_ok("brotli_wants_hello", &format!("http://{target}/br"))
        .await;
    m.assert_failed("body_regex");
    assert_eq!(m.val("probe_failed_due_to_regex", ""), 1.0);
    // A damaged stream is a protocol failure, not a panic or a hang.
    let body = ex
        .probe_debug("brotli", &format!("http://{target}/br-corrupt"))
        .await;
    assert!(
        body.contains("Failed to decompress response body"),
        "{body}"
    );
    Metrics(body).assert_failed("protocol");
}

#[tokio::test]
async fn without_fallback_an_ipv4_literal_is_not_used_for_ip6() {
    let target = start_http().await;
    let ex = TestExporter::start(MODULES).await;
    let m = ex.probe_ok("ip6_only", &format!("http://{target}/")).await;
    m.assert_failed("dns");
    // As blackbox_exporter: the address gauges at 0, and only the resolve phase.
    assert_eq!(m.val("probe_ip_protocol", ""), 0.0);
    assert_eq!(m.val("probe_ip_addr_hash", ""), 0.0);
    assert!(m
        .get("probe_http_duration_seconds", "phase=\"resolve\"")
        .is_some());
    assert_eq!(
        m.get("probe_http_duration_seconds", "phase=\"connect\""),
        None
    );
}

#[tokio::test]
async fn bad_requests_get_a_one_line_400_and_the_exporter_keeps_serving() {
    let target = start_http().await;
    let ex = TestExporter::start(MODULES).await;
    let cases = [
        (
            "module=http_2xx&target=http%3A%2F%2F%5B%3A%3A1",
            "Could not parse target URL",
        ),
        (
            "module=nope&target=http%3A%2F%2F127.0.0.1%2F",
            "Unknown module \"nope\"",
        ),
        (
            "module=http_2xx&target=http%3A%2F%2F127.0.0.1%3A99999%2F",
            "Could not parse target URL",
        ),
        ("module=http_2xx", "Target parameter is missing"),
        (
            "module=cel&target=http%3A%2F%2F127.0.0.1%2F",
            "http.fail_if_body_json_matches_cel is not supported",
        ),
        (
            "module=ws&target=http%3A%2F%2F127.0.0.1%2F",
            "scheme \"http\" is not ws or wss",
        ),
    ];
    for (query, want) in cases {
        let (status, body) = ex.probe(query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(want), "{query}: {body}");
        assert_eq!(body.trim_end().lines().count(), 1, "{query}: {body}");
    }
    ex.probe_ok("http_2xx", &format!("http://{target}/"))
        .await
        .assert_ok();
}

#[tokio::test]
async fn debug_output_has_the_log_and_history_keeps_it() {
    let target = start_http().await;
    let ex = TestExporter::start(MODULES).await;
    let body = ex
        .probe_debug("http_2xx", &format!("http://{target}/status/503"))
        .await;
    assert!(body.contains("Logs for the probe"), "{body}");
    assert!(body.contains("Invalid HTTP response status code"), "{body}");
    assert!(
        body.contains("probe_failure_info{reason=\"status_code\"} 1"),
        "{body}"
    );

    let (_, landing) = get(ex.addr, "/", &[]).await;
    assert!(landing.contains("Recent Probes"), "{landing}");
    assert!(landing.contains("logs?id=1"), "{landing}");
    let (status, log) = get(ex.addr, "/logs?id=1", &[]).await;
    assert_eq!(status, 200);
    assert!(log.contains("Invalid HTTP response status code"), "{log}");
    let (status, _) = get(ex.addr, "/logs?id=9999", &[]).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn reload_keeps_the_old_config_when_the_new_one_is_invalid() {
    let target = start_http().await;
    let ex = TestExporter::start(MODULES).await;
    std::fs::write(
        ex.config_path(),
        "modules:\n  http_2xx:\n    prober: http\n    timeout: soon\n",
    )
    .unwrap();
    let (status, body) = request(ex.addr, "POST", "/-/reload", &[]).await;
    assert_ne!(status, 200, "{body}");
    ex.probe_ok("http_2xx", &format!("http://{target}/"))
        .await
        .assert_ok();

    std::fs::write(
        ex.config_path(),
        "modules:\n  renamed:\n    prober: http\n    http:\n      preferred_ip_protocol: ip4\n",
    )
    .unwrap();
    let (status, body) = request(ex.addr, "POST", "/-/reload", &[]).await;
    assert_eq!(status, 200, "{body}");
    ex.probe_ok("renamed", &format!("http://{target}/"))
        .await
        .assert_ok();
    let (status, _) = ex
        .probe(&format!(
            "module=http_2xx&target={}",
            enc(&format!("http://{target}/"))
        ))
        .await;
    assert_eq!(status, 400);
}

/// A minimal CONNECT proxy: opens a tunnel to the requested `host:port`.
async fn start_connect_proxy() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).await.ok()? == 0 {
                        return None;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head
                    .strip_prefix("CONNECT ")?
                    .split_whitespace()
                    .next()?
                    .to_string();
                let mut upstream = tokio::net::TcpStream::connect(&target).await.ok()?;
                client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .ok()?;
                tokio::io::copy_bidirectional(&mut client, &mut upstream)
                    .await
                    .ok()?;
                Some(())
            });
        }
    });
    addr
}

#[tokio::test]
async fn through_an_http_proxy() {
    let target = start_http().await;
    let pki = Pki::new("Proxy test CA");
    let https = start_https(&pki.leaf(&["127.0.0.1"], false)).await;
    let proxy = start_connect_proxy().await;
    let yaml = format!(
        r#"
modules:
  via_target_as_proxy:
    prober: http
    http:
      proxy_url: http://{target}
      skip_resolve_phase_with_proxy: true
  via_connect_proxy:
    prober: http
    http:
      preferred_ip_protocol: ip4
      proxy_url: http://{proxy}
      proxy_connect_header:
        Proxy-Authorization: ["Bearer letmein"]
      tls_config:
        ca_file: {ca}
  via_connect_proxy_without_credentials:
    prober: http
    http:
      preferred_ip_protocol: ip4
      proxy_url: http://{proxy}
      tls_config:
        ca_file: {ca}
  proxy_bypassed:
    prober: http
    http:
      preferred_ip_protocol: ip4
      proxy_url: http://127.0.0.1:{closed}
      no_proxy: localhost,127.0.0.0/8
"#,
        ca = pki.ca_file().display(),
        closed = closed_port().await,
    );
    let ex = TestExporter::start(&yaml).await;
    // The name does not resolve: only the proxy (the target itself, which accepts
    // absolute-form requests) is ever connected to.
    let m = ex
        .probe_ok("via_target_as_proxy", "http://no-such-host.invalid/method")
        .await;
    m.assert_ok();
    let m = ex
        .probe_ok("via_connect_proxy", &format!("https://{https}/"))
        .await;
    m.assert_ok();
    assert_eq!(m.val("probe_http_ssl", ""), 1.0);
}

#[tokio::test]
async fn body_file_is_sent() {
    let target = start_http().await;
    let dir = tempfile::tempdir().unwrap();
    let body = write(dir.path(), "body.json", "{\"ping\": 42}");
    let yaml = format!(
        "modules:\n  post_file:\n    prober: http\n    http:\n      preferred_ip_protocol: ip4\n      method: POST\n      body_file: {}\n      fail_if_body_not_matches_regexp: ['\"ping\": 42']\n  missing_file:\n    prober: http\n    http:\n      preferred_ip_protocol: ip4\n      body_file: /nonexistent/body\n",
        body.display()
    );
    let ex = TestExporter::start(&yaml).await;
    ex.probe_ok("post_file", &format!("http://{target}/echo"))
        .await
        .assert_ok();
    ex.probe_ok("missing_file", &format!("http://{target}/echo"))
        .await
        .assert_failed("local");
}

#[tokio::test]
async fn oauth2_client_credentials_tokens_are_fetched_once_and_sent() {
    let target = start_http().await;
    let dir = tempfile::tempdir().unwrap();
    let secret_file = write(dir.path(), "secret", "s3cret\n");
    let yaml = format!(
        r#"
modules:
  oauth:
    prober: http
    http:
      preferred_ip_protocol: ip4
      oauth2:
        client_id: id
        client_secret_file: {}
        scopes: [probe, read]
        token_url: http://{target}/token
  oauth_wrong_secret:
    prober: http
    http:
      preferred_ip_protocol: ip4
      oauth2:
        client_id: id
        client_secret: nope
        token_url: http://{target}/token
"#,
        secret_file.display()
    );
    let ex = TestExporter::start(&yaml).await;
    let before = TOKEN_REQUESTS.load(std::sync::atomic::Ordering::SeqCst);
    ex.probe_ok("oauth", &format!("http://{target}/auth"))
        .await
        .assert_ok();
    ex.probe_ok("oauth", &format!("http://{target}/auth"))
        .await
        .assert_ok();
    let after = TOKEN_REQUESTS.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(after - before, 1, "the token is cached until it expires");
    ex.probe_ok("oauth_wrong_secret", &format!("http://{target}/auth"))
        .await
        .assert_failed("oauth2");
    let (_, landing) = get(ex.addr, "/", &[]).await;
    assert!(
        !landing.contains("s3cret") && !landing.contains("nope"),
        "{landing}"
    );
}

#[tokio::test]
async fn http_headers_values_secrets_and_files() {
    let target = start_http().await;
    let dir = tempfile::tempdir().unwrap();
    let token = write(dir.path(), "token", "Bearer s3cret\n");
    let yaml = format!(
        "modules:\n  from_file:\n    prober: http\n    http:\n      preferred_ip_protocol: ip4\n      http_headers:\n        Authorization:\n          files: [{}]\n  from_secret:\n    prober: http\n    http:\n      preferred_ip_protocol: ip4\n      http_headers:\n        Authorization:\n          secrets: [Bearer s3cret]\n",
        token.display()
    );
    let ex = TestExporter::start(&yaml).await;
    ex.probe_ok("from_file", &format!("http://{target}/auth"))
        .await
        .assert_ok();
    ex.probe_ok("from_secret", &format!("http://{target}/auth"))
        .await
        .assert_ok();
    let (_, landing) = get(ex.addr, "/", &[]).await;
    assert!(!landing.contains("s3cret"), "{landing}");
}
