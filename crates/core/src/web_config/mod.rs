//! The exporter-toolkit web configuration file (`--web.config.file`): TLS, client certificates,
//! basic auth and response headers, so users keep the `web-config.yml` they already have.

use crate::config::{load_yaml, ConfigError};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod auth;
mod rate_limit;
mod tls;

pub use auth::{AuthCheck, BasicAuth, Credentials};
pub use rate_limit::RateLimiter;
use tls::build_tls;

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

#[cfg(test)]
mod tests {
    use super::auth::parse_basic;
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
