//! The dns prober against a small authoritative responder (UDP and TCP) built on hickory-proto
//! (see `common/dns.rs` for its zone).

mod common;

use common::dns::{start_dns, start_dot};
use common::*;
use std::time::{Duration, Instant};

const MODULES: &str = r#"
modules:
  dns_a:
    prober: dns
    timeout: 2s
    dns:
      preferred_ip_protocol: ip4
      query_name: example.test
      query_type: A
      validate_answer_rrs:
        fail_if_not_matches_regexp:
          - "example.test.\t300\tIN\tA\t127.0.0.1"
      validate_additional_rrs:
        fail_if_none_matches_regexp: ["127\\.0\\.0\\.53"]
  dns_a_tcp:
    prober: dns
    dns:
      preferred_ip_protocol: ip4
      transport_protocol: tcp
      query_name: example.test
      query_type: A
  dns_soa:
    prober: dns
    dns:
      preferred_ip_protocol: ip4
      query_name: example.test
      query_type: SOA
  dns_any:
    prober: dns
    dns:
      preferred_ip_protocol: ip4
      query_name: example.test
  dns_forbid_localhost:
    prober: dns
    dns:
      preferred_ip_protocol: ip4
      query_name: example.test
      query_type: A
      validate_answer_rrs:
        fail_if_matches_regexp: [".*127.0.0.1"]
  dns_nxdomain:
    prober: dns
    dns:
      preferred_ip_protocol: ip4
      query_name: missing.example.test
      query_type: A
  dns_nxdomain_expected:
    prober: dns
    dns:
      preferred_ip_protocol: ip4
      query_name: missing.example.test
      query_type: A
      valid_rcodes: [NXDOMAIN]
  dns_refused:
    prober: dns
    dns:
      preferred_ip_protocol: ip4
      query_name: refused.test
      query_type: A
  dns_rd:
    prober: dns
    dns:
      preferred_ip_protocol: ip4
      query_name: norecurse.test
      query_type: A
  dns_no_rd:
    prober: dns
    dns:
      preferred_ip_protocol: ip4
      query_name: norecurse.test
      query_type: A
      recursion_desired: false
  dns_silent:
    prober: dns
    timeout: 1s
    dns:
      preferred_ip_protocol: ip4
      query_name: silent.test
      query_type: A
"#;

#[tokio::test]
async fn a_record_over_udp_with_section_checks() {
    let dns = start_dns().await;
    let ex = TestExporter::start(MODULES).await;
    let m = ex.probe_ok("dns_a", &dns.to_string()).await;
    m.assert_ok();
    assert_eq!(m.val("probe_dns_answer_rrs", ""), 1.0);
    assert_eq!(m.val("probe_dns_authority_rrs", ""), 0.0);
    assert_eq!(m.val("probe_dns_additional_rrs", ""), 1.0);
    assert_eq!(m.val("probe_dns_query_succeeded", ""), 1.0);
    assert_eq!(m.val("probe_ip_protocol", ""), 4.0);
    assert!(m.val("probe_dns_duration_seconds", "phase=\"request\"") > 0.0);
    assert!(m.get("probe_dns_serial", "").is_none());
}

#[tokio::test]
async fn tcp_transport_and_soa_serial_and_any() {
    let dns = start_dns().await;
    let ex = TestExporter::start(MODULES).await;
    ex.probe_ok("dns_a_tcp", &dns.to_string()).await.assert_ok();
    let m = ex.probe_ok("dns_soa", &dns.to_string()).await;
    m.assert_ok();
    assert_eq!(m.val("probe_dns_serial", ""), 2024010101.0);
    let m = ex.probe_ok("dns_any", &dns.to_string()).await;
    m.assert_ok();
    assert_eq!(m.val("probe_dns_answer_rrs", ""), 3.0);
    // Only SOA queries report the serial, even when an SOA record is among the answers.
    assert!(m.get("probe_dns_serial", "").is_none());
}

#[tokio::test]
async fn nxdomain_and_wrong_rcodes_fail_unless_listed() {
    let dns = start_dns().await;
    let ex = TestExporter::start(MODULES).await;
    let m = ex.probe_ok("dns_nxdomain", &dns.to_string()).await;
    m.assert_failed("dns_rcode");
    assert_eq!(m.val("probe_dns_query_succeeded", ""), 1.0);
    assert_eq!(m.val("probe_dns_authority_rrs", ""), 1.0);
    ex.probe_ok("dns_nxdomain_expected", &dns.to_string())
        .await
        .assert_ok();
    ex.probe_ok("dns_refused", &dns.to_string())
        .await
        .assert_failed("dns_rcode");
}

#[tokio::test]
async fn record_regexes_fail_the_probe() {
    let dns = start_dns().await;
    let ex = TestExporter::start(MODULES).await;
    ex.probe_ok("dns_forbid_localhost", &dns.to_string())
        .await
        .assert_failed("dns_records");
}

#[tokio::test]
async fn the_recursion_desired_flag_is_sent_as_configured() {
    let dns = start_dns().await;
    let ex = TestExporter::start(MODULES).await;
    ex.probe_ok("dns_rd", &dns.to_string())
        .await
        .assert_failed("dns_rcode");
    ex.probe_ok("dns_no_rd", &dns.to_string()).await.assert_ok();
}

#[tokio::test]
async fn an_unanswered_query_times_out_in_time() {
    let dns = start_dns().await;
    let ex = TestExporter::start(MODULES).await;
    let started = Instant::now();
    let m = ex.probe_ok("dns_silent", &dns.to_string()).await;
    m.assert_failed("timeout");
    assert_eq!(m.val("probe_dns_query_succeeded", ""), 0.0);
    assert!(
        started.elapsed() < Duration::from_millis(1250),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn dns_targets_default_to_port_53_and_reject_bad_ports() {
    let ex = TestExporter::start(MODULES).await;
    let (status, body) = ex.probe("module=dns_a&target=127.0.0.1%3A65536").await;
    assert_eq!(status, 400, "{body}");
    // Port 53 on loopback: nothing listens there in the test environment, or something does;
    // either way the request is valid and answered with metrics.
    let (status, _) = ex.probe("module=dns_silent&target=127.0.0.1").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn dns_over_tls() {
    let pki = Pki::new("DoT CA");
    let dot = start_dot(&pki.leaf(&["127.0.0.1"], false)).await;
    let untrusted = Pki::new("Other CA");
    let dot_untrusted = start_dot(&untrusted.leaf(&["127.0.0.1"], false)).await;
    let ca = pki.ca_file();
    let yaml = format!(
        "modules:\n  dot:\n    prober: dns\n    timeout: 2s\n    dns:\n      preferred_ip_protocol: ip4\n      transport_protocol: tcp\n      dns_over_tls: true\n      query_name: example.test\n      query_type: A\n      tls_config:\n        ca_file: {}\n  dot_udp:\n    prober: dns\n    dns:\n      dns_over_tls: true\n      query_name: example.test\n",
        ca.display()
    );
    let ex = TestExporter::start(&yaml).await;
    let m = ex.probe_ok("dot", &dot.to_string()).await;
    m.assert_ok();
    assert_eq!(m.val("probe_dns_answer_rrs", ""), 1.0);
    ex.probe_ok("dot", &dot_untrusted.to_string())
        .await
        .assert_failed("tls_verify");
    ex.probe_ok("dot_udp", &dot.to_string())
        .await
        .assert_failed("local");
}
