//! Incident response exporter: time to acknowledge and resolve, from Alertmanager.

pub mod api;
pub mod config;
pub mod engine;
pub mod follower;
pub mod handlers;
pub mod incident;
pub mod matcher;
pub mod metrics;
pub mod page;
pub mod stats;
pub mod store;
pub mod timestamp;
pub mod tracker;
#[cfg(test)]
mod tracker_tests;

use std::path::Path;

/// Opens the store and restores the tracker from it (blocking: call before the runtime runs).
pub fn open_storage(
    path: &Path,
    config: &config::Config,
) -> Result<(store::Store, tracker::Tracker), store::StoreError> {
    let store = store::Store::open(path)?;
    let mut tracker = tracker::Tracker::new(config.matchers(), config.watchdog.clone());
    let now = timestamp::now();
    store.for_each(|inc| tracker.restore_one(inc, now))?;
    Ok((store, tracker))
}

/// Who this exporter is (`watchkeeper_incident_` self metrics, port 10155).
pub const SPEC: watchkeeper_core::exporter::ExporterSpec =
    watchkeeper_core::exporter::ExporterSpec {
        name: "incident",
        binary: "watchkeeper-incident",
        default_port: 10155,
        description:
            "Incident response exporter: time to acknowledge and resolve, from Alertmanager.",
    };
