//! One endpoint probe: connect, STARTTLS if asked, TLS handshake with rustls, capture the chain
//! the server presented (even when the handshake then fails), and verify it separately so the
//! chain is always reported and verification is a fact, not a precondition.

use crate::config::{HostPort, Module, Starttls};
use crate::facts::CertFacts;
use crate::reason::Reason;
use crate::trust::{Trust, TrustError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// How long to wait, after a TLS 1.3 handshake with a client certificate, for the server's
/// verdict on it.
const CLIENT_CERT_VERDICT: Duration = Duration::from_millis(200);

/// A module ready to probe with: files loaded, names checked.
#[derive(Debug)]
pub struct Prepared {
    /// The STARTTLS protocol, if any.
    pub starttls: Option<Starttls>,
    /// SNI / verified name override.
    pub server_name: Option<String>,
    /// Per-endpoint timeout.
    pub timeout: Duration,
    /// Roots.
    pub trust: Arc<Trust>,
    client_auth: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

/// Why a module cannot be prepared (a configuration error).
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// `ca_file` unusable.
    #[error("ca_file: {0}")]
    Ca(#[from] TrustError),
    /// `cert_file`/`key_file` unusable.
    #[error("{field}: {message}")]
    ClientAuth {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// `server_name` is not a name.
    #[error("server_name: {0}")]
    ServerName(String),
}

impl Prepared {
    /// Loads the module's files.
    pub fn new(m: &Module, default_timeout: Duration) -> Result<Self, PrepareError> {
        let trust = match &m.ca_file {
            Some(p) => Arc::new(Trust::from_file(p)?),
            None => Trust::system(),
        };
        let client_auth = match (&m.cert_file, &m.key_file) {
            (None, None) => None,
            (Some(c), Some(k)) => {
                let certs = CertificateDer::pem_file_iter(c)
                    .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| PrepareError::ClientAuth {
                        field: "cert_file",
                        message: format!("{}: {e}", c.display()),
                    })?;
                if certs.is_empty() {
                    return Err(PrepareError::ClientAuth {
                        field: "cert_file",
                        message: format!("{}: no certificate", c.display()),
                    });
                }
                let key =
                    PrivateKeyDer::from_pem_file(k).map_err(|e| PrepareError::ClientAuth {
                        field: "key_file",
                        message: format!("{}: {e}", k.display()),
                    })?;
                Some((certs, key))
            }
            _ => {
                return Err(PrepareError::ClientAuth {
                    field: "cert_file",
                    message: "cert_file and key_file must be set together".into(),
                })
            }
        };
        if let Some(n) = &m.server_name {
            ServerName::try_from(n.clone())
                .map_err(|e| PrepareError::ServerName(format!("{n:?}: {e}")))?;
        }
        Ok(Self {
            starttls: m.starttls,
            server_name: m.server_name.clone(),
            timeout: m.timeout.map(|t| t.get()).unwrap_or(default_timeout),
            trust,
            client_auth,
        })
    }
}

/// What verification found.
#[derive(Debug, Clone)]
pub struct Verification {
    /// The chain verifies against the roots (ignoring the name).
    pub chain_ok: bool,
    /// Why not (bounded label value).
    pub error: Option<&'static str>,
    /// The leaf is valid for the name.
    pub hostname_ok: bool,
    /// The verified chain, leaf first, ending at the trusted root (when `chain_ok`).
    pub verified_chain: Vec<CertFacts>,
}

/// The result of one probe.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The chain the server presented, parsed (unparseable certificates are skipped).
    pub chain: Vec<CertFacts>,
    /// The stapled OCSP response (empty if none).
    pub ocsp: Vec<u8>,
    /// `TLS 1.2` or `TLS 1.3` once the handshake completed.
    pub version: Option<&'static str>,
    /// Why the probe failed before the handshake completed.
    pub failure: Option<(Reason, String)>,
    /// Verification of the presented chain, when one was presented.
    pub verification: Option<Verification>,
    /// Wall time of the probe.
    pub duration: Duration,
}

impl Outcome {
    /// Handshake done, chain verified and valid for the name (ssl_exporter's `ssl_probe_success`).
    pub fn success(&self) -> bool {
        self.failure.is_none()
            && self
                .verification
                .as_ref()
                .is_some_and(|v| v.chain_ok && v.hostname_ok)
    }
}

/// Keeps what the server presented; verification happens after the handshake.
#[derive(Debug)]
struct Capture {
    provider: Arc<rustls::crypto::CryptoProvider>,
    seen: Mutex<Option<(Vec<CertificateDer<'static>>, Vec<u8>)>>,
}

impl ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some((chain, ocsp.to_vec()));
        Ok(ServerCertVerified::assertion())
    }

    // The handshake's own signatures are still checked: a chain replayed by someone without
    // the key never completes a handshake.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Probes `target` with `module`, within `budget` (already cut to the scrape deadline).
pub async fn probe(target: &HostPort, module: &Prepared, budget: Duration) -> Outcome {
    let started = Instant::now();
    let provider = watchkeeper_core::tls_client::provider();
    let capture = Arc::new(Capture {
        provider: Arc::clone(&provider),
        seen: Mutex::new(None),
    });
    let name_text = module
        .server_name
        .clone()
        .unwrap_or_else(|| target.host.clone());
    let result = tokio::time::timeout(
        budget.min(module.timeout),
        connect_and_handshake(target, module, &name_text, &capture, provider),
    )
    .await;
    let (version, failure) = match result {
        Ok(Ok(v)) => (Some(v), None),
        Ok(Err(f)) => (None, Some(f)),
        Err(_) => (
            None,
            Some((
                Reason::Timeout,
                format!("no answer within {:?}", budget.min(module.timeout)),
            )),
        ),
    };
    let seen = capture
        .seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    let (ders, ocsp) = seen.unwrap_or_default();
    let chain: Vec<CertFacts> = ders
        .iter()
        .filter_map(|d| CertFacts::from_der(d).ok())
        .collect();
    let verification = if ders.is_empty() {
        None
    } else {
        Some(verify(&ders, &chain, &ocsp, &name_text, &module.trust))
    };
    Outcome {
        chain,
        ocsp,
        version,
        failure,
        verification,
        duration: started.elapsed(),
    }
}

async fn connect_and_handshake(
    target: &HostPort,
    module: &Prepared,
    name_text: &str,
    capture: &Arc<Capture>,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<&'static str, (Reason, String)> {
    let addrs: Vec<_> = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|e| (Reason::Resolve, e.to_string()))?
        .collect();
    if addrs.is_empty() {
        return Err((Reason::Resolve, "no address".into()));
    }
    let mut last = None;
    let mut stream = None;
    for a in addrs {
        match TcpStream::connect(a).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let mut stream = stream.ok_or_else(|| {
        (
            Reason::Connect,
            last.map(|e| e.to_string()).unwrap_or_default(),
        )
    })?;
    let _ = stream.set_nodelay(true);
    if let Some(p) = module.starttls {
        crate::starttls::negotiate(&mut stream, p, name_text)
            .await
            .map_err(|e| (Reason::Starttls, e.to_string()))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| (Reason::Handshake, e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::clone(capture) as Arc<dyn ServerCertVerifier>);
    let config = match &module.client_auth {
        None => builder.with_no_client_auth(),
        Some((certs, key)) => builder
            .with_client_auth_cert(certs.clone(), key.clone_key())
            .map_err(|e| (Reason::Handshake, format!("client certificate: {e}")))?,
    };
    let server_name = ServerName::try_from(name_text.to_string())
        .map_err(|e| (Reason::Handshake, format!("server name {name_text:?}: {e}")))?;
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(server_name, stream)
        .await
        .map_err(|e| (Reason::Handshake, e.to_string()))?;
    let version = match tls.get_ref().1.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2",
        _ => "unknown",
    };
    // In TLS 1.3 the server judges our client certificate after our Finished: its refusal is
    // an alert that arrives after the handshake "succeeded". Wait briefly for one.
    if module.client_auth.is_some() && version == "TLS 1.3" {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 1];
        if let Ok(Err(e)) = tokio::time::timeout(CLIENT_CERT_VERDICT, tls.read(&mut buf)).await {
            return Err((
                Reason::Handshake,
                format!("server refused the client certificate: {e}"),
            ));
        }
    }
    Ok(version)
}

