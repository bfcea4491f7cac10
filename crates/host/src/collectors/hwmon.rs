//! `hwmon`: hardware sensors from `/sys/class/hwmon` (`node_hwmon_*`), as node_exporter 1.5.
//!
//! Each `hwmonN` directory (and its `device/` subdirectory) holds files named
//! `<type><n>_<property>`; values are in milli-units (micro for power and energy) and converted
//! to base units. The `chip` label is derived from the device path, which is stable across
//! reboots, unlike the `hwmonN` number. A machine without `/sys/class/hwmon` (VMs, containers)
//! yields no samples.

use super::CollectorDef;
use crate::options::{HostOptions, HostPaths};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the hwmon collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "hwmon",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(HwmonCollector::new(opts))))),
};

/// Sensor types node_exporter reports; other files are ignored.
const SENSOR_TYPES: &[&str] = &[
    "vrm",
    "beep_enable",
    "update_interval",
    "in",
    "cpu",
    "fan",
    "pwm",
    "temp",
    "curr",
    "power",
    "energy",
    "humidity",
    "intrusion",
];

/// Lower-cases and replaces everything outside `[a-z0-9:_]` by `_`, trimming `_` at both ends.
pub fn clean_name(name: &str) -> String {
    let replaced: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == ':' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    replaced.trim_matches('_').to_string()
}

/// Splits a sensor file name into (type, number, property): `temp1_crit` -> (`temp`, 1, `crit`).
pub fn explode_sensor_filename(name: &str) -> Option<(&str, u32, &str)> {
    let digit = name.find(|c: char| c.is_ascii_digit());
    let Some(start) = digit else {
        return Some((name, 0, ""));
    };
    if start == 0 {
        return None;
    }
    let kind = &name[..start];
    let rest = &name[start..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let num: u32 = rest[..end].parse().ok()?;
    let tail = &rest[end..];
    let property = if tail.is_empty() {
        ""
    } else {
        let p = tail.strip_prefix('_')?;
        if p.is_empty() {
            return None;
        }
        p
    };
    Some((kind, num, property))
}

/// Reads a sysfs value with a single `read` of at most 128 bytes: some hwmon drivers answer
/// EAGAIN forever, and a retrying reader would spin on them.
fn read_value(path: &Path) -> Option<String> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut buf = [0u8; 128];
    let n = f.read(&mut buf).ok()?;
    let s = String::from_utf8_lossy(&buf[..n]);
    Some(s.trim_matches('\n').to_string())
}

/// Sensor -> property -> raw value.
type SensorData = BTreeMap<String, BTreeMap<String, String>>;

fn collect_sensor_data(dir: &Path, data: &mut SensorData) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else {
            continue;
        };
        let Some((kind, num, property)) = explode_sensor_filename(name) else {
            continue;
        };
        if !SENSOR_TYPES.contains(&kind) {
            continue;
        }
        if let Some(v) = read_value(&entry.path()) {
            data.entry(format!("{kind}{num}"))
                .or_default()
                .insert(property.to_string(), v);
        }
    }
    Ok(())
}

/// The stable `chip` label: `<bus>_<device>` from the resolved `device` link, else the `name`
/// file, else the `hwmonN` directory name.
pub fn chip_label(dir: &Path) -> Option<String> {
    if let Ok(dev) = std::fs::canonicalize(dir.join("device")) {
        let dev_name = dev
            .file_name()
            .map(|n| clean_name(&n.to_string_lossy()))
            .unwrap_or_default();
        let dev_type = dev
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| clean_name(&n.to_string_lossy()))
            .unwrap_or_default();
        if !dev_type.is_empty() && !dev_name.is_empty() {
            return Some(format!("{dev_type}_{dev_name}"));
        }
        if !dev_name.is_empty() {
            return Some(dev_name);
        }
    }
    if let Some(name) = read_value(&dir.join("name")) {
        let clean = clean_name(&name);
        if !clean.is_empty() {
            return Some(clean);
        }
    }
    let real = std::fs::canonicalize(dir).ok()?;
    let clean = clean_name(&real.file_name()?.to_string_lossy());
    (!clean.is_empty()).then_some(clean)
}

