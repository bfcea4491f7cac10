//! The exporter-toolkit web configuration file (`--web.config.file`): TLS, client certificates,
//! basic auth and response headers, so users keep the `web-config.yml` they already have.

use crate::config::{load_yaml, ConfigError};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The file as written by users (field names as in the Prometheus exporter toolkit).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfigFile {
    /// TLS settings; absent means plain HTTP.
    #[serde(default)]
    pub tls_server_config: Option<TlsServerConfig>,
    /// HTTP settings.
    #[serde(default)]
    pub http_server_config: Option<HttpServerConfig>,
    /// User name to bcrypt hash.
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, String>,
    /// Requests allowed per interval, beyond which the server answers 429.
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
}

/// `rate_limit`: a token bucket of `burst` requests refilled one per `interval`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests allowed in a burst.
    #[serde(default)]
    pub burst: u32,
    /// Time to earn back one request.
    #[serde(default)]
    pub interval: Option<crate::config::PromDuration>,
}

/// `tls_server_config`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    /// Server certificate chain (PEM file).
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// Server private key (PEM file).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Inline PEM certificate chain (alternative to `cert_file`).
    #[serde(default)]
    pub cert: Option<String>,
    /// Inline PEM key (alternative to `key_file`); never printed.
    #[serde(default)]
    pub key: Option<crate::config::Secret>,
    /// Client certificate policy, as Go's `tls.ClientAuthType` names.
    #[serde(default)]
    pub client_auth_type: Option<String>,
    /// CA bundle that client certificates must chain to.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// Inline PEM CA bundle (alternative to `client_ca_file`).
    #[serde(default)]
    pub client_ca: Option<String>,
    /// If set, a verified client certificate must carry one of these SANs.
    #[serde(default)]
    pub client_allowed_sans: Vec<String>,
    /// `TLS12` or `TLS13` (rustls implements no older versions).
    #[serde(default)]
    pub min_version: Option<String>,
    /// `TLS12` or `TLS13`.
    #[serde(default)]
    pub max_version: Option<String>,
    /// TLS 1.2 cipher suites by Go name.
    #[serde(default)]
    pub cipher_suites: Vec<String>,
    /// Accepted for compatibility; rustls always prefers the server's order.
    #[serde(default)]
    pub prefer_server_cipher_suites: Option<bool>,
    /// Key exchange groups by Go name (`X25519`, `CurveP256`, `CurveP384`).
    #[serde(default)]
    pub curve_preferences: Vec<String>,
}

/// `http_server_config`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    /// Whether HTTP/2 is offered over TLS (default true).
    #[serde(default)]
    pub http2: Option<bool>,
    /// Security headers added to every response.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// Why a web config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    /// The file itself is unreadable or malformed.
    #[error(transparent)]
    File(#[from] ConfigError),
    /// A value is not acceptable.
    #[error("{path}: {message}")]
    Invalid {
        /// The web config file.
        path: PathBuf,
        /// The offending field and why.
        message: String,
    },
}

/// Headers exporter-toolkit allows in `http_server_config.headers`.
const ALLOWED_HEADERS: &[&str] = &[
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
];

/// A web config ready for serving: a TLS acceptor, the auth check and extra headers.
pub struct WebSecurity {
    /// The TLS server configuration, when TLS is on.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Basic auth, when users are configured.
    pub auth: Option<BasicAuth>,
    /// Headers added to every response.
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// SANs a client certificate must carry (empty: any verified certificate).
    pub client_allowed_sans: Vec<String>,
    /// Request rate limit, when configured.
    pub rate_limit: Option<RateLimiter>,
}

/// A token bucket: `burst` requests at once, one more earned per `interval`.
#[derive(Debug)]
pub struct RateLimiter {
    burst: f64,
    per_second: f64,
    state: Mutex<(f64, std::time::Instant)>,
}

impl RateLimiter {
    /// A full bucket.
    pub fn new(burst: u32, interval: std::time::Duration) -> Self {
        Self {
            burst: f64::from(burst),
            per_second: 1.0 / interval.as_secs_f64(),
            state: Mutex::new((f64::from(burst), std::time::Instant::now())),
        }
    }