fn verify(
    ders: &[CertificateDer<'static>],
    chain: &[CertFacts],
    ocsp: &[u8],
    name_text: &str,
    trust: &Trust,
) -> Verification {
    let own_name_check = || {
        chain
            .first()
            .is_some_and(|leaf| name_matches(leaf, name_text))
    };
    let Some(verifier) = &trust.verifier else {
        return Verification {
            chain_ok: false,
            error: Some("unknown_issuer"),
            hostname_ok: own_name_check(),
            verified_chain: Vec::new(),
        };
    };
    let Ok(server_name) = ServerName::try_from(name_text.to_string()) else {
        return Verification {
            chain_ok: false,
            error: Some("other"),
            hostname_ok: false,
            verified_chain: Vec::new(),
        };
    };
    let result =
        verifier.verify_server_cert(&ders[0], &ders[1..], &server_name, ocsp, UnixTime::now());
    let (chain_ok, error, hostname_ok) = match result {
        Ok(_) => (true, None, true),
        Err(rustls::Error::InvalidCertificate(e)) => {
            use rustls::CertificateError as C;
            match e {
                // webpki checks the name only after the chain verified.
                C::NotValidForName | C::NotValidForNameContext { .. } => (true, None, false),
                other => {
                    let why = match other {
                        C::UnknownIssuer => "unknown_issuer",
                        C::Expired | C::ExpiredContext { .. } => "expired",
                        C::NotValidYet | C::NotValidYetContext { .. } => "not_yet_valid",
                        C::BadSignature => "bad_signature",
                        C::UnsupportedSignatureAlgorithmContext { .. }
                        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
                            "unsupported_signature"
                        }
                        C::Revoked => "revoked",
                        C::InvalidPurpose | C::InvalidPurposeContext { .. } => "invalid_purpose",
                        C::BadEncoding => "bad_encoding",
                        _ => "other",
                    };
                    (false, Some(why), own_name_check())
                }
            }
        }
        Err(_) => (false, Some("other"), own_name_check()),
    };
    let verified_chain = if chain_ok {
        verified_chain(ders, trust)
    } else {
        Vec::new()
    };
    Verification {
        chain_ok,
        error,
        hostname_ok,
        verified_chain,
    }
}

