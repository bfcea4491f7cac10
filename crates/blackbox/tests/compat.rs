//! Compatibility with blackbox_exporter: both exporters read the same blackbox.yml and probe the
//! same local targets; metric names, label names, `probe_success` and the status codes must agree
//! for every module.
//!
//! Needs the Debian `prometheus-blackbox-exporter` (CI installs it; with `CI=true` a missing
//! binary fails the test).

mod common;

use common::dns::start_dns;
use common::grpc::start_grpc;
use common::smtp::start_smtp;
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

const REFERENCE: &str = "/usr/bin/prometheus-blackbox-exporter";

/// Metrics only we emit (documented extensions).
const OUR_EXTRAS: &[&str] = &["probe_failure_info", "probe_tls_cipher_info"];

/// Differences we know and document (docs/blackbox.md): (module, metric). None at present;
/// kept so a future documented gap has one place to go.
const KNOWN_GAPS: &[(&str, &str)] = &[];

/// Values that must be equal when both report them.
const COMPARED_VALUES: &[&str] = &[
    "probe_success",
    "probe_http_status_code",
    "probe_http_version",
    "probe_http_redirects",
    "probe_http_ssl",
    "probe_http_content_length",
    "probe_http_uncompressed_body_length",
    "probe_failed_due_to_regex",
    "probe_ip_protocol",
    "probe_ip_addr_hash",
    "probe_dns_answer_rrs",
    "probe_dns_authority_rrs",
    "probe_dns_additional_rrs",
    "probe_dns_query_succeeded",
    "probe_dns_serial",
    "probe_grpc_status_code",
    "probe_grpc_ssl",
    "probe_ssl_earliest_cert_expiry",
    "probe_icmp_reply_hop_limit",
];

struct Reference(Child);

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A module only this process's config has: whoever answers a probe with it is the
/// blackbox_exporter started here, not another test's exporter that took the port first.
fn identity() -> String {
    format!("compat_identity_{}", std::process::id())
}

async fn start_reference(config: &std::path::Path) -> (Reference, SocketAddr) {
    for _attempt in 0..5 {
        let port = closed_port().await;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new(REFERENCE)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start blackbox_exporter");
        let reference = Reference(child);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                let query = format!("/probe?module={}&target=127.0.0.1:1", identity());
                if get(addr, &query, &[]).await.0 == 200 {
                    return (reference, addr);
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    panic!("blackbox_exporter did not start");
}

/// name -> (label names of each sample, value of the first sample, sample count).
type Shape = BTreeMap<String, (BTreeSet<String>, f64, usize)>;

fn shape(text: &str) -> Shape {
    let mut out = Shape::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let value: f64 = value.parse().unwrap_or(f64::NAN);
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let label_names: BTreeSet<String> = split_labels(labels)
            .into_iter()
            .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.to_string()))
            .collect();
        let entry = out
            .entry(name.to_string())
            .or_insert((label_names.clone(), value, 0));
        entry.0.extend(label_names);
        entry.2 += 1;
    }
    out
}

