//! `rapl`: energy counters of Intel RAPL power zones, `/sys/class/powercap/intel-rapl*:*/`
//! (Documentation/power/powercap/powercap.rst: `name`, `energy_uj`), as node_exporter 1.5:
//! `node_rapl_<zone>_joules_total{index,path}`, or with `--collector.rapl.enable-zone-label`
//! one `node_rapl_joules_total` with a `rapl_zone` label. `energy_uj` wraps at
//! `max_energy_range_uj`; like node_exporter we report the raw counter (Prometheus' `rate`
//! treats the wrap as a counter reset). No RAPL: no samples.

use super::class_dir;
use super::sysfs_dir::SysfsDir;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `rapl` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "rapl",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(RaplCollector::new(opts))))),
};

/// Reads `<sysfs>/class/powercap` on each scrape.
pub struct RaplCollector {
    dir: PathBuf,
    zone_label: bool,
}

impl RaplCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            dir: opts.paths.sys("class/powercap"),
            zone_label: opts.rapl_zone_label,
        }
    }
}

/// `package-1` -> (`package`, 1); a name without a number has index 0.
fn zone_name(name: &str) -> (&str, u32) {
    match name.rsplit_once('-') {
        Some((zone, n)) => match n.parse() {
            Ok(i) => (zone, i),
            Err(_) => (name, 0),
        },
        None => (name, 0),
    }
}

impl BlockingCollector for RaplCollector {
    fn name(&self) -> &str {
        "rapl"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let Some(entries) = class_dir::entries(&self.dir, "intel-rapl")? else {
            return Ok(());
        };
        for entry in entries.iter().filter(|e| e.contains(':')) {
            let path = self.dir.join(entry);
            let d = SysfsDir::open(&path);
            let (Some(name), Some(uj)) =
                (class_dir::text(&d, "name"), class_dir::int(&d, "energy_uj"))
            else {
                continue;
            };
            let (zone, index) = zone_name(&name);
            let (index, path) = (index.to_string(), path.display().to_string());
            let joules = uj as f64 / 1_000_000.0;
            if self.zone_label {
                out.family(
                    "node_rapl_joules_total",
                    "Current RAPL value in joules",
                    MetricType::Counter,
                )
                .sample(
                    &[("index", &index), ("path", &path), ("rapl_zone", zone)],
                    joules,
                );
            } else {
                out.family(
                    format!("node_rapl_{zone}_joules_total"),
                    format!("Current RAPL {zone} value in joules"),
                    MetricType::Counter,
                )
                .sample(&[("index", &index), ("path", &path)], joules);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfile::fixtures;

    #[test]
    fn one_family_per_zone_or_one_with_a_zone_label() {
        let mut opts = fixtures::options("server");
        let mut out = MetricSet::new();
        RaplCollector::new(&opts).collect(&mut out).unwrap();
        assert_eq!(
            out.find("node_rapl_package_joules_total", &[("index", "1")]),
            Some(14.420113)
        );
        assert_eq!(out.find("node_rapl_psys_joules_total", &[]), Some(7.000001));
        opts.rapl_zone_label = true;
        let mut out = MetricSet::new();
        RaplCollector::new(&opts).collect(&mut out).unwrap();
        assert_eq!(
            out.find("node_rapl_joules_total", &[("rapl_zone", "dram")]),
            Some(5.0)
        );
        assert_eq!(zone_name("package-0"), ("package", 0));
        assert_eq!(zone_name("core"), ("core", 0));
    }
}
