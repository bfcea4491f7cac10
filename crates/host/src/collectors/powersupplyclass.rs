//! `powersupplyclass`: batteries, mains adapters and USB supplies from
//! `/sys/class/power_supply/<supply>/` (Documentation/ABI/testing/sysfs-class-power), as
//! node_exporter 1.5: one `node_power_supply_<property>` gauge per numeric attribute present
//! (micro-units converted to base units, tenths of a degree to degrees) and
//! `node_power_supply_info` with the text attributes as labels.

use super::class_dir;
use super::sysfs_dir::SysfsDir;
use super::CollectorDef;
use crate::options::HostOptions;
use regex::Regex;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `powersupplyclass` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "powersupplyclass",
    default_enabled: true,
    build: |opts| {
        Ok(Arc::new(Blocking(Arc::new(PowerSupplyCollector::new(
            opts,
        )))))
    },
};

/// Numeric attributes: (sysfs file, metric suffix, divisor).
const NUMERIC: &[(&str, &str, f64)] = &[
    ("authentic", "authentic", 1.0),
    ("calibrate", "calibrate", 1.0),
    ("capacity", "capacity", 1.0),
    ("capacity_alert_max", "capacity_alert_max", 1.0),
    ("capacity_alert_min", "capacity_alert_min", 1.0),
    ("cycle_count", "cyclecount", 1.0),
    ("online", "online", 1.0),
    ("present", "present", 1.0),
    ("time_to_empty_now", "time_to_empty_seconds", 1.0),
    ("time_to_full_now", "time_to_full_seconds", 1.0),
    ("current_boot", "current_boot", 1e6),
    ("current_max", "current_max", 1e6),
    ("current_now", "current_ampere", 1e6),
    ("energy_empty", "energy_empty", 1e6),
    ("energy_empty_design", "energy_empty_design", 1e6),
    ("energy_full", "energy_full", 1e6),
    ("energy_full_design", "energy_full_design", 1e6),
    ("energy_now", "energy_watthour", 1e6),
    ("voltage_boot", "voltage_boot", 1e6),
    ("voltage_max", "voltage_max", 1e6),
    ("voltage_max_design", "voltage_max_design", 1e6),
    ("voltage_min", "voltage_min", 1e6),
    ("voltage_min_design", "voltage_min_design", 1e6),
    ("voltage_now", "voltage_volt", 1e6),
    ("voltage_ocv", "voltage_ocv", 1e6),
    ("charge_control_limit", "charge_control_limit", 1e6),
    ("charge_control_limit_max", "charge_control_limit_max", 1e6),
    ("charge_counter", "charge_counter", 1e6),
    ("charge_empty", "charge_empty", 1e6),
    ("charge_empty_design", "charge_empty_design", 1e6),
    ("charge_full", "charge_full", 1e6),
    ("charge_full_design", "charge_full_design", 1e6),
    ("charge_now", "charge_ampere", 1e6),
    ("charge_term_current", "charge_term_current", 1e6),
    ("constant_charge_current", "constant_charge_current", 1e6),
    (
        "constant_charge_current_max",
        "constant_charge_current_max",
        1e6,
    ),
    ("constant_charge_voltage", "constant_charge_voltage", 1e6),
    (
        "constant_charge_voltage_max",
        "constant_charge_voltage_max",
        1e6,
    ),
    ("precharge_current", "precharge_current", 1e6),
    ("input_current_limit", "input_current_limit", 1e6),
    ("power_now", "power_watt", 1e6),
    ("temp", "temp_celsius", 10.0),
    ("temp_alert_max", "temp_alert_max_celsius", 10.0),
    ("temp_alert_min", "temp_alert_min_celsius", 10.0),
    ("temp_ambient", "temp_ambient_celsius", 10.0),
    ("temp_ambient_max", "temp_ambient_max_celsius", 10.0),
    ("temp_ambient_min", "temp_ambient_min_celsius", 10.0),
    ("temp_max", "temp_max_celsius", 10.0),
    ("temp_min", "temp_min_celsius", 10.0),
];

/// Text attributes, in label order, that become labels of `node_power_supply_info` when set.
const TEXT: &[&str] = &[
    "capacity_level",
    "charge_type",
    "health",
    "manufacturer",
    "model_name",
    "scope",
    "serial_number",
    "status",
    "technology",
    "type",
    "usb_type",
];

