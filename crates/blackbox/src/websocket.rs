//! The websocket prober (newer blackbox_exporter): upgrade a `ws://` or `wss://` URL, then an
//! optional `query_response` dialogue over text messages.
//!
//! The handshake (RFC 6455) and the few frame types a probe needs are written here: a masked
//! text frame out, text/binary/ping/close in.
//!
//! One deliberate difference: blackbox_exporter reports `probe_success 1` when an `expect` does
//! not match (only `probe_websocket_failed_due_to_regex` says so); here the probe fails with
//! reason `query_response`, as the tcp prober does.

use crate::config::{ProberName, WebsocketProbe};
use crate::failure::{Failure, FailureReason};
use crate::prober::{lookup, tcp_connect, Io, ProbeRun, Prober};
use crate::tls;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;
use watchkeeper_core::BoxFuture;

/// The GUID of RFC 6455 §1.3 for `Sec-WebSocket-Accept`.
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Largest handshake response head read.
const MAX_HEAD: usize = 16 * 1024;
/// Largest message read.
const MAX_MESSAGE: usize = 1 << 20;

/// The websocket prober.
pub struct WebsocketProber;

impl Prober for WebsocketProber {
    fn name(&self) -> ProberName {
        ProberName::Websocket
    }

    fn validate_target(&self, target: &str) -> Result<(), String> {
        parse_target(target).map(|_| ())
    }

    fn probe<'a>(&'a self, run: &'a mut ProbeRun<'_>) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(probe(run))
    }
}

fn parse_target(target: &str) -> Result<Url, String> {
    crate::http::parse_url_with_scheme(target, target, ["ws", "wss"])
}

#[derive(Default)]
struct Stats {
    status: u16,
    upgraded: bool,
    failed_due_to_regex: bool,
}

async fn probe(run: &mut ProbeRun<'_>) -> Result<(), Failure> {
    let mut stats = Stats::default();
    let deadline = run.deadline;
    let result = match tokio::time::timeout_at(deadline, probe_inner(run, &mut stats)).await {
        Ok(r) => r,
        Err(_) => Err(Failure::new(
            FailureReason::Timeout,
            "websocket probe timed out (probe deadline reached)",
        )),
    };
    let has_dialogue = !run.module.websocket.query_response.is_empty();
    let m = &mut run.metrics;
    m.gauge(
        "probe_websocket_connection_upgraded",
        "Indicates if the websocket connection was successfully upgraded",
        if stats.upgraded { 1.0 } else { 0.0 },
    );
    m.gauge(
        "probe_websocket_status_code",
        "Response HTTP status code",
        f64::from(stats.status),
    );
    if has_dialogue {
        m.gauge(
            "probe_websocket_failed_due_to_regex",
            "Indicates if probe failed due to regex",
            if stats.failed_due_to_regex { 1.0 } else { 0.0 },
        );
    }
    result
}

