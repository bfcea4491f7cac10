//! Shared test support: the exporter on 127.0.0.1:0, a raw HTTP client to scrape it, real
//! target servers (HTTP/1.1 and HTTP/2, TLS with rcgen certificates) and a metric parser.

#![allow(dead_code)]

pub mod dns;
pub mod grpc;
pub mod line;
pub mod smtp;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use watchkeeper_blackbox::ssrf::SsrfGuard;
use watchkeeper_blackbox::{Blackbox, SPEC};
use watchkeeper_core::cli::WebArgs;
use watchkeeper_core::exporter::{Exporter, RunningExporter};

/// A running exporter and the temp dir holding its config.
pub struct TestExporter {
    pub running: RunningExporter,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl TestExporter {
    /// Starts the exporter with `yaml` as blackbox.yml.
    pub async fn start(yaml: &str) -> TestExporter {
        Self::start_with(yaml, SsrfGuard::default()).await
    }

    pub async fn start_with(yaml: &str, guard: SsrfGuard) -> TestExporter {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blackbox.yml");
        std::fs::write(&path, yaml).unwrap();
        let bb = Arc::new(
            Blackbox::load(&path, guard, 10).unwrap_or_else(|e| panic!("test config invalid: {e}")),
        );
        let history = bb.history();
        let landing = Arc::clone(&history);
        let running = Exporter::new(SPEC)
            .prober(bb.clone())
            .reloadable(bb.live_config())
            .route(
                "/logs",
                Arc::new(watchkeeper_blackbox::history::LogsPage(history)),
            )
            .landing_section(Arc::new(move || landing.landing_html()))
            .bind(&WebArgs::loopback_ephemeral())
            .await
            .unwrap();
        let addr = running.local_addrs()[0];
        TestExporter { running, addr, dir }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("blackbox.yml")
    }

    /// GET `/probe?{query}`.
    pub async fn probe(&self, query: &str) -> (u16, String) {
        get(self.addr, &format!("/probe?{query}"), &[]).await
    }

    /// Probes and returns the parsed metrics, asserting HTTP 200.
    pub async fn probe_ok(&self, module: &str, target: &str) -> Metrics {
        let (status, body) = self
            .probe(&format!("module={module}&target={}", enc(target)))
            .await;
        assert_eq!(status, 200, "probe answered {status}: {body}");
        Metrics(body)
    }

    /// Probes with `debug=true` and returns the page (the probe's log, then its metrics),
    /// asserting HTTP 200.
    pub async fn probe_debug(&self, module: &str, target: &str) -> String {
        let (status, body) = self
            .probe(&format!(
                "module={module}&debug=true&target={}",
                enc(target)
            ))
            .await;
        assert_eq!(status, 200, "probe answered {status}: {body}");
        body
    }
}

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A plain HTTP/1.0 GET (the server closes after answering).
pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    request(addr, "GET", path, headers).await
}

pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, body.to_string())
}

/// Exposition text with lookups.
#[derive(Debug, Clone)]
pub struct Metrics(pub String);

impl Metrics {
    /// The value of `name` with exactly `labels` (rendered `a="b",c="d"`; empty for none).
    pub fn get(&self, name: &str, labels: &str) -> Option<f64> {
        let key = if labels.is_empty() {
            name.to_string()
        } else {
            format!("{name}{{{labels}}}")
        };
        self.0
            .lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| {
                let (k, v) = l.rsplit_once(' ')?;
                (k == key).then(|| v.parse().ok()).flatten()
            })
    }

    /// `get` that must exist.
    pub fn val(&self, name: &str, labels: &str) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("{name}{{{labels}}} missing in:\n{}", self.0))
    }

    pub fn success(&self) -> f64 {
        self.val("probe_success", "")
    }

    /// The failure reason label, if any.
    pub fn reason(&self) -> Option<String> {
        self.0.lines().find_map(|l| {
            let rest = l.strip_prefix("probe_failure_info{reason=\"")?;
            Some(rest.split('"').next()?.to_string())
        })
    }

    /// Asserts a failed probe with the given reason.
    pub fn assert_failed(&self, reason: &str) {
        assert_eq!(self.success(), 0.0, "expected failure, got:\n{}", self.0);
        assert_eq!(
            self.reason().as_deref(),
            Some(reason),
            "wrong reason in:\n{}",
            self.0
        );
    }

    pub fn assert_ok(&self) {
        assert_eq!(self.success(), 1.0, "expected success, got:\n{}", self.0);
        assert_eq!(self.reason(), None);
    }

    /// Metric names (without labels) present.
    pub fn names(&self) -> std::collections::BTreeSet<String> {
        self.0
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| l.split(['{', ' ']).next().map(str::to_string))
            .collect()
    }
}