/// Reads `<sysfs>/class/power_supply` on each scrape.
pub struct PowerSupplyCollector {
    dir: PathBuf,
    ignored: Option<Regex>,
}

impl PowerSupplyCollector {
    /// A collector reading below `opts.paths`, leaving out `opts.powersupply_ignored`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            dir: opts.paths.sys("class/power_supply"),
            ignored: opts.powersupply_ignored.clone(),
        }
    }
}

impl BlockingCollector for PowerSupplyCollector {
    fn name(&self) -> &str {
        "powersupplyclass"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let Some(names) = class_dir::entries(&self.dir, "")? else {
            return Ok(());
        };
        for supply in &names {
            if self.ignored.as_ref().is_some_and(|r| r.is_match(supply)) {
                continue;
            }
            let d = SysfsDir::open(&self.dir.join(supply));
            // Every supply has a type; none readable means it vanished since the listing.
            if class_dir::text(&d, "type").is_none() {
                continue;
            }
            let labels = [("power_supply", supply.as_str())];
            for (file, suffix, divisor) in NUMERIC {
                if let Some(v) = class_dir::int(&d, file) {
                    let name = format!("node_power_supply_{suffix}");
                    let help = format!("{suffix} value of /sys/class/power_supply/<power_supply>.");
                    let value = if *divisor == 1.0 {
                        v as f64
                    } else {
                        v as f64 / divisor
                    };
                    out.family(name, help, MetricType::Gauge)
                        .sample(&labels, value);
                }
            }
            let texts: Vec<(&str, String)> = TEXT
                .iter()
                .filter_map(|f| class_dir::text(&d, f).map(|v| (*f, v)))
                .filter(|(_, v)| !v.is_empty())
                .collect();
            let mut info: Vec<(&str, &str)> = vec![("power_supply", supply)];
            info.extend(texts.iter().map(|(k, v)| (*k, v.as_str())));
            out.family(
                "node_power_supply_info",
                "info of /sys/class/power_supply/<power_supply>.",
                MetricType::Gauge,
            )
            .sample(&info, 1.0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfile::fixtures;

    #[test]
    fn converts_units_and_labels_info_with_text_attributes() {
        let mut out = MetricSet::new();
        PowerSupplyCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        let bat0 = [("power_supply", "BAT0")];
        assert_eq!(
            out.find("node_power_supply_energy_watthour", &bat0),
            Some(40.53)
        );
        assert_eq!(out.find("node_power_supply_cyclecount", &bat0), Some(281.0));
        assert_eq!(
            out.find(
                "node_power_supply_temp_celsius",
                &[("power_supply", "BAT1")]
            ),
            Some(35935.9)
        );
        assert_eq!(
            out.find(
                "node_power_supply_info",
                &[("power_supply", "BAT0"), ("serial_number", "1234")]
            ),
            Some(1.0)
        );
        assert_eq!(
            out.find("node_power_supply_online", &[("power_supply", "AC")]),
            Some(1.0)
        );
    }

    #[test]
    fn a_supply_that_vanished_is_left_out() {
        let sys = tempfile::tempdir().unwrap();
        let class = sys.path().join("class/power_supply");
        std::fs::create_dir_all(class.join("AC")).unwrap();
        std::fs::write(class.join("AC/type"), "Mains\n").unwrap();
        std::fs::write(class.join("AC/online"), "1\n").unwrap();
        // The class link of a device removed after the listing points nowhere.
        std::os::unix::fs::symlink("../../devices/gone", class.join("BAT9")).unwrap();
        let mut opts = HostOptions::default();
        opts.paths.sysfs = sys.path().to_path_buf();
        let mut out = MetricSet::new();
        PowerSupplyCollector::new(&opts).collect(&mut out).unwrap();
        assert_eq!(out.sample_count(), 2);
        assert_eq!(
            out.find("node_power_supply_info", &[("power_supply", "BAT9")]),
            None
        );
    }

    #[test]
    fn ignored_supplies_are_left_out() {
        let mut opts = fixtures::options("server");
        opts.powersupply_ignored = Some(Regex::new("^BAT").unwrap());
        let mut out = MetricSet::new();
        PowerSupplyCollector::new(&opts).collect(&mut out).unwrap();
        assert_eq!(
            out.find("node_power_supply_info", &[("power_supply", "BAT0")]),
            None
        );
        assert!(out
            .find("node_power_supply_info", &[("power_supply", "AC")])
            .is_some());
    }
}
