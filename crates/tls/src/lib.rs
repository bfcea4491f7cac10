//! TLS certificate expiry exporter: endpoints and certificate files.

/// Who this exporter is (`watchkeeper_tls_` self metrics, port 10152).
pub const SPEC: watchkeeper_core::exporter::ExporterSpec =
    watchkeeper_core::exporter::ExporterSpec {
        name: "tls",
        binary: "watchkeeper-tls",
        default_port: 10152,
        description: "TLS certificate expiry exporter: endpoints and certificate files.",
    };
