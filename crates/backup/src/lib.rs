//! Backup status exporter: freshness, size, integrity and restore tests.

/// Who this exporter is (`watchkeeper_backup_` self metrics, port 10153).
pub const SPEC: watchkeeper_core::exporter::ExporterSpec =
    watchkeeper_core::exporter::ExporterSpec {
        name: "backup",
        binary: "watchkeeper-backup",
        default_port: 10153,
        description: "Backup status exporter: freshness, size, integrity and restore tests.",
    };
