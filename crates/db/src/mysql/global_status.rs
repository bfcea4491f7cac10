//! `SHOW GLOBAL STATUS`, every numeric row, named as mysqld_exporter 0.14 names it.
//!
//! A row becomes `mysql_global_status_<name>` (untyped), except the families mysqld_exporter
//! groups by label: `Com_*` → `commands_total{command}`, `Handler_*` → `handlers_total{handler}`,
//! `Connection_errors_*` → `connection_errors_total{error}`, `Innodb_buffer_pool_pages_*` →
//! `buffer_pool_pages{state}` / `buffer_pool_dirty_pages` / `buffer_pool_page_changes_total
//! {operation}`, `Innodb_rows_*` → `innodb_row_ops_total{operation}` and
//! `Performance_schema_*` → `performance_schema_lost_total{instrumentation}`.

use super::value::parse_status;
use crate::engine::{unix_now, Out};
use crate::sanitize::{name_part_logged, not_a_number};
use std::collections::HashSet;
use watchkeeper_core::metrics::MetricType;

const SOURCE: &str = "SHOW GLOBAL STATUS";

/// Text rows kept for labels rather than values.
#[derive(Default)]
struct Text {
    local_state_uuid: Option<String>,
    cluster_state_uuid: Option<String>,
    provider_version: Option<String>,
}

/// Writes the samples of `SHOW GLOBAL STATUS` rows (`Variable_name`, `Value`).
pub fn to_samples<'a>(rows: impl IntoIterator<Item = (&'a str, &'a str)>, out: &mut Out) {
    let mut seen: HashSet<String> = HashSet::new();
    let mut text = Text::default();
    for (raw_name, raw_value) in rows {
        let key = name_part_logged(SOURCE, raw_name);
        match key.as_ref() {
            "wsrep_local_state_uuid" => text.local_state_uuid = Some(raw_value.to_string()),
            "wsrep_cluster_state_uuid" => text.cluster_state_uuid = Some(raw_value.to_string()),
            "wsrep_provider_version" => text.provider_version = Some(raw_value.to_string()),
            _ => {}
        }
        let Some(v) = parse_status(raw_value) else {
            not_a_number(SOURCE, raw_name, raw_value);
            continue;
        };
        if !seen.insert(key.to_string()) {
            crate::sanitize::warn_once(&format!("dup:{SOURCE}:{key}"), || {
                format!(
                    "{SOURCE}: {raw_name:?} repeats an earlier name once cleaned ({key}); skipped"
                )
            });
            continue;
        }
        one(&key, v, out);
    }
    if let Some(uuid) = text.local_state_uuid.filter(|u| !u.is_empty()) {
        out.gauge(
            "mysql_galera_status_info",
            "PXC/Galera status information.",
            &[
                ("wsrep_local_state_uuid", &uuid),
                (
                    "wsrep_cluster_state_uuid",
                    text.cluster_state_uuid.as_deref().unwrap_or(""),
                ),
                (
                    "wsrep_provider_version",
                    text.provider_version.as_deref().unwrap_or(""),
                ),
            ],
            1.0,
        );
    }
}