/// The presented chain up to the first certificate a trusted root issued, then that root.
fn verified_chain(ders: &[CertificateDer<'static>], trust: &Trust) -> Vec<CertFacts> {
    let mut out = Vec::new();
    for d in ders {
        let Ok(f) = CertFacts::from_der(d) else { break };
        let issuer = f.issuer_raw.clone();
        let self_signed = f.self_signed;
        out.push(f);
        if let Some(root) = trust.root_for(&issuer) {
            if !self_signed {
                if let Ok(r) = CertFacts::from_der(root) {
                    out.push(r);
                }
            }
            break;
        }
    }
    out
}

/// Whether the leaf's SANs (or IP SANs) cover `name` (one-label wildcards).
pub fn name_matches(leaf: &CertFacts, name: &str) -> bool {
    if let Ok(ip) = name.parse::<std::net::IpAddr>() {
        return leaf
            .info
            .ip_addresses
            .iter()
            .any(|a| a.parse::<std::net::IpAddr>().ok() == Some(ip));
    }
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    leaf.info.dns_names.iter().any(|san| {
        let san = san.trim_end_matches('.').to_ascii_lowercase();
        match san.strip_prefix("*.") {
            Some(suffix) => name
                .split_once('.')
                .is_some_and(|(first, rest)| !first.is_empty() && rest == suffix),
            None => san == name,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(sans: &[&str]) -> CertFacts {
        let p =
            rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        CertFacts::from_der(p.self_signed(&key).unwrap().der()).unwrap()
    }

    #[test]
    fn names_match_like_webpki() {
        let l = leaf(&["*.example.test", "exact.test", "10.0.0.1"]);
        assert!(name_matches(&l, "a.example.test"));
        assert!(name_matches(&l, "A.Example.Test."));
        assert!(!name_matches(&l, "example.test"));
        assert!(!name_matches(&l, "a.b.example.test"));
        assert!(name_matches(&l, "exact.test"));
        assert!(name_matches(&l, "10.0.0.1"));
        assert!(!name_matches(&l, "10.0.0.2"));
    }

    #[tokio::test]
    async fn refused_and_unresolvable_targets_have_reasons() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let m = Prepared::new(&Module::default(), Duration::from_secs(2)).unwrap();
        let o = probe(
            &HostPort::parse(&format!("127.0.0.1:{closed}")).unwrap(),
            &m,
            Duration::from_secs(2),
        )
        .await;
        assert_eq!(o.failure.as_ref().map(|f| f.0), Some(Reason::Connect));
        assert!(!o.success() && o.chain.is_empty() && o.verification.is_none());
        let o = probe(
            &HostPort::parse("no-such-host.invalid:443").unwrap(),
            &m,
            Duration::from_secs(2),
        )
        .await;
        assert!(
            matches!(
                o.failure.as_ref().map(|f| f.0),
                Some(Reason::Resolve | Reason::Timeout)
            ),
            "{:?}",
            o.failure
        );
    }
}