// ---------------------------------------------------------------- certificates

/// A CA and the certificates the TLS tests need, written to a temp dir.
pub struct Pki {
    pub dir: tempfile::TempDir,
    ca_params: CertificateParams,
    ca_key: KeyPair,
    pub ca_pem: String,
}

/// A server certificate chain (leaf first) and key, as PEM.
pub struct ServerCert {
    pub chain_pem: String,
    pub key_pem: String,
    pub not_after: i64,
}

impl Pki {
    pub fn new(cn: &str) -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, cn);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = ca_params.self_signed(&ca_key).unwrap();
        Pki {
            dir: tempfile::tempdir().unwrap(),
            ca_pem: ca.pem(),
            ca_params,
            ca_key,
        }
    }

    /// Writes the CA to `ca.pem` and returns the path.
    pub fn ca_file(&self) -> PathBuf {
        let p = self.dir.path().join("ca.pem");
        std::fs::write(&p, &self.ca_pem).unwrap();
        p
    }

    fn leaf_params(names: &[&str], expired: bool) -> CertificateParams {
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.distinguished_name.push(DnType::CommonName, names[0]);
        if expired {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        } else {
            p.not_before = rcgen::date_time_ymd(2024, 1, 1);
            p.not_after = rcgen::date_time_ymd(2040, 1, 1);
        }
        p
    }

    /// A leaf for `names` signed by this CA.
    pub fn leaf(&self, names: &[&str], expired: bool) -> ServerCert {
        let key = KeyPair::generate().unwrap();
        let params = Self::leaf_params(names, expired);
        let not_after = params.not_after.unix_timestamp();
        let issuer = Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        ServerCert {
            chain_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            not_after,
        }
    }

    /// A leaf signed by an intermediate signed by this CA; the chain includes the intermediate.
    pub fn leaf_via_intermediate(&self, names: &[&str]) -> ServerCert {
        let int_key = KeyPair::generate().unwrap();
        let mut int_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        int_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        int_params
            .distinguished_name
            .push(DnType::CommonName, "Test Intermediate");
        int_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        int_params.not_after = rcgen::date_time_ymd(2035, 1, 1);
        let issuer = Issuer::from_params(&self.ca_params, &self.ca_key);
        let int_cert = int_params.signed_by(&int_key, &issuer).unwrap();
        let key = KeyPair::generate().unwrap();
        let params = Self::leaf_params(names, false);
        let int_issuer = Issuer::from_params(&int_params, &int_key);
        let cert = params.signed_by(&key, &int_issuer).unwrap();
        ServerCert {
            chain_pem: format!("{}{}", cert.pem(), int_cert.pem()),
            key_pem: key.serialize_pem(),
            // The intermediate expires first.
            not_after: int_params.not_after.unix_timestamp(),
        }
    }
}

fn server_tls(cert: &ServerCert, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(cert.chain_pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).unwrap();
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    cfg.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    Arc::new(cfg)
}

