//! TLS certificate expiry exporter: every certificate's expiry, from endpoints and from files.
//!
//! Sources: `files` (glob patterns; PEM, DER, PKCS#12, kubeconfig data; parsed once per file
//! version, see [`files`]) and `endpoints` (a rustls handshake, optionally after STARTTLS, see
//! [`endpoint`]). Metrics keep the names of x509-certificate-exporter (`x509_cert_*`) and
//! ssl_exporter (`ssl_*`); `docs/tls.md` lists them.

pub mod app;
pub mod config;
pub mod endpoint;
pub mod facts;
pub mod files;
pub mod formats;
pub mod labels;
pub mod ocsp;
pub mod reason;
pub mod report;
pub mod starttls;
pub mod trust;
pub mod walk;

/// Who this exporter is (`watchkeeper_tls_` self metrics, port 10152).
pub const SPEC: watchkeeper_core::exporter::ExporterSpec =
    watchkeeper_core::exporter::ExporterSpec {
        name: "tls",
        binary: "watchkeeper-tls",
        default_port: 10152,
        description: "TLS certificate expiry exporter: endpoints and certificate files.",
    };
