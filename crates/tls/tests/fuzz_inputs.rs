//! Property-based fuzzing of what the tls exporter reads from files, servers and its config:
//! certificate files (PEM bundles, DER, PKCS#12, kubeconfig) from arbitrary and mutated bytes,
//! certificate facts from mutated DER, OCSP responses, STARTTLS server replies for every
//! protocol (over an in-memory stream that ends after the fuzzed bytes), targets, globs, serial
//! numbers and the configuration file (arbitrary text and mutations of deploy/examples/tls.yml).
//! Properties: never panics, never hangs; errors name the file. `PROPTEST_CASES` raises the
//! case count.

use proptest::prelude::*;
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use watchkeeper_core::kit::ConfigFile;
use watchkeeper_tls::app::TlsConfig;
use watchkeeper_tls::config::{check_glob, HostPort, Starttls};
use watchkeeper_tls::facts::{hex_to_decimal, CertFacts};
use watchkeeper_tls::formats::decode;
use watchkeeper_tls::ocsp::cert_status;
use watchkeeper_tls::starttls::negotiate;
use watchkeeper_tls::walk::Pattern;

#[path = "../../core/tests/fuzz_support/mutate.rs"]
mod mutate;
use mutate::{byte_edit, edit, mutate, mutate_bytes};

fn cases(default: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A real certificate chain (CA and leaf) from rcgen: DER and a PEM bundle.
struct Seeds {
    leaf_der: Vec<u8>,
    pem_bundle: String,
}

fn seeds() -> &'static Seeds {
    static SEEDS: std::sync::OnceLock<Seeds> = std::sync::OnceLock::new();
    SEEDS.get_or_init(|| {
        let ca_key = rcgen::KeyPair::generate().expect("key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Fuzz CA");
        let ca = ca_params.self_signed(&ca_key).expect("ca");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_key = rcgen::KeyPair::generate().expect("key");
        let leaf_params =
            rcgen::CertificateParams::new(vec!["fuzz.example".to_string()]).expect("params");
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).expect("leaf");
        Seeds {
            leaf_der: leaf.der().to_vec(),
            pem_bundle: format!("{}{}", leaf.pem(), ca.pem()),
        }
    })
}

fn kubeconfig(data: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    certificate-authority-data: {data}\nusers:\n- name: u\n  user:\n    client-certificate-data: {data}\n"
    )
}

fn starttls() -> impl Strategy<Value = Starttls> {
    prop_oneof![
        Just(Starttls::Smtp),
        Just(Starttls::Imap),
        Just(Starttls::Pop3),
        Just(Starttls::Ftp),
        Just(Starttls::Postgres),
        Just(Starttls::Mysql),
        Just(Starttls::Ldap),
        Just(Starttls::Xmpp),
    ]
}

/// Server replies: line protocols with plausible codes, or raw bytes.
fn server_reply() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        proptest::collection::vec(
            prop_oneof![
                "(220|250|334|421|500|\\+OK|-ERR|\\* OK|a1 OK|[0-9]{3})[ -][ -~]{0,40}",
                "[ -~]{0,80}",
                Just("<?xml version='1.0'?><stream:stream><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>".to_string()),
                Just("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>".to_string()),
                Just("S".to_string()),
                Just("N".to_string()),
            ],
            0..8,
        )
        .prop_map(|lines| lines.join("\r\n").into_bytes()),
        // A MySQL handshake header with a wild length.
        (any::<[u8; 3]>(), proptest::collection::vec(any::<u8>(), 0..64)).prop_map(|(len, body)| {
            let mut v = len.to_vec();
            v.push(0);
            v.extend(body);
            v
        }),
    ]
}

fn example() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/examples/tls.yml");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Loads `text` as the config file through the exporter's own loader.
fn check_config(text: &str) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tls.yml");
    std::fs::write(&path, text).expect("write");
    if let Err(e) = TlsConfig::load(&path, None) {
        let shown = e.to_string();
        prop_assert!(
            shown.starts_with(&path.display().to_string()),
            "error does not name the file: {shown}"
        );
        prop_assert!(!shown.contains('\n'), "error is not one line: {shown:?}");
    }
    Ok(())
}

#[test]
fn seeds_decode() {
    let s = seeds();
    assert_eq!(
        decode(s.pem_bundle.as_bytes(), None, false)
            .expect("bundle")
            .len(),
        2
    );
    assert_eq!(decode(&s.leaf_der, None, false).expect("der").len(), 1);
    CertFacts::from_der(&s.leaf_der).expect("facts");
}

