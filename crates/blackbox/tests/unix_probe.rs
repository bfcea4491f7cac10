//! The unix prober against Unix domain socket servers (plain and TLS) in a temp dir.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use watchkeeper_blackbox::ssrf::SsrfGuard;

/// Greets, then answers "PING x" with "PONG x".
async fn start_unix(path: PathBuf, tls: Option<&ServerCert>) {
    let listener = UnixListener::bind(&path).unwrap();
    let acceptor = tls.map(acceptor);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let io: Box<dyn watchkeeper_blackbox::prober::Io> = match acceptor {
                    Some(a) => Box::new(a.accept(stream).await.ok()?),
                    None => Box::new(stream),
                };
                let mut s = BufReader::new(io);
                s.write_all(b"220 unix-daemon ready\n").await.ok()?;
                let mut line = String::new();
                s.read_line(&mut line).await.ok()?;
                let reply = line.trim_end().replacen("PING", "PONG", 1);
                s.write_all(format!("{reply}\n").as_bytes()).await.ok()?;
                Some(())
            });
        }
    });
}

fn modules(ca: &Path) -> String {
    format!(
        r#"
modules:
  unix_dialogue:
    prober: unix
    timeout: 2s
    unix:
      query_response:
        - expect: "^220 ([a-z-]+) ready"
          send: "PING ${{1}}"
        - expect: "^PONG unix-daemon$"
  unix_tls:
    prober: unix
    timeout: 2s
    unix:
      tls: true
      tls_config:
        ca_file: {}
        server_name: localhost
      query_response:
        - expect: "^220 "
"#,
        ca.display()
    )
}

#[tokio::test]
async fn dialogue_over_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("daemon.sock");
    start_unix(sock.clone(), None).await;
    let pki = Pki::new("Unix CA");
    let ex = TestExporter::start(&modules(&pki.ca_file())).await;
    let m = ex
        .probe_ok("unix_dialogue", &sock.display().to_string())
        .await;
    m.assert_ok();
    assert_eq!(m.val("probe_failed_due_to_regex", ""), 0.0);
    let missing = dir.path().join("nothing.sock");
    ex.probe_ok("unix_dialogue", &missing.display().to_string())
        .await
        .assert_failed("connect_refused");
}

#[tokio::test]
async fn tls_over_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("tls.sock");
    let pki = Pki::new("Unix CA");
    let cert = pki.leaf(&["localhost"], false);
    start_unix(sock.clone(), Some(&cert)).await;
    let ex = TestExporter::start(&modules(&pki.ca_file())).await;
    let m = ex.probe_ok("unix_tls", &sock.display().to_string()).await;
    m.assert_ok();
    assert_eq!(
        m.val("probe_ssl_earliest_cert_expiry", ""),
        cert.not_after as f64
    );
}

#[tokio::test]
async fn refused_while_the_ssrf_guard_is_on() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("daemon.sock");
    start_unix(sock.clone(), None).await;
    let pki = Pki::new("Unix CA");
    let guard = SsrfGuard::new(&[], &["169.254.0.0/16".into()]).unwrap();
    let ex = TestExporter::start_with(&modules(&pki.ca_file()), guard).await;
    ex.probe_ok("unix_dialogue", &sock.display().to_string())
        .await
        .assert_failed("denied");
}
