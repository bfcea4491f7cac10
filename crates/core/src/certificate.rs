//! X.509 certificate facts shared by the blackbox and TLS exporters (expiry, names, chain info)
//! and by the web server's `client_allowed_sans` check.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::fmt::Write as _;
use std::path::Path;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::X509Name;

/// What the exporters report about one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Subject in Go's `pkix.Name.String()` form (`CN=example.com,O=Example`).
    pub subject: String,
    /// Issuer in the same form.
    pub issuer: String,
    /// Subject common name, if any.
    pub subject_cn: Option<String>,
    /// Issuer common name, if any.
    pub issuer_cn: Option<String>,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// IP subject alternative names, as text.
    pub ip_addresses: Vec<String>,
    /// Email subject alternative names.
    pub email_addresses: Vec<String>,
    /// URI subject alternative names.
    pub uris: Vec<String>,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// Serial number as lowercase hex without separators.
    pub serial: String,
    /// SHA-256 of the DER encoding, lowercase hex.
    pub fingerprint_sha256: String,
    /// Whether the certificate is a CA (basicConstraints).
    pub is_ca: bool,
}

/// Why certificate bytes could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// Not a DER X.509 certificate.
    #[error("not a valid X.509 certificate: {0}")]
    Parse(String),
    /// A PEM file could not be read or holds no certificate.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

impl CertificateInfo {
    /// Parses one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, CertificateError> {
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|e| CertificateError::Parse(e.to_string()))?;
        let mut info = CertificateInfo {
            subject: go_name(cert.subject()),
            issuer: go_name(cert.issuer()),
            subject_cn: first_cn(cert.subject()),
            issuer_cn: first_cn(cert.issuer()),
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
            email_addresses: Vec::new(),
            uris: Vec::new(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            serial: hex(cert.tbs_certificate.raw_serial()),
            fingerprint_sha256: hex(ring::digest::digest(&ring::digest::SHA256, der).as_ref()),
            is_ca: cert.is_ca(),
        };
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(d) => info.dns_names.push((*d).to_string()),
                    GeneralName::IPAddress(bytes) => {
                        if let Some(ip) = ip_from_bytes(bytes) {
                            info.ip_addresses.push(ip.to_string());
                        }
                    }
                    GeneralName::RFC822Name(m) => info.email_addresses.push((*m).to_string()),
                    GeneralName::URI(u) => info.uris.push((*u).to_string()),
                    _ => {}
                }
            }
        }
        // Leading zero bytes of a positive serial are DER padding, not part of the number.
        while info.serial.len() > 2 && info.serial.starts_with("00") {
            info.serial.drain(..2);
        }
        Ok(info)
    }

    /// All SANs as one comma-separated string (blackbox's `subjectalternative` label).
    pub fn subject_alternative(&self) -> String {
        let mut all: Vec<&str> = Vec::new();
        all.extend(self.dns_names.iter().map(String::as_str));
        all.extend(self.email_addresses.iter().map(String::as_str));
        all.extend(self.ip_addresses.iter().map(String::as_str));
        all.extend(self.uris.iter().map(String::as_str));
        all.join(",")
    }
}

/// Reads every certificate from a PEM file.
pub fn load_pem_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, CertificateError> {
    let file_err = |message: String| CertificateError::File {
        path: path.display().to_string(),
        message,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(file_err("no PEM certificate found".into()));
    }
    Ok(certs)
}

/// Whether a DER certificate carries any of `allowed` among its SANs (DNS, IP, email, URI).
pub fn has_any_san(der: &[u8], allowed: &[String]) -> bool {
    let Ok(info) = CertificateInfo::from_der(der) else {
        return false;
    };
    info.dns_names
        .iter()
        .chain(&info.ip_addresses)
        .chain(&info.email_addresses)
        .chain(&info.uris)
        .any(|san| allowed.iter().any(|a| a == san))
}

fn ip_from_bytes(b: &[u8]) -> Option<std::net::IpAddr> {
    match b.len() {
        4 => Some(std::net::IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
        16 => Some(std::net::IpAddr::from(<[u8; 16]>::try_from(b).ok()?)),
        _ => None,
    }
}

fn first_cn(name: &X509Name<'_>) -> Option<String> {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string)
}

/// Go prints a distinguished name most-specific first, comma-joined, with short attribute names.
fn go_name(name: &X509Name<'_>) -> String {
    let registry = x509_parser::objects::oid_registry();
    let mut parts = Vec::new();
    for rdn in name.iter().collect::<Vec<_>>().into_iter().rev() {
        for attr in rdn.iter() {
            let key = x509_parser::objects::oid2abbrev(attr.attr_type(), registry)
                .map(str::to_string)
                .unwrap_or_else(|_| attr.attr_type().to_id_string());
            let value = attr.as_str().unwrap_or("");
            parts.push(format!("{key}={value}"));
        }
    }
    parts.join(",")
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_generated_certificate() {
        let mut params =
            rcgen::CertificateParams::new(vec!["example.test".into(), "127.0.0.1".into()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "example.test");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Watchkeeper");
        params.not_before = rcgen::date_time_ymd(2026, 1, 1);
        params.not_after = rcgen::date_time_ymd(2027, 1, 1);
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x01, 0xab]));
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let info = CertificateInfo::from_der(cert.der()).unwrap();
        assert_eq!(info.subject_cn.as_deref(), Some("example.test"));
        assert_eq!(info.subject, "O=Watchkeeper,CN=example.test");
        assert_eq!(info.dns_names, vec!["example.test".to_string()]);
        assert_eq!(info.ip_addresses, vec!["127.0.0.1".to_string()]);
        assert_eq!(info.not_before, 1_767_225_600);
        assert_eq!(info.not_after, 1_798_761_600);
        assert_eq!(info.serial, "01ab");
        assert_eq!(info.fingerprint_sha256.len(), 64);
        assert_eq!(info.subject_alternative(), "example.test,127.0.0.1");
        assert!(has_any_san(cert.der(), &["127.0.0.1".into()]));
        assert!(!has_any_san(cert.der(), &["other.test".into()]));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(CertificateInfo::from_der(b"not a cert").is_err());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("empty.pem");
        std::fs::write(&p, "nothing here\n").unwrap();
        let err = load_pem_file(&p).unwrap_err().to_string();
        assert!(err.contains("no PEM certificate found"), "{err}");
    }
}
