//! Differential test: Debian's blackbox_exporter 0.23 and watchkeeper-blackbox run on one
//! generated blackbox.yml (one module per scenario) against targets started here on 127.0.0.1,
//! and every `/probe` answer is compared family by family: names, help texts, types, label sets
//! and values.
//! Timing families are compared by label sets only; families only we emit are left out by name;
//! the intended deviations (docs/blackbox.md) are an explicit allow-list with reasons.
//!
//! The harness checks itself in the same run: a second blackbox_exporter probes every scenario
//! too, and the reference compared with itself must show no difference at all.
//! `DIFFERENTIAL_SELF_CHECK=1` also puts blackbox_exporter in our place (zero differences
//! expected, allow-list unused); `DIFFERENTIAL_DUMP=<dir>` writes each scenario's debug answer
//! from both sides (`<scenario>.blackbox`, `<scenario>.ours`).
//!
//! Needs `/usr/bin/prometheus-blackbox-exporter` (scripts/install-test-deps.sh); without it the
//! test is skipped with a notice, unless CI=true, where it fails.

mod common;

use common::dns::start_dns;
use common::grpc::start_grpc;
use common::line::{start_http10, start_line, LineTls};
use common::smtp::start_smtp;
use common::*;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const REFERENCE: &str = "/usr/bin/prometheus-blackbox-exporter";
const OURS: &str = env!("CARGO_BIN_EXE_watchkeeper-blackbox");

/// Families only we emit (documented extensions), left out of the comparison by name.
const OUR_EXTRAS: &[&str] = &["probe_failure_info", "probe_tls_cipher_info"];

/// Families whose values are durations: compared by label sets, not values.
const TIMING: &[&str] = &[
    "probe_duration_seconds",
    "probe_dns_lookup_time_seconds",
    "probe_http_duration_seconds",
    "probe_icmp_duration_seconds",
    "probe_dns_duration_seconds",
    "probe_grpc_duration_seconds",
];

/// A difference we keep on purpose: in `scenario`, these families may differ.
struct Deviation {
    scenario: &'static str,
    families: &'static [&'static str],
    reason: &'static str,
}

/// The intended deviations (docs/blackbox.md, "Intended deviations"). Each must still show up,
/// so an entry cannot outlive the difference it excuses.
const INTENDED: &[Deviation] = &[
    Deviation {
        scenario: "http_gzip_without_accept_encoding",
        families: &[
            "probe_success",
            "probe_http_status_code",
            "probe_http_content_length",
            "probe_http_uncompressed_body_length",
            "probe_http_version",
        ],
        reason: "with `compression: gzip` and no Accept-Encoding header in the module, we ask \
                 for gzip; blackbox_exporter asks for nothing and then fails to gunzip the \
                 plain body the server sends",
    },
    Deviation {
        scenario: "dns_fail_if_all_match",
        families: &["probe_success", "probe_dns_query_succeeded"],
        reason: "blackbox_exporter 0.23 fails `fail_if_all_match_regexp` when *not* all \
                 records match, the opposite of its name and documentation; we fail when all \
                 match",
    },
    Deviation {
        scenario: "dns_fail_if_all_match_partial",
        families: &["probe_success", "probe_dns_query_succeeded"],
        reason: "the same `fail_if_all_match_regexp` inversion, seen from the other side: not \
                 every record matches, so we pass where blackbox_exporter fails",
    },
];

/// One module and the target it probes.
struct Scenario {
    name: String,
    module: String,
    target: String,
}

#[derive(Default)]
struct Scenarios(Vec<Scenario>);

impl Scenarios {
    /// Adds a scenario; `module` is the module's YAML at column 0 (`timeout: 5s` is added
    /// when it sets none).
    fn add(&mut self, name: &str, module: &str, target: impl Into<String>) {
        assert!(
            self.0.iter().all(|s| s.name != name),
            "duplicate scenario {name}"
        );
        let mut module = module.trim().to_string();
        if !module.lines().any(|l| l.starts_with("timeout:")) {
            module.push_str("\ntimeout: 5s");
        }
        self.0.push(Scenario {
            name: name.to_string(),
            module,
            target: target.into(),
        });
    }

