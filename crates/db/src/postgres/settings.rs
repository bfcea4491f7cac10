//! `pg_settings`: every `bool`, `integer` and `real` setting as `pg_settings_<name>[_<unit>]`,
//! converted to base units as postgres_exporter does (`8kB` pages and `kB` to bytes, `ms`,
//! `min`, `h`, `d` to seconds; -1 left as is), with the setting's description as help.

use crate::engine::Out;
use crate::sanitize::{is_metric_name, not_a_number, warn_once};

/// One query for all of them.
pub const SQL: &str = "SELECT name, setting, COALESCE(unit, ''), short_desc, vartype \
 FROM pg_settings WHERE vartype IN ('bool', 'integer', 'real')";

/// The base unit a PostgreSQL unit converts to, and the factor.
pub fn unit_factor(unit: &str) -> Option<(&'static str, f64)> {
    let kib = 1024.0;
    Some(match unit {
        "" => ("", 1.0),
        "ms" => ("seconds", 1e-3),
        "s" => ("seconds", 1.0),
        "min" => ("seconds", 60.0),
        "h" => ("seconds", 3600.0),
        "d" => ("seconds", 86_400.0),
        "B" => ("bytes", 1.0),
        "kB" | "1kB" => ("bytes", kib),
        "2kB" => ("bytes", 2.0 * kib),
        "4kB" => ("bytes", 4.0 * kib),
        "8kB" => ("bytes", 8.0 * kib),
        "16kB" => ("bytes", 16.0 * kib),
        "32kB" => ("bytes", 32.0 * kib),
        "64kB" => ("bytes", 64.0 * kib),
        "MB" => ("bytes", kib * kib),
        "16MB" => ("bytes", 16.0 * kib * kib),
        "32MB" => ("bytes", 32.0 * kib * kib),
        "64MB" => ("bytes", 64.0 * kib * kib),
        "GB" => ("bytes", kib * kib * kib),
        "TB" => ("bytes", kib * kib * kib * kib),
        _ => return None,
    })
}

/// One setting: (name, setting, unit, short_desc, vartype).
pub type Setting<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str);

