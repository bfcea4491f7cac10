//! Endpoint probes against real rustls servers on 127.0.0.1: a verified chain (with an OCSP
//! staple), expired, not yet valid, wrong host name, self-signed, STARTTLS SMTP, a server that
//! answers garbage, one that never answers, and a closed port; on `/metrics` and `/probe`.

mod common;

use common::*;

fn ocsp_good() -> Vec<u8> {
    fn wrap(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag, body.len() as u8];
        v.extend_from_slice(body);
        v
    }
    let time = wrap(0x18, b"20260101000000Z");
    let single = wrap(
        0x30,
        &[wrap(0x30, &[]), vec![0x80, 0], time.clone()].concat(),
    );
    let tbs = wrap(
        0x30,
        &[
            wrap(0xa2, &wrap(0x04, &[1, 2, 3])),
            time,
            wrap(0x30, &single),
        ]
        .concat(),
    );
    let basic = wrap(0x30, &[tbs, wrap(0x30, &[]), wrap(0x03, &[0])].concat());
    let rb = wrap(
        0x30,
        &[
            wrap(0x06, &[0x2b, 6, 1, 5, 5, 7, 48, 1, 1]),
            wrap(0x04, &basic),
        ]
        .concat(),
    );
    wrap(0x30, &[wrap(0x0a, &[0]), wrap(0xa0, &rb)].concat())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_report_chains_verification_and_failures() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let root_pem = dir.path().join("root.pem");
    std::fs::write(&root_pem, pki.root.pem()).unwrap();

    let good = pki.leaf(Spec {
        serial: 0x1234_5678,
        ..Default::default()
    });
    let expired = pki.leaf(Spec {
        not_before: (2023, 1, 1),
        not_after: (2024, 6, 1),
        serial: 2,
        ..Default::default()
    });
    let future = pki.leaf(Spec {
        not_before: (2035, 1, 1),
        not_after: (2036, 6, 1),
        serial: 3,
        ..Default::default()
    });
    let wrong_host = pki.leaf(Spec {
        cn: "other.test",
        sans: &["other.test"],
        serial: 4,
        ..Default::default()
    });
    let self_signed = issue(
        Spec {
            cn: "self.test",
            sans: &["self.test"],
            not_after: (2031, 3, 4),
            serial: 5,
            ..Default::default()
        },
        None,
    );
    let chain = |l: &Issued| vec![l.der(), pki.intermediate.der()];
    let s_good = tls_server(chain(&good), good.key_der(), Mode::Tls, Some(ocsp_good())).await;
    let s_expired = tls_server(chain(&expired), expired.key_der(), Mode::Tls, None).await;
    let s_future = tls_server(chain(&future), future.key_der(), Mode::Tls, None).await;
    let s_wrong = tls_server(chain(&wrong_host), wrong_host.key_der(), Mode::Tls, None).await;
    let s_self = tls_server(
        vec![self_signed.der()],
        self_signed.key_der(),
        Mode::Tls,
        None,
    )
    .await;
    let s_smtp = tls_server(chain(&good), good.key_der(), Mode::Smtp, None).await;
    let s_garbage = tls_server(chain(&good), good.key_der(), Mode::Garbage, None).await;
    let s_silent = tls_server(chain(&good), good.key_der(), Mode::Silent, None).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };

    let ca = root_pem.display();
    let with_ca =
        |t: &str| format!("  - target: {t}\n    server_name: leaf.test\n    ca_file: {ca}\n");
    let config = format!(
        "endpoints:\n{}{}{}{}  - {}\n  - target: {}\n    starttls: smtp\n    server_name: leaf.test\n    ca_file: {ca}\n{}  - target: {}\n    timeout: 1s\n  - {closed}\nmodules:\n  internal:\n    server_name: leaf.test\n    ca_file: {ca}\n  mail:\n    starttls: smtp\n    server_name: leaf.test\n    ca_file: {ca}\n",
        with_ca(&s_good.target()),
        with_ca(&s_expired.target()),
        with_ca(&s_future.target()),
        with_ca(&s_wrong.target()),
        s_self.target(),
        s_smtp.target(),
        with_ca(&s_garbage.target()),
        s_silent.target(),
    );
    let exporter = Exporter::start(dir.path(), &config);
    let started = std::time::Instant::now();
    let m = exporter.scrape().await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "bounded by the 1s timeout"
    );

    // The verified chain.
    let good_t = s_good.target();
    let t = |s: &str| -> Vec<(&str, String)> { vec![("target", s.to_string())] };
    let _ = t;
    let g = [("target", good_t.as_str())];
    assert_eq!(m.must("ssl_probe_success", &g), 1.0);
    assert_eq!(m.must("ssl_chain_verified", &g), 1.0);
    assert_eq!(m.must("ssl_hostname_match", &g), 1.0);
    assert_eq!(
        m.must(
            "ssl_tls_version_info",
            &[("target", &good_t), ("version", "TLS 1.3")]
        ),
        1.0
    );
    assert_eq!(
        m.must(
            "ssl_cert_not_after",
            &[
                ("target", &good_t),
                ("cn", "leaf.test"),
                ("serial_no", "305419896"),
                ("dnsnames", ",leaf.test,"),
                ("issuer_cn", "Test Intermediate")
            ]
        ),
        ymd(2036, 1, 1) as f64
    );
    assert_eq!(
        m.must(
            "ssl_cert_not_after",
            &[("target", &good_t), ("cn", "Test Intermediate")]
        ),
        ymd(2038, 1, 1) as f64
    );
    assert_eq!(
        m.must(
            "ssl_verified_cert_not_after",
            &[("target", &good_t), ("chain_no", "0"), ("cn", "Test Root")]
        ),
        ymd(2040, 1, 1) as f64
    );
    assert_eq!(m.all("ssl_verified_cert_not_after", &g).len(), 3);
    assert_eq!(m.must("ssl_ocsp_response_stapled", &g), 1.0);
    assert_eq!(m.must("ssl_ocsp_response_status", &g), 0.0);
    assert_eq!(
        m.must(
            "ssl_cert_key_bits",
            &[("target", &good_t), ("key_type", "ecdsa")]
        ),
        256.0
    );
    let src = [("source_kind", "endpoint"), ("source", good_t.as_str())];
    assert_eq!(m.must("x509_source_up", &src), 1.0);
    assert_eq!(
        m.must(
            "x509_cert_not_after",
            &[
                ("source", &good_t),
                ("chain_position", "intermediate"),
                ("subject_CN", "Test Intermediate"),
                ("issuer_CN", "Test Root"),
                ("serial_number", "200")
            ]
        ),
        ymd(2038, 1, 1) as f64
    );
    assert_eq!(
        m.must(
            "x509_cert_expired",
            &[("source", &good_t), ("chain_position", "leaf")]
        ),
        0.0
    );

    // Expired and not yet valid: handshake done, chain refused, exact reason.
    for (s, why, leaf_after, expired_flag) in [
        (&s_expired, "expired", ymd(2024, 6, 1), 1.0),
        (&s_future, "not_yet_valid", ymd(2036, 6, 1), 0.0),
    ] {
        let tt = s.target();
        let l = [("target", tt.as_str())];
        assert_eq!(m.must("ssl_probe_success", &l), 0.0, "{why}");
        assert_eq!(m.must("x509_source_up", &[("source", &tt)]), 1.0, "{why}");
        assert_eq!(m.must("ssl_chain_verified", &l), 0.0, "{why}");
        assert_eq!(
            m.must("ssl_verify_error_info", &[("target", &tt), ("reason", why)]),
            1.0
        );
        assert_eq!(
            m.must(
                "ssl_cert_not_after",
                &[("target", &tt), ("cn", "leaf.test")]
            ),
            leaf_after as f64
        );
        assert_eq!(
            m.must(
                "x509_cert_expired",
                &[("source", &tt), ("chain_position", "leaf")]
            ),
            expired_flag
        );
        assert!(m.all("ssl_verified_cert_not_after", &l).is_empty());
    }

    // Wrong host name: the chain verifies, the name does not.
    let w = s_wrong.target();
    let l = [("target", w.as_str())];
    assert_eq!(m.must("ssl_chain_verified", &l), 1.0);
    assert_eq!(m.must("ssl_hostname_match", &l), 0.0);
    assert_eq!(m.must("ssl_probe_success", &l), 0.0);

    // Self-signed against the system roots.
    let ss = s_self.target();
    let l = [("target", ss.as_str())];
    assert_eq!(
        m.must(
            "ssl_verify_error_info",
            &[("target", &ss), ("reason", "unknown_issuer")]
        ),
        1.0
    );
    assert_eq!(
        m.must(
            "ssl_cert_not_after",
            &[("target", &ss), ("cn", "self.test")]
        ),
        ymd(2031, 3, 4) as f64
    );
    assert_eq!(
        m.must(
            "x509_cert_not_after",
            &[
                ("source", &ss),
                ("chain_position", "leaf"),
                ("subject_CN", "self.test")
            ]
        ),
        ymd(2031, 3, 4) as f64
    );
    assert_eq!(
        m.must("ssl_hostname_match", &l),
        0.0,
        "127.0.0.1 is not in its SANs"
    );

    // STARTTLS SMTP.
    let sm = s_smtp.target();
    assert_eq!(
        m.must("ssl_probe_success", &[("target", &sm)]),
        1.0,
        "{}",
        exporter.logs()
    );
    assert_eq!(
        m.must(
            "ssl_cert_not_after",
            &[("target", &sm), ("cn", "leaf.test")]
        ),
        ymd(2036, 1, 1) as f64
    );

    // Failures before a chain: bounded reasons, counters, log lines.
    for (target, reason) in [
        (s_garbage.target(), "handshake"),
        (s_silent.target(), "timeout"),
        (closed.clone(), "connect"),
    ] {
        assert_eq!(
            m.must("ssl_probe_success", &[("target", &target)]),
            0.0,
            "{reason}"
        );
        assert_eq!(
            m.must(
                "ssl_probe_error_info",
                &[("target", &target), ("reason", reason)]
            ),
            1.0
        );
        assert_eq!(m.must("x509_source_up", &[("source", &target)]), 0.0);
        assert_eq!(
            m.must(
                "x509_source_errors_total",
                &[("source", &target), ("reason", reason)]
            ),
            1.0
        );
        assert!(m
            .all("ssl_cert_not_after", &[("target", &target)])
            .is_empty());
        assert!(
            exporter.log_shows(&format!("source={target} reason={reason}")),
            "{}",
            exporter.logs()
        );
    }
    let m2 = exporter.scrape().await;
    assert_eq!(
        m2.must(
            "x509_source_errors_total",
            &[("source", &closed), ("reason", "connect")]
        ),
        2.0
    );

    // /probe: the same facts without a target label, modules from the config.
    let (status, body) = exporter
        .get(&format!("/probe?target={good_t}&module=internal"))
        .await;
    assert_eq!(status, 200, "{body}");
    let p = Metrics(body);
    assert_eq!(p.must("ssl_probe_success", &[]), 1.0);
    assert!(!p.0.contains("target=\""), "{}", p.0);
    assert_eq!(
        p.must("ssl_cert_not_after", &[("cn", "leaf.test")]),
        ymd(2036, 1, 1) as f64
    );
    let (_, body) = exporter
        .get(&format!("/probe?target={sm}&module=mail"))
        .await;
    assert_eq!(Metrics(body).must("ssl_probe_success", &[]), 1.0);
    // Without a module: the system roots, so the private chain does not verify.
    let (_, body) = exporter.get(&format!("/probe?target={good_t}")).await;
    let p = Metrics(body);
    assert_eq!(
        p.must("ssl_verify_error_info", &[("reason", "unknown_issuer")]),
        1.0
    );
    let (status, body) = exporter
        .get(&format!("/probe?target={good_t}&module=nope"))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("unknown module"), "{body}");
    let (status, _) = exporter.get("/probe?target=no-port").await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_and_the_scrape_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let leaf = pki.leaf(Spec::default());
    let client = pki.leaf(Spec {
        cn: "watchkeeper",
        sans: &["watchkeeper.test"],
        serial: 9,
        ..Default::default()
    });
    let mut client_params = client.params.clone();
    client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client_params
        .signed_by(
            &client.key,
            &rcgen::Issuer::from_params(&pki.intermediate.params, &pki.intermediate.key),
        )
        .unwrap();
    let d = dir.path();
    std::fs::write(d.join("root.pem"), pki.root.pem()).unwrap();
    std::fs::write(
        d.join("client.pem"),
        format!("{}{}", client_cert.pem(), pki.intermediate.pem()),
    )
    .unwrap();
    std::fs::write(d.join("client.key"), client.key.serialize_pem()).unwrap();
    let stranger = issue(
        Spec {
            cn: "stranger",
            ..Default::default()
        },
        None,
    );
    std::fs::write(d.join("stranger.pem"), stranger.pem()).unwrap();
    std::fs::write(d.join("stranger.key"), stranger.key.serialize_pem()).unwrap();
    let mtls = tls_server_mtls(
        vec![leaf.der(), pki.intermediate.der()],
        leaf.key_der(),
        Mode::Tls,
        None,
        Some(pki.root.der()),
    )
    .await;
    let silent = tls_server(vec![leaf.der()], leaf.key_der(), Mode::Silent, None).await;
    let t = mtls.target();
    let config = format!(
        "endpoints:\n  - target: {t}\n    server_name: leaf.test\n    ca_file: {d}/root.pem\n    cert_file: {d}/client.pem\n    key_file: {d}/client.key\n  - name: same-server-other-name\n    target: {t}\n    server_name: other.test\n    ca_file: {d}/root.pem\n    cert_file: {d}/client.pem\n    key_file: {d}/client.key\nmodules:\n  untrusted:\n    server_name: leaf.test\n    ca_file: {d}/root.pem\n    cert_file: {d}/stranger.pem\n    key_file: {d}/stranger.key\n  slow:\n    timeout: 30s\n",
        d = d.display()
    );
    let exporter = Exporter::start(d, &config);
    let m = exporter.scrape().await;
    assert_eq!(
        m.must("ssl_probe_success", &[("target", &t)]),
        1.0,
        "{}",
        exporter.logs()
    );
    // The same host:port under another name and server name: its own series.
    let other = [("target", "same-server-other-name")];
    assert_eq!(m.must("ssl_hostname_match", &other), 0.0);
    assert_eq!(m.must("ssl_chain_verified", &other), 1.0);
    assert_eq!(
        m.must("x509_source_up", &[("source", "same-server-other-name")]),
        1.0
    );

    // A client certificate the server does not trust: refused (after the TLS 1.3 handshake).
    let (_, body) = exporter
        .get(&format!("/probe?target={t}&module=untrusted&debug=true"))
        .await;
    assert!(body.contains("ssl_probe_success 0"), "{body}");
    assert!(
        body.contains("ssl_probe_error_info{reason=\"handshake\"} 1"),
        "{body}"
    );
    assert!(
        body.contains("server refused the client certificate"),
        "{body}"
    );

    // A server that never answers, a 30 s module timeout, a 2 s scrape timeout: the probe
    // ends within the scrape's budget.
    let started = std::time::Instant::now();
    let (status, body) = http_with_timeout(
        exporter.addr,
        "GET",
        &format!("/probe?target={}&module=slow", silent.target()),
        "2",
    )
    .await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    assert!(took < std::time::Duration::from_millis(1900), "{took:?}");
    let p = Metrics(body);
    assert_eq!(
        p.must("ssl_probe_error_info", &[("reason", "timeout")]),
        1.0
    );
}