    /// The config: every scenario's module, plus `identity` (a module only this run's config
    /// has, so the harness knows it talks to the exporter it started).
    fn config(&self, identity: &str) -> String {
        let mut out = format!("modules:\n  {identity}:\n    prober: tcp\n    timeout: 2s\n");
        for s in &self.0 {
            out.push_str(&format!("  {}:\n", s.name));
            for line in s.module.lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
        out
    }
}

// ---------------------------------------------------------------- exporters

/// An exporter process, killed on drop.
struct Process {
    child: Child,
    addr: SocketAddr,
    name: &'static str,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `binary` on a free port. Another test may take the same port between the check and
/// the bind; the `identity` module, known only to this run's config, tells whether whoever
/// answers there is the process started here.
async fn spawn(
    name: &'static str,
    binary: &str,
    config: &std::path::Path,
    identity: &str,
) -> Process {
    let log_path = config.with_extension(format!("{}.log", name.replace(' ', "_")));
    for _attempt in 0..5 {
        let log = std::fs::File::create(&log_path).unwrap();
        let port = closed_port().await;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary}: {e}"));
        let mut process = Process { child, addr, name };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                let query = format!("module={identity}&target=127.0.0.1:1");
                if probe_query(&process, &query).await.0 == 200 {
                    return process;
                }
                break; // someone else's exporter: try another port
            }
            if let Ok(Some(_)) = process.child.try_wait() {
                break; // exited: the port was taken, or the config is bad
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(5).collect();
    panic!(
        "{name} ({binary}) did not start with {}:\n{}",
        config.display(),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
}

async fn probe(p: &Process, module: &str, target: &str) -> (u16, String) {
    probe_query(p, &format!("module={module}&target={}", enc(target))).await
}

async fn probe_query(p: &Process, query: &str) -> (u16, String) {
    let query = format!("/probe?{query}");
    match tokio::time::timeout(Duration::from_secs(30), get(p.addr, &query, &[])).await {
        Ok(answer) => answer,
        Err(_) => panic!("{} did not answer {query} within 30 s", p.name),
    }
}

// ---------------------------------------------------------------- exposition parsing

/// One family: its type and samples (labels, value).
#[derive(Debug, Default)]
struct Family {
    help: String,
    kind: String,
    samples: Vec<(BTreeMap<String, String>, f64)>,
}

/// Parses the text exposition format into families by name.
fn parse(text: &str) -> BTreeMap<String, Family> {
    let mut out: BTreeMap<String, Family> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            out.entry(name.to_string()).or_default().help = help.to_string();
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            out.entry(name.to_string()).or_default().kind = kind.trim().to_string();
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (name, labels, rest) = match line.find('{') {
            Some(i) => {
                let (labels, after) = parse_labels(&line[i + 1..]);
                (&line[..i], labels, after)
            }
            None => {
                let (n, r) = line.split_once(' ').unwrap_or((line, ""));
                (n, BTreeMap::new(), r)
            }
        };
        let value = rest.split_whitespace().next().unwrap_or("");
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or(f64::NAN),
        };
        // Samples of histograms/summaries carry suffixes; keep them under the sample's name
        // (blackbox has none).
        out.entry(name.to_string())
            .or_default()
            .samples
            .push((labels, value));
    }
    out
}

/// Parses `a="x",b="y\"z"}` and returns the labels and what follows the `}`.
fn parse_labels(s: &str) -> (BTreeMap<String, String>, &str) {
    let mut labels = BTreeMap::new();
    let mut chars = s.char_indices().peekable();
    loop {
        while let Some((_, c)) = chars.peek() {
            if *c == ',' || *c == ' ' {
                chars.next();
            } else {
                break;
            }
        }
        let Some((i, c)) = chars.next() else {
            return (labels, "");
        };
        if c == '}' {
            return (labels, &s[i + 1..]);
        }
        let mut key = String::from(c);
        for (_, c) in chars.by_ref() {
            if c == '=' {
                break;
            }
            key.push(c);
        }
        chars.next(); // opening quote
        let mut value = String::new();
        let mut escaped = false;
        for (_, c) in chars.by_ref() {
            match (escaped, c) {
                (true, 'n') => {
                    value.push('\n');
                    escaped = false;
                }
                (true, c) => {
                    value.push(c);
                    escaped = false;
                }
                (false, '\\') => escaped = true,
                (false, '"') => break,
                (false, c) => value.push(c),
            }
        }
        labels.insert(key.trim().to_string(), value);
    }
}

fn same_value(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

fn render(labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(","))
}

/// The differences between two `/probe` answers, each as (family, description).
fn compare(reference: &(u16, String), other: &(u16, String)) -> Vec<(String, String)> {
    let mut diffs = Vec::new();
    if reference.0 != other.0 {
        diffs.push((
            "<http status>".to_string(),
            format!("HTTP status {} vs {}", reference.0, other.0),
        ));
        return diffs;
    }
    let (theirs, mine) = (parse(&reference.1), parse(&other.1));
    let names: BTreeSet<&String> = theirs
        .keys()
        .chain(mine.keys())
        .filter(|n| !OUR_EXTRAS.contains(&n.as_str()))
        .collect();
    for name in names {
        let (Some(a), Some(b)) = (theirs.get(name), mine.get(name)) else {
            let side = if theirs.contains_key(name) {
                "missing"
            } else {
                "extra"
            };
            let sample = theirs
                .get(name)
                .or_else(|| mine.get(name))
                .and_then(|f| f.samples.first())
                .map(|(l, v)| format!("{}{} {v}", name, render(l)))
                .unwrap_or_default();
            diffs.push((name.clone(), format!("{side} family: {sample}")));
            continue;
        };
        if a.kind != b.kind {
            diffs.push((name.clone(), format!("type {} vs {}", a.kind, b.kind)));
        }
        if a.help != b.help {
            diffs.push((name.clone(), format!("help {:?} vs {:?}", a.help, b.help)));
        }
        let timing = TIMING.contains(&name.as_str());
        let key = |(l, v): &(BTreeMap<String, String>, f64)| {
            if timing {
                render(l)
            } else {
                format!("{} {}", render(l), if v.is_nan() { f64::NAN } else { *v })
            }
        };
        let mut left: Vec<String> = a.samples.iter().map(key).collect();
        let mut right: Vec<String> = b.samples.iter().map(key).collect();
        left.sort();
        right.sort();
        if left != right {
            // Values parsed from "1e+00" and "1" print alike; compare as numbers to be sure.
            let numerically_same = !timing
                && a.samples.len() == b.samples.len()
                && a.samples.iter().all(|(l, v)| {
                    b.samples
                        .iter()
                        .any(|(l2, v2)| l == l2 && same_value(*v, *v2))
                });
            if !numerically_same {
                diffs.push((
                    name.clone(),
                    format!("{name}: [{}] vs [{}]", left.join(" "), right.join(" ")),
                ));
            }
        }
    }
    diffs
}

// ---------------------------------------------------------------- targets

/// A self-signed certificate whose subject is written in an order Go does not print it in,
/// with a comma and a plus sign to escape, and DNS, IP and email SANs.
fn self_signed() -> ServerCert {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec![
        "bench.local".to_string(),
        "localhost".to_string(),
        "127.0.0.1".to_string(),
    ])
    .unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Watch Bench, Inc.");
    dn.push(DnType::CountryName, "DE");
    dn.push(DnType::CommonName, "selfsigned.bench");
    dn.push(DnType::OrganizationalUnitName, "Probes+Tests");
    dn.push(DnType::StateOrProvinceName, "Hamburg");
    dn.push(DnType::LocalityName, " Altona");
    // emailAddress: no short name in Go, printed as OID=#hex after the named fields.
    dn.push(
        DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
        "ops@bench.test",
    );
    p.distinguished_name = dn;
    p.not_before = rcgen::date_time_ymd(2024, 1, 1);
    p.not_after = rcgen::date_time_ymd(2041, 6, 1);
    let cert = p.self_signed(&key).unwrap();
    ServerCert {
        chain_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        not_after: p.not_after.unix_timestamp(),
    }
}

/// A CA that expires (2031) before the leaf it signs (2040), written to `dir/short-ca.pem`:
/// the verified chain's earliest expiry is then the root's, which the server never presents.
fn short_lived_ca(dir: &std::path::Path) -> (ServerCert, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "Short CA");
    ca.not_before = rcgen::date_time_ymd(2024, 1, 1);
    ca.not_after = rcgen::date_time_ymd(2031, 1, 1);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "long leaf");
    leaf.not_before = rcgen::date_time_ymd(2024, 1, 1);
    leaf.not_after = rcgen::date_time_ymd(2040, 1, 1);
    let issuer = rcgen::Issuer::from_params(&ca, &ca_key);
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    let path = write(dir, "short-ca.pem", &ca_cert.pem());
    (
        ServerCert {
            chain_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            not_after: leaf.not_after.unix_timestamp(),
        },
        path.display().to_string(),
    )
}