    /// Takes one token if there is one.
    pub fn allow(&self) -> bool {
        let Ok(mut st) = self.state.lock() else {
            return true;
        };
        let now = std::time::Instant::now();
        let earned = now.duration_since(st.1).as_secs_f64() * self.per_second;
        st.0 = (st.0 + earned).min(self.burst);
        st.1 = now;
        if st.0 >= 1.0 {
            st.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

impl std::fmt::Debug for WebSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSecurity")
            .field("tls", &self.tls.is_some())
            .field("auth", &self.auth.is_some())
            .field("headers", &self.headers.len())
            .finish()
    }
}

impl WebSecurity {
    /// No TLS, no auth.
    pub fn open() -> Self {
        Self {
            tls: None,
            auth: None,
            headers: Vec::new(),
            client_allowed_sans: Vec::new(),
            rate_limit: None,
        }
    }

    /// Loads and validates a web config file.
    pub fn load(path: &Path) -> Result<Self, WebConfigError> {
        let file: WebConfigFile = load_yaml(path)?;
        Self::from_file(file, path)
    }

    /// Validates an already-parsed web config; `path` names the file in errors and resolves
    /// relative certificate paths (relative to the config file's directory, as the toolkit does).
    pub fn from_file(file: WebConfigFile, path: &Path) -> Result<Self, WebConfigError> {
        let invalid = |message: String| WebConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };

        let mut headers = Vec::new();
        let http2 = file
            .http_server_config
            .as_ref()
            .and_then(|h| h.http2)
            .unwrap_or(true);
        if let Some(http) = &file.http_server_config {
            for (name, value) in &http.headers {
                let Some(canonical) = ALLOWED_HEADERS
                    .iter()
                    .find(|h| h.eq_ignore_ascii_case(name))
                else {
                    return Err(invalid(format!(
                        "http_server_config.headers: header {name:?} is not allowed (allowed: {})",
                        ALLOWED_HEADERS.join(", ")
                    )));
                };
                let name = http::HeaderName::from_bytes(canonical.as_bytes())
                    .map_err(|e| invalid(format!("http_server_config.headers.{canonical}: {e}")))?;
                let value = http::HeaderValue::from_str(value)
                    .map_err(|e| invalid(format!("http_server_config.headers.{canonical}: {e}")))?;
                headers.push((name, value));
            }
        }

        let auth = if file.basic_auth_users.is_empty() {
            None
        } else {
            for (user, hash) in &file.basic_auth_users {
                if hash.parse::<bcrypt::HashParts>().is_err() {
                    return Err(invalid(format!(
                        "basic_auth_users.{user}: not a bcrypt hash (generate one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`)"
                    )));
                }
            }
            Some(BasicAuth::new(file.basic_auth_users.clone()))
        };

        let mut client_allowed_sans = Vec::new();
        let tls = match &file.tls_server_config {
            None => None,
            // As in exporter-toolkit, a block naming no certificate, key or client CA means
            // plain HTTP (commented-out files leave such a block behind).
            Some(t)
                if t.cert_file.is_none()
                    && t.cert.is_none()
                    && t.key_file.is_none()
                    && t.key.is_none()
                    && t.client_auth_type.as_deref().unwrap_or("").is_empty()
                    && t.client_ca_file.is_none()
                    && t.client_ca.is_none() =>
            {
                None
            }
            Some(t) => {
                client_allowed_sans = t.client_allowed_sans.clone();
                Some(Arc::new(build_tls(t, http2, &resolve).map_err(invalid)?))
            }
        };
        let rate_limit = match &file.rate_limit {
            None => None,
            Some(r) if r.burst == 0 => None,
            Some(r) => {
                let interval = r.interval.map(|d| d.get()).unwrap_or_default();
                if interval.is_zero() {
                    return Err(invalid(
                        "rate_limit.interval must be set when burst is".into(),
                    ));
                }
                Some(RateLimiter::new(r.burst, interval))
            }
        };
        Ok(Self {
            tls,
            auth,
            headers,
            client_allowed_sans,
            rate_limit,
        })
    }
}

