//! Test harness: the real `watchkeeper-tls` binary, certificates generated with rcgen (and the
//! openssl CLI for what rcgen cannot make), real rustls servers on 127.0.0.1, and a minimal HTTP
//! client. A missing external tool skips with a notice, and fails with `CI=true`.

#![allow(dead_code)]

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Unix seconds of a UTC date at midnight.
pub fn ymd(y: i32, m: u8, d: u8) -> i64 {
    rcgen::date_time_ymd(y, m, d).unix_timestamp()
}

/// A generated certificate and its key.
pub struct Issued {
    pub params: CertificateParams,
    pub key: KeyPair,
    pub cert: rcgen::Certificate,
}

impl Issued {
    pub fn pem(&self) -> String {
        self.cert.pem()
    }
    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::from_pem_slice(self.key.serialize_pem().as_bytes()).unwrap()
    }
}

/// What to generate.
pub struct Spec<'a> {
    pub cn: &'a str,
    pub sans: &'a [&'a str],
    pub not_before: (i32, u8, u8),
    pub not_after: (i32, u8, u8),
    pub serial: u64,
    pub ca: bool,
}

impl Default for Spec<'_> {
    fn default() -> Self {
        Spec {
            cn: "leaf.test",
            sans: &["leaf.test"],
            not_before: (2025, 1, 1),
            not_after: (2036, 1, 1),
            serial: 1,
            ca: false,
        }
    }
}

/// Issues `spec`, signed by `issuer` (self-signed when `None`).
pub fn issue(spec: Spec<'_>, issuer: Option<&Issued>) -> Issued {
    let mut p = CertificateParams::new(spec.sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .unwrap();
    p.distinguished_name.push(DnType::CommonName, spec.cn);
    p.distinguished_name
        .push(DnType::OrganizationName, "Watchkeeper Test");
    p.not_before = rcgen::date_time_ymd(spec.not_before.0, spec.not_before.1, spec.not_before.2);
    p.not_after = rcgen::date_time_ymd(spec.not_after.0, spec.not_after.1, spec.not_after.2);
    p.serial_number = Some(SerialNumber::from(spec.serial));
    if spec.ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    } else {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    }
    let key = KeyPair::generate().unwrap();
    let cert = match issuer {
        None => p.self_signed(&key).unwrap(),
        Some(i) => p
            .signed_by(&key, &Issuer::from_params(&i.params, &i.key))
            .unwrap(),
    };
    Issued {
        params: p,
        key,
        cert,
    }
}

/// A root, an intermediate and a leaf for `leaf.test` / 127.0.0.1.
pub struct Pki {
    pub root: Issued,
    pub intermediate: Issued,
}

impl Pki {
    pub fn new() -> Pki {
        let root = issue(
            Spec {
                cn: "Test Root",
                sans: &[],
                not_after: (2040, 1, 1),
                serial: 100,
                ca: true,
                ..Default::default()
            },
            None,
        );
        let intermediate = issue(
            Spec {
                cn: "Test Intermediate",
                sans: &[],
                not_after: (2038, 1, 1),
                serial: 200,
                ca: true,
                ..Default::default()
            },
            Some(&root),
        );
        Pki { root, intermediate }
    }

    pub fn leaf(&self, spec: Spec<'_>) -> Issued {
        issue(spec, Some(&self.intermediate))
    }
}

/// The openssl CLI, or a skip (a failure in CI).
pub fn openssl() -> Option<&'static str> {
    let ok = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("openssl is required in CI");
        }
        eprintln!("NOTICE: openssl missing; that part of the test is not run");
        return None;
    }
    Some("openssl")
}

/// Runs openssl with `args` in `dir`, asserting success.
pub fn run_openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The exporter binary running with a config file, its log captured.
pub struct Exporter {
    child: Child,
    pub addr: SocketAddr,
    pub logs: Arc<Mutex<String>>,
    pub config: PathBuf,
}