/// Where the targets listen.
struct Targets {
    http: SocketAddr,
    http10: SocketAddr,
    https_ca: SocketAddr,
    https_chain: SocketAddr,
    https_self: SocketAddr,
    https_expired: SocketAddr,
    https_short_ca: SocketAddr,
    short_ca: String,
    line: SocketAddr,
    line_tls: SocketAddr,
    line_tls_self: SocketAddr,
    line_starttls: SocketAddr,
    smtp: SocketAddr,
    dns: SocketAddr,
    grpc: SocketAddr,
    grpc_tls: SocketAddr,
    silent: SocketAddr,
    closed: u16,
    ca: String,
    _pki: Pki,
}

async fn start_targets() -> Targets {
    let pki = Pki::new("Differential CA");
    let leaf = pki.leaf(&["127.0.0.1", "localhost"], false);
    let selfsigned = self_signed();
    let ca = pki.ca_file().display().to_string();
    let (short_leaf, short_ca) = short_lived_ca(pki.dir.path());
    Targets {
        https_short_ca: start_https(&short_leaf).await,
        short_ca,
        http: start_http().await,
        http10: start_http10().await,
        https_ca: start_https(&leaf).await,
        https_chain: start_https(&pki.leaf_via_intermediate(&["127.0.0.1", "localhost"])).await,
        https_self: start_https(&selfsigned).await,
        https_expired: start_https(&pki.leaf(&["127.0.0.1"], true)).await,
        line: start_line(None, LineTls::None).await,
        line_tls: start_line(Some(&leaf), LineTls::Implicit).await,
        line_tls_self: start_line(Some(&selfsigned), LineTls::Implicit).await,
        line_starttls: start_line(Some(&leaf), LineTls::StartTls).await,
        smtp: start_smtp(pki.leaf(&["127.0.0.1"], false)).await,
        dns: start_dns().await,
        grpc: start_grpc(None).await,
        grpc_tls: start_grpc(Some(&leaf)).await,
        silent: start_silent().await,
        closed: closed_port().await,
        ca,
        _pki: pki,
    }
}

// ---------------------------------------------------------------- scenarios