/// Writes one gauge per setting.
pub fn to_samples<'a>(rows: impl IntoIterator<Item = Setting<'a>>, out: &mut Out) {
    for (name, setting, unit, desc, vartype) in rows {
        let (value, suffix) = match vartype {
            "bool" => (if setting == "on" { 1.0 } else { 0.0 }, ""),
            _ => {
                let Ok(v) = setting.trim().parse::<f64>() else {
                    not_a_number("pg_settings", name, setting);
                    continue;
                };
                let Some((suffix, factor)) = unit_factor(unit) else {
                    warn_once(&format!("pgunit:{name}:{unit}"), || {
                        format!("pg_settings: {name} has the unknown unit {unit:?}; skipped")
                    });
                    continue;
                };
                // -1 means "disabled" and is kept as is.
                (if v == -1.0 { v } else { v * factor }, suffix)
            }
        };
        // Extension settings are dotted (`pg_stat_statements.max`).
        let mut metric: String = format!("pg_settings_{}", name.replace('.', "_"));
        if !suffix.is_empty() {
            metric.push('_');
            metric.push_str(suffix);
        }
        if !is_metric_name(&metric) {
            let clean = crate::sanitize::name_part(&metric).into_owned();
            warn_once(&format!("pgname:{name}"), || {
                format!("pg_settings: {name:?} is not a valid metric name; exported as {clean}")
            });
            metric = clean;
        }
        if out.has(&metric) {
            warn_once(&format!("pgdup:{name}"), || {
                format!("pg_settings: {name:?} repeats {metric}; skipped")
            });
            continue;
        }
        let help = if suffix.is_empty() {
            desc.to_string()
        } else {
            format!("{desc} [Units converted to {suffix}.]")
        };
        out.gauge(metric, help, &[], value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rows: &[Setting<'_>]) -> watchkeeper_core::metrics::MetricSet {
        let mut out = Out::new("pg");
        to_samples(rows.iter().copied(), &mut out);
        out.into_set()
    }

    #[test]
    fn units_become_bytes_and_seconds() {
        let set = run(&[
            (
                "shared_buffers",
                "16384",
                "8kB",
                "Sets the number of shared memory buffers used by the server.",
                "integer",
            ),
            (
                "work_mem",
                "4096",
                "kB",
                "Sets the maximum memory to be used for query workspaces.",
                "integer",
            ),
            (
                "statement_timeout",
                "1500",
                "ms",
                "Sets the maximum allowed duration of any statement.",
                "integer",
            ),
            ("checkpoint_timeout", "5", "min", "d", "integer"),
            ("log_rotation_age", "1", "d", "d", "integer"),
            ("max_wal_size", "1024", "MB", "d", "integer"),
            ("wal_segment_size", "1", "16MB", "d", "integer"),
            ("vacuum_cost_delay", "2.5", "ms", "d", "real"),
            (
                "max_connections",
                "100",
                "",
                "Sets the maximum number of concurrent connections.",
                "integer",
            ),
            ("temp_file_limit", "-1", "kB", "d", "integer"),
            ("fsync", "on", "", "d", "bool"),
            ("jit", "off", "", "d", "bool"),
        ]);
        assert_eq!(
            set.find("pg_settings_shared_buffers_bytes", &[]),
            Some(134_217_728.0)
        );
        assert_eq!(
            set.find("pg_settings_work_mem_bytes", &[]),
            Some(4_194_304.0)
        );
        assert_eq!(
            set.find("pg_settings_statement_timeout_seconds", &[]),
            Some(1.5)
        );
        assert_eq!(
            set.find("pg_settings_checkpoint_timeout_seconds", &[]),
            Some(300.0)
        );
        assert_eq!(
            set.find("pg_settings_log_rotation_age_seconds", &[]),
            Some(86_400.0)
        );
        assert_eq!(
            set.find("pg_settings_max_wal_size_bytes", &[]),
            Some(1_073_741_824.0)
        );
        assert_eq!(
            set.find("pg_settings_wal_segment_size_bytes", &[]),
            Some(16_777_216.0)
        );
        assert_eq!(
            set.find("pg_settings_vacuum_cost_delay_seconds", &[]),
            Some(0.0025)
        );
        assert_eq!(set.find("pg_settings_max_connections", &[]), Some(100.0));
        assert_eq!(
            set.find("pg_settings_temp_file_limit_bytes", &[]),
            Some(-1.0)
        );
        assert_eq!(set.find("pg_settings_fsync", &[]), Some(1.0));
        assert_eq!(set.find("pg_settings_jit", &[]), Some(0.0));
        let help = &set
            .families()
            .iter()
            .find(|f| f.name == "pg_settings_work_mem_bytes")
            .unwrap()
            .help;
        assert_eq!(
            help,
            "Sets the maximum memory to be used for query workspaces. [Units converted to bytes.]"
        );
    }

    #[test]
    fn odd_settings_are_skipped_or_cleaned_never_fatal() {
        let set = run(&[
            ("my_ext.limit", "10", "", "d", "integer"),
            ("weird unit", "10", "furlongs", "d", "integer"),
            ("not_a_number", "lots", "", "d", "integer"),
            ("9-lives", "9", "", "d", "integer"),
            ("9_lives", "8", "", "d", "integer"),
        ]);
        assert_eq!(set.find("pg_settings_my_ext_limit", &[]), Some(10.0));
        assert_eq!(set.find("pg_settings_not_a_number", &[]), None);
        assert!(set.families().iter().all(|f| !f.name.contains("weird")));
        assert_eq!(set.find("pg_settings_9_lives", &[]), Some(9.0));
        for f in set.families() {
            assert!(is_metric_name(&f.name), "{}", f.name);
            assert_eq!(f.samples.len(), 1, "{}", f.name);
        }
    }
}
