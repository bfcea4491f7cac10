//! The shared server, started for real on 127.0.0.1 port 0 and exercised over HTTP(S).

use std::io::Read as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use watchkeeper_core::cli::WebArgs;
use watchkeeper_core::config::Reloadable;
use watchkeeper_core::exporter::{Exporter, ExporterSpec, RunningExporter};
use watchkeeper_core::probe::{ProbeHandler, ProbeLog, ProbeQuery, ProbeRejection, ProbeReport};
use watchkeeper_core::{
    BlockingCollector, BoxFuture, CollectError, Collector, CollectorRunner, MetricSet, MetricType,
    ScrapeContext,
};

const SPEC: ExporterSpec = ExporterSpec {
    name: "test",
    binary: "watchkeeper-test",
    default_port: 0,
    description: "A test exporter.",
};

struct Answer;
impl BlockingCollector for Answer {
    fn name(&self) -> &str {
        "answer"
    }
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        out.family("test_answer", "The answer.", MetricType::Gauge)
            .sample(&[("kind", "quote\"d")], 42.0);
        out.counter("test_events_total", "Events seen.", 7.0);
        Ok(())
    }
}

/// A collector that takes `delay` (a stuck mount, a dead database) and says when it starts.
struct Slow(Duration, Arc<tokio::sync::Notify>);
impl Collector for Slow {
    fn name(&self) -> &str {
        "slow"
    }
    fn collect(&self, _ctx: ScrapeContext) -> BoxFuture<'_, Result<MetricSet, CollectError>> {
        let d = self.0;
        self.1.notify_one();
        Box::pin(async move {
            tokio::time::sleep(d).await;
            Ok(MetricSet::new())
        })
    }
}

struct Config {
    fail: AtomicBool,
}
impl Reloadable for Config {
    fn reload(&self) -> Result<(), watchkeeper_core::config::ConfigError> {
        if self.fail.load(Ordering::SeqCst) {
            Err(watchkeeper_core::config::ConfigError::Parse {
                path: "conf.yml".into(),
                line: 3,
                column: 5,
                message: "unknown field `bogus`".into(),
            })
        } else {
            Ok(())
        }
    }
    fn describe(&self) -> String {
        "password: <redacted>\nname: <visible>\n".into()
    }
}

struct EchoProber;
impl ProbeHandler for EchoProber {
    fn probe(&self, q: ProbeQuery) -> BoxFuture<'_, Result<ProbeReport, ProbeRejection>> {
        Box::pin(async move {
            let Some(target) = q.get("target") else {
                return Err(ProbeRejection("Target parameter is missing".into()));
            };
            let mut log = ProbeLog::new();
            log.info(format!("probing {target}"));
            let mut metrics = MetricSet::new();
            metrics.gauge("probe_success", "Whether the probe succeeded.", 1.0);
            Ok(ProbeReport {
                metrics,
                log,
                success: true,
            })
        })
    }
}

fn runner(slow: Duration, started: Arc<tokio::sync::Notify>) -> CollectorRunner {
    let mut r = CollectorRunner::new(vec!["watchkeeper_test".into()]);
    r.add_blocking(Answer).add(Arc::new(Slow(slow, started)));
    r
}

async fn start(web: WebArgs, slow: Duration, config: Arc<Config>) -> (RunningExporter, String) {
    let (running, addr, _) = start_notified(web, slow, config).await;
    (running, addr)
}

async fn start_notified(
    web: WebArgs,
    slow: Duration,
    config: Arc<Config>,
) -> (RunningExporter, String, Arc<tokio::sync::Notify>) {
    let started = Arc::new(tokio::sync::Notify::new());
    let running = Exporter::new(SPEC)
        .collectors(runner(slow, Arc::clone(&started)))
        .prober(Arc::new(EchoProber))
        .reloadable(config)
        .bind(&web)
        .await
        .expect("server starts");
    let addr = running.local_addrs()[0];
    (running, format!("{addr}"), started)
}

fn config() -> Arc<Config> {
    Arc::new(Config {
        fail: AtomicBool::new(false),
    })
}