impl Exporter {
    /// Starts `watchkeeper-tls` with `config` written to `dir/tls.yml`.
    pub fn start(dir: &Path, config: &str) -> Exporter {
        let path = dir.join("tls.yml");
        std::fs::write(&path, config).expect("write config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_watchkeeper-tls"))
            .arg("--config.file")
            .arg(&path)
            .args([
                "--web.listen-address",
                "127.0.0.1:0",
                "--log.level",
                "debug",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn watchkeeper-tls");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("Listening on") {
                    if let Some(addr) = line
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix("address="))
                        .and_then(|a| a.parse::<SocketAddr>().ok())
                    {
                        if let Some(tx) = tx.take() {
                            let _ = tx.send(addr);
                        }
                    }
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("exporter did not start; log:\n{}", logs.lock().unwrap());
            }
        };
        Exporter {
            child,
            addr,
            logs,
            config: path,
        }
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// Whether the log comes to contain `needle` within a few seconds.
    pub fn log_shows(&self, needle: &str) -> bool {
        for _ in 0..100 {
            if self.logs().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        http(self.addr, "GET", path).await
    }

    pub async fn scrape(&self) -> Metrics {
        let (status, body) = self.get("/metrics").await;
        assert_eq!(status, 200, "{body}");
        Metrics(body)
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw HTTP/1.1 request with `Connection: close`.
pub async fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    http_with_timeout(addr, method, path, "8").await
}

/// [`http`] with another `X-Prometheus-Scrape-Timeout-Seconds`.
pub async fn http_with_timeout(
    addr: SocketAddr,
    method: &str,
    path: &str,
    timeout: &str,
) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: text/plain\r\nX-Prometheus-Scrape-Timeout-Seconds: {timeout}\r\nContent-Length: 0\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A scraped page in the text format.
#[derive(Debug, Clone)]
pub struct Metrics(pub String);

/// The labels of a series line, parsed.
fn labels_of(rest: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut s = rest;
    while let Some((k, v)) = s.split_once("=\"") {
        let mut val = String::new();
        let mut chars = v.char_indices();
        let mut end = v.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        val.push(match n {
                            'n' => '\n',
                            other => other,
                        });
                    }
                }
                '"' => {
                    end = i;
                    break;
                }
                c => val.push(c),
            }
        }
        out.push((k.trim_start_matches(',').to_string(), val));
        s = &v[(end + 1).min(v.len())..];
    }
    out
}

impl Metrics {
    /// Every sample of `name` whose labels include all of `labels`.
    pub fn all(&self, name: &str, labels: &[(&str, &str)]) -> Vec<(Vec<(String, String)>, f64)> {
        let mut found = Vec::new();
        for line in self.0.lines() {
            if line.starts_with('#') {
                continue;
            }
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let (n, rest) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}').unwrap_or(rest)),
                None => (series, ""),
            };
            if n != name {
                continue;
            }
            let ls = labels_of(rest);
            if labels
                .iter()
                .all(|(k, v)| ls.iter().any(|(lk, lv)| lk == k && lv == v))
            {
                found.push((ls, value.parse().unwrap_or(f64::NAN)));
            }
        }
        found
    }

    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.all(name, labels).first().map(|(_, v)| *v)
    }

    pub fn must(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("no {name}{labels:?} in:\n{}", self.0))
    }
}

/// How a test server behaves before (or instead of) the TLS handshake.
#[derive(Clone)]
pub enum Mode {
    /// TLS right away.
    Tls,
    /// SMTP with STARTTLS, then TLS.
    Smtp,
    /// Another STARTTLS protocol (`imap`, `pop3`, `ftp`, `ldap`, `xmpp`, `mysql`), then TLS.
    Starttls(&'static str),
    /// Writes bytes that are not TLS.
    Garbage,
    /// Accepts and says nothing.
    Silent,
}

/// A TLS server on 127.0.0.1 serving `chain` until dropped.
pub struct TlsServer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsServer {
    pub fn target(&self) -> String {
        self.addr.to_string()
    }
}

pub async fn tls_server(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    mode: Mode,
    ocsp: Option<Vec<u8>>,
) -> TlsServer {
    tls_server_mtls(chain, key, mode, ocsp, None).await
}

/// [`tls_server`] that requires a client certificate issued by `client_root` when given.
pub async fn tls_server_mtls(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    mode: Mode,
    ocsp: Option<Vec<u8>>,
    client_root: Option<CertificateDer<'static>>,
) -> TlsServer {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_root {
        None => versions.with_no_client_auth(),
        Some(root) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(root).unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            versions.with_client_cert_verifier(verifier)
        }
    };
    let config = match ocsp {
        Some(o) => builder.with_single_cert_with_ocsp(chain, key, o).unwrap(),
        None => builder.with_single_cert(chain, key).unwrap(),
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let mode = mode.clone();
            tokio::spawn(async move {
                match mode {
                    Mode::Garbage => {
                        let _ = s
                            .write_all(b"HTTP/1.0 400 this is not TLS\r\n\r\n\x00\xff\x13garbage")
                            .await;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        return;
                    }
                    Mode::Silent => {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        return;
                    }
                    Mode::Smtp => {
                        if smtp_server_side(&mut s).await.is_err() {
                            return;
                        }
                    }
                    Mode::Starttls(p) => {
                        if starttls_server_side(&mut s, p).await.is_err() {
                            return;
                        }
                    }
                    Mode::Tls => {}
                }
                if let Ok(mut tls) = acceptor.accept(s).await {
                    let mut buf = [0u8; 256];
                    let _ = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf)).await;
                }
            });
        }
    });
    TlsServer { addr, task }
}