fn scenarios(t: &Targets) -> Scenarios {
    let mut s = Scenarios::default();
    let http = format!("http://{}", t.http);
    let ip4 = "preferred_ip_protocol: ip4";
    let ca = &t.ca;

    // --- http: status codes
    s.add(
        "http_2xx",
        &format!("prober: http\nhttp:\n  {ip4}"),
        format!("{http}/"),
    );
    s.add(
        "http_404",
        &format!("prober: http\nhttp:\n  {ip4}"),
        format!("{http}/status/404"),
    );
    s.add(
        "http_valid_404",
        &format!("prober: http\nhttp:\n  {ip4}\n  valid_status_codes: [404]"),
        format!("{http}/status/404"),
    );
    s.add(
        "http_500",
        &format!("prober: http\nhttp:\n  {ip4}"),
        format!("{http}/status/500"),
    );
    s.add(
        "http_204",
        &format!("prober: http\nhttp:\n  {ip4}"),
        format!("{http}/no-content"),
    );
    s.add(
        "http_no_scheme",
        &format!("prober: http\nhttp:\n  {ip4}"),
        t.http.to_string(),
    );
    s.add(
        "http_closed_port",
        &format!("prober: http\nhttp:\n  {ip4}"),
        format!("http://127.0.0.1:{}/", t.closed),
    );
    s.add(
        "http_timeout",
        &format!("prober: http\ntimeout: 1s\nhttp:\n  {ip4}"),
        format!("http://{}/", t.silent),
    );
    s.add(
        "http_10",
        &format!("prober: http\nhttp:\n  {ip4}"),
        format!("http://{}/", t.http10),
    );

    // --- http: redirects
    s.add(
        "http_redirect",
        &format!("prober: http\nhttp:\n  {ip4}"),
        format!("{http}/redirect"),
    );
    s.add(
        "http_redirect_not_followed",
        &format!(
            "prober: http\nhttp:\n  {ip4}\n  follow_redirects: false\n  valid_status_codes: [301]"
        ),
        format!("{http}/goto?code=301&/"),
    );
    s.add(
        "http_redirect_legacy_no_follow",
        &format!("prober: http\nhttp:\n  {ip4}\n  no_follow_redirects: true"),
        format!("{http}/goto?/"),
    );
    s.add(
        "http_redirect_not_followed_body_regex",
        &format!("prober: http\nhttp:\n  {ip4}\n  follow_redirects: false\n  valid_status_codes: [302]\n  fail_if_body_matches_regexp: ['nothing']"),
        format!("{http}/goto?/"),
    );
    s.add(
        "http_redirect_not_followed_gzip",
        &format!("prober: http\nhttp:\n  {ip4}\n  follow_redirects: false\n  valid_status_codes: [302]\n  compression: gzip\n  headers:\n    Accept-Encoding: gzip"),
        format!("{http}/goto?/"),
    );
    s.add(
        "http_redirect_not_followed_br",
        &format!("prober: http\nhttp:\n  {ip4}\n  follow_redirects: false\n  valid_status_codes: [302]\n  compression: br\n  headers:\n    Accept-Encoding: br"),
        format!("{http}/goto?/"),
    );
    s.add(
        "http_redirect_not_followed_empty",
        &format!(
            "prober: http\nhttp:\n  {ip4}\n  follow_redirects: false\n  valid_status_codes: [301]"
        ),
        format!("{http}/redirect"),
    );
    s.add(
        "http_redirect_loop",
        &format!("prober: http\nhttp:\n  {ip4}"),
        format!("{http}/loop"),
    );
    s.add(
        "http_redirect_to_https",
        &format!("prober: http\nhttp:\n  {ip4}\n  tls_config:\n    ca_file: {ca}"),
        format!("{http}/goto?https://{}/", t.https_ca),
    );
    s.add(
        "http_post_303_becomes_get",
        &format!("prober: http\nhttp:\n  {ip4}\n  method: POST\n  body: hello\n  fail_if_body_not_matches_regexp: ['^GET$']"),
        format!("{http}/goto?code=303&/method"),
    );
    s.add(
        "http_post_307_keeps_post",
        &format!("prober: http\nhttp:\n  {ip4}\n  method: POST\n  body: hello\n  fail_if_body_not_matches_regexp: ['^hello$']"),
        format!("{http}/goto?code=307&/echo"),
    );

    // --- http: cookies across redirects
    let plain = format!("prober: http\nhttp:\n  {ip4}");
    s.add("http_cookie_redirect", &plain, format!("{http}/cookie/set"));
    s.add(
        "http_cookie_other_path",
        &plain,
        format!("{http}/cookie/set-path"),
    );
    s.add(
        "http_cookie_expired",
        &plain,
        format!("{http}/cookie/set-expired"),
    );
    s.add(
        "http_cookie_foreign_domain",
        &plain,
        format!("{http}/cookie/set-foreign"),
    );
    s.add(
        "http_cookie_secure_over_http",
        &plain,
        format!("{http}/cookie/set-secure"),
    );
    s.add(
        "http_cookie_and_configured_cookie",
        &format!("prober: http\nhttp:\n  {ip4}\n  headers:\n    Cookie: mine=x\n  fail_if_body_not_matches_regexp: ['^cookie=mine=x; session=s3ss10n$']"),
        format!("{http}/cookie/set"),
    );
    s.add(
        "http_cookie_header_overridden",
        &format!("prober: http\nhttp:\n  {ip4}\n  headers:\n    Cookie: session=old"),
        format!("{http}/cookie/set"),
    );
    let with_cookie =
        format!("prober: http\nhttp:\n  {ip4}\n  headers:\n    Cookie: session=s3ss10n");
    s.add(
        "http_configured_cookie_same_host",
        &with_cookie,
        format!("{http}/goto?/cookie/check"),
    );
    s.add(
        "http_configured_cookie_other_host",
        &with_cookie,
        format!(
            "{http}/goto?http://localhost:{}/cookie/check",
            t.http.port()
        ),
    );
    s.add(
        "http_authorization_header_other_host",
        &format!("prober: http\nhttp:\n  {ip4}\n  headers:\n    Authorization: Bearer s3cret"),
        format!("{http}/goto?http://localhost:{}/auth", t.http.port()),
    );
    s.add(
        "http_authorization_header_same_host",
        &format!("prober: http\nhttp:\n  {ip4}\n  headers:\n    Authorization: Bearer s3cret"),
        format!("{http}/goto?/auth"),
    );
    s.add(
        "http_url_credentials_after_redirect",
        &plain,
        format!("http://user:pass@{}/goto?/auth", t.http),
    );
    s.add(
        "http_basic_auth_other_host",
        &format!(
            "prober: http\nhttp:\n  {ip4}\n  basic_auth:\n    username: user\n    password: pass"
        ),
        format!("{http}/goto?http://localhost:{}/auth", t.http.port()),
    );
    s.add(
        "http_cookie_other_host",
        &plain,
        format!(
            "{http}/goto?http://localhost:{}/cookie/check",
            t.http.port()
        ),
    );

    // --- http: regexes on body and headers
    s.add(
        "http_body_matches",
        &format!("prober: http\nhttp:\n  {ip4}\n  fail_if_body_matches_regexp: ['hello']"),
        format!("{http}/"),
    );
    s.add(
        "http_body_not_matches_ok",
        &format!(
            "prober: http\nhttp:\n  {ip4}\n  fail_if_body_not_matches_regexp: ['hello w.rld']"
        ),
        format!("{http}/"),
    );
    s.add(
        "http_body_not_matches_fails",
        &format!("prober: http\nhttp:\n  {ip4}\n  fail_if_body_not_matches_regexp: ['goodbye']"),
        format!("{http}/"),
    );
    s.add(
        "http_header_matches",
        &format!("prober: http\nhttp:\n  {ip4}\n  fail_if_header_matches:\n    - header: X-Served-By\n      regexp: '^test-'"),
        format!("{http}/"),
    );
    s.add(
        "http_header_not_matches_ok",
        &format!("prober: http\nhttp:\n  {ip4}\n  fail_if_header_not_matches:\n    - header: X-Served-By\n      regexp: 'target$'"),
        format!("{http}/"),
    );
    s.add(
        "http_header_missing",
        &format!("prober: http\nhttp:\n  {ip4}\n  fail_if_header_not_matches:\n    - header: X-Absent\n      regexp: '.*'"),
        format!("{http}/"),
    );
    s.add(
        "http_header_missing_allowed",
        &format!("prober: http\nhttp:\n  {ip4}\n  fail_if_header_matches:\n    - header: X-Absent\n      regexp: '.*'\n      allow_missing: true"),
        format!("{http}/"),
    );

    // --- http: methods, bodies, headers, auth
    s.add(
        "http_post_echo",
        &format!("prober: http\nhttp:\n  {ip4}\n  method: POST\n  body: 'ping body'\n  fail_if_body_not_matches_regexp: ['^ping body$']"),
        format!("{http}/echo"),
    );
    s.add(
        "http_head",
        &format!("prober: http\nhttp:\n  {ip4}\n  method: HEAD"),
        format!("{http}/"),
    );
    s.add(
        "http_host_header",
        &format!("prober: http\nhttp:\n  {ip4}\n  headers:\n    Host: virtual.test\n  fail_if_body_not_matches_regexp: ['host=virtual.test']"),
        format!("{http}/host"),
    );
    s.add(
        "http_basic_auth",
        &format!(
            "prober: http\nhttp:\n  {ip4}\n  basic_auth:\n    username: user\n    password: pass"
        ),
        format!("{http}/auth"),
    );
    s.add(
        "http_basic_auth_wrong",
        &format!(
            "prober: http\nhttp:\n  {ip4}\n  basic_auth:\n    username: user\n    password: nope"
        ),
        format!("{http}/auth"),
    );
    s.add(
        "http_bearer",
        &format!("prober: http\nhttp:\n  {ip4}\n  bearer_token: s3cret"),
        format!("{http}/auth"),
    );

    // --- http: compression, versions, size limit
    s.add(
        "http_gzip",
        &format!("prober: http\nhttp:\n  {ip4}\n  compression: gzip\n  headers:\n    Accept-Encoding: gzip"),
        format!("{http}/gzip"),
    );
    s.add(
        "http_gzip_without_accept_encoding",
        &format!("prober: http\nhttp:\n  {ip4}\n  compression: gzip"),
        format!("{http}/negotiate-gzip"),
    );
    s.add(
        "http_server_gzip_without_compression",
        &format!("prober: http\nhttp:\n  {ip4}"),
        format!("{http}/negotiate-gzip"),
    );
    s.add(
        "http_br",
        &format!(
            "prober: http\nhttp:\n  {ip4}\n  compression: br\n  headers:\n    Accept-Encoding: br"
        ),
        format!("{http}/br"),
    );
    s.add(
        "http_valid_version",
        &format!("prober: http\nhttp:\n  {ip4}\n  valid_http_versions: ['HTTP/1.1']"),
        format!("{http}/"),
    );
    s.add(
        "http_invalid_version",
        &format!("prober: http\nhttp:\n  {ip4}\n  valid_http_versions: ['HTTP/2.0']"),
        format!("{http}/"),
    );
    s.add(
        "http_body_size_limit_exceeded",
        &format!("prober: http\nhttp:\n  {ip4}\n  body_size_limit: 1KB"),
        format!("{http}/big"),
    );
    s.add(
        "http_body_size_limit_ok",
        &format!("prober: http\nhttp:\n  {ip4}\n  body_size_limit: 1MB"),
        format!("{http}/big"),
    );
    s.add(
        "http_fail_if_not_ssl",
        &format!("prober: http\nhttp:\n  {ip4}\n  fail_if_not_ssl: true"),
        format!("{http}/"),
    );

    // --- http: TLS verified, unverified and failing
    s.add(
        "https_ca",
        &format!("prober: http\nhttp:\n  {ip4}\n  tls_config:\n    ca_file: {ca}"),
        format!("https://{}/", t.https_ca),
    );
    s.add(
        "https_ca_http1",
        &format!(
            "prober: http\nhttp:\n  {ip4}\n  enable_http2: false\n  tls_config:\n    ca_file: {ca}"
        ),
        format!("https://{}/", t.https_ca),
    );
    s.add(
        "https_intermediate",
        &format!("prober: http\nhttp:\n  {ip4}\n  tls_config:\n    ca_file: {ca}"),
        format!("https://{}/", t.https_chain),
    );
    s.add(
        "https_self_signed_insecure",
        &format!("prober: http\nhttp:\n  {ip4}\n  tls_config:\n    insecure_skip_verify: true"),
        format!("https://{}/", t.https_self),
    );
    s.add(
        "https_self_signed_untrusted",
        &format!("prober: http\nhttp:\n  {ip4}"),
        format!("https://{}/", t.https_self),
    );
    s.add(
        "https_fail_if_ssl",
        &format!("prober: http\nhttp:\n  {ip4}\n  fail_if_ssl: true\n  tls_config:\n    insecure_skip_verify: true"),
        format!("https://{}/", t.https_ca),
    );
    s.add(
        "https_root_expires_first",
        &format!(
            "prober: http\nhttp:\n  {ip4}\n  tls_config:\n    ca_file: {}",
            t.short_ca
        ),
        format!("https://{}/", t.https_short_ca),
    );
    s.add(
        "https_expired",
        &format!("prober: http\nhttp:\n  {ip4}\n  tls_config:\n    ca_file: {ca}"),
        format!("https://{}/", t.https_expired),
    );
    s.add(
        "https_wrong_name",
        &format!("prober: http\nhttp:\n  {ip4}\n  tls_config:\n    ca_file: {ca}\n    server_name: other.test"),
        format!("https://{}/", t.https_ca),
    );
    s.add(
        "https_server_name",
        &format!("prober: http\nhttp:\n  {ip4}\n  tls_config:\n    ca_file: {ca}\n    server_name: localhost"),
        format!("https://{}/", t.https_ca),
    );

    // --- more edges
    s.add("http_304", &plain, format!("{http}/status/304"));
    s.add(
        "http_head_204",
        &format!("prober: http\nhttp:\n  {ip4}\n  method: HEAD"),
        format!("{http}/no-content"),
    );
    s.add(
        "https_redirect_to_http",
        &format!("prober: http\nhttp:\n  {ip4}\n  tls_config:\n    ca_file: {ca}"),
        format!("https://{}/goto?{http}/", t.https_ca),
    );
    s.add(
        "http_redirect_to_closed_port",
        &plain,
        format!("{http}/goto?http://127.0.0.1:{}/", t.closed),
    );
    s.add(
        "http_stalled_body_timeout",
        &format!("prober: http\ntimeout: 2s\nhttp:\n  {ip4}"),
        format!("{http}/stall"),
    );
    s.add(
        "http_url_credentials",
        &plain,
        format!("http://user:pass@{}/auth", t.http),
    );
    s.add(
        "http_gzip_size_limit",
        &format!("prober: http\nhttp:\n  {ip4}\n  compression: gzip\n  body_size_limit: 100B\n  headers:\n    Accept-Encoding: gzip"),
        format!("{http}/gzip"),
    );
    s.add(
        "tcp_tls_expect_never_seen",
        &format!("prober: tcp\ntimeout: 2s\ntcp:\n  {ip4}\n  tls: true\n  tls_config:\n    ca_file: {ca}\n  query_response:\n    - expect: '^NEVER'"),
        t.line_tls.to_string(),
    );
    s.add(
        "tcp_starttls_untrusted",
        &format!("prober: tcp\ntcp:\n  {ip4}\n  query_response:\n    - expect: '^READY'\n    - send: STARTTLS\n    - expect: '^OK starttls'\n    - starttls: true"),
        t.line_starttls.to_string(),
    );
    s.add(
        "tcp_source_address",
        &format!("prober: tcp\ntcp:\n  {ip4}\n  source_ip_address: 127.0.0.1"),
        t.line.to_string(),
    );
    s.add(
        "https_tls13_only",
        &format!("prober: http\nhttp:\n  {ip4}\n  tls_config:\n    ca_file: {ca}\n    min_version: TLS13"),
        format!("https://{}/", t.https_ca),
    );
    s.add(
        "https_tls12_max",
        &format!("prober: http\nhttp:\n  {ip4}\n  tls_config:\n    ca_file: {ca}\n    max_version: TLS12"),
        format!("https://{}/", t.https_ca),
    );
    s.add(
        "tcp_tls_against_plain",
        &format!("prober: tcp\ntcp:\n  {ip4}\n  tls: true\n  tls_config:\n    insecure_skip_verify: true"),
        t.line.to_string(),
    );

    s.add(
        "https_handshake_timeout",
        &format!("prober: http\ntimeout: 1s\nhttp:\n  {ip4}"),
        format!("https://{}/", t.silent),
    );
    s.add(
        "http_localhost_name",
        "prober: http\nhttp:\n  preferred_ip_protocol: ip6",
        format!("http://localhost:{}/", t.http.port()),
    );
    s.add(
        "tcp_localhost_name",
        &format!("prober: tcp\ntcp:\n  {ip4}"),
        format!("localhost:{}", t.line.port()),
    );
    s.add(
        "icmp_localhost_name",
        &format!("prober: icmp\nicmp:\n  {ip4}"),
        "localhost",
    );

    // --- name resolution with and without fallback
    let v6_only = "preferred_ip_protocol: ip6\n  ip_protocol_fallback: false";
    s.add(
        "http_ip6_no_fallback",
        &format!("prober: http\nhttp:\n  {v6_only}"),
        format!("{http}/"),
    );
    s.add(
        "http_ip6_fallback",
        "prober: http\nhttp:\n  preferred_ip_protocol: ip6",
        format!("{http}/"),
    );
    s.add(
        "http_ip4_no_fallback_v6_target",
        "prober: http\nhttp:\n  preferred_ip_protocol: ip4\n  ip_protocol_fallback: false",
        "http://[::1]:9/",
    );
    s.add(
        "tcp_ip6_no_fallback",
        &format!("prober: tcp\ntcp:\n  {v6_only}"),
        t.line.to_string(),
    );
    s.add(
        "tcp_ip6_fallback",
        "prober: tcp\ntcp:\n  preferred_ip_protocol: ip6",
        t.line.to_string(),
    );
    s.add(
        "icmp_ip6_no_fallback",
        &format!("prober: icmp\nicmp:\n  {v6_only}"),
        "127.0.0.1",
    );

    // --- tcp
    let line = t.line.to_string();
    s.add(
        "tcp_connect",
        &format!("prober: tcp\ntcp:\n  {ip4}"),
        line.clone(),
    );
    s.add(
        "tcp_closed",
        &format!("prober: tcp\ntcp:\n  {ip4}"),
        format!("127.0.0.1:{}", t.closed),
    );
    let ping = "  query_response:\n    - expect: '^READY line-server (\\d+)$'\n    - send: 'PING 42'\n    - expect: '^PONG 42$'\n    - send: QUIT\n    - expect: '^BYE'";
    s.add(
        "tcp_query_response",
        &format!("prober: tcp\ntcp:\n  {ip4}\n{ping}"),
        line.clone(),
    );
    s.add(
        "tcp_send_template_needs_same_step",
        &format!("prober: tcp\ntcp:\n  {ip4}\n  query_response:\n    - expect: '^READY line-server (\\d+)$'\n    - send: 'PING ${{1}}'\n    - expect: '^PONG \\$\\{{1\\}}$'"),
        line.clone(),
    );
    s.add(
        "tcp_send_template_same_step",
        &format!("prober: tcp\ntcp:\n  {ip4}\n  query_response:\n    - expect: '^READY line-server (\\d+)$'\n      send: 'PING ${{1}}'\n    - expect: '^PONG 42$'"),
        line.clone(),
    );
    s.add(
        "tcp_query_response_mismatch",
        &format!("prober: tcp\ntcp:\n  {ip4}\n  query_response:\n    - expect: '^HELLO'"),
        line.clone(),
    );
    s.add(
        "tcp_timeout",
        &format!(
            "prober: tcp\ntimeout: 1s\ntcp:\n  {ip4}\n  query_response:\n    - expect: '^READY'"
        ),
        t.silent.to_string(),
    );
    s.add(
        "tcp_tls",
        &format!(
            "prober: tcp\ntcp:\n  {ip4}\n  tls: true\n  tls_config:\n    ca_file: {ca}\n{ping}"
        ),
        t.line_tls.to_string(),
    );
    s.add(
        "tcp_tls_insecure",
        &format!("prober: tcp\ntcp:\n  {ip4}\n  tls: true\n  tls_config:\n    insecure_skip_verify: true\n{ping}"),
        t.line_tls_self.to_string(),
    );
    s.add(
        "tcp_tls_untrusted",
        &format!("prober: tcp\ntcp:\n  {ip4}\n  tls: true"),
        t.line_tls_self.to_string(),
    );
    let starttls = "  query_response:\n    - expect: '^READY'\n    - send: STARTTLS\n    - expect: '^OK starttls'\n    - starttls: true\n    - send: 'PING tls'\n    - expect: '^PONG tls$'";
    s.add(
        "tcp_starttls",
        &format!("prober: tcp\ntcp:\n  {ip4}\n  tls_config:\n    ca_file: {ca}\n{starttls}"),
        t.line_starttls.to_string(),
    );
    s.add(
        "tcp_starttls_insecure",
        &format!(
            "prober: tcp\ntcp:\n  {ip4}\n  tls_config:\n    insecure_skip_verify: true\n{starttls}"
        ),
        t.line_starttls.to_string(),
    );
    s.add(
        "tcp_smtp_starttls",
        &format!("prober: tcp\ntcp:\n  {ip4}\n  tls_config:\n    ca_file: {ca}\n  query_response:\n    - expect: '^220 ([^ ]+) ESMTP (.+)$'\n    - send: \"EHLO prober\\r\"\n    - expect: '^250-STARTTLS'\n    - send: \"STARTTLS\\r\"\n    - expect: '^220'\n    - starttls: true\n    - send: \"EHLO prober\\r\"\n    - expect: '^250-AUTH'\n    - send: \"QUIT\\r\""),
        t.smtp.to_string(),
    );

    // --- dns
    let dns = t.dns.to_string();
    let dns_mod = |extra: &str| format!("prober: dns\ndns:\n  {ip4}\n{extra}");
    s.add(
        "dns_a",
        &dns_mod("  query_name: example.test\n  query_type: A"),
        dns.clone(),
    );
    s.add(
        "dns_aaaa",
        &dns_mod("  query_name: example.test\n  query_type: AAAA"),
        dns.clone(),
    );
    s.add(
        "dns_soa_tcp",
        &dns_mod("  transport_protocol: tcp\n  query_name: example.test\n  query_type: SOA"),
        dns.clone(),
    );
    s.add(
        "dns_a_tcp",
        &dns_mod("  transport_protocol: tcp\n  query_name: example.test\n  query_type: A"),
        dns.clone(),
    );
    s.add(
        "dns_any",
        &dns_mod("  query_name: example.test\n  query_type: ANY"),
        dns.clone(),
    );
    s.add(
        "dns_nxdomain",
        &dns_mod("  query_name: missing.example.test"),
        dns.clone(),
    );
    s.add(
        "dns_nxdomain_valid",
        &dns_mod("  query_name: missing.example.test\n  valid_rcodes: [NXDOMAIN]"),
        dns.clone(),
    );
    s.add(
        "dns_refused",
        &dns_mod("  query_name: refused.test"),
        dns.clone(),
    );
    s.add(
        "dns_no_recursion",
        &dns_mod("  query_name: norecurse.test\n  recursion_desired: false"),
        dns.clone(),
    );
    s.add(
        "dns_answer_matches",
        &dns_mod("  query_name: example.test\n  validate_answer_rrs:\n    fail_if_matches_regexp: ['127\\.0\\.0\\.1']"),
        dns.clone(),
    );
    s.add(
        "dns_answer_not_matches_ok",
        &dns_mod("  query_name: example.test\n  query_type: A\n  validate_answer_rrs:\n    fail_if_not_matches_regexp: ['example\\.test\\..*IN\\s+A']"),
        dns.clone(),
    );
    s.add(
        "dns_answer_none_matches",
        &dns_mod("  query_name: example.test\n  validate_answer_rrs:\n    fail_if_none_matches_regexp: ['10\\.0\\.0\\.1']"),
        dns.clone(),
    );
    s.add(
        "dns_authority_soa",
        &dns_mod("  query_name: missing.example.test\n  valid_rcodes: [NXDOMAIN]\n  validate_authority_rrs:\n    fail_if_not_matches_regexp: ['SOA']"),
        dns.clone(),
    );
    s.add(
        "dns_additional_matches",
        &dns_mod("  query_name: example.test\n  validate_additional_rrs:\n    fail_if_matches_regexp: ['127\\.0\\.0\\.53']"),
        dns.clone(),
    );
    s.add(
        "dns_fail_if_all_match",
        &dns_mod("  query_name: example.test\n  query_type: A\n  validate_answer_rrs:\n    fail_if_all_match_regexp: ['127\\.0\\.0\\.1']"),
        dns.clone(),
    );
    s.add(
        "dns_fail_if_all_match_partial",
        &dns_mod("  query_name: example.test\n  query_type: ANY\n  validate_answer_rrs:\n    fail_if_all_match_regexp: ['127\\.0\\.0\\.1']"),
        dns.clone(),
    );
    s.add(
        "dns_timeout",
        &format!("prober: dns\ntimeout: 1s\ndns:\n  {ip4}\n  query_name: silent.test"),
        dns.clone(),
    );

    s.add(
        "dns_mx_no_records",
        &dns_mod("  query_name: example.test\n  query_type: MX"),
        dns.clone(),
    );
    s.add(
        "dns_class_chaos",
        &dns_mod("  query_name: example.test\n  query_type: A\n  query_class: CH"),
        dns.clone(),
    );
    s.add(
        "dns_additional_not_matches",
        &dns_mod("  query_name: example.test\n  query_type: A\n  validate_additional_rrs:\n    fail_if_not_matches_regexp: ['ns\\.example\\.test']"),
        dns.clone(),
    );
    s.add(
        "dns_tcp_closed",
        &dns_mod("  transport_protocol: tcp\n  query_name: example.test"),
        format!("127.0.0.1:{}", t.closed),
    );
    s.add(
        "dns_ip6_no_fallback",
        "prober: dns\ndns:\n  preferred_ip_protocol: ip6\n  ip_protocol_fallback: false\n  query_name: example.test",
        dns.clone(),
    );

    // --- grpc
    s.add(
        "grpc_serving",
        &format!("prober: grpc\ngrpc:\n  {ip4}"),
        t.grpc.to_string(),
    );
    s.add(
        "grpc_unknown_service",
        &format!("prober: grpc\ngrpc:\n  {ip4}\n  service: nope"),
        t.grpc.to_string(),
    );
    s.add(
        "grpc_tls",
        &format!("prober: grpc\ngrpc:\n  {ip4}\n  tls: true\n  tls_config:\n    ca_file: {ca}"),
        t.grpc_tls.to_string(),
    );
    s.add(
        "grpc_tls_insecure",
        &format!("prober: grpc\ngrpc:\n  {ip4}\n  tls: true\n  tls_config:\n    insecure_skip_verify: true"),
        t.grpc_tls.to_string(),
    );
    s.add(
        "grpc_ip6_no_fallback",
        &format!("prober: grpc\ngrpc:\n  {v6_only}"),
        t.grpc.to_string(),
    );

    // --- icmp
    s.add(
        "icmp_ip4",
        &format!("prober: icmp\nicmp:\n  {ip4}"),
        "127.0.0.1",
    );
    s.add(
        "icmp_ip6",
        "prober: icmp\nicmp:\n  preferred_ip_protocol: ip6\n  ip_protocol_fallback: false",
        "::1",
    );
    s.add(
        "icmp_ttl",
        &format!("prober: icmp\nicmp:\n  {ip4}\n  ttl: 10"),
        "127.0.0.1",
    );
    s.add(
        "icmp_dont_fragment",
        &format!("prober: icmp\nicmp:\n  {ip4}\n  dont_fragment: true"),
        "127.0.0.1",
    );
    s.add(
        "icmp_payload",
        &format!("prober: icmp\nicmp:\n  {ip4}\n  payload_size: 100"),
        "127.0.0.1",
    );
    s
}

