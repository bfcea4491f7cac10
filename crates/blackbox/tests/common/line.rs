//! A line-based TCP server (plain, implicit TLS, or STARTTLS) and a bare HTTP/1.0 server.

use super::{acceptor, ServerCert};
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// How the line server speaks TLS.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum LineTls {
    /// Never.
    None,
    /// From the first byte.
    Implicit,
    /// After `STARTTLS` (answered `OK starttls`).
    StartTls,
}

/// Reads one line byte by byte (so nothing past it is consumed before a STARTTLS upgrade).
async fn read_line(io: &mut Box<dyn Stream>) -> Option<String> {
    let mut line = Vec::new();
    loop {
        let mut b = [0u8; 1];
        if io.read(&mut b).await.ok()? == 0 {
            return None;
        }
        if b[0] == b'\n' {
            return Some(String::from_utf8_lossy(&line).trim_end().to_string());
        }
        line.push(b[0]);
    }
}

/// A server greeting with `READY line-server 42`, answering `PING x` with `PONG x`,
/// `STARTTLS` (in [`LineTls::StartTls`] mode) with `OK starttls` and a handshake, `QUIT` with
/// `BYE` (then closing) and anything else with `ERR unknown`.
pub async fn start_line(cert: Option<&ServerCert>, mode: LineTls) -> SocketAddr {
    let acceptor = cert.map(acceptor);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let mut io: Box<dyn Stream> = if mode == LineTls::Implicit {
                    Box::new(acceptor.as_ref()?.accept(stream).await.ok()?)
                } else {
                    Box::new(stream)
                };
                io.write_all(b"READY line-server 42\n").await.ok()?;
                loop {
                    let line = read_line(&mut io).await?;
                    if let Some(rest) = line.strip_prefix("PING") {
                        io.write_all(format!("PONG{rest}\n").as_bytes())
                            .await
                            .ok()?;
                    } else if line == "STARTTLS" && mode == LineTls::StartTls {
                        io.write_all(b"OK starttls\n").await.ok()?;
                        io = Box::new(acceptor.as_ref()?.accept(io).await.ok()?);
                    } else if line == "QUIT" {
                        io.write_all(b"BYE\n").await.ok()?;
                        io.shutdown().await.ok()?;
                        return Some(());
                    } else {
                        io.write_all(b"ERR unknown\n").await.ok()?;
                    }
                }
            });
        }
    });
    addr
}

/// An HTTP/1.0 server: reads the request head, answers `HTTP/1.0 200 OK` with a body of
/// unknown length (no Content-Length) and closes.
pub async fn start_http10() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if s.read(&mut b).await.ok()? == 0 {
                        return None;
                    }
                    head.push(b[0]);
                }
                s.write_all(
                    b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nold school body\n",
                )
                .await
                .ok()?;
                s.shutdown().await.ok()?;
                Some(())
            });
        }
    });
    addr
}