/// Emits the samples of one hwmon directory.
pub fn update_chip(out: &mut MetricSet, dir: &Path) -> Result<(), String> {
    let chip = chip_label(dir)
        .ok_or_else(|| format!("could not derive a chip name for {}", dir.display()))?;
    let mut data = SensorData::new();
    collect_sensor_data(dir, &mut data).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    let device = dir.join("device");
    if device.is_dir() {
        collect_sensor_data(&device, &mut data)
            .map_err(|e| format!("reading {}: {e}", device.display()))?;
    }

    if let Some(name) = read_value(&dir.join("name")) {
        let chip_name = clean_name(&name);
        if !chip_name.is_empty() {
            out.family(
                "node_hwmon_chip_names",
                "Annotation metric for human-readable chip names",
                MetricType::Gauge,
            )
            .sample(&[("chip", &chip), ("chip_name", &chip_name)], 1.0);
        }
    }

    for (sensor, props) in &data {
        let Some((kind, _, _)) = explode_sensor_filename(sensor) else {
            continue;
        };
        let labels = [("chip", chip.as_str()), ("sensor", sensor.as_str())];
        // node_exporter 1.5 passes the label through as written by the driver ("Core 0"),
        // invalid UTF-8 replaced (done when the file was read).
        if let Some(label) = props.get("label") {
            out.family(
                "node_hwmon_sensor_label",
                "Label for given chip and sensor",
                MetricType::Gauge,
            )
            .sample(
                &[("chip", &chip), ("sensor", sensor), ("label", label)],
                1.0,
            );
        }
        let plain = props.get("").map(String::as_str);
        match kind {
            "beep_enable" => {
                let v = if plain == Some("1") { 1.0 } else { 0.0 };
                out.family(
                    "node_hwmon_beep_enabled",
                    "Hardware beep enabled",
                    MetricType::Gauge,
                )
                .sample(&labels, v);
                continue;
            }
            "vrm" => {
                if let Some(v) = plain.and_then(|p| p.trim().parse::<f64>().ok()) {
                    out.family(
                        "node_hwmon_voltage_regulator_version",
                        "Hardware voltage regulator",
                        MetricType::Gauge,
                    )
                    .sample(&labels, v);
                }
                continue;
            }
            "update_interval" => {
                if let Some(v) = plain.and_then(|p| p.trim().parse::<f64>().ok()) {
                    out.family(
                        "node_hwmon_update_interval_seconds",
                        "Hardware monitor update interval",
                        MetricType::Gauge,
                    )
                    .sample(&labels, v * 0.001);
                }
                continue;
            }
            _ => {}
        }
        let prefix = format!("node_hwmon_{kind}");
        for (element, value) in props {
            if element == "label" {
                continue;
            }
            let mut name = prefix.clone();
            if element == "input" {
                // "input" is the value itself, unless a bare file holds it.
                if plain.is_some() {
                    name.push_str("_input");
                }
            } else if !element.is_empty() {
                name.push('_');
                name.push_str(&clean_name(element));
            }
            let Ok(v) = value.trim().parse::<f64>() else {
                continue;
            };
            let (name, help, kind_out, v): (String, Cow<'static, str>, MetricType, f64) = match (kind, element.as_str()) {
                (_, "fault" | "alarm") => {
                    (name, format!("Hardware sensor {element} status ({kind})").into(), MetricType::Gauge, v)
                }
                (_, "beep") => (
                    name + "_enabled",
                    "Hardware monitor sensor has beeping enabled".into(),
                    MetricType::Gauge,
                    v,
                ),
                ("in" | "cpu", _) => (
                    name + "_volts",
                    format!("Hardware monitor for voltage ({element})").into(),
                    MetricType::Gauge,
                    v * 0.001,
                ),
                ("temp", e) if e != "type" => {
                    let e = if e.is_empty() { "input" } else { e };
                    (
                        name + "_celsius",
                        format!("Hardware monitor for temperature ({e})").into(),
                        MetricType::Gauge,
                        v * 0.001,
                    )
                }
                ("curr", _) => (
                    name + "_amps",
                    format!("Hardware monitor for current ({element})").into(),
                    MetricType::Gauge,
                    v * 0.001,
                ),
                ("energy", _) => (
                    name + "_joule_total",
                    format!("Hardware monitor for joules used so far ({element})").into(),
                    MetricType::Counter,
                    v / 1_000_000.0,
                ),
                ("power", "accuracy") => (
                    name,
                    "Hardware monitor power meter accuracy, as a ratio".into(),
                    MetricType::Gauge,
                    v / 1_000_000.0,
                ),
                ("power", "average_interval" | "average_interval_min" | "average_interval_max") => (
                    name + "_seconds",
                    format!("Hardware monitor power usage update interval ({element})").into(),
                    MetricType::Gauge,
                    v * 0.001,
                ),
                ("power", _) => (
                    name + "_watt",
                    format!("Hardware monitor for power usage in watts ({element})").into(),
                    MetricType::Gauge,
                    v / 1_000_000.0,
                ),
                ("humidity", _) => (
                    name,
                    format!(
                        "Hardware monitor for humidity, as a ratio (multiply with 100.0 to get the humidity as a percentage) ({element})"
                    )
                    .into(),
                    MetricType::Gauge,
                    v / 1_000_000.0,
                ),
                ("fan", "input" | "min" | "max" | "target") => (
                    name + "_rpm",
                    format!("Hardware monitor for fan revolutions per minute ({element})").into(),
                    MetricType::Gauge,
                    v,
                ),
                _ => (
                    name,
                    format!("Hardware monitor {kind} element {element}").into(),
                    MetricType::Gauge,
                    v,
                ),
            };
            out.family(name, help, kind_out).sample(&labels, v);
        }
    }
    Ok(())
}

/// The hwmon collector.
pub struct HwmonCollector {
    paths: HostPaths,
}

impl HwmonCollector {
    /// A collector reading `<sysfs>/class/hwmon`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            paths: opts.paths.clone(),
        }
    }
}

