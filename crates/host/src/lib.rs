//! The host exporter: node_exporter-compatible Linux host metrics.
//!
//! Each collector lives in its own file under [`collectors`] and is listed once in
//! [`collectors::ALL`]; the binary turns that list into `--collector.<name>` flags.

pub mod cli;
pub mod collectors;
pub mod options;