async fn probe_inner(run: &mut ProbeRun<'_>, stats: &mut Stats) -> Result<(), Failure> {
    let cfg: &WebsocketProbe = &run.module.websocket;
    let url = parse_target(run.target).map_err(|m| Failure::new(FailureReason::Local, m))?;
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let secure = url.scheme() == "wss";
    let port = url.port().unwrap_or(if secure { 443 } else { 80 });
    let ip = lookup(&host, crate::config::IpProtocol::Ip6, true).await?;
    run.check_guard(ip)?;
    run.info(format!("Dialing websocket url={url}"));
    let stream = tcp_connect(ip, port, None).await?;
    let mut conn: Box<dyn Io> = Box::new(stream);
    if secure {
        let (s, _, _) =
            tls::handshake(conn, &cfg.http_config.tls_config, &host, &[b"http/1.1"]).await?;
        conn = Box::new(s);
    }

    // The opening handshake.
    let key = crate::http::base64(&random_bytes::<16>());
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let authority = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    );
    for (name, value) in cfg.http_config.headers()? {
        if name.contains(['\r', '\n', ':']) || value.contains(['\r', '\n']) {
            return Err(Failure::new(
                FailureReason::Local,
                format!("header {name:?} contains a line break"),
            ));
        }
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("\r\n");
    let io = |e: std::io::Error| Failure::new(FailureReason::Protocol, format!("websocket: {e}"));
    conn.write_all(req.as_bytes()).await.map_err(io)?;

    let mut buf = Vec::with_capacity(1024);
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD {
            return Err(Failure::new(
                FailureReason::Protocol,
                "websocket handshake response too long",
            ));
        }
        let mut chunk = [0u8; 2048];
        let n = conn.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            return Err(Failure::new(
                FailureReason::Protocol,
                "connection closed during the websocket handshake",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let leftover = buf[head_end..].to_vec();
    stats.status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    if stats.status != 101 {
        return Err(Failure::new(
            FailureReason::StatusCode,
            format!(
                "Error dialing websocket: bad handshake (HTTP {})",
                stats.status
            ),
        ));
    }
    let accept = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("sec-websocket-accept")
            .then(|| v.trim().to_string())
    });
    if accept.as_deref() != Some(expected_accept(&key).as_str()) {
        return Err(Failure::new(
            FailureReason::Protocol,
            "Error dialing websocket: missing or wrong Sec-WebSocket-Accept",
        ));
    }
    stats.upgraded = true;
    run.info("Websocket connection upgraded");

    let mut frames = FrameReader { buf: leftover };
    for (i, qr) in cfg.query_response.iter().enumerate() {
        run.info(format!("Processing query response entry entry_number={i}"));
        let mut send = qr.send.clone();
        if let Some(expect) = &qr.expect {
            let message = frames.read_message(&mut conn).await.map_err(|e| {
                Failure::new(
                    FailureReason::QueryResponse,
                    format!("Error reading message: {e}"),
                )
            })?;
            let text = String::from_utf8_lossy(&message).into_owned();
            let Some(caps) = expect.0.captures(&text) else {
                stats.failed_due_to_regex = true;
                return Err(Failure::new(
                    FailureReason::QueryResponse,
                    format!(
                        "Regexp did not match regexp={:?} message={text:?}",
                        expect.0.as_str()
                    ),
                ));
            };
            run.info(format!(
                "Regexp matched regexp={:?} message={text:?}",
                expect.0.as_str()
            ));
            if let Some(template) = &qr.send {
                let mut expanded = String::new();
                caps.expand(template, &mut expanded);
                send = Some(expanded);
            }
        }
        if let Some(s) = send.filter(|s| !s.is_empty()) {
            run.info(format!("Sending message message={s:?}"));
            conn.write_all(&frame(0x1, s.as_bytes()))
                .await
                .map_err(io)?;
        }
    }
    // A polite close; the probe's outcome does not depend on it.
    let _ = conn.write_all(&frame(0x8, &1000u16.to_be_bytes())).await;
    Ok(())
}

/// `base64(SHA-1(key + GUID))`.
fn expected_accept(key: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{key}{WS_GUID}").as_bytes(),
    );
    crate::http::base64(digest.as_ref())
}

fn random_bytes<const N: usize>() -> [u8; N] {
    use ring::rand::SecureRandom;
    let mut out = [0u8; N];
    // The system RNG only fails if the kernel has none; a fixed key and mask then still work
    // (they are a protocol formality for a client that is not a browser).
    let _ = ring::rand::SystemRandom::new().fill(&mut out);
    out
}

