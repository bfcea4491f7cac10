//! `tls_server_config`: rustls server configuration, certificate rotation without a reload,
//! client certificate policies.

use super::TlsServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub(super) fn tls_version(
    name: &str,
    field: &str,
) -> Result<&'static rustls::SupportedProtocolVersion, String> {
    match name {
        "TLS12" => Ok(&rustls::version::TLS12),
        "TLS13" => Ok(&rustls::version::TLS13),
        "TLS10" | "TLS11" => Err(format!(
            "tls_server_config.{field}: {name} is not supported (rustls implements TLS12 and TLS13 only)"
        )),
        other => Err(format!(
            "tls_server_config.{field}: unknown TLS version {other:?} (use TLS12 or TLS13)"
        )),
    }
}

pub(super) fn build_tls(
    t: &TlsServerConfig,
    http2: bool,
    resolve: &dyn Fn(&Path) -> PathBuf,
) -> Result<rustls::ServerConfig, String> {
    let cert_path = t.cert_file.as_deref().map(resolve);
    let key_path = t.key_file.as_deref().map(resolve);
    let (certs, key) = load_cert_and_key(t, cert_path.as_deref(), key_path.as_deref())?;

    let min = match &t.min_version {
        Some(v) => tls_version(v, "min_version")?,
        None => &rustls::version::TLS12,
    };
    let max = match &t.max_version {
        Some(v) => tls_version(v, "max_version")?,
        None => &rustls::version::TLS13,
    };
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if min.version == rustls::ProtocolVersion::TLSv1_2 {
        versions.push(&rustls::version::TLS12);
    }
    if max.version == rustls::ProtocolVersion::TLSv1_3 {
        versions.push(&rustls::version::TLS13);
    }
    if versions.is_empty() {
        return Err("tls_server_config: min_version is above max_version".into());
    }

    let mut provider = rustls::crypto::ring::default_provider();
    if !t.cipher_suites.is_empty() {
        let mut chosen = Vec::new();
        for name in &t.cipher_suites {
            if name.starts_with("TLS_AES_") || name.starts_with("TLS_CHACHA20_") {
                // TLS 1.3 suites are not configurable in Go either; accepted and kept.
                continue;
            }
            // Go 1.16+ spells the ChaCha20 suites with a `_SHA256` suffix; accept both.
            let wanted = name
                .strip_suffix("_SHA256")
                .filter(|n| n.ends_with("CHACHA20_POLY1305"))
                .unwrap_or(name);
            let suite = provider
                .cipher_suites
                .iter()
                .find(|s| go_suite_name(s.suite()) == Some(wanted))
                .ok_or_else(|| {
                    format!("tls_server_config.cipher_suites: {name:?} is not supported (rustls offers only AEAD suites with forward secrecy)")
                })?;
            chosen.push(*suite);
        }
        // TLS 1.3 suites are not configurable in Go either; keep them.
        chosen.extend(
            provider
                .cipher_suites
                .iter()
                .filter(|s| s.version() == &rustls::version::TLS13),
        );
        provider.cipher_suites = chosen;
    }
    if !t.curve_preferences.is_empty() {
        let mut groups = Vec::new();
        for name in &t.curve_preferences {
            let want = match name.as_str() {
                "X25519" => rustls::NamedGroup::X25519,
                "CurveP256" => rustls::NamedGroup::secp256r1,
                "CurveP384" => rustls::NamedGroup::secp384r1,
                other => {
                    return Err(format!(
                        "tls_server_config.curve_preferences: {other:?} is not supported (X25519, CurveP256, CurveP384)"
                    ))
                }
            };
            if let Some(g) = provider.kx_groups.iter().find(|g| g.name() == want) {
                groups.push(*g);
            }
        }
        provider.kx_groups = groups;
    }
    let provider = Arc::new(provider);

    let client_auth = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let roots = || -> Result<Arc<rustls::RootCertStore>, String> {
        let certs = match (&t.client_ca_file, &t.client_ca) {
            (Some(_), Some(_)) => {
                return Err("tls_server_config: set client_ca_file or client_ca, not both".into())
            }
            (Some(ca), None) => {
                let ca = resolve(ca);
                CertificateDer::pem_file_iter(&ca)
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| {
                        format!("tls_server_config.client_ca_file {}: {e}", ca.display())
                    })?
            }
            (None, Some(pem)) => CertificateDer::pem_slice_iter(pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("tls_server_config.client_ca: {e}"))?,
            (None, None) => {
                return Err(format!(
                "tls_server_config.client_ca_file is required with client_auth_type {client_auth}"
            ))
            }
        };
        let mut store = rustls::RootCertStore::empty();
        for c in certs {
            store
                .add(c)
                .map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?;
        }
        Ok(Arc::new(store))
    };
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    let verifier: Option<Arc<dyn ClientCertVerifier>> = match client_auth {
        "NoClientCert" | "" => None,
        "RequestClientCert" => Some(Arc::new(AnyClientCert {
            mandatory: false,
            provider: Arc::clone(&provider),
        })),
        "RequireAnyClientCert" | "RequireClientCert" => Some(Arc::new(AnyClientCert {
            mandatory: true,
            provider: Arc::clone(&provider),
        })),
        "VerifyClientCertIfGiven" => Some(
            WebPkiClientVerifier::builder_with_provider(roots()?, Arc::clone(&provider))
                .allow_unauthenticated()
                .build()
                .map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?,
        ),
        "RequireAndVerifyClientCert" => Some(
            WebPkiClientVerifier::builder_with_provider(roots()?, Arc::clone(&provider))
                .build()
                .map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?,
        ),
        other => {
            return Err(format!(
                "tls_server_config.client_auth_type: unknown value {other:?} (NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert)"
            ))
        }
    };
    if verifier.is_none() && (t.client_ca_file.is_some() || t.client_ca.is_some()) {
        // exporter-toolkit refuses this too: a CA without a policy would silently not be used.
        return Err(format!(
            "tls_server_config.client_ca_file is set but client_auth_type is {}, so it would be ignored (use RequireAndVerifyClientCert)",
            if client_auth.is_empty() { "NoClientCert" } else { client_auth }
        ));
    }
    if !t.client_allowed_sans.is_empty()
        && !matches!(
            client_auth,
            "RequireAnyClientCert" | "RequireClientCert" | "RequireAndVerifyClientCert"
        )
    {
        return Err("tls_server_config.client_allowed_sans needs client_auth_type RequireAndVerifyClientCert or RequireAnyClientCert".into());
    }
    let builder = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mtimes = (mtime(cert_path.as_deref()), mtime(key_path.as_deref()));
    let current = certified(certs, key, &provider)?;
    let mut config = builder.with_cert_resolver(Arc::new(RotatingCert {
        config: t.clone(),
        cert_path,
        key_path,
        provider: Arc::clone(&provider),
        state: Mutex::new(RotationState {
            current,
            mtimes,
            checked: std::time::Instant::now(),
        }),
    }));
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(config)
}

