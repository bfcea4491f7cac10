//! `thermal_zone`: temperatures of `/sys/class/thermal/thermal_zone*` and the throttle states of
//! `/sys/class/thermal/cooling_device*` (Documentation/driver-api/thermal/sysfs-api.rst), as
//! node_exporter 1.5.
//!
//! `temp` is in millidegrees Celsius. Unlike node_exporter, which fails the whole collector when
//! one zone lacks a file (a zone whose sensor is not ready answers `temp` with an error, and a
//! zone may vanish between listing and reading), such a zone is left out and the others are
//! reported. A machine without `/sys/class/thermal` (most VMs) yields no samples.

use super::class_dir;
use super::sysfs_dir::SysfsDir;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `thermal_zone` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "thermal_zone",
    default_enabled: true,
    build: |opts| {
        Ok(Arc::new(Blocking(Arc::new(ThermalZoneCollector::new(
            opts,
        )))))
    },
};

/// Reads `<sysfs>/class/thermal` on each scrape.
pub struct ThermalZoneCollector {
    dir: PathBuf,
}

impl ThermalZoneCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            dir: opts.paths.sys("class/thermal"),
        }
    }
}

impl BlockingCollector for ThermalZoneCollector {
    fn name(&self) -> &str {
        "thermal_zone"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let Some(zones) = class_dir::entries(&self.dir, "thermal_zone")? else {
            return Ok(());
        };
        let fam = out.family(
            "node_thermal_zone_temp",
            "Zone temperature in Celsius",
            MetricType::Gauge,
        );
        for zone in &zones {
            let d = SysfsDir::open(&self.dir.join(zone));
            let (Some(kind), Some(temp)) =
                (class_dir::text(&d, "type"), class_dir::int(&d, "temp"))
            else {
                tracing::debug!(zone, "thermal zone without a readable type or temp");
                continue;
            };
            let number = &zone["thermal_zone".len()..];
            fam.sample(&[("type", &kind), ("zone", number)], temp as f64 / 1000.0);
        }
        let mut devices = Vec::new();
        for dev in class_dir::entries(&self.dir, "cooling_device")?.unwrap_or_default() {
            let d = SysfsDir::open(&self.dir.join(&dev));
            let (Some(kind), Some(max), Some(cur)) = (
                class_dir::text(&d, "type"),
                class_dir::int(&d, "max_state"),
                class_dir::int(&d, "cur_state"),
            ) else {
                tracing::debug!(device = dev, "cooling device without readable states");
                continue;
            };
            devices.push((dev["cooling_device".len()..].to_string(), kind, cur, max));
        }
        for (name, help, cur) in [
            (
                "node_cooling_device_cur_state",
                "Current throttle state of the cooling device",
                true,
            ),
            (
                "node_cooling_device_max_state",
                "Maximum throttle state of the cooling device",
                false,
            ),
        ] {
            let fam = out.family(name, help, MetricType::Gauge);
            for (number, kind, c, m) in &devices {
                let v = if cur { *c } else { *m };
                fam.sample(&[("name", number), ("type", kind)], v as f64);
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

    #[test]
    fn reads_zones_and_cooling_devices_of_the_server_tree() {
        let mut out = MetricSet::new();
        ThermalZoneCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        let t = |zone, kind| out.find("node_thermal_zone_temp", &[("zone", zone), ("type", kind)]);
        assert_eq!(t("0", "x86_pkg_temp"), Some(45.0));
        assert_eq!(t("1", "acpitz"), Some(27.8));
        assert_eq!(t("10", "iwlwifi_1"), Some(-2.0));
        assert_eq!(
            out.find("node_cooling_device_cur_state", &[("name", "1")]),
            Some(-1.0)
        );
        assert_eq!(
            out.find("node_cooling_device_max_state", &[("type", "Processor")]),
            Some(3.0)
        );
    }

    #[test]
    fn a_zone_without_temp_is_left_out_and_no_class_is_nothing() {
        let sys = tempfile::tempdir().unwrap();
        let base = sys.path().join("class/thermal");
        for (zone, temp) in [("thermal_zone0", Some("1500\n")), ("thermal_zone1", None)] {
            std::fs::create_dir_all(base.join(zone)).unwrap();
            std::fs::write(base.join(zone).join("type"), "acpitz\n").unwrap();
            if let Some(t) = temp {
                std::fs::write(base.join(zone).join("temp"), t).unwrap();
            }
        }
        let mut opts = HostOptions::default();
        opts.paths.sysfs = sys.path().to_path_buf();
        let mut out = MetricSet::new();
        ThermalZoneCollector::new(&opts).collect(&mut out).unwrap();
        assert_eq!(out.sample_count(), 1);
        assert_eq!(
            out.find("node_thermal_zone_temp", &[("zone", "0")]),
            Some(1.5)
        );
        opts.paths.sysfs = sys.path().join("nothing");
        let mut out = MetricSet::new();
        ThermalZoneCollector::new(&opts).collect(&mut out).unwrap();
        assert_eq!(out.sample_count(), 0);
    }
}
