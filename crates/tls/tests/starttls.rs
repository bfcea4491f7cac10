//! Every STARTTLS protocol against a server that speaks its side of the exchange and then a
//! real rustls handshake; and an RSA-1024 server (the openssl CLI's s_server), whose chain is
//! reported although rustls refuses the handshake signature.

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_starttls_protocol_upgrades() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let leaf = pki.leaf(Spec {
        not_after: (2035, 9, 10),
        ..Default::default()
    });
    let root = dir.path().join("root.pem");
    std::fs::write(&root, pki.root.pem()).unwrap();
    let protocols = ["imap", "pop3", "ftp", "ldap", "xmpp", "mysql"];
    let mut servers = Vec::new();
    let mut config = String::from("endpoints:\n");
    for p in protocols {
        let s = tls_server(
            vec![leaf.der(), pki.intermediate.der()],
            leaf.key_der(),
            Mode::Starttls(p),
            None,
        )
        .await;
        config.push_str(&format!(
            "  - target: {}\n    starttls: {p}\n    server_name: leaf.test\n    ca_file: {}\n",
            s.target(),
            root.display()
        ));
        servers.push((p, s));
    }
    // A plain-TLS server probed as SMTP: the greeting is never a 220.
    let plain = tls_server(vec![leaf.der()], leaf.key_der(), Mode::Tls, None).await;
    config.push_str(&format!(
        "  - target: {}\n    starttls: smtp\n    timeout: 2s\n",
        plain.target()
    ));
    let exporter = Exporter::start(dir.path(), &config);
    let m = exporter.scrape().await;
    for (p, s) in &servers {
        let t = s.target();
        assert_eq!(
            m.get("ssl_probe_success", &[("target", &t)]),
            Some(1.0),
            "{p}: {}",
            exporter.logs()
        );
        assert_eq!(
            m.must("ssl_cert_not_after", &[("target", &t), ("cn", "leaf.test")]),
            ymd(2035, 9, 10) as f64,
            "{p}"
        );
    }
    let t = plain.target();
    assert_eq!(m.must("ssl_probe_success", &[("target", &t)]), 0.0);
    assert_eq!(
        m.must(
            "ssl_probe_error_info",
            &[("target", &t), ("reason", "timeout")]
        ),
        1.0,
        "a TLS server waits for our ClientHello while we wait for its greeting"
    );
}

struct SServer(std::process::Child);

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_1024_endpoint_is_reported_and_flagged() {
    if openssl().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    run_openssl(
        dir.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:1024",
            "-sha1",
            "-nodes",
            "-keyout",
            "k.pem",
            "-out",
            "c.pem",
            "-days",
            "30",
            "-subj",
            "/CN=weak.test",
        ],
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = SServer(
        Command::new("openssl")
            .args([
                "s_server",
                "-accept",
                &format!("127.0.0.1:{port}"),
                "-cert",
                "c.pem",
                "-key",
                "k.pem",
                "-cipher",
                "DEFAULT@SECLEVEL=0",
                "-quiet",
            ])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let target = format!("127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(&target).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(up, "openssl s_server did not start");
    let exporter = Exporter::start(dir.path(), &format!("endpoints:\n  - {target}\n"));
    let m = exporter.scrape().await;
    let l = [("target", target.as_str())];
    assert_eq!(m.must("ssl_probe_success", &l), 0.0);
    assert_eq!(
        m.must(
            "ssl_probe_error_info",
            &[("target", &target), ("reason", "handshake")]
        ),
        1.0
    );
    assert_eq!(
        m.must(
            "ssl_cert_key_bits",
            &[("target", &target), ("key_type", "rsa")]
        ),
        1024.0
    );
    assert!(m
        .get(
            "ssl_cert_not_after",
            &[("target", &target), ("cn", "weak.test")]
        )
        .is_some());
    let src = [("source", target.as_str()), ("subject_CN", "weak.test")];
    assert_eq!(m.must("x509_cert_weak_key", &src), 1.0);
    assert_eq!(m.must("x509_cert_weak_signature", &src), 1.0);
    assert_eq!(m.must("x509_source_up", &[("source", &target)]), 0.0);
}