fn tls_version(
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

fn build_tls(
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
fn load_cert_and_key(
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
struct RotatingCert {
    config: TlsServerConfig,
    cert_path: Option<PathBuf>,
    key_path: Option<PathBuf>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    state: Mutex<RotationState>,
}

#[derive(Debug)]
struct RotationState {
    current: Arc<rustls::sign::CertifiedKey>,
    mtimes: (Option<std::time::SystemTime>, Option<std::time::SystemTime>),
    checked: std::time::Instant,
}

/// How often a handshake may look at the certificate files.
const ROTATION_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

fn mtime(p: Option<&Path>) -> Option<std::time::SystemTime> {
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

fn certified(
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

fn go_suite_name(s: rustls::CipherSuite) -> Option<&'static str> {
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
struct AnyClientCert {
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

/// Basic auth against bcrypt hashes.
///
/// bcrypt is slow by design (tens of milliseconds per check), far too slow to run on every
/// scrape, so every verdict — right or wrong — is cached under a SHA-256 digest of user, hash and
/// password (never the password itself), as exporter-toolkit does. A cache miss needs the
/// expensive check; callers run at most one at a time ([`BasicAuth::check_slow`]), so a flood of
/// random passwords costs one core, not all of them. Unknown users are checked against a dummy
/// hash so they take as long as known ones.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    verdicts: Mutex<std::collections::HashMap<[u8; 32], bool>>,
}

/// A valid bcrypt hash of a random string, so unknown users cost one bcrypt run too.
const DUMMY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

/// More distinct credentials than this and the cache starts over (bounded memory under a flood).
const VERDICT_CACHE_LIMIT: usize = 4096;

/// The outcome of the cheap part of an auth check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthCheck {
    /// Decided from the cache (or a malformed header).
    Decided(bool),
    /// Needs a bcrypt run: call [`BasicAuth::check_slow`] with this.
    Pending(Credentials),
}

/// Decoded basic-auth credentials awaiting the slow check.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    user: String,
    password: crate::config::Secret,
    key: [u8; 32],
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl BasicAuth {
    /// Auth over the given user to bcrypt-hash map.
    pub fn new(users: BTreeMap<String, String>) -> Self {
        Self {
            users,
            verdicts: Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The cheap part: decode the header and consult the cache. Never runs bcrypt.
    pub fn check_fast(&self, header: Option<&str>) -> AuthCheck {
        let Some((user, password)) = header.and_then(parse_basic) else {
            return AuthCheck::Decided(false);
        };
        let hash = self
            .users
            .get(&user)
            .map(String::as_str)
            .unwrap_or(DUMMY_HASH);
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for part in [user.as_bytes(), hash.as_bytes(), password.as_bytes()] {
            ctx.update(&(part.len() as u64).to_le_bytes());
            ctx.update(part);
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(ctx.finish().as_ref());
        if let Some(v) = self.verdicts.lock().ok().and_then(|c| c.get(&key).copied()) {
            return AuthCheck::Decided(v);
        }
        AuthCheck::Pending(Credentials {
            user,
            password: crate::config::Secret::new(password),
            key,
        })
    }

    /// The expensive part: one bcrypt verification, whose verdict is cached.
    pub fn check_slow(&self, c: &Credentials) -> bool {
        let (hash, known_user) = match self.users.get(&c.user) {
            Some(h) => (h.as_str(), true),
            None => (DUMMY_HASH, false),
        };
        let ok = bcrypt::verify(c.password.expose(), hash).unwrap_or(false) && known_user;
        if let Ok(mut cache) = self.verdicts.lock() {
            if cache.len() >= VERDICT_CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(c.key, ok);
        }
        ok
    }

    /// Checks an `Authorization` header value, running bcrypt on a cache miss.
    pub fn check_header(&self, header: Option<&str>) -> bool {
        match self.check_fast(header) {
            AuthCheck::Decided(v) => v,
            AuthCheck::Pending(c) => self.check_slow(&c),
        }
    }

    /// Checks a user name and password.
    pub fn check(&self, user: &str, password: &str) -> bool {
        let raw = format!("{user}:{password}");
        self.check_header(Some(&format!(
            "Basic {}",
            crate::base64::encode(raw.as_bytes())
        )))
    }
}

fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = crate::base64::decode(rest.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(body.as_bytes()).unwrap();
        p
    }

    #[test]
    fn basic_header_decodes() {
        assert_eq!(
            parse_basic("Basic YWxpY2U6czNjcmV0"),
            Some(("alice".into(), "s3cret".into()))
        );
        assert_eq!(parse_basic("Bearer x"), None);
    }

    #[test]
    fn verdicts_are_cached_without_running_bcrypt_again() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let auth = BasicAuth::new(BTreeMap::from([("alice".to_string(), hash)]));
        let header = "Basic YWxpY2U6czNjcmV0";
        assert!(matches!(
            auth.check_fast(Some(header)),
            AuthCheck::Pending(_)
        ));
        assert!(auth.check_header(Some(header)));
        assert_eq!(auth.check_fast(Some(header)), AuthCheck::Decided(true));
        let wrong = format!("Basic {}", crate::base64::encode(b"alice:nope"));
        assert!(!auth.check_header(Some(&wrong)));
        assert_eq!(auth.check_fast(Some(&wrong)), AuthCheck::Decided(false));
        assert_eq!(auth.check_fast(Some("Bearer x")), AuthCheck::Decided(false));
    }

    #[test]
    fn bcrypt_auth_accepts_only_the_right_password() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let auth = BasicAuth::new(BTreeMap::from([("alice".to_string(), hash)]));
        assert!(auth.check("alice", "s3cret"));
        // The cached path must still reject a wrong password.
        assert!(!auth.check("alice", "wrong"));
        assert!(auth.check("alice", "s3cret"));
        assert!(!auth.check("bob", "s3cret"));
    }

    #[test]
    fn invalid_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                "basic_auth_users:\n  alice: notahash\n",
                "basic_auth_users.alice: not a bcrypt hash",
            ),
            (
                "tls_server_config:\n  key_file: k.pem\n",
                "tls_server_config: cert_file is required",
            ),
            (
                "http_server_config:\n  headers:\n    X-Powered-By: me\n",
                "header \"X-Powered-By\" is not allowed",
            ),
        ];
        for (body, want) in cases {
            let p = write(dir.path(), "web.yml", body);
            let err = WebSecurity::load(&p).unwrap_err().to_string();
            assert!(err.contains(want), "{err} should contain {want}");
            assert!(err.starts_with(&p.display().to_string()), "{err}");
        }
        let p = write(dir.path(), "web.yml", "tls_server_config:\n  cert_fil: x\n");
        let err = WebSecurity::load(&p).unwrap_err().to_string();
        assert!(err.contains(":2:3: ") && err.contains("cert_fil"), "{err}");
    }

    #[test]
    fn toolkit_compatibility_rules() {
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        write(dir.path(), "c.pem", &cert.cert.pem());
        write(dir.path(), "k.pem", &cert.signing_key.serialize_pem());
        let load = |body: &str| {
            let p = write(dir.path(), "web.yml", body);
            WebSecurity::load(&p).map_err(|e| e.to_string())
        };
        let base = "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n";
        // A CA without a policy would silently not be used.
        let err = load(&format!("{base}  client_ca_file: c.pem\n")).unwrap_err();
        assert!(
            err.contains("client_ca_file is set but client_auth_type is NoClientCert"),
            "{err}"
        );
        // Current Go names of the ChaCha20 suites, and TLS 1.3 names, are accepted.
        assert!(load(&format!("{base}  cipher_suites: [TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TLS_AES_128_GCM_SHA256]\n")).is_ok());
        let err = load(&format!(
            "{base}  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n"
        ))
        .unwrap_err();
        assert!(err.contains("not supported"), "{err}");
        // SANs need a policy that requires a certificate.
        let err = load(&format!("{base}  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: c.pem\n  client_allowed_sans: [x]\n")).unwrap_err();
        assert!(err.contains("client_allowed_sans needs"), "{err}");
        // An empty TLS block is plain HTTP.
        assert!(load("tls_server_config:\n  min_version: TLS12\n")
            .unwrap()
            .tls
            .is_none());
        // rate_limit is understood.
        let sec = load("rate_limit:\n  burst: 2\n  interval: 1m\n").unwrap();
        let rl = sec.rate_limit.as_ref().unwrap();
        assert!(rl.allow() && rl.allow() && !rl.allow());
        // The inline key never prints.
        let file: WebConfigFile = crate::config::parse_yaml(
            "tls_server_config:\n  key: SECRETKEYMATERIAL\n",
            Path::new("w.yml"),
        )
        .unwrap();
        assert!(!format!("{file:?}").contains("SECRETKEYMATERIAL"));
    }

    #[test]
    fn tls_config_loads_generated_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        write(dir.path(), "c.pem", &cert.cert.pem());
        write(dir.path(), "k.pem", &cert.signing_key.serialize_pem());
        let p = write(
            dir.path(),
            "web.yml",
            "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  min_version: TLS13\n",
        );
        let sec = WebSecurity::load(&p).unwrap();
        assert!(sec.tls.is_some());
        let p = write(
            dir.path(),
            "web.yml",
            "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  min_version: TLS10\n",
        );
        let err = WebSecurity::load(&p).unwrap_err().to_string();
        assert!(err.contains("TLS10 is not supported"), "{err}");
    }
}
