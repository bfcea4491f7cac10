//! `updates` (off by default): the patch state of a Debian/Ubuntu host, with the metric names of
//! the community textfile scripts (`apt.sh`, `apt_info.py`) so their dashboards and alerts keep
//! working, plus `apt_security_upgrades_pending`, the age of the data and of the package lists,
//! and the running versus the newest installed kernel.
//!
//! The package database is read by a background refresh ([`Refreshed`], every
//! `--collector.updates.interval`, default 1h, each run under `--collector.updates.timeout`):
//! apt's own resolver in simulation mode, against `--path.rootfs` (see [`apt`] for why and how).
//! A scrape only reads the last result and stats a few files. A failed refresh is logged and
//! makes the collector fail (`node_scrape_collector_success{collector="updates"} 0`) until the
//! next successful one; the last good value stays in memory and is served again only once
//! the source recovers.

pub mod apt;
pub mod host_state;
pub mod release;

use super::CollectorDef;
use crate::options::HostOptions;
use apt::{AptState, ByOrigin};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::metrics::MetricType;
use watchkeeper_core::refresh::Refreshed;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet};

/// Registration of the `updates` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "updates",
    default_enabled: false,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(UpdatesCollector::start(opts)?)))),
};

/// Settings of the updates collector.
#[derive(Debug, Clone)]
pub struct UpdatesOptions {
    /// How often the package state is recomputed (`--collector.updates.interval`, default 1h).
    pub interval: Duration,
    /// How long one recomputation may take before it is killed (`--collector.updates.timeout`,
    /// default 5m).
    pub timeout: Duration,
}

impl Default for UpdatesOptions {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(3600),
            timeout: Duration::from_secs(300),
        }
    }
}

/// Serves the last refreshed package state and the cheap file-based facts.
pub struct UpdatesCollector {
    rootfs: PathBuf,
    procfs: PathBuf,
    state: Refreshed<AptState>,
}

impl UpdatesCollector {
    /// Validates the options and starts the background refresh (needs a Tokio runtime).
    pub fn start(opts: &HostOptions) -> Result<Self, String> {
        let u = &opts.updates;
        if u.interval.is_zero() {
            return Err("--collector.updates.interval must be greater than zero".into());
        }
        if u.timeout.is_zero() {
            return Err("--collector.updates.timeout must be greater than zero".into());
        }
        let rootfs = opts.paths.rootfs.clone();
        let root = rootfs.clone();
        let timeout = u.timeout;
        // Refreshed adds a little slack so apt's own deadline (which kills the child) fires first.
        let state = Refreshed::spawn(u.interval, timeout + Duration::from_secs(5), move || {
            let started = std::time::Instant::now();
            let result = apt::compute(&root, timeout).map_err(|e| e.to_string());
            match &result {
                Ok(s) => tracing::debug!(
                    collector = "updates",
                    pending = s.pending.values().sum::<u64>(),
                    elapsed = ?started.elapsed(),
                    "package state refreshed"
                ),
                Err(e) => {
                    tracing::warn!(collector = "updates", error = %e, "package state refresh failed")
                }
            }
            result
        });
        Ok(Self {
            rootfs,
            procfs: opts.paths.procfs.clone(),
            state,
        })
    }
}

fn by_origin(out: &mut MetricSet, name: &'static str, help: &'static str, counts: &ByOrigin) {
    let family = out.family(name, help, MetricType::Gauge);
    if counts.is_empty() {
        // As the textfile scripts do, so sum() and alerts see a 0 rather than nothing.
        family.sample(&[("origin", ""), ("arch", "")], 0.0);
    }
    for ((origin, arch), n) in counts {
        family.sample(&[("origin", origin), ("arch", arch)], *n as f64);
    }
}

impl BlockingCollector for UpdatesCollector {
    fn name(&self) -> &str {
        "updates"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let snap = self.state.snapshot();
        if let Some(e) = snap.last_error {
            return Err(CollectError::Other(format!("package state: {e}")));
        }
        if let (Some(s), Some(at)) = (snap.value.as_deref(), snap.updated) {
            by_origin(
                out,
                "apt_upgrades_pending",
                "Apt packages pending updates by origin.",
                &s.pending,
            );
            by_origin(
                out,
                "apt_upgrades_held",
                "Apt packages pending updates but held back.",
                &s.held,
            );
            out.gauge(
                "apt_autoremove_pending",
                "Apt packages pending autoremoval.",
                s.autoremove as f64,
            );
            out.gauge(
                "apt_security_upgrades_pending",
                "Apt packages pending updates from a -security archive.",
                s.security as f64,
            );
            out.gauge(
                "apt_held_packages",
                "Packages on hold (apt-mark showhold), with or without a pending update.",
                s.held_packages as f64,
            );
            let at = at
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            out.gauge(
                "apt_upgrades_last_refresh_timestamp_seconds",
                "When the exporter last computed the apt package state, in seconds since the epoch.",
                at,
            );
        }
        if let Some(t) = host_state::package_lists_timestamp(&self.rootfs) {
            // apt_info.py's name for the same fact.
            out.gauge(
                "apt_package_cache_timestamp_seconds",
                "Apt update last run time.",
                t,
            );
            out.gauge(
                "apt_package_lists_last_update_timestamp_seconds",
                "When the apt package lists were last refreshed (apt update), in seconds since the epoch.",
                t,
            );
        }
        let reboot = host_state::reboot_required(&self.rootfs);
        out.gauge(
            "node_reboot_required",
            "Node reboot is required for software updates (/run/reboot-required exists).",
            if reboot.required { 1.0 } else { 0.0 },
        );
        out.gauge(
            "node_reboot_required_packages",
            "Packages listed in /run/reboot-required.pkgs.",
            reboot.packages as f64,
        );
        let kernels = host_state::kernels(&self.procfs, &self.rootfs);
        out.family(
            "node_kernel_release_info",
            "The running kernel release and the newest one installed in /boot.",
            MetricType::Gauge,
        )
        .sample(
            &[
                ("running", &kernels.running),
                ("installed", &kernels.installed),
            ],
            1.0,
        );
        out.gauge(
            "node_kernel_reboot_pending",
            "1 when a kernel other than the running one is the newest installed in /boot.",
            if kernels.reboot_pending() { 1.0 } else { 0.0 },
        );
        Ok(())
    }
}
