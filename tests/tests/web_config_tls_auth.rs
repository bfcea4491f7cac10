//! The exporter binaries honour an exporter-toolkit web config: TLS, client certificates and basic
//! auth. Started as a user would, on 127.0.0.1 port 0.

use std::path::Path;
use watchkeeper_e2e::start_exporter;

struct Ca {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
    params: rcgen::CertificateParams,
}

fn ca(name: &str) -> Ca {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca { cert, key, params }
}

/// Issues a leaf certificate; returns (cert PEM, key PEM).
fn issue(ca: &Ca, name: &str, client: bool) -> (String, String) {
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    if client {
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    }
    let key = rcgen::KeyPair::generate().unwrap();
    let issuer = rcgen::Issuer::from_params(&ca.params, &ca.key);
    let cert = params.signed_by(&key, &issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn client(ca_pem: &str, identity: Option<&(String, String)>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap());
    if let Some((cert, key)) = identity {
        b = b.identity(reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap());
    }
    b.build().unwrap()
}

fn write_web_config(dir: &Path, ca: &Ca) {
    let (server_cert, server_key) = issue(ca, "localhost", false);
    std::fs::write(dir.join("ca.pem"), ca.cert.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), server_cert).unwrap();
    std::fs::write(dir.join("server-key.pem"), server_key).unwrap();
    let hash = bcrypt::hash("correct horse", 4).unwrap();
    std::fs::write(
        dir.join("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n\
             \x20 client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n\
             basic_auth_users:\n  prometheus: {hash}\n"
        ),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn host_exporter_enforces_tls_client_certs_and_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let trusted = ca("Watchkeeper test CA");
    write_web_config(dir.path(), &trusted);
    let web = dir.path().join("web.yml");
    let (_host, addr) = start_exporter(
        "watchkeeper-host",
        &[&format!("--web.config.file={}", web.display())],
    );
    let port = addr.rsplit_once(':').unwrap().1;
    let url = format!("https://localhost:{port}/metrics");
    let ca_pem = trusted.cert.pem();

    let good_identity = issue(&trusted, "prometheus", true);
    let good = client(&ca_pem, Some(&good_identity));
    let resp = good
        .get(&url)
        .basic_auth("prometheus", Some("correct horse"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("node_load1 "));

    let resp = good.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 401, "no credentials");
    let resp = good
        .get(&url)
        .basic_auth("prometheus", Some("battery staple"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "wrong password");

    let rogue = ca("Someone else's CA");
    let rogue_identity = issue(&rogue, "prometheus", true);
    let untrusted = client(&ca_pem, Some(&rogue_identity));
    let err = untrusted
        .get(&url)
        .basic_auth("prometheus", Some("correct horse"))
        .send()
        .await
        .expect_err("a client certificate from an unknown CA must fail the handshake");
    assert!(err.is_connect() || err.is_request(), "{err}");
}