impl BlockingCollector for HwmonCollector {
    fn name(&self) -> &str {
        "hwmon"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let base = self.paths.sys("class/hwmon");
        let entries = match std::fs::read_dir(&base) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(CollectError::io(base.display(), e)),
        };
        let mut dirs: Vec<_> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for dir in dirs {
            // One broken chip must not hide the others; it is logged and skipped.
            if let Err(e) = update_chip(out, &dir) {
                tracing::warn!(error = %e, "hwmon chip skipped");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_split_like_node_exporter() {
        assert_eq!(
            explode_sensor_filename("temp1_input"),
            Some(("temp", 1, "input"))
        );
        assert_eq!(
            explode_sensor_filename("temp12_crit_alarm"),
            Some(("temp", 12, "crit_alarm"))
        );
        assert_eq!(explode_sensor_filename("pwm1"), Some(("pwm", 1, "")));
        assert_eq!(
            explode_sensor_filename("beep_enable"),
            Some(("beep_enable", 0, ""))
        );
        assert_eq!(explode_sensor_filename("temp1x"), None);
        assert_eq!(explode_sensor_filename("1temp"), None);
        assert_eq!(clean_name("Package id 0\n"), "package_id_0");
        assert_eq!(clean_name("Left side  "), "left_side");
    }

    #[test]
    fn missing_class_dir_gives_no_samples() {
        let sys = tempfile::tempdir().unwrap();
        let mut opts = HostOptions::default();
        opts.paths.sysfs = sys.path().to_path_buf();
        let mut set = MetricSet::new();
        HwmonCollector::new(&opts).collect(&mut set).unwrap();
        assert_eq!(set.sample_count(), 0);
    }
    #[test]
    fn fixture_chips_and_units() {
        let mut opts = HostOptions::default();
        opts.paths.sysfs = std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/hwmon/sys"
        ));
        let mut set = MetricSet::new();
        HwmonCollector::new(&opts).collect(&mut set).unwrap();
        let core = |s| [("chip", "platform_coretemp_0"), ("sensor", s)];
        let nct = |s| [("chip", "nct6779"), ("sensor", s)];
        assert_eq!(
            set.find(
                "node_hwmon_chip_names",
                &[("chip", "platform_coretemp_0"), ("chip_name", "coretemp")]
            ),
            Some(1.0)
        );
        assert_eq!(
            set.find(
                "node_hwmon_chip_names",
                &[("chip", "nct6779"), ("chip_name", "nct6779")]
            ),
            Some(1.0)
        );
        assert_eq!(
            set.find("node_hwmon_temp_celsius", &core("temp1")),
            Some(52.0)
        );
        assert_eq!(
            set.find("node_hwmon_temp_crit_celsius", &core("temp1")),
            Some(100.0)
        );
        assert_eq!(
            set.find("node_hwmon_temp_crit_alarm_celsius", &core("temp1")),
            Some(0.0)
        );
        assert_eq!(
            set.find("node_hwmon_temp_max_celsius", &core("temp2")),
            Some(84.0)
        );
        assert_eq!(
            set.find(
                "node_hwmon_sensor_label",
                &[
                    ("chip", "platform_coretemp_0"),
                    ("sensor", "temp1"),
                    ("label", "Package id 0")
                ]
            ),
            Some(1.0)
        );
        assert_eq!(set.find("node_hwmon_fan_rpm", &nct("fan1")), Some(2600.0));
        assert_eq!(
            set.find("node_hwmon_fan_min_rpm", &nct("fan1")),
            Some(300.0)
        );
        assert_eq!(set.find("node_hwmon_fan_alarm", &nct("fan1")), Some(0.0));
        assert_eq!(set.find("node_hwmon_pwm", &nct("pwm1")), Some(128.0));
        assert_eq!(set.find("node_hwmon_pwm_enable", &nct("pwm1")), Some(2.0));
        assert_eq!(
            set.find("node_hwmon_in_volts", &nct("in0")),
            Some(1128.0 * 0.001)
        );
        assert_eq!(
            set.find("node_hwmon_power_average_watt", &nct("power1")),
            Some(15.5)
        );
        assert_eq!(
            set.find("node_hwmon_energy_joule_total", &nct("energy1")),
            Some(123.0)
        );
        assert_eq!(set.find("node_hwmon_curr_amps", &nct("curr1")), Some(1.5));
        assert_eq!(
            set.find("node_hwmon_humidity", &nct("humidity1")),
            Some(0.45)
        );
        assert_eq!(
            set.find("node_hwmon_beep_enabled", &nct("beep_enable0")),
            Some(1.0)
        );
        assert_eq!(
            set.find(
                "node_hwmon_update_interval_seconds",
                &nct("update_interval0")
            ),
            Some(1.0)
        );
        assert_eq!(set.find("node_hwmon_temp_type", &nct("temp3")), Some(4.0));
        assert_eq!(
            set.find("node_hwmon_temp_celsius", &nct("temp3")),
            Some(30.0)
        );
        let energy = set
            .families()
            .iter()
            .find(|f| f.name == "node_hwmon_energy_joule_total")
            .unwrap();
        assert_eq!(energy.kind, MetricType::Counter);
    }
}