/// Reads the server certificate chain and key from files or inline PEM.
pub(super) fn load_cert_and_key(
    t: &TlsServerConfig,
    cert_path: Option<&Path>,
    key_path: Option<&Path>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let certs: Vec<CertificateDer<'static>> = match (&t.cert_file, &t.cert) {
        (Some(_), Some(_)) => {
            return Err("tls_server_config: set cert_file or cert, not both".into());
        }
        (Some(_), None) => {
            let f = cert_path.unwrap_or(Path::new(""));
            CertificateDer::pem_file_iter(f)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("tls_server_config.cert_file {}: {e}", f.display()))?
        }
        (None, Some(pem)) => CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("tls_server_config.cert: {e}"))?,
        (None, None) => return Err("tls_server_config: cert_file is required".into()),
    };
    if certs.is_empty() {
        return Err("tls_server_config.cert_file: no certificate found".into());
    }
    let key: PrivateKeyDer<'static> = match (&t.key_file, &t.key) {
        (Some(_), Some(_)) => return Err("tls_server_config: set key_file or key, not both".into()),
        (Some(_), None) => {
            let f = key_path.unwrap_or(Path::new(""));
            PrivateKeyDer::from_pem_file(f)
                .map_err(|e| format!("tls_server_config.key_file {}: {e}", f.display()))?
        }
        (None, Some(pem)) => PrivateKeyDer::from_pem_slice(pem.expose().as_bytes())
            .map_err(|e| format!("tls_server_config.key: {e}"))?,
        (None, None) => return Err("tls_server_config: key_file is required".into()),
    };

    Ok((certs, key))
}

/// Serves the configured certificate and picks up a renewed one (cert-manager, certbot) without
/// a reload: on a handshake at most once a second the files' modification times are
/// compared, and changed files are loaded. A renewal that does not load (a half-written file,
/// a key that does not match) is logged and the previous certificate stays in use.
#[derive(Debug)]
pub(super) struct RotatingCert {
    config: TlsServerConfig,
    cert_path: Option<PathBuf>,
    key_path: Option<PathBuf>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    state: Mutex<RotationState>,
}

#[derive(Debug)]
pub(super) struct RotationState {
    current: Arc<rustls::sign::CertifiedKey>,
    mtimes: (Option<std::time::SystemTime>, Option<std::time::SystemTime>),
    checked: std::time::Instant,
}

/// How often a handshake may look at the certificate files.
pub(super) const ROTATION_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

pub(super) fn mtime(p: Option<&Path>) -> Option<std::time::SystemTime> {
    p.and_then(|p| std::fs::metadata(p).ok())
        .and_then(|m| m.modified().ok())
}

impl RotatingCert {
    fn load(&self) -> Result<Arc<rustls::sign::CertifiedKey>, String> {
        let (certs, key) = load_cert_and_key(
            &self.config,
            self.cert_path.as_deref(),
            self.key_path.as_deref(),
        )?;
        certified(certs, key, &self.provider)
    }
}

pub(super) fn certified(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<Arc<rustls::sign::CertifiedKey>, String> {
    rustls::sign::CertifiedKey::from_der(certs, key, provider)
        .map(Arc::new)
        .map_err(|e| {
            format!("tls_server_config: certificate and key do not match or are unusable: {e}")
        })
}

impl rustls::server::ResolvesServerCert for RotatingCert {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.checked.elapsed() >= ROTATION_CHECK_INTERVAL {
            st.checked = std::time::Instant::now();
            let now = (
                mtime(self.cert_path.as_deref()),
                mtime(self.key_path.as_deref()),
            );
            if now != st.mtimes {
                match self.load() {
                    Ok(k) => {
                        tracing::info!(
                            "TLS certificate files changed; serving the new certificate"
                        );
                        st.current = k;
                        st.mtimes = now;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "TLS certificate files changed but do not load; keeping the previous certificate")
                    }
                }
            }
        }
        Some(Arc::clone(&st.current))
    }
}

pub(super) fn go_suite_name(s: rustls::CipherSuite) -> Option<&'static str> {
    use rustls::CipherSuite as C;
    Some(match s {
        C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => {
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"
        }
        C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        _ => return None,
    })
}

/// Go's `RequestClientCert` / `RequireAnyClientCert`: a certificate is asked for (or required)
/// but not verified against any CA.
#[derive(Debug)]
pub(super) struct AnyClientCert {
    mandatory: bool,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
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
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
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
