//! An Alertmanager whose API requires basic authentication (its own `--web.config.file`): the
//! exporter reads it with `http_config.basic_auth`; a wrong password is a 401, a metric and a
//! log line; the password appears nowhere.

mod common;
use common::*;

const PASSWORD: &str = "s3cret-pw-4711";

fn exporter_with(dir: &std::path::Path, am: &Alertmanager, password: &str) -> Exporter {
    std::fs::write(dir.join("am-password"), format!("{password}\n")).unwrap();
    let config = write_config(
        dir,
        &[am.url()],
        "http_config:\n  basic_auth: {username: watch, password_file: am-password}\n",
    );
    Exporter::start(&config)
}

#[test]
fn basic_auth_to_alertmanager() {
    if !have_alertmanager() {
        return;
    }
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let am = Alertmanager::start_secured(&format!("basic_auth_users:\n  watch: {hash}\n"));
    assert_eq!(
        get(am.addr(), "/api/v2/alerts").0,
        401,
        "the API requires authentication"
    );
    let up = format!("incident_alertmanager_up{{instance=\"{}\"}}", am.url());

    let dir = tempfile::tempdir().unwrap();
    let good = exporter_with(dir.path(), &am, PASSWORD);
    good.wait_for(&up, 1.0);
    let (_, landing) = get(good.addr, "/");
    for text in [good.metrics(), good.logs(), landing] {
        assert!(!text.contains(PASSWORD), "the password leaked: {text}");
    }

    let dir = tempfile::tempdir().unwrap();
    let bad = exporter_with(dir.path(), &am, "wrong-password");
    bad.wait_for(&up, 0.0);
    assert!(bad.log_shows("HTTP status 401"), "{}", bad.logs());
    assert!(!bad.logs().contains("wrong-password"));
}

#[test]
fn tls_with_a_private_ca_and_basic_auth() {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    if !have_alertmanager() {
        return;
    }
    let pki = tempfile::tempdir().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    std::fs::write(pki.path().join("server.pem"), cert.pem()).unwrap();
    std::fs::write(pki.path().join("server.key"), key.serialize_pem()).unwrap();
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let am = Alertmanager::start_secured(&format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  watch: {hash}\n",
        pki.path().join("server.pem").display(),
        pki.path().join("server.key").display()
    ));
    let url = format!("https://127.0.0.1:{}", am.port);
    let up = format!("incident_alertmanager_up{{instance=\"{url}\"}}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.path().join("am-password"), PASSWORD).unwrap();
    let config = write_config(
        dir.path(),
        std::slice::from_ref(&url),
        "http_config:\n  basic_auth: {username: watch, password_file: am-password}\n  tls_config: {ca_file: ca.pem}\n",
    );
    let trusted = Exporter::start(&config);
    trusted.wait_for(&up, 1.0);

    // Without the private CA the certificate is not trusted.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("am-password"), PASSWORD).unwrap();
    let config = write_config(
        dir.path(),
        &[url],
        "http_config:\n  basic_auth: {username: watch, password_file: am-password}\n",
    );
    let untrusted = Exporter::start(&config);
    untrusted.wait_for(&up, 0.0);
    assert!(
        untrusted.log_shows("Cannot read Alertmanager"),
        "{}",
        untrusted.logs()
    );
}