#[tokio::test]
async fn metrics_are_served_in_both_formats_with_self_metrics_and_gzip() {
    let (server, addr) = start(WebArgs::loopback_ephemeral(), Duration::ZERO, config()).await;
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/metrics");

    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("test_answer{kind=\"quote\\\"d\"} 42\n"),
        "{body}"
    );
    assert!(
        body.contains("# TYPE test_events_total counter\ntest_events_total 7\n")
            || body.contains("test_events_total 7\n")
    );
    assert!(body.contains("watchkeeper_test_scrape_collector_success{collector=\"answer\"} 1\n"));
    assert!(body.contains("watchkeeper_test_build_info{version=\""));
    assert!(body.contains("watchkeeper_test_config_last_reload_successful 1\n"));
    assert!(body.contains("process_resident_memory_bytes "));
    assert!(!body.contains("# EOF"));

    let resp = client
        .get(&url)
        .header(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let body = resp.text().await.unwrap();
    assert!(body.contains("# TYPE test_events counter\n"), "{body}");
    assert!(body.ends_with("# EOF\n"));

    let resp = client
        .get(&url)
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let bytes = resp.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    assert!(text.contains("test_answer{"));

    let landing = client
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(landing.contains("watchkeeper-test") && landing.contains("A test exporter."));
    assert!(landing.contains("password: &lt;redacted&gt;"), "{landing}");
    assert_eq!(
        client
            .get(format!("http://{addr}/-/healthy"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .get(format!("http://{addr}/-/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .get(format!("http://{addr}/nope"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        client
            .get(format!("http://{addr}/-/reload"))
            .send()
            .await
            .unwrap()
            .status(),
        405
    );
    server.shutdown();
    server.wait().await;
}

#[tokio::test]
async fn a_slow_collector_is_cut_at_the_scrape_deadline() {
    let (server, addr) = start(
        WebArgs::loopback_ephemeral(),
        Duration::from_secs(30),
        config(),
    )
    .await;
    let started = Instant::now();
    let body = reqwest::Client::new()
        .get(format!("http://{addr}/metrics"))
        .header("X-Prometheus-Scrape-Timeout-Seconds", "1.5")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let took = started.elapsed();
    // Deadline is 1.5s - 0.5s offset = 1s; generous slack for a loaded machine.
    assert!(took < Duration::from_millis(1400), "took {took:?}");
    assert!(body.contains("watchkeeper_test_scrape_collector_success{collector=\"slow\"} 0\n"));
    assert!(body.contains("test_answer{"));
    server.shutdown();
}

#[tokio::test]
async fn requests_beyond_max_requests_get_503() {
    let mut web = WebArgs::loopback_ephemeral();
    web.max_requests = 1;
    let (server, addr, started) = start_notified(web, Duration::from_millis(800), config()).await;
    let url = format!("http://{addr}/metrics");
    let first = tokio::spawn({
        let url = url.clone();
        async move { reqwest::get(url).await.unwrap().status() }
    });
    // The first scrape holds the only slot once its slow collector has started.
    started.notified().await;
    let second = reqwest::get(&url).await.unwrap().status();
    assert_eq!(second, 503);
    assert_eq!(first.await.unwrap(), 200);
    server.shutdown();
}

#[tokio::test]
async fn failed_reload_keeps_serving_and_is_reported() {
    let cfg = config();
    let (server, addr) = start(
        WebArgs::loopback_ephemeral(),
        Duration::ZERO,
        Arc::clone(&cfg),
    )
    .await;
    let client = reqwest::Client::new();
    cfg.fail.store(true, Ordering::SeqCst);
    let resp = client
        .post(format!("http://{addr}/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("conf.yml:3:5: unknown field `bogus`"));
    let body = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("watchkeeper_test_config_last_reload_successful 0\n"));
    assert!(body.contains("test_answer{"));
    cfg.fail.store(false, Ordering::SeqCst);
    assert_eq!(
        client
            .post(format!("http://{addr}/-/reload"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    server.shutdown();
}

#[tokio::test]
async fn probe_endpoint_rejects_bad_requests_and_renders_debug() {
    let (server, addr) = start(WebArgs::loopback_ephemeral(), Duration::ZERO, config()).await;
    let resp = reqwest::get(format!("http://{addr}/probe")).await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.text().await.unwrap(), "Target parameter is missing\n");
    let body = reqwest::get(format!("http://{addr}/probe?target=example&debug=true"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.starts_with("Logs for the probe:\n"), "{body}");
    assert!(body.contains("probing example"));
    assert!(body.contains("probe_success 1"));
    server.shutdown();
}

struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
    client_pem: String,
    client_key: String,
    rogue_pem: String,
    rogue_key: String,
}

fn issue(
    ca: &(rcgen::Certificate, rcgen::KeyPair, rcgen::CertificateParams),
    name: &str,
    client: bool,
) -> (String, String) {
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    if client {
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    }
    let key = rcgen::KeyPair::generate().unwrap();
    let issuer = rcgen::Issuer::from_params(&ca.2, &ca.1);
    let cert = params.signed_by(&key, &issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn ca(name: &str) -> (rcgen::Certificate, rcgen::KeyPair, rcgen::CertificateParams) {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert, key, params)
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let test_ca = ca("Test CA");
    let (server_pem, server_key) = issue(&test_ca, "localhost", false);
    let (client_pem, client_key) = issue(&test_ca, "scraper", true);
    let rogue_ca = ca("Rogue CA");
    let (rogue_pem, rogue_key) = issue(&rogue_ca, "scraper", true);
    let ca_cert = &test_ca.0;
    let w = |n: &str, s: &str| std::fs::write(dir.path().join(n), s).unwrap();
    w("ca.pem", &ca_cert.pem());
    w("server.pem", &server_pem);
    w("server-key.pem", &server_key);
    Pki {
        dir,
        ca_pem: ca_cert.pem(),
        client_pem,
        client_key,
        rogue_pem,
        rogue_key,
    }
}

fn client(pki: &Pki, identity: Option<(&str, &str)>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap());
    if let Some((cert, key)) = identity {
        let pem = format!("{cert}{key}");
        b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    b.build().unwrap()
}

fn web_config(dir: &Path, hash: &str) -> std::path::PathBuf {
    let p = dir.join("web.yml");
    std::fs::write(
        &p,
        format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\nbasic_auth_users:\n  prometheus: {hash}\n"
        ),
    )
    .unwrap();
    p
}

#[tokio::test]
async fn tls_basic_auth_and_client_certificates_are_enforced() {
    let pki = pki();
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let mut web = WebArgs::loopback_ephemeral();
    web.web_config_file = Some(web_config(pki.dir.path(), &hash));
    let (server, addr) = start(web, Duration::ZERO, config()).await;
    let port = addr.rsplit_once(':').unwrap().1;
    let url = format!("https://localhost:{port}/metrics");

    let good = client(&pki, Some((&pki.client_pem, &pki.client_key)));
    let resp = good
        .get(&url)
        .basic_auth("prometheus", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-frame-options"], "deny");
    assert!(resp.text().await.unwrap().contains("test_answer{"));

    let resp = good.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Basic");
    let resp = good
        .get(&url)
        .basic_auth("prometheus", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let rogue = client(&pki, Some((&pki.rogue_pem, &pki.rogue_key)));
    assert!(
        rogue
            .get(&url)
            .basic_auth("prometheus", Some("s3cret"))
            .send()
            .await
            .is_err(),
        "untrusted client cert must fail the handshake"
    );
    let anonymous = client(&pki, None);
    assert!(
        anonymous
            .get(&url)
            .basic_auth("prometheus", Some("s3cret"))
            .send()
            .await
            .is_err(),
        "a missing client cert must fail the handshake"
    );
    let plain = reqwest::get(format!("http://{addr}/metrics")).await;
    assert!(plain.map(|r| r.status() != 200).unwrap_or(true));
    server.shutdown();
}

#[tokio::test]
async fn bad_web_config_and_listen_address_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("web.yml");
    std::fs::write(&p, "basic_auth_users:\n  alice: plain-text\n").unwrap();
    let mut web = WebArgs::loopback_ephemeral();
    web.web_config_file = Some(p.clone());
    let err = Exporter::new(SPEC)
        .bind(&web)
        .await
        .err()
        .unwrap()
        .to_string();
    assert_eq!(err, format!("{}: basic_auth_users.alice: not a bcrypt hash (generate one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`)", p.display()));
    let mut web = WebArgs::loopback_ephemeral();
    web.listen_addresses = vec!["localhost:99999".into()];
    let err = Exporter::new(SPEC)
        .bind(&web)
        .await
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        "invalid listen address \"localhost:99999\": the port must be a number from 0 to 65535"
    );
}

#[tokio::test]
async fn an_absurd_timeout_header_is_ignored_not_fatal() {
    let (server, addr) = start(WebArgs::loopback_ephemeral(), Duration::ZERO, config()).await;
    for value in ["1e300", "NaN", "-5", "inf"] {
        let resp = reqwest::Client::new()
            .get(format!("http://{addr}/metrics"))
            .header("X-Prometheus-Scrape-Timeout-Seconds", value)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "header {value}");
    }
    server.shutdown();
}

#[tokio::test]
async fn a_reload_that_changes_a_password_applies_to_open_connections() {
    let dir = tempfile::tempdir().unwrap();
    let web_yml = dir.path().join("web.yml");
    let write = |password: &str| {
        let hash = bcrypt::hash(password, 4).unwrap();
        std::fs::write(
            &web_yml,
            format!("basic_auth_users:\n  prometheus: {hash}\n"),
        )
        .unwrap();
    };
    write("old-password");
    let mut web = WebArgs::loopback_ephemeral();
    web.web_config_file = Some(web_yml.clone());
    let (server, addr) = start(web, Duration::ZERO, config()).await;
    // One client, so the scrape connection is kept alive across the reload.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let url = format!("http://{addr}/metrics");
    let scrape = |pw: &'static str| client.get(&url).basic_auth("prometheus", Some(pw)).send();
    assert_eq!(scrape("old-password").await.unwrap().status(), 200);
    write("new-password");
    assert!(server.reload().is_ok());
    assert_eq!(scrape("old-password").await.unwrap().status(), 401);
    assert_eq!(scrape("new-password").await.unwrap().status(), 200);

    // A reload that would turn TLS on is refused; the old config keeps serving.
    std::fs::write(
        &web_yml,
        "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n",
    )
    .unwrap();
    assert!(server.reload().is_err());
    assert_eq!(scrape("new-password").await.unwrap().status(), 200);
    server.shutdown();
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let write_leaf = |ca: &(rcgen::Certificate, rcgen::KeyPair, rcgen::CertificateParams)| {
        let (cert, key) = issue(ca, "localhost", false);
        // Key first, then certificate, as renewal tools do; both must change before use.
        std::fs::write(dir.path().join("server-key.pem"), key).unwrap();
        std::fs::write(dir.path().join("server.pem"), cert).unwrap();
    };
    let old_ca = ca("Old CA");
    let new_ca = ca("New CA");
    write_leaf(&old_ca);
    std::fs::write(
        dir.path().join("web.yml"),
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n",
    )
    .unwrap();
    let mut web = WebArgs::loopback_ephemeral();
    web.web_config_file = Some(dir.path().join("web.yml"));
    let (server, addr) = start(web, Duration::ZERO, config()).await;
    let url = format!(
        "https://localhost:{}/-/healthy",
        addr.rsplit_once(':').unwrap().1
    );
    let trusting = |ca: &rcgen::Certificate| {
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
            .build()
            .unwrap()
    };
    assert_eq!(
        trusting(&old_ca.0).get(&url).send().await.unwrap().status(),
        200
    );
    assert!(trusting(&new_ca.0).get(&url).send().await.is_err());

    write_leaf(&new_ca);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // The first handshake after the interval notices the change and already gets the new one.
    assert_eq!(
        trusting(&new_ca.0).get(&url).send().await.unwrap().status(),
        200
    );
    assert!(trusting(&old_ca.0).get(&url).send().await.is_err());
    server.shutdown();
}

/// Sends `GET /metrics` over HTTP/2 on `io` (prior knowledge: no upgrade dance).
async fn h2_get<I>(io: I, authority: &str) -> Result<(u16, String), String>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use http_body_util::BodyExt;
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(io),
    )
    .await
    .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = hyper::Request::get(format!("https://{authority}/metrics"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(5), sender.send_request(req))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok((
        status,
        String::from_utf8_lossy(&body.to_bytes()).into_owned(),
    ))
}

/// A TLS client trusting the test CA, offering `alpn`.
async fn tls_connect(
    pki: &Pki,
    addr: &str,
    alpn: &[&[u8]],
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    let ca = rustls_pki_types::CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap();
    roots.add(ca).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap()
}

#[tokio::test]
async fn http2_is_served_only_over_tls_and_only_when_enabled() {
    let pki = pki();
    let dir = pki.dir.path();
    let tls = "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n";

    // Plaintext: HTTP/1.1 only, as with the exporter-toolkit (no h2c).
    let (plain, addr) = start(WebArgs::loopback_ephemeral(), Duration::ZERO, config()).await;
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    assert!(
        h2_get(tcp, &addr).await.is_err(),
        "an h2 preface on a plaintext port must not be served"
    );
    assert_eq!(
        reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap()
            .status(),
        200
    );
    plain.shutdown();

    // TLS with http2 enabled (the default): ALPN picks h2 and the page is served over it.
    std::fs::write(dir.join("h2.yml"), tls).unwrap();
    let mut web = WebArgs::loopback_ephemeral();
    web.web_config_file = Some(dir.join("h2.yml"));
    let (server, addr) = start(web, Duration::ZERO, config()).await;
    let stream = tls_connect(&pki, &addr, &[b"h2", b"http/1.1"]).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (status, body) = h2_get(stream, &addr).await.unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("test_answer{"), "{body}");
    server.shutdown();

    // TLS with http2: false: ALPN never picks h2, and an h2 preface anyway is refused.
    std::fs::write(
        dir.join("h1.yml"),
        format!("{tls}http_server_config:\n  http2: false\n"),
    )
    .unwrap();
    let mut web = WebArgs::loopback_ephemeral();
    web.web_config_file = Some(dir.join("h1.yml"));
    let (server, addr) = start(web, Duration::ZERO, config()).await;
    let stream = tls_connect(&pki, &addr, &[b"h2", b"http/1.1"]).await;
    assert_ne!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    assert!(h2_get(stream, &addr).await.is_err());
    let ok = client(&pki, None)
        .get(format!(
            "https://localhost:{}/metrics",
            addr.rsplit_once(':').unwrap().1
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.version(), reqwest::Version::HTTP_11);
    server.shutdown();
}

/// Counts its collections; each takes `delay`.
struct Counting(Duration, Arc<std::sync::atomic::AtomicUsize>);
impl Collector for Counting {
    fn name(&self) -> &str {
        "counting"
    }
    fn collect(&self, _ctx: ScrapeContext) -> BoxFuture<'_, Result<MetricSet, CollectError>> {
        self.1.fetch_add(1, Ordering::SeqCst);
        let d = self.0;
        Box::pin(async move {
            tokio::time::sleep(d).await;
            let mut out = MetricSet::new();
            out.gauge("test_counted", "A sample.", 1.0);
            Ok(out)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_scrapes_with_one_timeout_share_one_collection() {
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut r = CollectorRunner::new(vec!["watchkeeper_test".into()]);
    r.add(Arc::new(Counting(
        Duration::from_millis(500),
        Arc::clone(&runs),
    )));
    let server = Exporter::new(SPEC)
        .collectors(r)
        .bind(&WebArgs::loopback_ephemeral())
        .await
        .unwrap();
    let url = format!("http://{}/metrics", server.local_addrs()[0]);
    let client = reqwest::Client::new();
    // Two Prometheus replicas and a few dashboards at once, all with the same scrape timeout.
    let scrapes = (0..8).map(|_| {
        client
            .get(&url)
            .header("X-Prometheus-Scrape-Timeout-Seconds", "5")
            .send()
    });
    for resp in futures_util::future::join_all(scrapes).await {
        let body = resp.unwrap().text().await.unwrap();
        assert!(body.contains("test_counted 1"), "{body}");
    }
    // All eight arrive while the first collection (500 ms) is still running.
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "scrapes did not share a collection"
    );
    server.shutdown();
}

/// Echoes what a POST route received: its query and body length.
struct Echo;
impl watchkeeper_core::exporter::PostHandler for Echo {
    fn post(
        &self,
        query: &str,
        body: bytes::Bytes,
    ) -> BoxFuture<'_, watchkeeper_core::page::PageResponse> {
        let answer = format!("query={query} bytes={}", body.len());
        Box::pin(async move { watchkeeper_core::page::PageResponse::text(202, answer) })
    }
}

#[tokio::test]
async fn post_routes_get_bounded_bodies_behind_auth_and_reject_other_methods() {
    let dir = tempfile::tempdir().unwrap();
    let web_yml = dir.path().join("web.yml");
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    std::fs::write(&web_yml, format!("basic_auth_users:\n  am: {hash}\n")).unwrap();
    let mut web = WebArgs::loopback_ephemeral();
    web.web_config_file = Some(web_yml);
    let running = Exporter::new(SPEC)
        .post_route("/hook", 1024, Arc::new(Echo))
        .bind(&web)
        .await
        .expect("server starts");
    let url = format!("http://{}/hook", running.local_addrs()[0]);
    let client = reqwest::Client::new();

    let resp = client
        .post(format!("{url}?id=7"))
        .basic_auth("am", Some("s3cret"))
        .body(vec![b'x'; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    assert_eq!(resp.text().await.unwrap().trim(), "query=id=7 bytes=1000");

    let unauthenticated = client.post(&url).body("{}").send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);

    let too_large = client
        .post(&url)
        .basic_auth("am", Some("s3cret"))
        .body(vec![b'x'; 1025])
        .send()
        .await
        .unwrap();
    assert_eq!(too_large.status(), 413);

    // A chunked body without a length is cut at the limit too.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..8).map(|_| Ok(vec![b'y'; 512])).collect();
    let chunked = client
        .post(&url)
        .basic_auth("am", Some("s3cret"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(chunked.status(), 413);

    let get = client
        .get(&url)
        .basic_auth("am", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    assert_eq!(get.headers()["allow"], "POST");
    running.shutdown();
}