#[test]
fn example_config_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tls.yml");
    std::fs::write(&path, example()).expect("write");
    TlsConfig::load(&path, None).expect("the example is valid");
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn certificate_file_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512), password in proptest::option::of("[a-z]{0,8}"), hint in any::<bool>()) {
        let _ = decode(&bytes, password.as_deref(), hint);
    }

    #[test]
    fn certificate_file_mutated(edits in proptest::collection::vec(byte_edit(), 1..8), which in 0u8..4, hint in any::<bool>()) {
        let s = seeds();
        let seed = match which {
            0 => s.leaf_der.clone(),
            1 => s.pem_bundle.clone().into_bytes(),
            // The PEM body, base64, inside a kubeconfig.
            2 => kubeconfig(&s.pem_bundle.lines().filter(|l| !l.starts_with("-----")).collect::<String>()).into_bytes(),
            _ => kubeconfig("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==").into_bytes(),
        };
        let mutated = mutate_bytes(seed, &edits);
        if let Ok(found) = decode(&mutated, None, hint) {
            for f in found {
                // What the decoder hands on is parsed again for facts: must not panic either.
                if let Ok(facts) = CertFacts::from_der(&f.der) {
                    let _ = facts.serial_decimal();
                    let _ = facts.weak_key();
                    let _ = facts.weak_signature();
                }
            }
        }
    }

    #[test]
    fn certificate_facts_mutated_der(edits in proptest::collection::vec(byte_edit(), 1..8)) {
        let mutated = mutate_bytes(seeds().leaf_der.clone(), &edits);
        if let Ok(facts) = CertFacts::from_der(&mutated) {
            let _ = facts.serial_decimal();
            let _ = facts.subject_attr("CN");
            let _ = facts.issuer_attr("O");
            let _ = watchkeeper_tls::endpoint::name_matches(&facts, "fuzz.example");
        }
    }

    #[test]
    fn ocsp_response(bytes in prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        // DER-ish: a SEQUENCE with long-form lengths.
        (prop_oneof![Just(0x30u8), any::<u8>()], 0x80u8..=0x8f, proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(tag, len, rest)| { let mut v = vec![tag, len]; v.extend(rest); v }),
    ]) {
        if let Some(status) = cert_status(&bytes) {
            prop_assert!(status <= 2, "status {status}");
        }
    }

    #[test]
    fn serial_to_decimal(n in any::<u128>(), junk in any::<String>()) {
        prop_assert_eq!(hex_to_decimal(&format!("{n:x}")), n.to_string());
        let _ = hex_to_decimal(&junk);
    }

    #[test]
    fn targets_and_globs(s in prop_oneof![any::<String>(), "(\\[[0-9a-f:]{0,12}\\]|[a-z0-9.\\-]{0,16})(:[0-9]{0,6})?", "[/a-z*?\\[\\]{}!,.]{0,40}"]) {
        if let Ok(hp) = HostPort::parse(&s) {
            prop_assert!(!hp.host.is_empty());
        }
        if check_glob(&s).is_ok() {
            let _ = Pattern::new(&s);
        }
    }

    #[test]
    fn config_arbitrary_text(text in prop_oneof![any::<String>(), "[a-z_:{}\\[\\] \n\\-#'\"&*!|>0-9./]{0,200}"]) {
        check_config(&text)?;
    }

    #[test]
    fn config_mutated_example(edits in proptest::collection::vec(edit(), 1..6)) {
        check_config(&mutate(&example(), &edits))?;
    }
}

proptest! {
    // Each case runs a small runtime and an in-memory connection.
    #![proptest_config(cases(128))]

    #[test]
    fn starttls_server_replies(protocol in starttls(), reply in server_reply(), host in "[a-z.]{0,12}") {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let outcome = rt.block_on(async {
            let (mut client, mut server) = tokio::io::duplex(1 << 16);
            let writer = tokio::spawn(async move {
                let _ = server.write_all(&reply).await;
                // The server then closes: the client must give up, not wait.
                drop(server);
            });
            let r = tokio::time::timeout(Duration::from_secs(5), negotiate(&mut client, protocol, &host)).await;
            let _ = writer.await;
            r
        });
        prop_assert!(outcome.is_ok(), "{protocol:?} did not return after the server closed");
    }
}
