//! The optional `stat_statements` collector (`collect: [stat_statements]`): the 100 statements
//! with the most execution time from the `pg_stat_statements` extension, named as
//! postgres_exporter's `stat_statements` collector names them (`{user,datname,queryid}`).

use crate::engine::Out;
use watchkeeper_core::metrics::MetricType;

/// How many statements are exported, the costliest first.
pub const LIMIT: usize = 100;

/// The query for a `server_version_num`: PostgreSQL 13 renamed `total_time` to
/// `total_exec_time`, 17 `blk_read_time` to `shared_blk_read_time`.
pub fn sql_for(version: u32) -> String {
    let total = if version >= 130_000 {
        "total_exec_time"
    } else {
        "total_time"
    };
    let (read, write) = if version >= 170_000 {
        ("shared_blk_read_time", "shared_blk_write_time")
    } else {
        ("blk_read_time", "blk_write_time")
    };
    format!(
        "SELECT pg_get_userbyid(s.userid), d.datname, s.queryid, s.calls, s.{total} / 1000.0, \
         s.rows, s.{read} / 1000.0, s.{write} / 1000.0 \
         FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid \
         ORDER BY s.{total} DESC LIMIT {LIMIT}"
    )
}

const COLUMNS: [(&str, &str); 5] = [
    ("pg_stat_statements_calls_total", "Number of times executed"),
    (
        "pg_stat_statements_seconds_total",
        "Total time spent in the statement, in seconds",
    ),
    (
        "pg_stat_statements_rows_total",
        "Total number of rows retrieved or affected by the statement",
    ),
    (
        "pg_stat_statements_block_read_seconds_total",
        "Total time the statement spent reading blocks, in seconds",
    ),
    (
        "pg_stat_statements_block_write_seconds_total",
        "Total time the statement spent writing blocks, in seconds",
    ),
];

/// Writes the samples of [`sql_for`]'s rows.
pub fn to_samples(rows: &[Vec<Option<String>>], out: &mut Out) {
    for row in rows {
        let text = |i: usize| row.get(i).and_then(|c| c.as_deref()).unwrap_or("");
        let labels = [
            ("user", text(0)),
            ("datname", text(1)),
            ("queryid", text(2)),
        ];
        for (i, (name, help)) in COLUMNS.iter().enumerate() {
            let Ok(v) = text(3 + i).parse::<f64>() else {
                continue;
            };
            out.add(*name, *help, MetricType::Counter, &labels, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_follow_the_server_version() {
        assert!(sql_for(120_000).contains("s.total_time"));
        assert!(sql_for(150_000).contains("s.total_exec_time"));
        assert!(sql_for(150_000).contains("s.blk_read_time"));
        assert!(sql_for(170_000).contains("s.shared_blk_read_time"));
        let row: Vec<Option<String>> = ["app", "shop", "-42", "7", "0.5", "70", "0.1", "0"]
            .iter()
            .map(|s| Some(s.to_string()))
            .collect();
        let mut out = Out::new("pg");
        to_samples(&[row], &mut out);
        let set = out.into_set();
        let l = [("user", "app"), ("datname", "shop"), ("queryid", "-42")];
        assert_eq!(set.find("pg_stat_statements_calls_total", &l), Some(7.0));
        assert_eq!(set.find("pg_stat_statements_seconds_total", &l), Some(0.5));
        assert_eq!(
            set.find("pg_stat_statements_block_read_seconds_total", &l),
            Some(0.1)
        );
    }
}
