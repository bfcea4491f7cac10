//! The tcp prober against an SMTP-like server with STARTTLS, an IRC-like PING/PONG server and
//! a TLS-from-the-start server.

mod common;

use common::smtp::start_smtp;
use common::*;
use std::net::SocketAddr;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// IRC-ish: after NICK/USER it sends a PING with a token and only welcomes a matching PONG.
async fn start_irc() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut s = BufReader::new(stream);
                let mut line = String::new();
                for _ in 0..2 {
                    line.clear();
                    s.read_line(&mut line).await.ok()?;
                }
                s.write_all(b"PING :tok-4711\r\n").await.ok()?;
                line.clear();
                s.read_line(&mut line).await.ok()?;
                if line.trim_end() == "PONG tok-4711" {
                    s.write_all(b":irc.test 001 prober :Welcome\r\n")
                        .await
                        .ok()?;
                } else {
                    s.write_all(b"ERROR :bad pong\r\n").await.ok()?;
                }
                Some(())
            });
        }
    });
    addr
}

/// A server that sends a banner and closes.
async fn start_banner(banner: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = stream.write_all(banner).await;
        }
    });
    addr
}

fn modules(ca: &std::path::Path) -> String {
    let ca = ca.display();
    format!(
        r#"
modules:
  tcp_connect:
    prober: tcp
    tcp:
      preferred_ip_protocol: ip4
  smtp_starttls:
    prober: tcp
    timeout: 5s
    tcp:
      preferred_ip_protocol: ip4
      query_response:
        - expect: "^220 ([^ ]+) ESMTP (.+)$"
        - send: "EHLO prober\r"
        - expect: "^250-STARTTLS"
        - send: "STARTTLS\r"
        - expect: "^220"
        - starttls: true
        - send: "EHLO prober\r"
        - expect: "^250-AUTH"
        - send: "QUIT\r"
      tls_config:
        ca_file: {ca}
  smtp_wrong_banner:
    prober: tcp
    tcp:
      preferred_ip_protocol: ip4
      query_response:
        - expect: "^220 .* Postfix"
  irc:
    prober: tcp
    tcp:
      preferred_ip_protocol: ip4
      query_response:
        - send: "NICK prober"
        - send: "USER prober prober prober :prober"
        - expect: "PING :([^ ]+)"
          send: "PONG ${{1}}"
        - expect: "^:[^ ]+ 001"
  ssh_banner:
    prober: tcp
    tcp:
      preferred_ip_protocol: ip4
      query_response:
        - expect: "^SSH-2.0-([^ -]+)(?: (.*))?$"
          labels:
            - name: ssh_version
              value: "${{1}}"
            - name: ssh_comments
              value: "${{2}}"
  tls_connect:
    prober: tcp
    tcp:
      preferred_ip_protocol: ip4
      tls: true
      tls_config:
        ca_file: {ca}
"#
    )
}

#[tokio::test]
async fn smtp_starttls_dialogue_reports_the_certificate() {
    let pki = Pki::new("Mail CA");
    let cert = pki.leaf(&["127.0.0.1"], false);
    let not_after = cert.not_after;
    let smtp = start_smtp(cert).await;
    let ex = TestExporter::start(&modules(&pki.ca_file())).await;
    let m = ex.probe_ok("smtp_starttls", &smtp.to_string()).await;
    m.assert_ok();
    assert_eq!(m.val("probe_failed_due_to_regex", ""), 0.0);
    assert_eq!(
        m.val("probe_ssl_earliest_cert_expiry", ""),
        not_after as f64
    );
    assert_eq!(m.val("probe_tls_version_info", "version=\"TLS 1.3\""), 1.0);
}

#[tokio::test]
async fn starttls_with_an_untrusted_certificate_fails_verification() {
    let trusted = Pki::new("Mail CA");
    let other = Pki::new("Other CA");
    let smtp = start_smtp(other.leaf(&["127.0.0.1"], false)).await;
    let ex = TestExporter::start(&modules(&trusted.ca_file())).await;
    ex.probe_ok("smtp_starttls", &smtp.to_string())
        .await
        .assert_failed("tls_verify");
}

#[tokio::test]
async fn a_banner_that_does_not_match_fails_with_the_regex_flag() {
    let pki = Pki::new("Mail CA");
    let smtp = start_smtp(pki.leaf(&["127.0.0.1"], false)).await;
    let ex = TestExporter::start(&modules(&pki.ca_file())).await;
    // A server that sends a different banner and closes: the expect never matches.
    let closing = start_banner(b"220 mail.test ESMTP Exim\r\n").await;
    let m = ex.probe_ok("smtp_wrong_banner", &closing.to_string()).await;
    m.assert_failed("query_response");
    assert_eq!(m.val("probe_failed_due_to_regex", ""), 1.0);
    ex.probe_ok("tcp_connect", &smtp.to_string())
        .await
        .assert_ok();
}

#[tokio::test]
async fn capture_groups_are_substituted_into_send() {
    let irc = start_irc().await;
    let pki = Pki::new("x");
    let ex = TestExporter::start(&modules(&pki.ca_file())).await;
    ex.probe_ok("irc", &irc.to_string()).await.assert_ok();
}

#[tokio::test]
async fn expect_labels_become_probe_expect_info() {
    let ssh = start_banner(b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n").await;
    let pki = Pki::new("x");
    let ex = TestExporter::start(&modules(&pki.ca_file())).await;
    let m = ex.probe_ok("ssh_banner", &ssh.to_string()).await;
    m.assert_ok();
    assert_eq!(
        m.val(
            "probe_expect_info",
            "ssh_version=\"OpenSSH_9.6p1\",ssh_comments=\"Ubuntu-3ubuntu13\""
        ),
        1.0
    );
}

#[tokio::test]
async fn tls_from_the_first_byte_and_refused_connections() {
    let pki = Pki::new("TLS CA");
    let server = start_https(&pki.leaf(&["127.0.0.1"], false)).await;
    let ex = TestExporter::start(&modules(&pki.ca_file())).await;
    let m = ex.probe_ok("tls_connect", &server.to_string()).await;
    m.assert_ok();
    assert_eq!(m.val("probe_tls_version_info", "version=\"TLS 1.3\""), 1.0);
    let port = closed_port().await;
    ex.probe_ok("tcp_connect", &format!("127.0.0.1:{port}"))
        .await
        .assert_failed("connect_refused");
    let (status, body) = ex
        .probe("module=tcp_connect&target=127.0.0.1%3A70000")
        .await;
    assert_eq!(status, 400);
    assert!(body.contains("port \"70000\""), "{body}");
    let (status, _) = ex.probe("module=tcp_connect&target=127.0.0.1").await;
    assert_eq!(status, 400);
}
