//! TLS client settings in blackbox_exporter's `tls_config` shape, turned into a rustls client
//! configuration (ring provider). Shared by every exporter that dials TLS.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

/// `tls_config` as in Prometheus' common HTTP client configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsClientOptions {
    /// CA bundle to verify the server with (default: the system roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// Client key (PEM) for mutual TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Name to send in SNI and verify the certificate against (default: the target host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Skip certificate verification (the chain is still read and reported).
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// `TLS12` or `TLS13`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
    /// `TLS12` or `TLS13`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_version: Option<String>,
}

/// Why TLS client settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or parsed.
    #[error("tls_config.{field}: {path}: {message}")]
    File {
        /// Which field.
        field: &'static str,
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A value is not acceptable.
    #[error("tls_config.{field}: {message}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

fn version(
    v: &str,
    field: &'static str,
) -> Result<&'static rustls::SupportedProtocolVersion, TlsError> {
    match v {
        "TLS12" => Ok(&rustls::version::TLS12),
        "TLS13" => Ok(&rustls::version::TLS13),
        "TLS10" | "TLS11" => Err(TlsError::Invalid {
            field,
            message: format!("{v} is not supported (rustls implements TLS12 and TLS13 only)"),
        }),
        _ => Err(TlsError::Invalid {
            field,
            message: format!("unknown TLS version {v:?} (use TLS12 or TLS13)"),
        }),
    }
}

/// The ring crypto provider every Watchkeeper TLS client and server uses.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsClientOptions {
    /// The roots certificates are verified against: `ca_file`, or the system store.
    pub fn roots(&self) -> Result<Arc<rustls::RootCertStore>, TlsError> {
        let mut store = rustls::RootCertStore::empty();
        match &self.ca_file {
            Some(p) => {
                let certs = crate::certificate::load_pem_file(p).map_err(|e| TlsError::File {
                    field: "ca_file",
                    path: p.display().to_string(),
                    message: e.to_string(),
                })?;
                for c in certs {
                    store.add(c).map_err(|e| TlsError::File {
                        field: "ca_file",
                        path: p.display().to_string(),
                        message: e.to_string(),
                    })?;
                }
            }
            None => {
                // Unreadable individual system certificates are skipped, as Go does.
                for c in rustls_native_certs::load_native_certs().certs {
                    let _ = store.add(c);
                }
            }
        }
        Ok(Arc::new(store))
    }

    /// A verifier for server chains under these options (ignores `insecure_skip_verify`), so a
    /// caller that skipped verification during the handshake can still report whether the
    /// chain would have verified.
    pub fn verifier(&self) -> Result<Arc<WebPkiServerVerifier>, TlsError> {
        WebPkiServerVerifier::builder_with_provider(self.roots()?, provider())
            .build()
            .map_err(|e| TlsError::Invalid {
                field: "ca_file",
                message: e.to_string(),
            })
    }

    /// Builds the client configuration. ALPN is left empty; HTTP callers set it.
    pub fn build(&self) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        let min = match &self.min_version {
            Some(v) => version(v, "min_version")?,
            None => &rustls::version::TLS12,
        };
        let max = match &self.max_version {
            Some(v) => version(v, "max_version")?,
            None => &rustls::version::TLS13,
        };
        let mut versions = Vec::new();
        if min.version == rustls::ProtocolVersion::TLSv1_2 {
            versions.push(&rustls::version::TLS12);
        }
        if max.version == rustls::ProtocolVersion::TLSv1_3 {
            versions.push(&rustls::version::TLS13);
        }
        if versions.is_empty() {
            return Err(TlsError::Invalid {
                field: "min_version",
                message: "min_version is above max_version".into(),
            });
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&versions)
            .map_err(|e| TlsError::Invalid {
                field: "min_version",
                message: e.to_string(),
            })?;
        let builder = if self.insecure_skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert(provider())))
        } else {
            builder.with_webpki_verifier(self.verifier()?)
        };
        let config = match (&self.cert_file, &self.key_file) {
            (None, None) => builder.with_no_client_auth(),
            (Some(c), Some(k)) => {
                let certs = crate::certificate::load_pem_file(c).map_err(|e| TlsError::File {
                    field: "cert_file",
                    path: c.display().to_string(),
                    message: e.to_string(),
                })?;
                let key = PrivateKeyDer::from_pem_file(k).map_err(|e| TlsError::File {
                    field: "key_file",
                    path: k.display().to_string(),
                    message: e.to_string(),
                })?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| TlsError::Invalid {
                        field: "cert_file",
                        message: e.to_string(),
                    })?
            }
            _ => {
                return Err(TlsError::Invalid {
                    field: "cert_file",
                    message: "cert_file and key_file must be set together".into(),
                })
            }
        };
        Ok(Arc::new(config))
    }

    /// The name for SNI and verification: `server_name`, or the given host.
    pub fn server_name_for(&self, host: &str) -> Result<ServerName<'static>, TlsError> {
        let name = self.server_name.as_deref().unwrap_or(host);
        let name = name.trim_start_matches('[').trim_end_matches(']');
        ServerName::try_from(name.to_string()).map_err(|e| TlsError::Invalid {
            field: "server_name",
            message: format!("{name:?}: {e}"),
        })
    }
}

/// `insecure_skip_verify`: the handshake's signatures are still checked, the chain is not.
#[derive(Debug)]
struct AcceptAnyServerCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_options_are_named() {
        let o = TlsClientOptions {
            min_version: Some("TLS11".into()),
            ..Default::default()
        };
        assert!(o
            .build()
            .unwrap_err()
            .to_string()
            .starts_with("tls_config.min_version: TLS11"));
        let o = TlsClientOptions {
            cert_file: Some("/nonexistent/c.pem".into()),
            ..Default::default()
        };
        assert!(o
            .build()
            .unwrap_err()
            .to_string()
            .contains("must be set together"));
        let o = TlsClientOptions {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        assert!(o
            .build()
            .unwrap_err()
            .to_string()
            .starts_with("tls_config.ca_file: /nonexistent/ca.pem"));
    }

    #[test]
    fn defaults_build_with_system_roots() {
        assert!(TlsClientOptions::default().build().is_ok());
        let o = TlsClientOptions {
            insecure_skip_verify: true,
            ..Default::default()
        };
        assert!(o.build().is_ok());
        assert!(o.server_name_for("[::1]").is_ok());
    }
}
