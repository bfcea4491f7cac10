//! TLS to PostgreSQL, MariaDB and Redis with certificates generated in the test: trusted CA -> up, untrusted -> down.

mod common;
use common::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Pki {
    dir: tempfile::TempDir,
    server_cert: String,
    server_key: String,
    ca_cert: String,
}

/// A CA, a server certificate for localhost/127.0.0.1 signed by it, and an unrelated CA,
/// written as ca.pem, server.pem, server.key and other-ca.pem.
fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "db.internal".to_string(),
    ])
    .unwrap()
    .signed_by(&server_key, &ca)
    .unwrap();
    let mut other_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    other_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let other = CertifiedIssuer::self_signed(other_params, KeyPair::generate().unwrap()).unwrap();
    let p = |f: &str| dir.path().join(f);
    std::fs::write(p("ca.pem"), ca.pem()).unwrap();
    std::fs::write(p("server.pem"), server_cert.pem()).unwrap();
    std::fs::write(p("server.key"), server_key.serialize_pem()).unwrap();
    std::fs::write(p("other-ca.pem"), other.pem()).unwrap();
    Pki {
        dir,
        server_cert: server_cert.pem(),
        server_key: server_key.serialize_pem(),
        ca_cert: ca.pem(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_over_tls_is_up_only_with_the_right_ca() {
    if pg_bin_dir().is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are required in CI");
        }
        return;
    }
    let pki = pki();
    let password = unique("Tls-Pg-Pw");
    let server = ThrowawayPg::start_tls(&password, Some((&pki.server_cert, &pki.server_key)));
    std::env::set_var("WK_TLS_PG_PW", &password);
    let d = pki.dir.path().display();
    let cfg = format!(
        "targets:
  - name: trusted
    kind: postgres
    host: localhost
    port: {p}
    password_env: WK_TLS_PG_PW
    tls:
      ca_file: {d}/ca.pem
    custom_queries:
      - name: session_ssl
        query: SELECT CASE WHEN ssl THEN 1 ELSE 0 END AS on FROM pg_stat_ssl WHERE pid = pg_backend_pid()
        values: [on]
  - name: untrusted
    kind: postgres
    host: localhost
    port: {p}
    password_env: WK_TLS_PG_PW
    tls:
      ca_file: {d}/other-ca.pem
  - name: by_server_name
    kind: postgres
    host: localhost
    port: {p}
    password_env: WK_TLS_PG_PW
    tls:
      ca_file: {d}/ca.pem
      server_name: db.internal
  - name: wrong_server_name
    kind: postgres
    host: localhost
    port: {p}
    password_env: WK_TLS_PG_PW
    tls:
      ca_file: {d}/ca.pem
      server_name: elsewhere.internal
",
        p = server.port
    );
    let exporter = Exporter::start(&cfg, &[]);
    let (status, body) = exporter.get("/metrics", Some("5")).await;
    assert_eq!(status, 200);
    let m = Metrics(body);
    assert_eq!(
        m.must("pg_up", &[("target", "trusted")]),
        1.0,
        "log:\n{}",
        exporter.logs()
    );
    assert_eq!(
        m.must("session_ssl_on", &[("target", "trusted")]),
        1.0,
        "the session is not TLS"
    );
    assert_eq!(m.must("pg_up", &[("target", "untrusted")]), 0.0);
    // tls.server_name is the name the certificate is checked against, not the host dialled.
    assert_eq!(
        m.must("pg_up", &[("target", "by_server_name")]),
        1.0,
        "log:\n{}",
        exporter.logs()
    );
    assert_eq!(m.must("pg_up", &[("target", "wrong_server_name")]), 0.0);
    assert!(
        exporter.logs().contains("elsewhere.internal")
            || exporter.logs().contains("NotValidForName"),
        "the log says why wrong_server_name is down:\n{}",
        exporter.logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_over_tls_is_up_only_with_the_right_ca() {
    if !have_binary(REDIS_SERVER) {
        return;
    }
    let pki = pki();
    let dir = &pki.dir;
    let p = |f: &str| dir.path().join(f);
    let port = free_port();
    let mut server = Command::new(REDIS_SERVER)
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--tls-auth-clients",
            "no",
        ])
        .arg("--tls-cert-file")
        .arg(p("server.pem"))
        .arg("--tls-key-file")
        .arg(p("server.key"))
        .arg("--tls-ca-cert-file")
        .arg(p("ca.pem"))
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let start = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "TLS redis-server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let d = dir.path().display();
    let cfg = format!(
        "targets:
  - name: trusted
    kind: redis
    port: {port}
    tls:
      ca_file: {d}/ca.pem
  - name: untrusted
    kind: redis
    port: {port}
    tls:
      ca_file: {d}/other-ca.pem
  - name: plaintext
    kind: redis
    port: {port}
"
    );
    let exporter = Exporter::start(&cfg, &[]);
    let (status, body) = exporter.get("/metrics", Some("3")).await;
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(status, 200);
    let m = Metrics(body);
    assert_eq!(
        m.must("redis_up", &[("target", "trusted")]),
        1.0,
        "log:\n{}",
        exporter.logs()
    );
    assert_eq!(m.must("redis_up", &[("target", "untrusted")]), 0.0);
    assert_eq!(m.must("redis_up", &[("target", "plaintext")]), 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_over_tls_is_up_only_with_the_right_ca() {
    if !have_binary(MARIADB_INSTALL_DB) || !have_binary(MARIADBD) {
        return;
    }
    let pki = pki();
    let server = ThrowawayMaria::start(Some((&pki.server_cert, &pki.server_key, &pki.ca_cert)));
    let d = pki.dir.path().display();
    let cfg = format!(
        "targets:
  - name: trusted
    kind: mysql
    port: {p}
    tls:
      ca_file: {d}/ca.pem
    custom_queries:
      - name: session_tls
        query: SELECT CASE WHEN variable_value <> '' THEN 1 ELSE 0 END AS active FROM information_schema.session_status WHERE variable_name = 'Ssl_cipher'
        values: [active]
  - name: untrusted
    kind: mysql
    port: {p}
    tls:
      ca_file: {d}/other-ca.pem
",
        p = server.port
    );
    let exporter = Exporter::start(&cfg, &[]);
    let (status, body) = exporter.get("/metrics", Some("5")).await;
    assert_eq!(status, 200);
    let m = Metrics(body);
    assert_eq!(
        m.must("mysql_up", &[("target", "trusted")]),
        1.0,
        "log:\n{}",
        exporter.logs()
    );
    assert_eq!(
        m.must("session_tls_active", &[("target", "trusted")]),
        1.0,
        "the session is not TLS"
    );
    assert_eq!(m.must("mysql_up", &[("target", "untrusted")]), 0.0);
}