/// The server half of an SMTP STARTTLS exchange.
async fn smtp_server_side(s: &mut tokio::net::TcpStream) -> std::io::Result<()> {
    s.write_all(b"220 mail.test ESMTP watchkeeper-test\r\n")
        .await?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Some(i) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=i).collect();
            let line = String::from_utf8_lossy(&line).trim().to_ascii_uppercase();
            if line.starts_with("EHLO") {
                s.write_all(b"250-mail.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
                    .await?;
            } else if line == "STARTTLS" {
                s.write_all(b"220 2.0.0 Ready to start TLS\r\n").await?;
                return Ok(());
            } else {
                s.write_all(b"500 unknown\r\n").await?;
            }
        }
    }
}

/// Reads until `needle` has been seen (bounded).
async fn read_until(s: &mut tokio::net::TcpStream, needle: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    while !buf.windows(needle.len()).any(|w| w == needle) {
        let n = s.read(&mut chunk).await?;
        if n == 0 || buf.len() > 65536 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(buf)
}

/// The server half of the other STARTTLS exchanges.
async fn starttls_server_side(
    s: &mut tokio::net::TcpStream,
    protocol: &str,
) -> std::io::Result<()> {
    match protocol {
        "imap" => {
            s.write_all(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n")
                .await?;
            let line = read_until(s, b"\r\n").await?;
            let tag = String::from_utf8_lossy(&line)
                .split(' ')
                .next()
                .unwrap_or("")
                .to_string();
            s.write_all(format!("{tag} OK Begin TLS negotiation now\r\n").as_bytes())
                .await
        }
        "pop3" => {
            s.write_all(b"+OK POP3 ready\r\n").await?;
            read_until(s, b"STLS\r\n").await?;
            s.write_all(b"+OK Begin TLS negotiation\r\n").await
        }
        "ftp" => {
            s.write_all(b"220-Welcome\r\n220 FTP ready\r\n").await?;
            read_until(s, b"AUTH TLS\r\n").await?;
            s.write_all(b"234 AUTH TLS successful\r\n").await
        }
        "ldap" => {
            read_until(s, b"1.3.6.1.4.1.1466.20037").await?;
            // LDAPMessage { 1, ExtendedResponse { success, "", "" } }
            s.write_all(&[
                0x30, 0x0c, 0x02, 0x01, 0x01, 0x78, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
            ])
            .await
        }
        "xmpp" => {
            read_until(s, b"version='1.0'>").await?;
            s.write_all(b"<?xml version='1.0'?><stream:stream from='leaf.test' id='1' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>").await?;
            read_until(s, b"/>").await?;
            s.write_all(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
                .await
        }
        "mysql" => {
            // Protocol 10 handshake: version, thread id, 8 bytes of scramble, filler, capability
            // flags with CLIENT_SSL (0x0800) and CLIENT_PROTOCOL_41 (0x0200).
            let mut p = vec![10u8];
            p.extend_from_slice(b"10.11.0-test\0");
            p.extend_from_slice(&[1, 0, 0, 0]);
            p.extend_from_slice(b"abcdefgh\0");
            p.extend_from_slice(&[0x00, 0x8a]); // caps low: 0x8a00 = SSL | PROTOCOL_41 | SECURE_CONNECTION
            p.extend_from_slice(&[45, 2, 0, 0, 0, 21]);
            p.extend_from_slice(&[0u8; 10]);
            p.extend_from_slice(b"ijklmnopqrst\0");
            let mut packet = vec![p.len() as u8, 0, 0, 0];
            packet.extend_from_slice(&p);
            s.write_all(&packet).await?;
            let mut req = [0u8; 36];
            s.read_exact(&mut req).await?;
            assert_eq!(&req[..4], &[32, 0, 0, 1], "SSLRequest header");
            assert_ne!(req[5] & 0x08, 0, "CLIENT_SSL set");
            Ok(())
        }
        other => panic!("no test server for {other}"),
    }
}
