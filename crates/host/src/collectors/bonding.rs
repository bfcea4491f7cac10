//! `bonding`: configured and active slaves of each bonding master, from
//! `/sys/class/net/bonding_masters`, `<master>/bonding/slaves` and each slave's
//! `bonding_slave/mii_status` (Documentation/networking/bonding.rst), as node_exporter 1.5.
//!
//! The slave's directory is `lower_<slave>` below the master, or `slave_<slave>` on older
//! kernels. A slave whose status cannot be read (it is being removed) counts as configured but
//! not active, where node_exporter fails the collector. No bonding driver: no samples.

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `bonding` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "bonding",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(BondingCollector::new(opts))))),
};

/// Reads `<sysfs>/class/net` bonding files on each scrape.
pub struct BondingCollector {
    dir: PathBuf,
}

impl BondingCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            dir: opts.paths.sys("class/net"),
        }
    }

    /// Whether `slave` of `master` reports its MII link as up.
    fn slave_up(&self, master: &str, slave: &str) -> bool {
        for prefix in ["lower_", "slave_"] {
            let path = self
                .dir
                .join(master)
                .join(format!("{prefix}{slave}"))
                .join("bonding_slave/mii_status");
            match procfile::read_whole(&path) {
                Ok(s) => return s.trim() == "up",
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(_) => return false,
            }
        }
        false
    }
}

impl BlockingCollector for BondingCollector {
    fn name(&self) -> &str {
        "bonding"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let Some(masters) = procfile::read_optional(&self.dir.join("bonding_masters"))? else {
            return Ok(());
        };
        let mut counts = Vec::new();
        for master in masters.split_ascii_whitespace() {
            let path = self.dir.join(master).join("bonding/slaves");
            let Some(slaves) = procfile::read_optional(&path)? else {
                // Removed between the two reads.
                continue;
            };
            let (mut configured, mut active) = (0u32, 0u32);
            for slave in slaves.split_ascii_whitespace() {
                configured += 1;
                if self.slave_up(master, slave) {
                    active += 1;
                }
            }
            counts.push((master, configured, active));
        }
        let fam = out.family(
            "node_bonding_active",
            "Number of active slaves per bonding interface.",
            MetricType::Gauge,
        );
        for (master, _, active) in &counts {
            fam.sample(&[("master", master)], f64::from(*active));
        }
        let fam = out.family(
            "node_bonding_slaves",
            "Number of configured slaves per bonding interface.",
            MetricType::Gauge,
        );
        for (master, configured, _) in &counts {
            fam.sample(&[("master", master)], f64::from(*configured));
        }
        out.prune_empty();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfile::fixtures;

    #[test]
    fn counts_slaves_under_lower_and_slave_prefixes() {
        let mut out = MetricSet::new();
        BondingCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        let bond0 = [("master", "bond0")];
        let bond1 = [("master", "bond1")];
        assert_eq!(out.find("node_bonding_slaves", &bond0), Some(2.0));
        assert_eq!(out.find("node_bonding_active", &bond0), Some(1.0));
        assert_eq!(out.find("node_bonding_active", &bond1), Some(2.0));
    }

    #[test]
    fn no_bonding_driver_is_no_samples() {
        let mut out = MetricSet::new();
        BondingCollector::new(&fixtures::options("edge"))
            .collect(&mut out)
            .unwrap();
        assert_eq!(out.sample_count(), 0);
    }
}
