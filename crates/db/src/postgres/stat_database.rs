//! `pg_stat_database` in full, with `pg_stat_database_conflicts` joined in: one query, every
//! column. Known columns get postgres_exporter's types and help; columns a newer server adds
//! (PostgreSQL 14's session statistics, 16's new conflict kinds) are exported untyped as
//! "Unknown metric from ...", as postgres_exporter 0.11 does, so nothing new is lost.

use crate::civil::pg_timestamp;
use crate::engine::Out;
use crate::sanitize::{is_metric_name, not_a_number};
use watchkeeper_core::metrics::MetricType;

/// Every column of both views, one row per database (the shared-objects row, which has no
/// database name, is left out).
pub const SQL: &str = "SELECT * FROM pg_stat_database d \
 LEFT JOIN pg_stat_database_conflicts c USING (datid, datname) \
 WHERE d.datname IS NOT NULL";

use MetricType::{Counter as C, Gauge as G};

const KNOWN: [(&str, MetricType, &str); 22] = [
    (
        "numbackends",
        G,
        "Number of backends currently connected to this database.",
    ),
    (
        "xact_commit",
        C,
        "Number of transactions in this database that have been committed.",
    ),
    (
        "xact_rollback",
        C,
        "Number of transactions in this database that have been rolled back.",
    ),
    (
        "blks_read",
        C,
        "Number of disk blocks read in this database.",
    ),
    (
        "blks_hit",
        C,
        "Number of times disk blocks were found already in the buffer cache.",
    ),
    (
        "tup_returned",
        C,
        "Number of rows returned by queries in this database.",
    ),
    (
        "tup_fetched",
        C,
        "Number of rows fetched by queries in this database.",
    ),
    (
        "tup_inserted",
        C,
        "Number of rows inserted by queries in this database.",
    ),
    (
        "tup_updated",
        C,
        "Number of rows updated by queries in this database.",
    ),
    (
        "tup_deleted",
        C,
        "Number of rows deleted by queries in this database.",
    ),
    (
        "conflicts",
        C,
        "Number of queries canceled due to conflicts with recovery in this database.",
    ),
    (
        "temp_files",
        C,
        "Number of temporary files created by queries in this database.",
    ),
    (
        "temp_bytes",
        C,
        "Total amount of data written to temporary files by queries in this database.",
    ),
    (
        "deadlocks",
        C,
        "Number of deadlocks detected in this database.",
    ),
    (
        "blk_read_time",
        C,
        "Time spent reading data file blocks by backends in this database, in milliseconds.",
    ),
    (
        "blk_write_time",
        C,
        "Time spent writing data file blocks by backends in this database, in milliseconds.",
    ),
    (
        "stats_reset",
        C,
        "Time at which these statistics were last reset.",
    ),
    (
        "confl_tablespace",
        C,
        "Number of queries in this database that have been canceled due to dropped tablespaces",
    ),
    (
        "confl_lock",
        C,
        "Number of queries in this database that have been canceled due to lock timeouts",
    ),
    (
        "confl_snapshot",
        C,
        "Number of queries in this database that have been canceled due to old snapshots",
    ),
    (
        "confl_bufferpin",
        C,
        "Number of queries in this database that have been canceled due to pinned buffers",
    ),
    (
        "confl_deadlock",
        C,
        "Number of queries in this database that have been canceled due to deadlocks",
    ),
];

/// A cell as a sample value: a number, `t`/`f`, a timestamp (whole Unix seconds), NULL as NaN
/// (as postgres_exporter shows them); `None` for other text.
pub fn value(cell: &Option<String>) -> Option<f64> {
    let Some(s) = cell.as_deref() else {
        return Some(f64::NAN);
    };
    match s {
        "t" => Some(1.0),
        "f" => Some(0.0),
        s => s
            .parse::<f64>()
            .ok()
            .or_else(|| pg_timestamp(s).map(f64::floor)),
    }
}

/// Writes the samples; returns the database names seen.
pub fn to_samples(columns: &[String], rows: &[Vec<Option<String>>], out: &mut Out) -> Vec<String> {
    let at = |name: &str| columns.iter().position(|c| c == name);
    let (Some(datid_at), Some(datname_at)) = (at("datid"), at("datname")) else {
        return Vec::new();
    };
    let mut names = Vec::with_capacity(rows.len());
    for row in rows {
        let datid = row.get(datid_at).cloned().flatten().unwrap_or_default();
        let datname = row.get(datname_at).cloned().flatten().unwrap_or_default();
        let labels = [("datid", datid.as_str()), ("datname", datname.as_str())];
        for (i, col) in columns.iter().enumerate() {
            if i == datid_at || i == datname_at {
                continue;
            }
            let view = if col.starts_with("confl_") {
                "pg_stat_database_conflicts"
            } else {
                "pg_stat_database"
            };
            let name = format!("{view}_{col}");
            if !is_metric_name(&name) {
                continue;
            }
            let cell = row.get(i).cloned().flatten();
            let Some(v) = value(&cell) else {
                not_a_number(view, col, cell.as_deref().unwrap_or(""));
                continue;
            };
            match KNOWN.iter().find(|(c, _, _)| c == col) {
                Some((_, kind, help)) => out.add(name, *help, *kind, &labels, v),
                None => out.add(
                    name,
                    format!("Unknown metric from {view}"),
                    MetricType::Untyped,
                    &labels,
                    v,
                ),
            }
        }
        names.push(datname);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_new_columns() {
        let columns: Vec<String> = [
            "datid",
            "datname",
            "xact_commit",
            "session_time",
            "stats_reset",
            "confl_lock",
            "checksum_last_failure",
            "odd text",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let row = vec![
            Some("5".into()),
            Some("postgres".into()),
            Some("42".into()),
            Some("10161.202".into()),
            Some("1970-01-01 00:00:10.75+00".into()),
            Some("0".into()),
            None,
            Some("x".into()),
        ];
        let mut out = Out::new("pg");
        let names = to_samples(&columns, &[row], &mut out);
        assert_eq!(names, vec!["postgres".to_string()]);
        let set = out.into_set();
        let l = [("datname", "postgres")];
        assert_eq!(set.find("pg_stat_database_xact_commit", &l), Some(42.0));
        assert_eq!(
            set.find("pg_stat_database_session_time", &l),
            Some(10161.202)
        );
        assert_eq!(set.find("pg_stat_database_stats_reset", &l), Some(10.0));
        assert_eq!(
            set.find("pg_stat_database_conflicts_confl_lock", &l),
            Some(0.0)
        );
        assert!(set
            .find("pg_stat_database_checksum_last_failure", &l)
            .unwrap()
            .is_nan());
        let kind = |n: &str| set.families().iter().find(|f| f.name == n).map(|f| f.kind);
        assert_eq!(
            kind("pg_stat_database_session_time"),
            Some(MetricType::Untyped)
        );
        assert_eq!(
            kind("pg_stat_database_conflicts_confl_lock"),
            Some(MetricType::Counter)
        );
        assert!(set.families().iter().all(|f| !f.name.contains("odd")));
    }
}
