//! Property-based fuzzing of request handling through the real server: one exporter on
//! 127.0.0.1 port 0 receives raw HTTP/1.1 requests with arbitrary methods, paths, query
//! strings, headers (`Accept`, `Accept-Encoding`, the scrape-timeout header, junk names and
//! non-UTF-8 values) and bodies, over plain TCP. Properties: every request gets a well-formed
//! HTTP response or a closed connection within 5 s, never a 5xx other than 503, and
//! `/-/healthy` still answers 200 after each one. `PROPTEST_CASES` raises the case count
//! (default 64).

use proptest::prelude::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use watchkeeper_core::cli::WebArgs;
use watchkeeper_core::exporter::{Exporter, ExporterSpec};
use watchkeeper_core::probe::{ProbeHandler, ProbeLog, ProbeQuery, ProbeRejection, ProbeReport};
use watchkeeper_core::{
    BlockingCollector, BoxFuture, CollectError, CollectorRunner, MetricSet, MetricType,
};

const SPEC: ExporterSpec = ExporterSpec {
    name: "fuzz",
    binary: "watchkeeper-fuzz",
    default_port: 0,
    description: "A fuzzed exporter.",
};

struct FortyTwo;
impl BlockingCollector for FortyTwo {
    fn name(&self) -> &str {
        "answer"
    }
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        out.family("fuzz_answer", "The answer.", MetricType::Gauge)
            .sample(&[("kind", "quote\"d\\n")], 42.0);
        Ok(())
    }
}

struct Echo;
impl ProbeHandler for Echo {
    fn probe(&self, q: ProbeQuery) -> BoxFuture<'_, Result<ProbeReport, ProbeRejection>> {
        Box::pin(async move {
            let Some(target) = q.get("target") else {
                return Err(ProbeRejection("Target parameter is missing".into()));
            };
            let mut log = ProbeLog::new();
            log.info(format!("probing {target}"));
            let mut metrics = MetricSet::new();
            metrics.gauge("probe_success", "Whether the probe succeeded.", 1.0);
            metrics.gauge(
                "probe_budget_seconds",
                "The probe's budget.",
                q.budget(None).as_secs_f64(),
            );
            Ok(ProbeReport {
                metrics,
                log,
                success: true,
            })
        })
    }
}

/// The server, started once for every case on a runtime of its own that lives as long as the
/// test process.
fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let mut runner = CollectorRunner::new(vec!["watchkeeper_fuzz".into()]);
                runner.add_blocking(FortyTwo);
                let running = Exporter::new(SPEC)
                    .collectors(runner)
                    .prober(Arc::new(Echo))
                    .bind(&WebArgs::loopback_ephemeral())
                    .await
                    .expect("server starts");
                tx.send(running.local_addrs()[0]).expect("send address");
                std::future::pending::<()>().await;
                drop(running);
            });
        });
        rx.recv().expect("server address")
    })
}

fn cases() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(64),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// What one connection gave back.
#[derive(Debug)]
enum Answer {
    /// The server answered (possibly nothing) and closed the connection.
    Closed(Vec<u8>),
    /// The server is still waiting for more of the request after a second (an incomplete
    /// request or body); what it sent so far.
    Waiting(Vec<u8>),
}

/// Sends raw bytes and reads until the server closes, or a second passes. No half-close: the
/// server (hyper's default) drops a request whose client shuts its write side.
fn exchange(addr: SocketAddr, request: &[u8]) -> std::io::Result<Answer> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(1)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    // The server may refuse and close before reading everything: a write error is fine.
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(Answer::Closed(out)),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            // A reset after a refusal is a closed connection too.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Ok(Answer::Closed(out))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(Answer::Waiting(out))
            }
            Err(e) => return Err(e),
        }
    }
}

