//! The websocket prober against a small RFC 6455 server written here.

mod common;

use common::*;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use watchkeeper_blackbox::http::base64;

fn accept_key(key: &str) -> String {
    let d = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11").as_bytes(),
    );
    base64(d.as_ref())
}

/// An unmasked server text frame.
fn text(payload: &str) -> Vec<u8> {
    let mut f = vec![0x81, payload.len() as u8];
    f.extend_from_slice(payload.as_bytes());
    f
}

/// Reads one masked client frame (short payloads only) and returns its text.
async fn read_client_text(s: &mut TcpStream) -> Option<String> {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).await.ok()?;
    let len = usize::from(h[1] & 0x7f);
    let mut mask = [0u8; 4];
    s.read_exact(&mut mask).await.ok()?;
    let mut p = vec![0u8; len];
    s.read_exact(&mut p).await.ok()?;
    for (i, b) in p.iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
    Some(String::from_utf8_lossy(&p).into_owned())
}

/// `/chat` upgrades (requiring `Authorization: Bearer ws-token`), greets with "welcome 42",
/// and answers "ping N" with "pong N" (after a ping control frame, to exercise that path);
/// anything else is a 404.
async fn start_ws() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    s.read_exact(&mut b).await.ok()?;
                    head.push(b[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let key = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))?
                    .to_string();
                if !head.starts_with("GET /chat ")
                    || !head.contains("\r\nAuthorization: Bearer ws-token\r\n")
                {
                    s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                        .await
                        .ok()?;
                    return None;
                }
                let resp = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                    accept_key(&key)
                );
                s.write_all(resp.as_bytes()).await.ok()?;
                s.write_all(&text("welcome 42")).await.ok()?;
                let msg = read_client_text(&mut s).await?;
                s.write_all(&[0x89, 0x00]).await.ok()?; // ping
                let _pong = read_client_text(&mut s).await?;
                s.write_all(&text(&msg.replacen("ping", "pong", 1)))
                    .await
                    .ok()?;
                let mut rest = Vec::new();
                let _ = s.read_to_end(&mut rest).await;
                Some(())
            });
        }
    });
    addr
}

const MODULES: &str = r#"
modules:
  ws_chat:
    prober: websocket
    timeout: 2s
    websocket:
      http_config:
        bearer_token: ws-token
      query_response:
        - expect: "^welcome ([0-9]+)$"
          send: "ping ${1}"
        - expect: "^pong 42$"
  ws_wrong_reply:
    prober: websocket
    timeout: 2s
    websocket:
      http_config:
        bearer_token: ws-token
      query_response:
        - expect: "^hello"
  ws_no_auth:
    prober: websocket
    timeout: 2s
"#;

#[tokio::test]
async fn upgrade_and_dialogue() {
    let server = start_ws().await;
    let ex = TestExporter::start(MODULES).await;
    let m = ex.probe_ok("ws_chat", &format!("ws://{server}/chat")).await;
    m.assert_ok();
    assert_eq!(m.val("probe_websocket_connection_upgraded", ""), 1.0);
    assert_eq!(m.val("probe_websocket_status_code", ""), 101.0);
    assert_eq!(m.val("probe_websocket_failed_due_to_regex", ""), 0.0);
}

#[tokio::test]
async fn failures_regex_status_and_refused() {
    let server = start_ws().await;
    let ex = TestExporter::start(MODULES).await;
    let m = ex
        .probe_ok("ws_wrong_reply", &format!("ws://{server}/chat"))
        .await;
    m.assert_failed("query_response");
    assert_eq!(m.val("probe_websocket_failed_due_to_regex", ""), 1.0);

    let m = ex
        .probe_ok("ws_no_auth", &format!("ws://{server}/chat"))
        .await;
    m.assert_failed("status_code");
    assert_eq!(m.val("probe_websocket_status_code", ""), 404.0);
    assert_eq!(m.val("probe_websocket_connection_upgraded", ""), 0.0);
    assert!(m.get("probe_websocket_failed_due_to_regex", "").is_none());

    let port = closed_port().await;
    ex.probe_ok("ws_no_auth", &format!("ws://127.0.0.1:{port}/"))
        .await
        .assert_failed("connect_refused");
}
