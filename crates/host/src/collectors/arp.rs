//! `arp`: neighbour entries per interface from `/proc/net/arp`, as node_exporter 1.5 (every
//! row counts, incomplete ones included), with its `--collector.arp.device-include` /
//! `--collector.arp.device-exclude` filters.

use super::procfile;
use super::CollectorDef;
use crate::options::{DeviceFilter, HostOptions};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `arp` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "arp",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(ArpCollector::new(opts))))),
};

/// Reads `/proc/net/arp` on each scrape.
pub struct ArpCollector {
    path: PathBuf,
    devices: DeviceFilter,
}

impl ArpCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            path: opts.paths.proc("net/arp"),
            devices: opts.arp_devices.clone(),
        }
    }
}

impl BlockingCollector for ArpCollector {
    fn name(&self) -> &str {
        "arp"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let Some(text) = procfile::read_optional(&self.path)? else {
            return Ok(());
        };
        let mut per_device: BTreeMap<&str, u64> = BTreeMap::new();
        // Columns: IP address, HW type, Flags, HW address, Mask, Device; one header line.
        for line in text.lines().skip(1) {
            if let Some(device) = line.split_ascii_whitespace().nth(5) {
                *per_device.entry(device).or_default() += 1;
            }
        }
        let fam = out.family(
            "node_arp_entries",
            "ARP entries by device",
            MetricType::Gauge,
        );
        for (device, n) in per_device {
            if !self.devices.ignored(device) {
                fam.sample(&[("device", device)], n as f64);
            }
        }
        out.prune_empty();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfile::fixtures;
    use regex::Regex;

    #[test]
    fn counts_entries_per_device_and_filters() {
        let mut opts = fixtures::options("server");
        let mut out = MetricSet::new();
        ArpCollector::new(&opts).collect(&mut out).unwrap();
        assert_eq!(
            out.find("node_arp_entries", &[("device", "eth0")]),
            Some(2.0)
        );
        assert_eq!(
            out.find("node_arp_entries", &[("device", "bond0")]),
            Some(2.0)
        );
        opts.arp_devices.exclude = Some(Regex::new("^docker").unwrap());
        let mut out = MetricSet::new();
        ArpCollector::new(&opts).collect(&mut out).unwrap();
        assert_eq!(out.find("node_arp_entries", &[("device", "docker0")]), None);
        assert_eq!(out.sample_count(), 2);
    }
}
