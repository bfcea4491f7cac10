//! `dmi`: `node_dmi_info` from the firmware's DMI tables as the kernel exposes them in
//! `/sys/class/dmi/id/` (Documentation/ABI/testing/sysfs-class-dmi), as node_exporter 1.5: a
//! label per readable attribute (serial numbers are readable by root only, and are left out
//! otherwise). No DMI (most non-x86 machines): no samples.

use super::sysfs_dir::SysfsDir;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `dmi` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "dmi",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(DmiCollector::new(opts))))),
};

/// (sysfs file, label).
const ATTRIBUTES: [(&str, &str); 20] = [
    ("bios_date", "bios_date"),
    ("bios_release", "bios_release"),
    ("bios_vendor", "bios_vendor"),
    ("bios_version", "bios_version"),
    ("board_asset_tag", "board_asset_tag"),
    ("board_name", "board_name"),
    ("board_serial", "board_serial"),
    ("board_vendor", "board_vendor"),
    ("board_version", "board_version"),
    ("chassis_asset_tag", "chassis_asset_tag"),
    ("chassis_serial", "chassis_serial"),
    ("chassis_vendor", "chassis_vendor"),
    ("chassis_version", "chassis_version"),
    ("product_family", "product_family"),
    ("product_name", "product_name"),
    ("product_serial", "product_serial"),
    ("product_sku", "product_sku"),
    ("product_uuid", "product_uuid"),
    ("product_version", "product_version"),
    ("sys_vendor", "system_vendor"),
];

/// Reads `<sysfs>/class/dmi/id` on each scrape (the values change only with a firmware update,
/// but reading 20 kept-open files is cheap and follows such an update without a restart).
pub struct DmiCollector {
    dir: PathBuf,
}

impl DmiCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            dir: opts.paths.sys("class/dmi/id"),
        }
    }
}

impl BlockingCollector for DmiCollector {
    fn name(&self) -> &str {
        "dmi"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let d = SysfsDir::open(&self.dir);
        let values: Vec<(&str, String)> = ATTRIBUTES
            .iter()
            .filter_map(|(file, label)| super::class_dir::text(&d, file).map(|v| (*label, v)))
            .collect();
        if values.is_empty() {
            return Ok(());
        }
        let labels: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
        out.family(
            "node_dmi_info",
            "A metric with a constant '1' value labeled by bios_date, bios_release, bios_vendor, bios_version, board_asset_tag, board_name, board_serial, board_vendor, board_version, chassis_asset_tag, chassis_serial, chassis_vendor, chassis_version, product_family, product_name, product_serial, product_sku, product_uuid, product_version, system_vendor if provided by DMI.",
            MetricType::Gauge,
        )
        .sample(&labels, 1.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfile::fixtures;

    #[test]
    fn labels_every_readable_attribute() {
        let mut out = MetricSet::new();
        DmiCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        assert_eq!(
            out.find(
                "node_dmi_info",
                &[
                    ("system_vendor", "Supermicro"),
                    ("bios_vendor", "American Megatrends Inc."),
                    ("chassis_asset_tag", ""),
                ]
            ),
            Some(1.0)
        );
        let mut out = MetricSet::new();
        DmiCollector::new(&fixtures::options("edge"))
            .collect(&mut out)
            .unwrap();
        assert_eq!(out.sample_count(), 0);
    }
}
