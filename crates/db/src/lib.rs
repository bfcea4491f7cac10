//! The database health exporter: PostgreSQL, MySQL/MariaDB and Redis targets, scraped together
//! on `/metrics` and one at a time on `/probe?target=NAME`.
//!
//! Each engine lives in its own module behind [`engine::Engine`]; connection reuse, deadlines
//! and the `<prefix>_up` logic are shared in [`target`]; [`app`] ties the configuration to the
//! core server.

pub mod app;
pub mod civil;
pub mod config;
pub mod custom_query;
pub mod engine;
pub mod mysql;
pub mod postgres;
pub mod redis;
pub mod sanitize;
pub mod target;

/// Who this exporter is (`watchkeeper_db_` self metrics, port 10154).
pub const SPEC: watchkeeper_core::exporter::ExporterSpec =
    watchkeeper_core::exporter::ExporterSpec {
        name: "db",
        binary: "watchkeeper-db",
        default_port: 10154,
        description: "Database health exporter: PostgreSQL, MySQL/MariaDB and Redis.",
    };
