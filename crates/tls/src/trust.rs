//! What presented chains are verified against: the system roots or a configured CA bundle,
//! kept both as a rustls verifier and as certificates (to show the verified chain's root).

use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::CertificateDer;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use x509_parser::prelude::{FromDer, X509Certificate};

/// Roots and the verifier built on them.
#[derive(Debug)]
pub struct Trust {
    /// `None` when there are no roots at all (no CA bundle installed): nothing verifies.
    pub verifier: Option<Arc<WebPkiServerVerifier>>,
    /// Each root's subject name (DER) and certificate.
    pub roots: Vec<(Vec<u8>, CertificateDer<'static>)>,
}

/// Why a CA bundle cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct TrustError {
    /// The bundle.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl Trust {
    /// Trust built from certificates.
    pub fn from_certs(certs: Vec<CertificateDer<'static>>) -> Self {
        let mut store = rustls::RootCertStore::empty();
        let mut roots = Vec::new();
        for c in certs {
            if store.add(c.clone()).is_err() {
                continue;
            }
            if let Ok((_, x)) = X509Certificate::from_der(c.as_ref()) {
                roots.push((x.subject().as_raw().to_vec(), c));
            }
        }
        let verifier = if store.is_empty() {
            None
        } else {
            WebPkiServerVerifier::builder_with_provider(
                Arc::new(store),
                watchkeeper_core::tls_client::provider(),
            )
            .build()
            .ok()
        };
        Self { verifier, roots }
    }

    /// The PEM bundle at `path`.
    pub fn from_file(path: &Path) -> Result<Self, TrustError> {
        let certs = watchkeeper_core::certificate::load_pem_file(path).map_err(|e| TrustError {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let t = Self::from_certs(certs);
        if t.verifier.is_none() {
            return Err(TrustError {
                path: path.display().to_string(),
                message: "no usable CA certificate".into(),
            });
        }
        Ok(t)
    }

    /// The system roots, loaded once per process.
    pub fn system() -> Arc<Trust> {
        static SYSTEM: OnceLock<Arc<Trust>> = OnceLock::new();
        Arc::clone(SYSTEM.get_or_init(|| {
            Arc::new(Self::from_certs(
                rustls_native_certs::load_native_certs().certs,
            ))
        }))
    }

    /// The root whose subject is `issuer` (DER name), if trusted.
    pub fn root_for(&self, issuer: &[u8]) -> Option<&CertificateDer<'static>> {
        self.roots
            .iter()
            .find(|(subject, _)| subject == issuer)
            .map(|(_, c)| c)
    }
}
