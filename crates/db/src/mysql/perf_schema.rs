//! The optional `performance_schema` collectors (`collect:` in the target's configuration),
//! named as mysqld_exporter 0.14's `--collect.perf_schema.eventsstatements` (statement digests)
//! and `--collect.perf_schema.tableiowaits` (table I/O waits). Timers are picoseconds on the
//! server and seconds here.

use crate::engine::{Cell, Out, Row};

/// The most digests exported, the costliest first (mysqld_exporter's default).
pub const DIGEST_LIMIT: usize = 250;

/// Digests seen in the last day, grouped as mysqld_exporter groups them; the digest text is cut
/// to 120 characters (it holds no literal values: the server replaces them with `?`).
pub const EVENTS_STATEMENTS_SQL: &str =
    "SELECT ifnull(SCHEMA_NAME, 'NONE') AS SCHEMA_NAME, DIGEST, \
 LEFT(DIGEST_TEXT, 120) AS DIGEST_TEXT, COUNT_STAR, SUM_TIMER_WAIT, SUM_ERRORS, SUM_WARNINGS, \
 SUM_ROWS_AFFECTED, SUM_ROWS_SENT, SUM_ROWS_EXAMINED, SUM_CREATED_TMP_DISK_TABLES, \
 SUM_CREATED_TMP_TABLES, SUM_SORT_MERGE_PASSES, SUM_SORT_ROWS, SUM_NO_INDEX_USED \
 FROM performance_schema.events_statements_summary_by_digest \
 WHERE SCHEMA_NAME NOT IN ('mysql', 'performance_schema', 'information_schema') \
 AND LAST_SEEN > DATE_SUB(NOW(), INTERVAL 86400 SECOND) \
 ORDER BY SUM_TIMER_WAIT DESC LIMIT 250";

/// Per table and operation.
pub const TABLE_IO_WAITS_SQL: &str = "SELECT OBJECT_SCHEMA, OBJECT_NAME, \
 COUNT_FETCH, COUNT_INSERT, COUNT_UPDATE, COUNT_DELETE, \
 SUM_TIMER_FETCH, SUM_TIMER_INSERT, SUM_TIMER_UPDATE, SUM_TIMER_DELETE \
 FROM performance_schema.table_io_waits_summary_by_table \
 WHERE OBJECT_SCHEMA NOT IN ('mysql', 'performance_schema') LIMIT 5000";

const PICO: f64 = 1e12;

fn text(row: &Row, i: usize) -> String {
    match row.get(i).map(|(_, c)| c) {
        None | Some(Cell::Null) => String::new(),
        Some(c) => c.as_label(),
    }
}

fn number(row: &Row, i: usize) -> f64 {
    row.get(i).and_then(|(_, c)| c.as_value()).unwrap_or(0.0)
}

/// Columns 3.. of [`EVENTS_STATEMENTS_SQL`]: name, help, divisor.
const STATEMENTS: [(&str, &str, f64); 12] = [
    (
        "mysql_perf_schema_events_statements_total",
        "The total count of events statements by digest.",
        1.0,
    ),
    (
        "mysql_perf_schema_events_statements_seconds_total",
        "The total time of events statements by digest.",
        PICO,
    ),
    (
        "mysql_perf_schema_events_statements_errors_total",
        "The errors of events statements by digest.",
        1.0,
    ),
    (
        "mysql_perf_schema_events_statements_warnings_total",
        "The warnings of events statements by digest.",
        1.0,
    ),
    (
        "mysql_perf_schema_events_statements_rows_affected_total",
        "The total rows affected of events statements by digest.",
        1.0,
    ),
    (
        "mysql_perf_schema_events_statements_rows_sent_total",
        "The number of rows sent by events statements by digest.",
        1.0,
    ),
    (
        "mysql_perf_schema_events_statements_rows_examined_total",
        "The number of rows examined by events statements by digest.",
        1.0,
    ),
    (
        "mysql_perf_schema_events_statements_tmp_disk_tables_total",
        "The number of temporary disk tables created by events statements by digest.",
        1.0,
    ),
    (
        "mysql_perf_schema_events_statements_tmp_tables_total",
        "The number of temporary tables created by events statements by digest.",
        1.0,
    ),
    (
        "mysql_perf_schema_events_statements_sort_merge_passes_total",
        "The number of merge passes by the sort algorithm performed by digest.",
        1.0,
    ),
    (
        "mysql_perf_schema_events_statements_sort_rows_total",
        "The number of sorted rows performed by digest.",
        1.0,
    ),
    (
        "mysql_perf_schema_events_statements_no_index_used_total",
        "The total number of statements that used full table scans by digest.",
        1.0,
    ),
];

/// Writes the digest families from [`EVENTS_STATEMENTS_SQL`]'s rows.
pub fn events_statements(rows: &[Row], out: &mut Out) {
    for row in rows.iter().take(DIGEST_LIMIT) {
        let (schema, digest, digest_text) = (text(row, 0), text(row, 1), text(row, 2));
        let labels = [
            ("schema", schema.as_str()),
            ("digest", digest.as_str()),
            ("digest_text", digest_text.as_str()),
        ];
        for (i, (name, help, divisor)) in STATEMENTS.iter().enumerate() {
            out.counter(*name, *help, &labels, number(row, 3 + i) / divisor);
        }
    }
}

/// Writes the table I/O wait families from [`TABLE_IO_WAITS_SQL`]'s rows.
pub fn table_io_waits(rows: &[Row], out: &mut Out) {
    for row in rows {
        let (schema, name) = (text(row, 0), text(row, 1));
        for (i, op) in ["fetch", "insert", "update", "delete"].iter().enumerate() {
            let labels = [
                ("schema", schema.as_str()),
                ("name", name.as_str()),
                ("operation", *op),
            ];
            out.counter(
                "mysql_perf_schema_table_io_waits_total",
                "The total number of table I/O wait events for each table and operation.",
                &labels,
                number(row, 2 + i),
            );
            out.counter(
                "mysql_perf_schema_table_io_waits_seconds_total",
                "The total time of table I/O wait events for each table and operation.",
                &labels,
                number(row, 6 + i) / PICO,
            );
        }
    }
}
