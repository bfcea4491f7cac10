//! Backup status exporter: are backups happening, complete, and restorable?
//!
//! Each configured job has at most one source ([`sources`]: a glob of artefacts, a status file,
//! a restic or borg repository, pgBackRest stanzas) read in the background ([`app`]), the
//! records of the `run` wrapper ([`wrapper`], [`state`]) and an optional restore test
//! ([`verify`]); [`collect`] turns them into the `backup_*` metrics.

pub mod app;
pub mod collect;
pub mod command;
pub mod config;
pub mod size;
pub mod sources;
pub mod state;
pub mod timefmt;
pub mod verify;
pub mod wrapper;

/// Who this exporter is (`watchkeeper_backup_` self metrics, port 10153).
pub const SPEC: watchkeeper_core::exporter::ExporterSpec =
    watchkeeper_core::exporter::ExporterSpec {
        name: "backup",
        binary: "watchkeeper-backup",
        default_port: 10153,
        description: "Backup status exporter: freshness, size, integrity and restore tests.",
    };