/// A masked client frame with FIN set.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let mask = random_bytes::<4>();
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Reads messages (reassembling fragments, answering pings) from the server.
struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    async fn fill(&mut self, conn: &mut Box<dyn Io>, want: usize) -> std::io::Result<()> {
        while self.buf.len() < want {
            let mut chunk = [0u8; 4096];
            let n = conn.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        Ok(())
    }

    async fn read_message(&mut self, conn: &mut Box<dyn Io>) -> std::io::Result<Vec<u8>> {
        let invalid = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
        let mut message = Vec::new();
        loop {
            self.fill(conn, 2).await?;
            let (b0, b1) = (self.buf[0], self.buf[1]);
            let (fin, opcode, masked) = (b0 & 0x80 != 0, b0 & 0x0f, b1 & 0x80 != 0);
            let mut header = 2;
            let len = match b1 & 0x7f {
                126 => {
                    self.fill(conn, 4).await?;
                    header = 4;
                    usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]]))
                }
                127 => {
                    self.fill(conn, 10).await?;
                    header = 10;
                    let mut l = [0u8; 8];
                    l.copy_from_slice(&self.buf[2..10]);
                    usize::try_from(u64::from_be_bytes(l))
                        .map_err(|_| invalid("frame too large"))?
                }
                n => usize::from(n),
            };
            if len > MAX_MESSAGE || message.len() + len > MAX_MESSAGE {
                return Err(invalid("message too large"));
            }
            let mask_len = if masked { 4 } else { 0 };
            self.fill(conn, header + mask_len + len).await?;
            let mask: Vec<u8> = self.buf[header..header + mask_len].to_vec();
            let start = header + mask_len;
            let mut payload: Vec<u8> = self.buf[start..start + len].to_vec();
            if masked {
                for (i, b) in payload.iter_mut().enumerate() {
                    *b ^= mask[i % 4];
                }
            }
            self.buf.drain(..start + len);
            match opcode {
                0x0..=0x2 => {
                    message.extend_from_slice(&payload);
                    if fin {
                        return Ok(message);
                    }
                }
                0x8 => return Err(invalid("server closed the websocket")),
                0x9 => conn.write_all(&frame(0xA, &payload)).await?,
                _ => {} // pong and reserved control frames are ignored
            }
        }
    }
}

impl crate::config::WebsocketHttpConfig {
    /// The upgrade request's extra headers (credentials first).
    pub fn headers(&self) -> Result<Vec<(String, String)>, crate::failure::Failure> {
        let mut out = Vec::new();
        if let Some(b) = &self.basic_auth {
            let password = match (&b.password, &b.password_file) {
                (Some(p), _) => p.clone(),
                (None, Some(f)) => watchkeeper_core::config::Secret::from_file(f).map_err(|e| {
                    crate::failure::Failure::new(
                        crate::failure::FailureReason::Local,
                        format!("reading password_file {}: {e}", f.display()),
                    )
                })?,
                (None, None) => watchkeeper_core::config::Secret::default(),
            };
            let raw = format!("{}:{}", b.username, password.expose());
            out.push((
                "Authorization".to_string(),
                format!("Basic {}", watchkeeper_core::base64::encode(raw.as_bytes())),
            ));
        } else if let Some(t) = &self.bearer_token {
            out.push((
                "Authorization".to_string(),
                format!("Bearer {}", t.expose()),
            ));
        }
        for (k, v) in &self.http_headers {
            match v {
                crate::config::OneOrMany::One(v) => out.push((k.clone(), v.clone())),
                crate::config::OneOrMany::Many(vs) => {
                    out.extend(vs.iter().map(|v| (k.clone(), v.clone())))
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_of_rfc_6455() {
        // The example of RFC 6455 §1.3.
        assert_eq!(
            expected_accept("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn client_frames_are_masked() {
        let f = frame(0x1, b"hi");
        assert_eq!(f[0], 0x81);
        assert_eq!(f[1], 0x82);
        let mask = &f[2..6];
        assert_eq!([f[6] ^ mask[0], f[7] ^ mask[1]], *b"hi");
        assert_eq!(frame(0x1, &[0u8; 300])[1], 0x80 | 126);
    }

    #[test]
    fn targets_must_be_ws_urls() {
        assert!(parse_target("ws://a/x").is_ok());
        assert!(parse_target("wss://a:8443/").is_ok());
        assert!(parse_target("http://a/").is_err());
        assert!(parse_target("ws://[::1").is_err());
    }
}
