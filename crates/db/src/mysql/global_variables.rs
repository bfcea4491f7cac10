//! `SHOW GLOBAL VARIABLES`, every numeric row as `mysql_global_variables_<name>` (gauge), and
//! the text rows mysqld_exporter 0.14 turns into info metrics: `mysql_version_info`,
//! `mysql_transaction_isolation`, `mysql_galera_variables_info`, `mysql_galera_gcache_size_bytes`.

use super::value::parse_status;
use crate::engine::Out;
use crate::sanitize::{name_part_logged, not_a_number, warn_once};
use std::collections::{HashMap, HashSet};

const SOURCE: &str = "SHOW GLOBAL VARIABLES";

/// Text variables kept for labels.
const TEXT: [&str; 7] = [
    "innodb_version",
    "version",
    "version_comment",
    "wsrep_cluster_name",
    "wsrep_provider_options",
    "tx_isolation",
    "transaction_isolation",
];

/// Writes the samples of `SHOW GLOBAL VARIABLES` rows (`Variable_name`, `Value`).
pub fn to_samples<'a>(rows: impl IntoIterator<Item = (&'a str, &'a str)>, out: &mut Out) {
    let mut seen: HashSet<String> = HashSet::new();
    let mut text: HashMap<&'static str, String> = HashMap::new();
    for (raw_name, raw_value) in rows {
        let key = name_part_logged(SOURCE, raw_name);
        if let Some(t) = TEXT.iter().find(|t| **t == key) {
            text.insert(t, raw_value.to_string());
        }
        let Some(v) = parse_status(raw_value) else {
            not_a_number(SOURCE, raw_name, raw_value);
            continue;
        };
        if !seen.insert(key.to_string()) {
            warn_once(&format!("dup:{SOURCE}:{key}"), || {
                format!(
                    "{SOURCE}: {raw_name:?} repeats an earlier name once cleaned ({key}); skipped"
                )
            });
            continue;
        }
        out.gauge(
            format!("mysql_global_variables_{key}"),
            "Generic gauge metric from SHOW GLOBAL VARIABLES.",
            &[],
            v,
        );
    }
    let get = |k: &str| text.get(k).map(String::as_str).unwrap_or("");
    out.gauge(
        "mysql_version_info",
        "MySQL version and distribution.",
        &[
            ("innodb_version", get("innodb_version")),
            ("version", get("version")),
            ("version_comment", get("version_comment")),
        ],
        1.0,
    );
    if !get("wsrep_cluster_name").is_empty() {
        out.gauge(
            "mysql_galera_variables_info",
            "PXC/Galera variables information.",
            &[("wsrep_cluster_name", get("wsrep_cluster_name"))],
            1.0,
        );
    }
    if let Some(size) = gcache_size(get("wsrep_provider_options")) {
        out.gauge(
            "mysql_galera_gcache_size_bytes",
            "PXC/Galera gcache size.",
            &[],
            size,
        );
    }
    let level = match get("transaction_isolation") {
        "" => get("tx_isolation"),
        l => l,
    };
    if !level.is_empty() {
        out.gauge(
            "mysql_transaction_isolation",
            "MySQL transaction isolation.",
            &[("level", level)],
            1.0,
        );
    }
}

/// `gcache.size = 128M;` inside `wsrep_provider_options`, in bytes.
fn gcache_size(options: &str) -> Option<f64> {
    let rest = &options[options.find("gcache.size = ")? + "gcache.size = ".len()..];
    let end = rest.find(';')?;
    let spec = &rest[..end];
    let (digits, mult) = match spec.as_bytes().last()? {
        b'M' => (&spec[..spec.len() - 1], 1024.0 * 1024.0),
        b'G' => (&spec[..spec.len() - 1], 1024.0 * 1024.0 * 1024.0),
        _ => (spec, 1.0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<f64>().ok().map(|n| n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rows: &[(&str, &str)]) -> watchkeeper_core::metrics::MetricSet {
        let mut out = Out::new("db");
        to_samples(rows.iter().copied(), &mut out);
        out.into_set()
    }

    #[test]
    fn numeric_and_on_off_variables_are_gauges_text_ones_are_skipped() {
        let set = run(&[
            ("max_connections", "151"),
            ("autocommit", "ON"),
            ("big_tables", "OFF"),
            ("character_set_server", "utf8mb4"),
            ("version", "10.11.6-MariaDB"),
            ("version_comment", "Debian 12"),
            ("innodb_version", "10.11.6"),
            ("tx_isolation", "REPEATABLE-READ"),
            ("wsrep_cluster_name", "my_wsrep_cluster"),
        ]);
        assert_eq!(
            set.find("mysql_global_variables_max_connections", &[]),
            Some(151.0)
        );
        assert_eq!(
            set.find("mysql_global_variables_autocommit", &[]),
            Some(1.0)
        );
        assert_eq!(
            set.find("mysql_global_variables_big_tables", &[]),
            Some(0.0)
        );
        assert!(set
            .families()
            .iter()
            .all(|f| !f.name.contains("character_set")));
        assert_eq!(
            set.find("mysql_version_info", &[("version", "10.11.6-MariaDB")]),
            Some(1.0)
        );
        assert_eq!(
            set.find(
                "mysql_transaction_isolation",
                &[("level", "REPEATABLE-READ")]
            ),
            Some(1.0)
        );
        assert_eq!(
            set.find(
                "mysql_galera_variables_info",
                &[("wsrep_cluster_name", "my_wsrep_cluster")]
            ),
            Some(1.0)
        );
    }

    #[test]
    fn odd_variable_names_are_cleaned_and_repeats_dropped() {
        let set = run(&[
            ("plugin-var.limit", "5"),
            ("plugin_var_limit", "6"),
            ("Weird Name", "ON"),
            ("empty", ""),
        ]);
        assert_eq!(
            set.find("mysql_global_variables_plugin_var_limit", &[]),
            Some(5.0)
        );
        assert_eq!(
            set.find("mysql_global_variables_weird_name", &[]),
            Some(1.0)
        );
        assert_eq!(set.find("mysql_global_variables_empty", &[]), None);
        for f in set.families() {
            assert!(crate::sanitize::is_metric_name(&f.name), "{}", f.name);
            assert_eq!(f.samples.len(), 1, "{}", f.name);
        }
    }

    #[test]
    fn gcache_size_is_read_from_provider_options() {
        assert_eq!(
            gcache_size("base_port = 4567; gcache.size = 128M; x = 1"),
            Some(134_217_728.0)
        );
        assert_eq!(gcache_size("gcache.size = 2G;"), Some(2_147_483_648.0));
        assert_eq!(gcache_size("gcache.size = 100;"), Some(100.0));
        assert_eq!(gcache_size("gcache.size = lots;"), None);
        assert_eq!(gcache_size(""), None);
    }
}