// ---------------------------------------------------------------- the test

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_match_blackbox_exporter() {
    if !std::path::Path::new(REFERENCE).exists() {
        assert!(!in_ci(), "{REFERENCE} is required when CI=true");
        eprintln!("notice: {REFERENCE} not installed; differential test skipped");
        return;
    }
    let started = Instant::now();
    let targets = start_targets().await;
    let scenarios = scenarios(&targets);
    assert!(
        scenarios.0.len() >= 50,
        "only {} scenarios",
        scenarios.0.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let identity = format!(
        "harness_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let config = write(dir.path(), "blackbox.yml", &scenarios.config(&identity));

    let reference = Arc::new(spawn("blackbox_exporter", REFERENCE, &config, &identity).await);
    let twin = Arc::new(spawn("blackbox_exporter (twin)", REFERENCE, &config, &identity).await);
    // DIFFERENTIAL_SELF_CHECK=1 puts blackbox_exporter in our place too: every comparison
    // must then come out empty, allow-list or not.
    let self_check = std::env::var("DIFFERENTIAL_SELF_CHECK").is_ok_and(|v| v == "1");
    let ours = if self_check {
        eprintln!("self-check: blackbox_exporter on both sides");
        spawn("blackbox_exporter (as ours)", REFERENCE, &config, &identity).await
    } else {
        spawn("watchkeeper-blackbox", OURS, &config, &identity).await
    };
    let ours = Arc::new(ours);

    // Each scenario probes the three exporters at once; a few scenarios run side by side.
    let limit = Arc::new(tokio::sync::Semaphore::new(8));
    let mut tasks = Vec::new();
    for sc in &scenarios.0 {
        let (reference, twin, ours, limit) = (
            Arc::clone(&reference),
            Arc::clone(&twin),
            Arc::clone(&ours),
            Arc::clone(&limit),
        );
        let (name, target) = (sc.name.clone(), sc.target.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire().await.unwrap();
            let (a, b, c) = tokio::join!(
                probe(&reference, &name, &target),
                probe(&twin, &name, &target),
                probe(&ours, &name, &target),
            );
            (name, a, b, c)
        }));
    }

    // DIFFERENTIAL_DUMP=<dir> keeps every answer (<scenario>.blackbox / .ours) for a look.
    let dump = std::env::var_os("DIFFERENTIAL_DUMP").map(std::path::PathBuf::from);
    let mut harness = Vec::new();
    let mut unexpected = Vec::new();
    let mut seen_deviations = BTreeSet::new();
    for task in tasks {
        let (name, theirs, twin, mine) = task.await.unwrap();
        if let Some(dir) = &dump {
            let target = &scenarios.0.iter().find(|s| s.name == name).unwrap().target;
            let debug = format!("module={name}&target={}&debug=true", enc(target));
            std::fs::create_dir_all(dir).unwrap();
            for (p, suffix) in [(&reference, "blackbox"), (&ours, "ours")] {
                let (_, text) = probe_query(p, &debug).await;
                std::fs::write(dir.join(format!("{name}.{suffix}")), text).unwrap();
            }
        }
        assert_eq!(
            theirs.0, 200,
            "{name}: blackbox_exporter answered {}: {}",
            theirs.0, theirs.1
        );
        assert!(
            theirs.1.contains("probe_success"),
            "{name}: no probe_success in {}",
            theirs.1
        );
        for (family, d) in compare(&theirs, &twin) {
            harness.push(format!("{name}: {family}: {d}"));
        }
        let allowed = INTENDED.iter().find(|d| d.scenario == name && !self_check);
        for (family, d) in compare(&theirs, &mine) {
            match allowed {
                Some(dev) if dev.families.contains(&family.as_str()) => {
                    seen_deviations.insert(dev.scenario);
                }
                _ => unexpected.push(format!("{name}: {d}")),
            }
        }
    }
    assert!(
        harness.is_empty(),
        "the harness is not sound: blackbox_exporter differs from itself in {} places:\n{}",
        harness.len(),
        harness.join("\n")
    );
    assert!(
        unexpected.is_empty(),
        "{} differences from blackbox_exporter:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
    for d in INTENDED.iter().filter(|_| !self_check) {
        assert!(
            seen_deviations.contains(d.scenario),
            "intended deviation {} ({}) no longer shows: remove it from the allow-list and docs/blackbox.md",
            d.scenario,
            d.reason
        );
    }
    eprintln!(
        "{} scenarios compared in {:.1} s",
        scenarios.0.len(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn comparison_sees_values_labels_types_and_families() {
    let base = "# HELP probe_success x\n# TYPE probe_success gauge\nprobe_success 1\n\
                # TYPE probe_http_duration_seconds gauge\n\
                probe_http_duration_seconds{phase=\"connect\"} 0.1\n\
                # TYPE probe_ssl_last_chain_info gauge\n\
                probe_ssl_last_chain_info{subject=\"CN=a,O=b\\\\, c\",issuer=\"x\"} 1\n";
    let a = (200, base.to_string());
    assert!(compare(&a, &a).is_empty());
    // Timing values may differ; their labels may not.
    let timing = (200, base.replace("} 0.1", "} 0.2"));
    assert!(compare(&a, &timing).is_empty());
    let phase = (200, base.replace("connect", "tls"));
    assert_eq!(compare(&a, &phase).len(), 1);
    // Values, label values, types and families are all seen.
    assert_eq!(
        compare(&a, &(200, base.replace("success 1", "success 0"))).len(),
        1
    );
    assert_eq!(compare(&a, &(200, base.replace("O=b", "O=B"))).len(), 1);
    assert_eq!(
        compare(
            &a,
            &(
                200,
                base.replace("gauge\nprobe_success", "counter\nprobe_success")
            )
        )
        .len(),
        1
    );
    let help = (200, base.replace("probe_success x", "probe_success y"));
    assert_eq!(compare(&a, &help).len(), 1);
    let extra = (200, format!("{base}probe_http_ssl 0\n"));
    assert_eq!(compare(&a, &extra)[0].0, "probe_http_ssl");
    // Our documented extras are not differences; 1e+00 and 1 are the same value.
    let ours = (
        200,
        format!(
            "{}probe_failure_info{{reason=\"dns\"}} 1\n",
            base.replace("success 1", "success 1e+00")
        ),
    );
    assert!(compare(&a, &ours).is_empty(), "{:?}", compare(&a, &ours));
    assert_eq!(compare(&a, &(400, String::new())).len(), 1);
    let parsed = parse(base);
    assert_eq!(
        parsed["probe_ssl_last_chain_info"].samples[0].0["subject"],
        "CN=a,O=b\\, c"
    );
}