fn healthy(addr: SocketAddr) -> bool {
    exchange(
        addr,
        b"GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .is_ok_and(|r| matches!(r, Answer::Closed(b) if b.starts_with(b"HTTP/1.1 200")))
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[ -~]{0,40}".prop_map(String::into_bytes),
        "(application/openmetrics-text|text/plain|\\*/\\*|gzip|br|identity)(;q=[0-9.]{0,6})?(, ?(text/plain|gzip|\\*)(;q=[0-9.e-]{0,6})?){0,3}"
            .prop_map(String::into_bytes),
        "[-+]?[0-9]{0,12}(\\.[0-9]{0,8})?(e[-+]?[0-9]{1,4})?".prop_map(String::into_bytes),
        // obs-text and control bytes (not CR/LF: that would end the header).
        proptest::collection::vec(any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'), 0..40),
    ]
}

fn header() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    (
        prop_oneof![
            Just(b"Accept".to_vec()),
            Just(b"Accept-Encoding".to_vec()),
            Just(b"X-Prometheus-Scrape-Timeout-Seconds".to_vec()),
            Just(b"Content-Length".to_vec()),
            Just(b"Transfer-Encoding".to_vec()),
            Just(b"Authorization".to_vec()),
            Just(b"Connection".to_vec()),
            Just(b"Expect".to_vec()),
            "[A-Za-z0-9-]{1,20}".prop_map(String::into_bytes),
            proptest::collection::vec(
                any::<u8>().prop_filter("no CR/LF/colon", |b| !b"\r\n:".contains(b)),
                0..20
            ),
        ],
        header_value(),
    )
}

fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/metrics".to_string()),
        Just("/-/healthy".to_string()),
        Just("/-/ready".to_string()),
        Just("/".to_string()),
        "/probe\\?(target=[a-z0-9.:%\\[\\]]{0,20}|module=[a-z%]{0,8}|debug=(true|1|x)|[a-z%+=&]{0,20})(&[a-z%+=.:0-9]{0,20}){0,4}",
        "/[ -~&&[^ ]]{0,60}",
        "[ -~&&[^ ]]{0,30}",
        Just("*".to_string()),
        Just("http://127.0.0.1/metrics".to_string()),
    ]
}

fn request() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![
            Just("GET"),
            Just("HEAD"),
            Just("POST"),
            Just("OPTIONS"),
            Just("PUT"),
            Just("DELETE"),
            Just("BREW"),
            Just("get"),
        ],
        target(),
        prop_oneof![
            Just("HTTP/1.1"),
            Just("HTTP/1.0"),
            Just("HTTP/2.0"),
            Just("HTTP/9"),
            Just("")
        ],
        proptest::collection::vec(header(), 0..8),
        proptest::collection::vec(any::<u8>(), 0..64),
        any::<bool>(),
    )
        .prop_map(|(method, target, version, headers, body, host)| {
            let mut r = format!("{method} {target} {version}\r\n").into_bytes();
            if host {
                r.extend_from_slice(b"Host: 127.0.0.1\r\n");
            }
            for (name, value) in headers {
                r.extend_from_slice(&name);
                r.extend_from_slice(b": ");
                r.extend_from_slice(&value);
                r.extend_from_slice(b"\r\n");
            }
            r.extend_from_slice(b"Connection: close\r\n\r\n");
            r.extend_from_slice(&body);
            r
        })
}

#[test]
fn the_server_answers_a_plain_scrape() {
    let addr = server();
    let r = exchange(
        addr,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip;q=0.00\r\nConnection: close\r\n\r\n",
    )
    .expect("exchange");
    let Answer::Closed(r) = r else {
        panic!("no complete answer: {r:?}")
    };
    let text = String::from_utf8_lossy(&r);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains("fuzz_answer"),
        "gzip refused, so plain text: {text}"
    );
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn raw_requests(req in request()) {
        let addr = server();
        let answer = exchange(addr, &req);
        prop_assert!(answer.is_ok(), "connection failed: {:?}", answer.err());
        let bytes = match answer {
            Ok(Answer::Closed(b)) | Ok(Answer::Waiting(b)) => b,
            Err(_) => Vec::new(),
        };
        if !bytes.is_empty() {
            let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(80)]).into_owned();
            prop_assert!(bytes.starts_with(b"HTTP/1."), "not HTTP: {shown:?}");
            let status: u16 = bytes
                .get(9..12)
                .and_then(|s| std::str::from_utf8(s).ok())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            prop_assert!((100..600).contains(&status), "status {status}: {shown:?}");
            prop_assert!(
                status < 500 || status == 503,
                "status {status} for {:?}",
                String::from_utf8_lossy(&req)
            );
        }
        prop_assert!(healthy(addr), "/-/healthy stopped answering after {:?}", String::from_utf8_lossy(&req));
    }

    #[test]
    fn arbitrary_bytes(mut bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let addr = server();
        // End the header section, so the server parses now instead of waiting for more.
        bytes.extend_from_slice(b"\r\n\r\n");
        let answer = exchange(addr, &bytes);
        prop_assert!(answer.is_ok(), "connection failed: {:?}", answer.err());
        prop_assert!(healthy(addr), "/-/healthy stopped answering");
    }
}