/// Splits `a="x",b="y,z"` at commas outside quotes.
fn split_labels(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in s.chars() {
        match c {
            '\\' if quoted && !escaped => {
                escaped = true;
                cur.push(c);
                continue;
            }
            '"' if !escaped => quoted = !quoted,
            ',' if !quoted => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        escaped = false;
        cur.push(c);
    }
    if !cur.is_empty() {
        parts.push(cur);
    }
    parts
}

async fn banner_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s.write_all(b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3\r\n").await;
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_config_same_targets_same_metrics() {
    if !std::path::Path::new(REFERENCE).exists() {
        assert!(!in_ci(), "{REFERENCE} is required when CI=true");
        eprintln!("notice: {REFERENCE} not installed; compatibility test skipped");
        return;
    }
    let pki = Pki::new("Compat CA");
    let cert = pki.leaf(&["127.0.0.1", "localhost"], false);
    let expired = pki.leaf(&["127.0.0.1"], true);
    let http = start_http().await;
    let https = start_https(&cert).await;
    let https_expired = start_https(&expired).await;
    // A certificate for another name, reached as "localhost".
    let https_wrong_host = start_https(&pki.leaf(&["other.example"], false)).await;
    let dns = start_dns().await;
    let grpc = start_grpc(None).await;
    let banner = banner_server().await;
    let closed = closed_port().await;
    let silent = start_silent().await;
    let smtp = start_smtp(pki.leaf(&["127.0.0.1"], false)).await;
    let grpc_tls = start_grpc(Some(&cert)).await;
    let ca = pki.ca_file();
    let ca = ca.display();

    let yaml = format!(
        r#"
modules:
  {identity}:
    prober: tcp
    timeout: 2s
  http_2xx:
    prober: http
    timeout: 3s
    http:
      preferred_ip_protocol: ip4
  http_post_regex:
    prober: http
    timeout: 3s
    http:
      preferred_ip_protocol: ip4
      method: POST
      fail_if_body_not_matches_regexp: ["^POST$"]
  http_regex_fails:
    prober: http
    timeout: 3s
    http:
      preferred_ip_protocol: ip4
      fail_if_body_matches_regexp: ["hello"]
  http_no_follow:
    prober: http
    timeout: 3s
    http:
      preferred_ip_protocol: ip4
      follow_redirects: false
      valid_status_codes: [301]
  https_ca:
    prober: http
    timeout: 3s
    http:
      preferred_ip_protocol: ip4
      tls_config:
        ca_file: {ca}
  https_h1:
    prober: http
    timeout: 3s
    http:
      preferred_ip_protocol: ip4
      enable_http2: false
      tls_config:
        ca_file: {ca}
  tcp_connect:
    prober: tcp
    timeout: 3s
    tcp:
      preferred_ip_protocol: ip4
  ssh_banner:
    prober: tcp
    timeout: 3s
    tcp:
      preferred_ip_protocol: ip4
      query_response:
        - expect: "^SSH-2.0-"
  tls_connect:
    prober: tcp
    timeout: 3s
    tcp:
      preferred_ip_protocol: ip4
      tls: true
      tls_config:
        ca_file: {ca}
  dns_a:
    prober: dns
    timeout: 3s
    dns:
      preferred_ip_protocol: ip4
      query_name: example.test
      query_type: A
  dns_soa_tcp:
    prober: dns
    timeout: 3s
    dns:
      preferred_ip_protocol: ip4
      transport_protocol: tcp
      query_name: example.test
      query_type: SOA
  dns_nxdomain:
    prober: dns
    timeout: 3s
    dns:
      preferred_ip_protocol: ip4
      query_name: missing.example.test
      query_type: A
  grpc_plain:
    prober: grpc
    timeout: 3s
    grpc:
      preferred_ip_protocol: ip4
  grpc_unknown_service:
    prober: grpc
    timeout: 3s
    grpc:
      preferred_ip_protocol: ip4
      service: nope
  ssh_wrong_banner:
    prober: tcp
    timeout: 3s
    tcp:
      preferred_ip_protocol: ip4
      query_response:
        - expect: "^220 "
  http_short:
    prober: http
    timeout: 1s
    http:
      preferred_ip_protocol: ip4
  tcp_short:
    prober: tcp
    timeout: 1s
    tcp:
      preferred_ip_protocol: ip4
      query_response:
        - expect: "^hello"
  http_gzip:
    prober: http
    timeout: 3s
    http:
      preferred_ip_protocol: ip4
      compression: gzip
      headers:
        Accept-Encoding: gzip
  http_must_be_tls:
    prober: http
    timeout: 3s
    http:
      preferred_ip_protocol: ip4
      fail_if_not_ssl: true
  dns_any:
    prober: dns
    timeout: 3s
    dns:
      preferred_ip_protocol: ip4
      query_name: example.test
  smtp_starttls:
    prober: tcp
    timeout: 3s
    tcp:
      preferred_ip_protocol: ip4
      query_response:
        - expect: "^220 ([^ ]+) ESMTP (.+)$"
        - send: "EHLO prober\r"
        - expect: "^250-STARTTLS"
        - send: "STARTTLS\r"
        - expect: "^220"
        - starttls: true
        - send: "EHLO prober\r"
        - expect: "^250-AUTH"
        - send: "QUIT\r"
      tls_config:
        ca_file: {ca}
  grpc_tls:
    prober: grpc
    timeout: 3s
    grpc:
      preferred_ip_protocol: ip4
      tls: true
      tls_config:
        ca_file: {ca}
  icmp6:
    prober: icmp
    timeout: 3s
  http_limited:
    prober: http
    timeout: 3s
    http:
      preferred_ip_protocol: ip4
      body_size_limit: 1KB
  http_header_check:
    prober: http
    timeout: 3s
    http:
      preferred_ip_protocol: ip4
      fail_if_header_not_matches:
        - header: X-Served-By
          regexp: "^test-"
  dns_records_fail:
    prober: dns
    timeout: 3s
    dns:
      preferred_ip_protocol: ip4
      query_name: example.test
      query_type: A
      validate_answer_rrs:
        fail_if_matches_regexp: ["127\\.0\\.0\\.1"]
  icmp:
    prober: icmp
    timeout: 3s
    icmp:
      preferred_ip_protocol: ip4
"#,
        identity = identity()
    );
    let cases: Vec<(&str, String)> = vec![
        ("http_2xx", format!("http://{http}/")),
        ("http_2xx", format!("http://{http}/redirect")),
        ("http_2xx", format!("http://{http}/status/404")),
        ("http_2xx", format!("http://127.0.0.1:{closed}/")),
        ("http_post_regex", format!("http://{http}/method")),
        ("http_regex_fails", format!("http://{http}/")),
        ("http_no_follow", format!("http://{http}/redirect")),
        ("https_ca", format!("https://{https}/")),
        ("https_ca", format!("https://{https_expired}/")),
        ("https_h1", format!("https://{https}/")),
        ("tcp_connect", http.to_string()),
        ("tcp_connect", format!("127.0.0.1:{closed}")),
        ("ssh_banner", banner.to_string()),
        ("tls_connect", https.to_string()),
        ("dns_a", dns.to_string()),
        ("dns_soa_tcp", dns.to_string()),
        ("dns_nxdomain", dns.to_string()),
        ("grpc_plain", grpc.to_string()),
        ("icmp", "127.0.0.1".to_string()),
        (
            "https_ca",
            format!("https://localhost:{}/", https_wrong_host.port()),
        ),
        ("grpc_unknown_service", grpc.to_string()),
        ("ssh_wrong_banner", banner.to_string()),
        ("http_limited", format!("http://{http}/big")),
        ("http_limited", format!("http://{http}/")),
        ("http_header_check", format!("http://{http}/")),
        ("http_header_check", format!("http://{http}/method")),
        ("dns_records_fail", dns.to_string()),
        ("http_short", format!("http://{silent}/")),
        ("tcp_short", silent.to_string()),
        ("http_gzip", format!("http://{http}/gzip")),
        ("http_must_be_tls", format!("http://{http}/")),
        ("dns_any", dns.to_string()),
        ("icmp6", "::1".to_string()),
        ("smtp_starttls", smtp.to_string()),
        ("grpc_tls", grpc_tls.to_string()),
        ("http_2xx", format!("http://{http}/loop")),
    ];

    let ours = TestExporter::start(&yaml).await;
    let config = ours.config_path();
    let (_reference, reference) = start_reference(&config).await;

    let mut problems = Vec::new();
    for (module, target) in &cases {
        let query = format!("/probe?module={module}&target={}", enc(target));
        let (s1, theirs) = get(reference, &query, &[]).await;
        let (s2, mine) = get(ours.addr, &query, &[]).await;
        let case = format!("{module} {target}");
        if s1 != s2 {
            problems.push(format!(
                "{case}: HTTP status {s1} (blackbox) vs {s2} (ours)"
            ));
            continue;
        }
        let (theirs, mine) = (shape(&theirs), shape(&mine));
        for (name, (labels, value, count)) in &theirs {
            let Some((my_labels, my_value, my_count)) = mine.get(name) else {
                if KNOWN_GAPS.contains(&(*module, name.as_str())) {
                    continue;
                }
                problems.push(format!("{case}: missing {name}"));
                continue;
            };
            if labels != my_labels {
                problems.push(format!(
                    "{case}: {name} labels {labels:?} (blackbox) vs {my_labels:?} (ours)"
                ));
            }
            if count != my_count {
                problems.push(format!(
                    "{case}: {name} has {count} samples (blackbox) vs {my_count} (ours)"
                ));
            }
            if COMPARED_VALUES.contains(&name.as_str()) && value != my_value {
                problems.push(format!(
                    "{case}: {name} = {value} (blackbox) vs {my_value} (ours)"
                ));
            }
        }
        for name in mine.keys() {
            if !theirs.contains_key(name) && !OUR_EXTRAS.contains(&name.as_str()) {
                problems.push(format!("{case}: extra metric {name}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
