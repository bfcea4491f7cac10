//! Incident response exporter: time to acknowledge and resolve, from Alertmanager.

pub mod api;
pub mod config;
pub mod incident;
pub mod matcher;
pub mod stats;
pub mod store;
pub mod timestamp;
pub mod tracker;
#[cfg(test)]
mod tracker_tests;

/// Who this exporter is (`watchkeeper_incident_` self metrics, port 10155).
pub const SPEC: watchkeeper_core::exporter::ExporterSpec =
    watchkeeper_core::exporter::ExporterSpec {
        name: "incident",
        binary: "watchkeeper-incident",
        default_port: 10155,
        description:
            "Incident response exporter: time to acknowledge and resolve, from Alertmanager.",
    };
