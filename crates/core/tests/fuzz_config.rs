//! Property-based fuzzing of core's file parsers: the web config (YAML, then validation) on
//! arbitrary text and on mutations of deploy/examples/web-config.yml, and
//! `CertificateInfo::from_der` on mutated DER of real rcgen certificates. Properties: never
//! panics; every error names the file. `PROPTEST_CASES` raises the case count (default 128).

use proptest::prelude::*;
use std::path::{Path, PathBuf};
use watchkeeper_core::certificate::CertificateInfo;
use watchkeeper_core::config::{parse_yaml, ConfigError};
use watchkeeper_core::web_config::{WebConfigFile, WebSecurity};

#[path = "fuzz_support/mutate.rs"]
mod mutate;
use mutate::{byte_edit, edit, mutate, mutate_bytes};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(128),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn example(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/examples")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn assert_names_file(e: &ConfigError, path: &Path) -> Result<(), TestCaseError> {
    let shown = e.to_string();
    prop_assert!(
        shown.starts_with(&path.display().to_string()),
        "error does not name the file: {shown}"
    );
    prop_assert!(!shown.contains('\n'), "error is not one line: {shown:?}");
    Ok(())
}

fn check_web_config(text: &str, path: &Path) -> Result<(), TestCaseError> {
    match parse_yaml::<WebConfigFile>(text, path) {
        Err(e) => assert_names_file(&e, path)?,
        Ok(file) => {
            if let Err(e) = WebSecurity::from_file(file, path) {
                let shown = e.to_string();
                prop_assert!(
                    shown.starts_with(&path.display().to_string()),
                    "error does not name the file: {shown}"
                );
            }
        }
    }
    Ok(())
}

fn web_path() -> PathBuf {
    std::env::temp_dir().join("watchkeeper-fuzz/web-config.yml")
}

/// A self-signed certificate with a few SAN kinds, as DER.
fn cert_der() -> Vec<u8> {
    let mut params =
        rcgen::CertificateParams::new(vec!["fuzz.example".to_string(), "127.0.0.1".to_string()])
            .expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.subject_alt_names.push(rcgen::SanType::Rfc822Name(
        "ops@fuzz.example".try_into().expect("email"),
    ));
    let key = rcgen::KeyPair::generate().expect("key");
    params.self_signed(&key).expect("sign").der().to_vec()
}

#[test]
fn web_config_example_is_valid_yaml_for_the_type() {
    // The seed of the mutations parses (validation may fail on the absent certificate files).
    let text = example("web-config.yml");
    parse_yaml::<WebConfigFile>(&text, &web_path()).expect("example parses");
}

#[test]
fn unmutated_certificate_parses() {
    let info = CertificateInfo::from_der(&cert_der()).expect("parses");
    assert!(info.dns_names.contains(&"fuzz.example".to_string()));
    assert!(info.is_ca);
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn web_config_arbitrary_text(text in prop_oneof![any::<String>(), "[a-z_:{}\\[\\] \n\\-#'\"&*!|>0-9]{0,200}"]) {
        check_web_config(&text, &web_path())?;
    }

    #[test]
    fn web_config_mutated_example(edits in proptest::collection::vec(edit(), 1..6)) {
        let text = mutate(&example("web-config.yml"), &edits);
        check_web_config(&text, &web_path())?;
    }

    #[test]
    fn certificate_from_mutated_der(edits in proptest::collection::vec(byte_edit(), 1..8)) {
        static DER: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let der = DER.get_or_init(cert_der).clone();
        let mutated = mutate_bytes(der, &edits);
        if let Ok(info) = CertificateInfo::from_der(&mutated) {
            // Whatever parses renders without panicking.
            let _ = info.subject_alternative();
            prop_assert_eq!(info.fingerprint_sha256.len(), 64);
        }
    }

    #[test]
    fn certificate_from_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = CertificateInfo::from_der(&bytes);
        let _ = watchkeeper_core::certificate::has_any_san(&bytes, &["x".to_string()]);
    }
}
