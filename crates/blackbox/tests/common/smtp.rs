//! An SMTP-like server: banner, EHLO advertising STARTTLS, STARTTLS, EHLO again over TLS.

use super::{acceptor, ServerCert};
use std::net::SocketAddr;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// An SMTP-ish server: banner, EHLO advertising STARTTLS, STARTTLS, EHLO again over TLS.
pub async fn start_smtp(cert: ServerCert) -> SocketAddr {
    let acceptor = acceptor(&cert);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let mut s = BufReader::new(stream);
                s.write_all(b"220 mail.test ESMTP ready\r\n").await.ok()?;
                let mut line = String::new();
                loop {
                    line.clear();
                    if s.read_line(&mut line).await.ok()? == 0 {
                        return None;
                    }
                    match line.trim_end() {
                        l if l.starts_with("EHLO") => s
                            .write_all(b"250-mail.test\r\n250-STARTTLS\r\n250 OK\r\n")
                            .await
                            .ok()?,
                        "STARTTLS" => {
                            s.write_all(b"220 Go ahead\r\n").await.ok()?;
                            break;
                        }
                        _ => s.write_all(b"500 what\r\n").await.ok()?,
                    }
                }
                let tls = acceptor.accept(s.into_inner()).await.ok()?;
                let mut s = BufReader::new(tls);
                loop {
                    line.clear();
                    if s.read_line(&mut line).await.ok()? == 0 {
                        return None;
                    }
                    match line.trim_end() {
                        l if l.starts_with("EHLO") => s
                            .write_all(b"250-mail.test\r\n250-AUTH PLAIN\r\n250 OK\r\n")
                            .await
                            .ok()?,
                        "QUIT" => {
                            s.write_all(b"221 bye\r\n").await.ok()?;
                            return Some(());
                        }
                        _ => s.write_all(b"500 what\r\n").await.ok()?,
                    }
                }
            });
        }
    });
    addr
}
