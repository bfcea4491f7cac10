//! The file source over a generated tree: PEM bundles, DER, kubeconfig data, PKCS#12 (right,
//! wrong and missing password), SHA-1 / RSA-1024 certificates from the openssl CLI, and bad
//! input (truncated PEM, a binary file, a symlink loop). Scraped from the real binary.

mod common;

use common::*;
use std::os::unix::fs::symlink;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_report_every_certificate_and_every_failure() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for sub in ["certs/sub/deep", "kube", "p12", "weak"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    let pki = Pki::new();
    let leaf = pki.leaf(Spec {
        serial: 0xabcdef,
        ..Default::default()
    });
    std::fs::write(
        d.join("certs/bundle.pem"),
        format!("{}{}{}", leaf.pem(), pki.intermediate.pem(), pki.root.pem()),
    )
    .unwrap();
    let expired = pki.leaf(Spec {
        cn: "old.test",
        not_before: (2023, 1, 1),
        not_after: (2024, 6, 1),
        serial: 11,
        ..Default::default()
    });
    std::fs::write(d.join("certs/expired.pem"), expired.pem()).unwrap();
    let future = pki.leaf(Spec {
        cn: "future.test",
        not_before: (2035, 1, 1),
        not_after: (2036, 6, 1),
        serial: 12,
        ..Default::default()
    });
    std::fs::write(d.join("certs/sub/future.pem"), future.pem()).unwrap();
    let self_signed = issue(
        Spec {
            cn: "self.test",
            not_after: (2031, 3, 4),
            serial: 13,
            ..Default::default()
        },
        None,
    );
    std::fs::write(
        d.join("certs/sub/deep/self.der"),
        self_signed.der().as_ref(),
    )
    .unwrap();
    // Bad input.
    let pem = leaf.pem();
    std::fs::write(d.join("certs/truncated.pem"), &pem[..pem.len() / 2]).unwrap();
    let binary: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 0x80)
        .collect();
    std::fs::write(d.join("certs/binary.pem"), binary).unwrap();
    symlink(d.join("certs"), d.join("certs/sub/loop")).unwrap();
    // A FIFO must not hang the scan; a huge (sparse) file is not read.
    let fifo = Command::new("mkfifo")
        .arg(d.join("certs/pipe.pem"))
        .status()
        .is_ok_and(|s| s.success());
    std::fs::File::create(d.join("certs/huge.pem"))
        .unwrap()
        .set_len(17 * 1024 * 1024)
        .unwrap();
    // A kubeconfig with a cluster CA and a client certificate.
    let client = pki.leaf(Spec {
        cn: "admin",
        sans: &[],
        not_after: (2027, 2, 3),
        serial: 14,
        ..Default::default()
    });
    let b64 = |s: String| watchkeeper_core::base64::encode(s.as_bytes());
    std::fs::write(
        d.join("kube/config"),
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n    server: https://127.0.0.1:6443\n    certificate-authority-data: {}\nusers:\n- name: admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts: []\n",
            b64(pki.root.pem()),
            b64(client.pem()),
            b64(client.key.serialize_pem()),
        ),
    )
    .unwrap();

    let have_openssl = openssl().is_some();
    let d_s = d.display().to_string();
    let mut config = format!(
        "files:\n  - {d_s}/certs/**/*.pem\n  - {d_s}/certs/**/*.der\n  - {d_s}/kube/config\n"
    );
    if have_openssl {
        std::fs::write(d.join("p12/leaf.pem"), leaf.pem()).unwrap();
        std::fs::write(d.join("p12/leaf.key"), leaf.key.serialize_pem()).unwrap();
        std::fs::write(d.join("p12/inter.pem"), pki.intermediate.pem()).unwrap();
        std::fs::write(d.join("p12/pass"), "s3cret\n").unwrap();
        std::fs::write(d.join("p12/wrongpass"), "guess\n").unwrap();
        for name in ["good.p12", "wrong.p12", "nopass.p12"] {
            run_openssl(
                &d.join("p12"),
                &[
                    "pkcs12",
                    "-export",
                    "-in",
                    "leaf.pem",
                    "-inkey",
                    "leaf.key",
                    "-certfile",
                    "inter.pem",
                    "-out",
                    name,
                    "-passout",
                    "pass:s3cret",
                ],
            );
        }
        run_openssl(
            &d.join("weak"),
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:1024",
                "-sha1",
                "-nodes",
                "-keyout",
                "k1",
                "-out",
                "rsa1024-sha1.pem",
                "-days",
                "30",
                "-subj",
                "/CN=weak.test",
            ],
        );
        run_openssl(
            &d.join("weak"),
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-sha1",
                "-nodes",
                "-keyout",
                "k2",
                "-out",
                "sha1.pem",
                "-days",
                "30",
                "-subj",
                "/CN=sha1.test",
            ],
        );
        config.push_str(&format!(
            "  - path: {d_s}/p12/good.p12\n    password_file: {d_s}/p12/pass\n  - path: {d_s}/p12/wrong.p12\n    password_file: {d_s}/p12/wrongpass\n  - {d_s}/p12/nopass.p12\n  - {d_s}/weak/*.pem\n"
        ));
    }
    config.push_str("labels:\n  subject: [CN, O]\n");
    let exporter = Exporter::start(d, &config);
    let m = exporter.scrape().await;
    let src = |p: &str| format!("{d_s}/{p}");

    // The bundle: three certificates, each with its position and exact expiry.
    let bundle = src("certs/bundle.pem");
    for (pos, cn, after, serial) in [
        ("leaf", "leaf.test", ymd(2036, 1, 1), "11259375"),
        ("intermediate", "Test Intermediate", ymd(2038, 1, 1), "200"),
        ("root", "Test Root", ymd(2040, 1, 1), "100"),
    ] {
        let l = [
            ("filepath", bundle.as_str()),
            ("source_kind", "file"),
            ("chain_position", pos),
            ("subject_CN", cn),
            ("subject_O", "Watchkeeper Test"),
            ("serial_number", serial),
        ];
        assert_eq!(m.must("x509_cert_not_after", &l), after as f64, "{pos}");
        assert_eq!(
            m.must("x509_cert_not_before", &l),
            ymd(2025, 1, 1) as f64,
            "{pos}"
        );
        assert_eq!(m.must("x509_cert_expired", &l), 0.0);
        assert_eq!(m.must("x509_cert_weak_signature", &l), 0.0);
    }
    assert_eq!(
        m.must(
            "x509_cert_not_after",
            &[
                ("filepath", &bundle),
                ("chain_position", "leaf"),
                ("issuer_CN", "Test Intermediate")
            ]
        ),
        ymd(2036, 1, 1) as f64
    );
    assert_eq!(m.must("x509_source_up", &[("source", &bundle)]), 1.0);
    assert_eq!(
        m.all("x509_cert_not_after", &[("filename", "bundle.pem")])
            .len(),
        3
    );

    let expired_src = src("certs/expired.pem");
    assert_eq!(
        m.must("x509_cert_expired", &[("filepath", &expired_src)]),
        1.0
    );
    assert_eq!(
        m.must("x509_cert_not_after", &[("filepath", &expired_src)]),
        ymd(2024, 6, 1) as f64
    );
    let future_src = src("certs/sub/future.pem");
    assert_eq!(
        m.must("x509_cert_not_before", &[("filepath", &future_src)]),
        ymd(2035, 1, 1) as f64
    );
    assert_eq!(
        m.must("x509_cert_expired", &[("filepath", &future_src)]),
        0.0
    );
    let der_src = src("certs/sub/deep/self.der");
    assert_eq!(
        m.must(
            "x509_cert_not_after",
            &[
                ("filepath", &der_src),
                ("subject_CN", "self.test"),
                ("issuer_CN", "self.test"),
                ("chain_position", "leaf")
            ]
        ),
        ymd(2031, 3, 4) as f64
    );
    assert_eq!(
        m.must(
            "x509_cert_key_bits",
            &[("filepath", &der_src), ("key_type", "ecdsa")]
        ),
        256.0
    );
    assert_eq!(
        m.must(
            "x509_cert_signature_algorithm_info",
            &[
                ("filepath", &der_src),
                ("signature_algorithm", "ecdsa-with-SHA256")
            ]
        ),
        1.0
    );

    // Kubeconfig data.
    let kube = src("kube/config");
    assert_eq!(
        m.must(
            "x509_cert_not_after",
            &[
                ("filepath", &kube),
                ("embedded_kind", "cluster"),
                ("embedded_key", "prod"),
                ("subject_CN", "Test Root")
            ]
        ),
        ymd(2040, 1, 1) as f64
    );
    assert_eq!(
        m.must(
            "x509_cert_not_after",
            &[
                ("filepath", &kube),
                ("embedded_kind", "user"),
                ("embedded_key", "admin"),
                ("subject_CN", "admin")
            ]
        ),
        ymd(2027, 2, 3) as f64
    );

    // Bad input: one error each, the rest still reported.
    for (path, reason) in [
        ("certs/truncated.pem", "pem_invalid"),
        ("certs/binary.pem", "unknown_format"),
        ("certs/sub/loop", "symlink_loop"),
        ("certs/huge.pem", "too_large"),
    ] {
        let s = src(path);
        assert_eq!(m.must("x509_source_up", &[("source", &s)]), 0.0, "{path}");
        assert_eq!(
            m.must(
                "x509_source_errors_total",
                &[("source", &s), ("reason", reason)]
            ),
            1.0,
            "{path}"
        );
        assert!(
            exporter.log_shows(&format!("reason={reason}")),
            "{}",
            exporter.logs()
        );
    }

    if have_openssl {
        let good = src("p12/good.p12");
        assert_eq!(
            m.must("x509_source_up", &[("source", &good)]),
            1.0,
            "{}",
            exporter.logs()
        );
        assert_eq!(
            m.must(
                "x509_cert_not_after",
                &[("filepath", &good), ("subject_CN", "leaf.test")]
            ),
            ymd(2036, 1, 1) as f64
        );
        assert_eq!(
            m.must(
                "x509_cert_not_after",
                &[("filepath", &good), ("chain_position", "intermediate")]
            ),
            ymd(2038, 1, 1) as f64
        );
        for p in ["p12/wrong.p12", "p12/nopass.p12"] {
            let s = src(p);
            assert_eq!(m.must("x509_source_up", &[("source", &s)]), 0.0);
            assert_eq!(
                m.must(
                    "x509_source_errors_total",
                    &[("source", &s), ("reason", "pkcs12_password")]
                ),
                1.0
            );
        }
        assert!(!exporter.logs().contains("s3cret"));
        assert!(!m.0.contains("s3cret"));
        let weak = src("weak/rsa1024-sha1.pem");
        let l = [("filepath", weak.as_str()), ("subject_CN", "weak.test")];
        assert_eq!(m.must("x509_cert_weak_key", &l), 1.0);
        assert_eq!(m.must("x509_cert_weak_signature", &l), 1.0);
        assert_eq!(
            m.must(
                "x509_cert_key_bits",
                &[("filepath", &weak), ("key_type", "rsa")]
            ),
            1024.0
        );
        assert_eq!(
            m.must(
                "x509_cert_signature_algorithm_info",
                &[
                    ("filepath", &weak),
                    ("signature_algorithm", "sha1WithRSAEncryption")
                ]
            ),
            1.0
        );
        let sha1 = src("weak/sha1.pem");
        assert_eq!(m.must("x509_cert_weak_key", &[("filepath", &sha1)]), 0.0);
        assert_eq!(
            m.must("x509_cert_weak_signature", &[("filepath", &sha1)]),
            1.0
        );
        assert_eq!(m.must("x509_cert_key_bits", &[("filepath", &sha1)]), 2048.0);
    }
    assert!(fifo, "mkfifo");
    assert!(m
        .get("x509_source_up", &[("source", &src("certs/pipe.pem"))])
        .is_none());
    assert_eq!(
        m.must(
            "x509_files_matched",
            &[("pattern", &format!("{d_s}/certs/**/*.pem"))]
        ),
        6.0
    );

    // The second scrape is served from the parse cache; a changed file is parsed again.
    let parsed = m.must("watchkeeper_tls_files_parsed_total", &[]);
    let m2 = exporter.scrape().await;
    assert_eq!(m2.must("watchkeeper_tls_files_parsed_total", &[]), parsed);
    assert!(m2.must("watchkeeper_tls_file_cache_hits_total", &[]) >= parsed);
    assert_eq!(
        m2.must("x509_cert_not_after", &[("filepath", &expired_src)]),
        ymd(2024, 6, 1) as f64
    );
    let renewed = pki.leaf(Spec {
        cn: "old.test",
        not_after: (2030, 7, 8),
        serial: 15,
        ..Default::default()
    });
    std::fs::write(d.join("certs/expired.pem"), renewed.pem()).unwrap();
    let m3 = exporter.scrape().await;
    assert_eq!(
        m3.must("watchkeeper_tls_files_parsed_total", &[]),
        parsed + 1.0
    );
    assert_eq!(
        m3.must("x509_cert_not_after", &[("filepath", &expired_src)]),
        ymd(2030, 7, 8) as f64
    );
    assert_eq!(
        m3.must("x509_cert_expired", &[("filepath", &expired_src)]),
        0.0
    );
    // A removed file's series go away.
    std::fs::remove_file(d.join("certs/sub/future.pem")).unwrap();
    let m4 = exporter.scrape().await;
    assert!(m4
        .all("x509_cert_not_after", &[("filepath", &future_src)])
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_are_trimmed_and_reloads_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cert = issue(
        Spec {
            not_after: (2033, 3, 3),
            ..Default::default()
        },
        None,
    );
    std::fs::write(d.join("a.pem"), cert.pem()).unwrap();
    let depth = d.components().count() - 1; // components below the root
    let exporter = Exporter::start(
        d,
        &format!(
            "files: ['{}/*.pem']\nlabels:\n  trim_path_components: {depth}\n  issuer: []\n",
            d.display()
        ),
    );
    let m = exporter.scrape().await;
    assert_eq!(
        m.must("x509_cert_not_after", &[("filepath", "a.pem")]),
        ymd(2033, 3, 3) as f64
    );
    assert!(!m.0.contains("issuer_CN"), "{}", m.0);

    // A broken reload keeps the old config; a good one applies.
    std::fs::write(
        &exporter.config,
        "files: ['/x/*.pem']\nlabels:\n  subjct: [CN]\n",
    )
    .unwrap();
    let (status, body) = http(exporter.addr, "POST", "/-/reload").await;
    assert_ne!(status, 200, "{body}");
    assert!(body.contains("tls.yml:3:"), "{body}");
    let m = exporter.scrape().await;
    assert_eq!(
        m.must("x509_cert_not_after", &[("filepath", "a.pem")]),
        ymd(2033, 3, 3) as f64
    );
    std::fs::write(
        &exporter.config,
        format!("files: ['{}/*.pem']\n", d.display()),
    )
    .unwrap();
    let (status, body) = http(exporter.addr, "POST", "/-/reload").await;
    assert_eq!(status, 200, "{body}");
    let m = exporter.scrape().await;
    let full = format!("{}/a.pem", d.display());
    assert_eq!(
        m.must(
            "x509_cert_not_after",
            &[("filepath", &full), ("issuer_CN", "leaf.test")]
        ),
        ymd(2033, 3, 3) as f64
    );
}
