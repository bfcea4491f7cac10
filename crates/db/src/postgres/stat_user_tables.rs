//! `pg_stat_user_tables` and `pg_statio_user_tables` of the target's database, joined in one
//! query, named as postgres_exporter's `stat_user_tables` and `statio_user_tables` collectors
//! name them (labels `datname`, `schemaname`, `relname`; NULL counts as 0, never-run vacuum
//! and analyze times as 0).

use crate::engine::Out;
use watchkeeper_core::metrics::MetricType;

/// At most this many tables are exported per target (the rest are cut, logged once): a
/// database with a hundred thousand tables must not turn one scrape into millions of samples.
pub const MAX_TABLES: usize = 5_000;

/// Both views, one row per table.
pub const SQL: &str = "SELECT current_database(), t.schemaname, t.relname, \
 t.seq_scan, t.seq_tup_read, t.idx_scan, t.idx_tup_fetch, t.n_tup_ins, t.n_tup_upd, \
 t.n_tup_del, t.n_tup_hot_upd, t.n_live_tup, t.n_dead_tup, t.n_mod_since_analyze, \
 COALESCE(extract(epoch FROM t.last_vacuum), 0), COALESCE(extract(epoch FROM t.last_autovacuum), 0), \
 COALESCE(extract(epoch FROM t.last_analyze), 0), COALESCE(extract(epoch FROM t.last_autoanalyze), 0), \
 t.vacuum_count, t.autovacuum_count, t.analyze_count, t.autoanalyze_count, \
 s.heap_blks_read, s.heap_blks_hit, s.idx_blks_read, s.idx_blks_hit, \
 s.toast_blks_read, s.toast_blks_hit, s.tidx_blks_read, s.tidx_blks_hit \
 FROM pg_stat_user_tables t JOIN pg_statio_user_tables s USING (relid) \
 ORDER BY t.schemaname, t.relname LIMIT 5001";

use MetricType::{Counter as C, Gauge as G};

/// Columns 3.. of [`SQL`].
const COLUMNS: [(&str, MetricType, &str); 27] = [
    (
        "pg_stat_user_tables_seq_scan",
        C,
        "Number of sequential scans initiated on this table",
    ),
    (
        "pg_stat_user_tables_seq_tup_read",
        C,
        "Number of live rows fetched by sequential scans",
    ),
    (
        "pg_stat_user_tables_idx_scan",
        C,
        "Number of index scans initiated on this table",
    ),
    (
        "pg_stat_user_tables_idx_tup_fetch",
        C,
        "Number of live rows fetched by index scans",
    ),
    (
        "pg_stat_user_tables_n_tup_ins",
        C,
        "Number of rows inserted",
    ),
    ("pg_stat_user_tables_n_tup_upd", C, "Number of rows updated"),
    ("pg_stat_user_tables_n_tup_del", C, "Number of rows deleted"),
    (
        "pg_stat_user_tables_n_tup_hot_upd",
        C,
        "Number of rows HOT updated (i.e., with no separate index update required)",
    ),
    (
        "pg_stat_user_tables_n_live_tup",
        G,
        "Estimated number of live rows",
    ),
    (
        "pg_stat_user_tables_n_dead_tup",
        G,
        "Estimated number of dead rows",
    ),
    (
        "pg_stat_user_tables_n_mod_since_analyze",
        G,
        "Estimated number of rows changed since last analyze",
    ),
    (
        "pg_stat_user_tables_last_vacuum",
        G,
        "Last time at which this table was manually vacuumed (not counting VACUUM FULL)",
    ),
    (
        "pg_stat_user_tables_last_autovacuum",
        G,
        "Last time at which this table was vacuumed by the autovacuum daemon",
    ),
    (
        "pg_stat_user_tables_last_analyze",
        G,
        "Last time at which this table was manually analyzed",
    ),
    (
        "pg_stat_user_tables_last_autoanalyze",
        G,
        "Last time at which this table was analyzed by the autovacuum daemon",
    ),
    (
        "pg_stat_user_tables_vacuum_count",
        C,
        "Number of times this table has been manually vacuumed (not counting VACUUM FULL)",
    ),
    (
        "pg_stat_user_tables_autovacuum_count",
        C,
        "Number of times this table has been vacuumed by the autovacuum daemon",
    ),
    (
        "pg_stat_user_tables_analyze_count",
        C,
        "Number of times this table has been manually analyzed",
    ),
    (
        "pg_stat_user_tables_autoanalyze_count",
        C,
        "Number of times this table has been analyzed by the autovacuum daemon",
    ),
    (
        "pg_statio_user_tables_heap_blocks_read",
        C,
        "Number of disk blocks read from this table",
    ),
    (
        "pg_statio_user_tables_heap_blocks_hit",
        C,
        "Number of buffer hits in this table",
    ),
    (
        "pg_statio_user_tables_idx_blocks_read",
        C,
        "Number of disk blocks read from all indexes on this table",
    ),
    (
        "pg_statio_user_tables_idx_blocks_hit",
        C,
        "Number of buffer hits in all indexes on this table",
    ),
    (
        "pg_statio_user_tables_toast_blocks_read",
        C,
        "Number of disk blocks read from this table's TOAST table (if any)",
    ),
    (
        "pg_statio_user_tables_toast_blocks_hit",
        C,
        "Number of buffer hits in this table's TOAST table (if any)",
    ),
    (
        "pg_statio_user_tables_tidx_blocks_read",
        C,
        "Number of disk blocks read from this table's TOAST table indexes (if any)",
    ),
    (
        "pg_statio_user_tables_tidx_blocks_hit",
        C,
        "Number of buffer hits in this table's TOAST table indexes (if any)",
    ),
];

/// Writes the samples of [`SQL`]'s rows.
pub fn to_samples(rows: &[Vec<Option<String>>], out: &mut Out) {
    if rows.len() > MAX_TABLES {
        crate::sanitize::warn_once("pg_stat_user_tables:cut", || {
            format!("pg_stat_user_tables: more than {MAX_TABLES} tables; only the first {MAX_TABLES} are exported")
        });
    }
    for row in rows.iter().take(MAX_TABLES) {
        let text = |i: usize| row.get(i).and_then(|c| c.as_deref()).unwrap_or("");
        let labels = [
            ("datname", text(0)),
            ("relname", text(2)),
            ("schemaname", text(1)),
        ];
        for (i, (name, kind, help)) in COLUMNS.iter().enumerate() {
            let v = match row.get(3 + i).and_then(|c| c.as_deref()) {
                None => 0.0,
                Some(s) => match s.parse::<f64>() {
                    Ok(v) => v,
                    Err(_) => {
                        crate::sanitize::not_a_number("pg_stat_user_tables", name, s);
                        continue;
                    }
                },
            };
            out.add(*name, *help, *kind, &labels, v);
        }
    }
}