fn one(key: &str, v: f64, out: &mut Out) {
    if let Some(cmd) = key.strip_prefix("com_") {
        out.counter(
            "mysql_global_status_commands_total",
            "Total number of executed MySQL commands.",
            &[("command", cmd)],
            v,
        );
    } else if let Some(h) = key.strip_prefix("handler_") {
        out.counter(
            "mysql_global_status_handlers_total",
            "Total number of executed MySQL handlers.",
            &[("handler", h)],
            v,
        );
    } else if let Some(e) = key.strip_prefix("connection_errors_") {
        out.counter(
            "mysql_global_status_connection_errors_total",
            "Total number of MySQL connection errors.",
            &[("error", e)],
            v,
        );
    } else if let Some(state) = key.strip_prefix("innodb_buffer_pool_pages_") {
        match state {
            "data" | "free" | "misc" | "old" => out.gauge(
                "mysql_global_status_buffer_pool_pages",
                "Innodb buffer pool pages by state.",
                &[("state", state)],
                v,
            ),
            "dirty" => out.gauge(
                "mysql_global_status_buffer_pool_dirty_pages",
                "Innodb buffer pool dirty pages.",
                &[],
                v,
            ),
            "total" => {}
            op => out.counter(
                "mysql_global_status_buffer_pool_page_changes_total",
                "Innodb buffer pool page state changes.",
                &[("operation", op)],
                v,
            ),
        }
    } else if let Some(op) = key.strip_prefix("innodb_rows_") {
        out.counter(
            "mysql_global_status_innodb_row_ops_total",
            "Total number of MySQL InnoDB row operations.",
            &[("operation", op)],
            v,
        );
    } else if let Some(i) = key.strip_prefix("performance_schema_") {
        out.counter(
            "mysql_global_status_performance_schema_lost_total",
            "Total number of MySQL instrumentations that could not be loaded or created due to memory constraints.",
            &[("instrumentation", i)],
            v,
        );
    } else {
        out.add(
            format!("mysql_global_status_{key}"),
            "Generic metric from SHOW GLOBAL STATUS.",
            MetricType::Untyped,
            &[],
            v,
        );
        if key == "uptime" {
            out.gauge(
                "mysql_start_time_seconds",
                "Start time of the server, in Unix seconds.",
                &[],
                (unix_now() - v).floor(),
            );
        }
    }
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
    fn special_prefixes_become_labelled_families() {
        let set = run(&[
            ("Com_select", "5"),
            ("Handler_read_rnd_next", "688"),
            ("Connection_errors_accept", "0"),
            ("Innodb_buffer_pool_pages_data", "300"),
            ("Innodb_buffer_pool_pages_dirty", "2"),
            ("Innodb_buffer_pool_pages_total", "8000"),
            ("Innodb_buffer_pool_pages_flushed", "7"),
            ("Innodb_rows_read", "9"),
            ("Performance_schema_digest_lost", "0"),
            ("Threads_connected", "3"),
        ]);
        assert_eq!(
            set.find(
                "mysql_global_status_commands_total",
                &[("command", "select")]
            ),
            Some(5.0)
        );
        assert_eq!(
            set.find(
                "mysql_global_status_handlers_total",
                &[("handler", "read_rnd_next")]
            ),
            Some(688.0)
        );
        assert_eq!(
            set.find(
                "mysql_global_status_connection_errors_total",
                &[("error", "accept")]
            ),
            Some(0.0)
        );
        assert_eq!(
            set.find(
                "mysql_global_status_buffer_pool_pages",
                &[("state", "data")]
            ),
            Some(300.0)
        );
        assert_eq!(
            set.find("mysql_global_status_buffer_pool_dirty_pages", &[]),
            Some(2.0)
        );
        assert_eq!(
            set.find(
                "mysql_global_status_buffer_pool_page_changes_total",
                &[("operation", "flushed")]
            ),
            Some(7.0)
        );
        assert_eq!(
            set.find(
                "mysql_global_status_innodb_row_ops_total",
                &[("operation", "read")]
            ),
            Some(9.0)
        );
        assert_eq!(
            set.find(
                "mysql_global_status_performance_schema_lost_total",
                &[("instrumentation", "digest_lost")]
            ),
            Some(0.0)
        );
        assert_eq!(
            set.find("mysql_global_status_threads_connected", &[]),
            Some(3.0)
        );
        assert!(set
            .families()
            .iter()
            .all(|f| !f.name.contains("pages_total")));
        let kind = |n: &str| set.families().iter().find(|f| f.name == n).map(|f| f.kind);
        assert_eq!(
            kind("mysql_global_status_commands_total"),
            Some(MetricType::Counter)
        );
        assert_eq!(
            kind("mysql_global_status_threads_connected"),
            Some(MetricType::Untyped)
        );
    }

    #[test]
    fn words_count_and_text_is_skipped_not_an_error() {
        let set = run(&[
            ("Slave_running", "OFF"),
            ("Rpl_semi_sync_master_status", "ON"),
            (
                "Innodb_buffer_pool_dump_status",
                "Dumping of buffer pool not started",
            ),
            ("Queries", "not a number"),
            ("Uptime", "100"),
        ]);
        assert_eq!(
            set.find("mysql_global_status_slave_running", &[]),
            Some(0.0)
        );
        assert_eq!(
            set.find("mysql_global_status_rpl_semi_sync_master_status", &[]),
            Some(1.0)
        );
        assert_eq!(set.find("mysql_global_status_queries", &[]), None);
        assert!(set
            .families()
            .iter()
            .all(|f| !f.name.contains("dump_status")));
        assert!(set.find("mysql_start_time_seconds", &[]).is_some());
    }

    #[test]
    fn bad_names_are_cleaned_and_repeats_dropped() {
        let set = run(&[
            ("Odd-name.x", "1"),
            ("odd_name_x", "2"),
            ("", "3"),
            ("Com_", "4"),
        ]);
        assert_eq!(set.find("mysql_global_status_odd_name_x", &[]), Some(1.0));
        let odd = set
            .families()
            .iter()
            .find(|f| f.name == "mysql_global_status_odd_name_x")
            .unwrap();
        assert_eq!(odd.samples.len(), 1);
        for f in set.families() {
            assert!(crate::sanitize::is_metric_name(&f.name), "{}", f.name);
        }
    }

    #[test]
    fn ten_thousand_rows_are_fine() {
        let names: Vec<String> = (0..10_000)
            .map(|i| format!("Custom_plugin_counter_{i}"))
            .collect();
        let rows: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
        let start = std::time::Instant::now();
        let set = run(&rows);
        assert_eq!(set.families().len(), 10_000);
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }
}