/// The TLS acceptor for a certificate (for hand-written TLS servers like the SMTP one).
pub fn acceptor(cert: &ServerCert) -> tokio_rustls::TlsAcceptor {
    tokio_rustls::TlsAcceptor::from(server_tls(cert, &[]))
}

// ---------------------------------------------------------------- HTTP target

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

fn full(s: impl Into<Bytes>) -> Body {
    Full::new(s.into()).boxed()
}

/// Requests the `/token` route has answered (OAuth 2.0 tests).
pub static TOKEN_REQUESTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The routes of the test target.
async fn route(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let host = req
        .headers()
        .get("host")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let resp = |code: u16, body: Body| Response::builder().status(code).body(body).unwrap();
    if path == "/token" {
        TOKEN_REQUESTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let body = req
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let form = String::from_utf8_lossy(&body).into_owned();
        // "id:s3cret" in base64.
        if auth != "Basic aWQ6czNjcmV0" || !form.contains("grant_type=client_credentials") {
            return Ok(resp(401, full("{\"error\":\"invalid_client\"}")));
        }
        let token = if form.contains("scope=probe+read") {
            "tok-scoped"
        } else {
            "tok-plain"
        };
        return Ok(resp(
            200,
            full(format!(
                "{{\"access_token\":\"{token}\",\"token_type\":\"bearer\",\"expires_in\":3600}}"
            )),
        ));
    }
    if path == "/echo" {
        let body = req
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        return Ok(resp(200, full(body)));
    }
    let cookie = req
        .headers()
        .get("cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let accept_encoding = req
        .headers()
        .get("accept-encoding")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let redirect = |code: u16, location: &str, set_cookie: Option<&str>| {
        let mut b = Response::builder()
            .status(code)
            .header("Location", location);
        if let Some(c) = set_cookie {
            b = b.header("Set-Cookie", c);
        }
        b.body(full("redirecting")).unwrap()
    };
    Ok(match path.as_str() {
        // A login-style redirect: the cookie set here is required by /cookie/check.
        "/cookie/set" => redirect(
            302,
            "/cookie/check",
            Some("session=s3ss10n; Path=/; HttpOnly"),
        ),
        // The same cookie, but for another path: not sent to /cookie/check.
        "/cookie/set-path" => redirect(
            302,
            "/cookie/check",
            Some("session=s3ss10n; Path=/elsewhere"),
        ),
        // An already expired cookie: dropped at once.
        "/cookie/set-expired" => redirect(302, "/cookie/check", Some("session=s3ss10n; Max-Age=0")),
        // A cookie for another host: rejected.
        "/cookie/set-foreign" => redirect(
            302,
            "/cookie/check",
            Some("session=s3ss10n; Domain=example.com"),
        ),
        // A Secure cookie over plain HTTP: stored but not sent back over http.
        "/cookie/set-secure" => redirect(302, "/cookie/check", Some("session=s3ss10n; Secure")),
        "/cookie/check" => {
            if cookie.split("; ").any(|c| c == "session=s3ss10n") {
                resp(200, full(format!("cookie={cookie}")))
            } else {
                resp(403, full("no session"))
            }
        }
        // Redirects to the URL in the query string (`/goto?http://...`), with `code=` first.
        "/goto" => {
            let (code, to) = match query.split_once('&') {
                Some((c, rest)) if c.starts_with("code=") => (
                    c.trim_start_matches("code=").parse().unwrap_or(302),
                    rest.to_string(),
                ),
                _ => (302, query.clone()),
            };
            redirect(code, &to, None)
        }
        // gzip only when asked for, as real servers do.
        "/negotiate-gzip" => {
            if accept_encoding.contains("gzip") {
                use std::io::Write;
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(b"negotiated body").unwrap();
                Response::builder()
                    .header("Content-Encoding", "gzip")
                    .body(full(enc.finish().unwrap()))
                    .unwrap()
            } else {
                resp(200, full("negotiated body"))
            }
        }
        "/no-content" => resp(204, full("")),
        "/" => Response::builder()
            .header("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT")
            .header("X-Served-By", "test-target")
            .body(full("hello world"))
            .unwrap(),
        "/host" => resp(200, full(format!("host={host}"))),
        "/auth" => {
            // "user:pass" in base64.
            if auth == "Basic dXNlcjpwYXNz"
                || auth == "Bearer s3cret"
                || auth == "Bearer tok-scoped"
            {
                resp(200, full("welcome"))
            } else {
                resp(401, full("who are you"))
            }
        }
        "/method" => resp(200, full(req.method().to_string())),
        "/loop" => Response::builder()
            .status(302)
            .header("Location", "/loop")
            .body(full(""))
            .unwrap(),
        "/redirect" => Response::builder()
            .status(301)
            .header("Location", "/")
            .body(full(""))
            .unwrap(),
        "/to-127.0.0.2" => {
            let port = host.rsplit(':').next().unwrap_or("80").to_string();
            Response::builder()
                .status(302)
                .header("Location", format!("http://127.0.0.2:{port}/"))
                .body(full(""))
                .unwrap()
        }
        "/big" => resp(200, full(vec![b'x'; 64 * 1024])),
        "/gzip" => {
            use std::io::Write;
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(&vec![b'z'; 10_000]).unwrap();
            let gz = enc.finish().unwrap();
            Response::builder()
                .header("Content-Encoding", "gzip")
                .body(full(gz))
                .unwrap()
        }
        // tests/fixtures/brotli/body.txt encoded with `brotli -q 11 -k body.txt`.
        "/br" => Response::builder()
            .header("Content-Encoding", "br")
            .body(full(&include_bytes!("../fixtures/brotli/body.txt.br")[..]))
            .unwrap(),
        "/br-corrupt" => {
            // The same stream with its middle cut out: the header is valid, the data is not.
            let br = include_bytes!("../fixtures/brotli/body.txt.br");
            let mut cut = br[..100].to_vec();
            cut.extend_from_slice(&br[200..]);
            Response::builder()
                .header("Content-Encoding", "br")
                .body(full(cut))
                .unwrap()
        }
        "/stall" => {
            // Five bytes at once, then nothing until long after any probe's deadline.
            let stream = futures_util::stream::unfold(0u32, |i| async move {
                match i {
                    0 => Some((
                        Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"stall"))),
                        1,
                    )),
                    _ => {
                        tokio::time::sleep(Duration::from_secs(600)).await;
                        None
                    }
                }
            });
            Response::new(StreamBody::new(stream).boxed())
        }
        "/drip" => {
            // A byte every 100 ms, for a minute: a body that never finishes in time.
            let stream = futures_util::stream::unfold(0u32, |i| async move {
                if i > 600 {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                Some((
                    Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"x"))),
                    i + 1,
                ))
            });
            Response::new(StreamBody::new(stream).boxed())
        }
        p if p.starts_with("/status/") => {
            let code = p.trim_start_matches("/status/").parse().unwrap_or(500);
            resp(code, full("status"))
        }
        _ => resp(404, full("not found")),
    })
}

/// Serves the test routes over plain HTTP/1.1 on 127.0.0.1:0.
pub async fn start_http() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), hyper::service::service_fn(route))
                    .await;
            });
        }
    });
    addr
}

/// Serves the test routes over TLS (HTTP/2 and HTTP/1.1 by ALPN) on 127.0.0.1:0.
pub async fn start_https(cert: &ServerCert) -> SocketAddr {
    let acceptor = tokio_rustls::TlsAcceptor::from(server_tls(cert, &[b"h2", b"http/1.1"]));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), hyper::service::service_fn(route))
                    .await;
            });
        }
    });
    addr
}

/// A TCP listener that accepts connections and never says anything.
pub async fn start_silent() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    addr
}

/// A port with nothing listening.
pub async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// Writes `text` to `name` in `dir`.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Whether a reference-binary test must fail instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}
