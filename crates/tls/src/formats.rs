//! Certificate file formats: PEM bundles, DER, PKCS#12 and kubeconfig-embedded data.

use crate::reason::Reason;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde::Deserialize;
use x509_parser::prelude::{FromDer, X509Certificate};

/// One certificate found in a file.
#[derive(Debug, Clone)]
pub struct Found {
    /// Its DER encoding.
    pub der: Vec<u8>,
    /// For kubeconfig data: (`cluster` or `user`, the entry's name).
    pub embedded: Option<(&'static str, String)>,
}

/// Why a file yielded no certificates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", reason.as_str())]
pub struct DecodeError {
    /// The bounded reason.
    pub reason: Reason,
    /// Detail for the log line (never a secret).
    pub detail: String,
}

fn fail(reason: Reason, detail: impl Into<String>) -> DecodeError {
    DecodeError {
        reason,
        detail: detail.into(),
    }
}

/// Reads every certificate from a file's bytes. `password` is the PKCS#12 password, if
/// configured; `pkcs12_hint` is set for `.p12`/`.pfx` names.
pub fn decode(
    bytes: &[u8],
    password: Option<&str>,
    pkcs12_hint: bool,
) -> Result<Vec<Found>, DecodeError> {
    if bytes.is_empty() {
        return Err(fail(Reason::NoCertificate, "empty file"));
    }
    if is_kubeconfig(bytes) {
        return kubeconfig(bytes);
    }
    if contains(bytes, b"-----BEGIN ") {
        return pem(bytes, None);
    }
    if bytes[0] == 0x30 {
        if !pkcs12_hint && password.is_none() {
            if let Ok(found) = der(bytes) {
                return Ok(found);
            }
        }
        match pkcs12(bytes, password) {
            Ok(found) => return Ok(found),
            Err(e) if e.reason == Reason::Pkcs12Password => return Err(e),
            Err(e) => {
                if let Ok(found) = der(bytes) {
                    return Ok(found);
                }
                if pkcs12_hint || password.is_some() {
                    return Err(e);
                }
                return Err(fail(
                    Reason::CertificateInvalid,
                    "DER data is neither an X.509 certificate nor PKCS#12",
                ));
            }
        }
    }
    Err(fail(
        Reason::UnknownFormat,
        "not PEM, DER, PKCS#12 or a kubeconfig",
    ))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn is_kubeconfig(bytes: &[u8]) -> bool {
    !contains(bytes, b"-----BEGIN ")
        && (contains(bytes, b"certificate-authority-data")
            || contains(bytes, b"client-certificate-data"))
}

fn der(bytes: &[u8]) -> Result<Vec<Found>, DecodeError> {
    match X509Certificate::from_der(bytes) {
        Ok(([], _)) => Ok(vec![Found {
            der: bytes.to_vec(),
            embedded: None,
        }]),
        Ok(_) => Err(fail(
            Reason::CertificateInvalid,
            "trailing data after DER certificate",
        )),
        Err(e) => Err(fail(Reason::CertificateInvalid, e.to_string())),
    }
}

fn pem(bytes: &[u8], embedded: Option<(&'static str, String)>) -> Result<Vec<Found>, DecodeError> {
    let mut out = Vec::new();
    for item in CertificateDer::pem_slice_iter(bytes) {
        let cert = item.map_err(|e| fail(Reason::PemInvalid, e.to_string()))?;
        if let Err(e) = X509Certificate::from_der(cert.as_ref()) {
            return Err(fail(Reason::CertificateInvalid, e.to_string()));
        }
        out.push(Found {
            der: cert.as_ref().to_vec(),
            embedded: embedded.clone(),
        });
    }
    if out.is_empty() {
        return Err(fail(
            Reason::NoCertificate,
            "no CERTIFICATE block (a key or CSR only?)",
        ));
    }
    Ok(out)
}

fn pkcs12(bytes: &[u8], password: Option<&str>) -> Result<Vec<Found>, DecodeError> {
    // Without a configured password, the empty one (common for certificate-only stores).
    let archive = p12_keystore::Pkcs12Archive::from_pkcs12(bytes, password.unwrap_or("")).map_err(
        |e| match e {
            p12_keystore::error::Error::MacError(_)
            | p12_keystore::error::Error::UnpadError
            | p12_keystore::error::Error::InvalidPrivateKey => fail(
                Reason::Pkcs12Password,
                if password.is_some() {
                    "wrong PKCS#12 password"
                } else {
                    "PKCS#12 is password-protected and no password_file is configured"
                },
            ),
            other => fail(Reason::Pkcs12Invalid, other.to_string()),
        },
    )?;
    let out: Vec<Found> = archive
        .certs
        .iter()
        .map(|bag| Found {
            der: bag.cert.as_der().to_vec(),
            embedded: None,
        })
        .collect();
    if out.is_empty() {
        return Err(fail(Reason::NoCertificate, "PKCS#12 holds no certificate"));
    }
    Ok(out)
}

#[derive(Deserialize)]
struct Kubeconfig {
    #[serde(default)]
    clusters: Vec<NamedCluster>,
    #[serde(default)]
    users: Vec<NamedUser>,
}

#[derive(Deserialize)]
struct NamedCluster {
    #[serde(default)]
    name: String,
    #[serde(default)]
    cluster: Option<ClusterData>,
}

#[derive(Deserialize)]
struct ClusterData {
    #[serde(rename = "certificate-authority-data", default)]
    ca: Option<String>,
}

#[derive(Deserialize)]
struct NamedUser {
    #[serde(default)]
    name: String,
    #[serde(default)]
    user: Option<UserData>,
}

#[derive(Deserialize)]
struct UserData {
    #[serde(rename = "client-certificate-data", default)]
    cert: Option<String>,
}

fn kubeconfig(bytes: &[u8]) -> Result<Vec<Found>, DecodeError> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| fail(Reason::KubeconfigInvalid, "not UTF-8"))?;
    let kc: Kubeconfig = serde_saphyr::from_str(text).map_err(|e| {
        let msg = e.without_snippet().to_string();
        fail(
            Reason::KubeconfigInvalid,
            msg.lines().next().unwrap_or("invalid YAML").to_string(),
        )
    })?;
    let mut out = Vec::new();
    let embedded = kc
        .clusters
        .into_iter()
        .filter_map(|c| c.cluster.and_then(|d| d.ca).map(|d| ("cluster", c.name, d)))
        .chain(
            kc.users
                .into_iter()
                .filter_map(|u| u.user.and_then(|d| d.cert).map(|d| ("user", u.name, d))),
        );
    for (kind, name, data) in embedded {
        let compact: String = data.split_whitespace().collect();
        let pem_bytes = watchkeeper_core::base64::decode(&compact).ok_or_else(|| {
            fail(
                Reason::KubeconfigInvalid,
                format!("{kind} {name:?}: data is not base64"),
            )
        })?;
        let found = pem(&pem_bytes, Some((kind, name.clone()))).map_err(|e| {
            fail(
                Reason::KubeconfigInvalid,
                format!("{kind} {name:?}: {}", e.detail),
            )
        })?;
        out.extend(found);
    }
    if out.is_empty() {
        return Err(fail(
            Reason::NoCertificate,
            "kubeconfig holds no certificate data",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_pem() -> (String, Vec<u8>) {
        let p = rcgen::CertificateParams::new(vec!["x.test".into()]).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let c = p.self_signed(&key).unwrap();
        (c.pem(), c.der().to_vec())
    }

    #[test]
    fn pem_der_and_kubeconfig() {
        let (pem1, der1) = cert_pem();
        let (pem2, _) = cert_pem();
        let bundle = format!("{pem1}{pem2}");
        assert_eq!(decode(bundle.as_bytes(), None, false).unwrap().len(), 2);
        let d = decode(&der1, None, false).unwrap();
        assert_eq!(d[0].der, der1);
        let kc = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n    server: https://k:6443\n    certificate-authority-data: {}\nusers:\n- name: admin\n  user:\n    client-certificate-data: {}\n",
            watchkeeper_core::base64::encode(pem1.as_bytes()),
            watchkeeper_core::base64::encode(pem2.as_bytes())
        );
        let found = decode(kc.as_bytes(), None, false).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].embedded, Some(("cluster", "prod".into())));
        assert_eq!(found[1].embedded, Some(("user", "admin".into())));
    }

    #[test]
    fn bad_input_has_a_reason() {
        let (pem1, _) = cert_pem();
        let truncated = &pem1[..pem1.len() / 2];
        let reason = |b: &[u8]| decode(b, None, false).unwrap_err().reason;
        assert_eq!(reason(truncated.as_bytes()), Reason::PemInvalid);
        assert_eq!(
            reason(&[0x7f, 0x45, 0x4c, 0x46, 0, 1, 2]),
            Reason::UnknownFormat
        );
        assert_eq!(
            reason(&[0x30, 0x03, 0x02, 0x01, 0x01]),
            Reason::CertificateInvalid
        );
        assert_eq!(reason(b""), Reason::NoCertificate);
        assert_eq!(
            reason(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            Reason::NoCertificate
        );
        assert_eq!(
            reason(b"clusters:\n- name: a\n  cluster:\n    certificate-authority-data: '!!!'\n"),
            Reason::KubeconfigInvalid
        );
    }

    #[test]
    fn pkcs12_with_right_wrong_and_missing_password() {
        let p = rcgen::CertificateParams::new(vec!["p12.test".into()]).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        let chain = p12_keystore::PrivateKeyChain::new(
            vec![1u8, 2, 3],
            p12_keystore::PrivateKey::from_der(&key.serialize_der()).unwrap(),
            [p12_keystore::Certificate::from_der(cert.der()).unwrap()],
        );
        let mut store = p12_keystore::KeyStore::new();
        store.add_entry("p12", p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
        let bytes = store.writer("s3cret").write().unwrap();
        let found = decode(&bytes, Some("s3cret"), true).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].der, cert.der().to_vec());
        let wrong = decode(&bytes, Some("guess"), true).unwrap_err();
        assert_eq!(wrong.reason, Reason::Pkcs12Password);
        assert!(!wrong.to_string().contains("guess"));
        // Without a name hint or a password the DER is still recognised as PKCS#12.
        let missing = decode(&bytes, None, false).unwrap_err();
        assert_eq!(missing.reason, Reason::Pkcs12Password, "{missing}");
        let empty = p12_keystore::KeyStore::new();
        let no_password = empty.writer("").write().unwrap();
        assert_eq!(
            decode(&no_password, None, true).unwrap_err().reason,
            Reason::NoCertificate
        );
    }
}
