//! `pg_stat_bgwriter` as postgres_exporter names it (`pg_stat_bgwriter_*_total` counters). From
//! PostgreSQL 17 the checkpoint columns live in `pg_stat_checkpointer`; they are read from
//! there under the same names, and the backend write columns (moved to `pg_stat_io`) are left
//! out.

use crate::engine::Out;

/// Up to PostgreSQL 16.
pub const SQL_BEFORE_17: &str = "SELECT checkpoints_timed, checkpoints_req, \
 checkpoint_write_time, checkpoint_sync_time, buffers_checkpoint, buffers_clean, \
 maxwritten_clean, buffers_backend, buffers_backend_fsync, buffers_alloc, \
 floor(extract(epoch FROM stats_reset)) FROM pg_stat_bgwriter";

/// PostgreSQL 17 and later.
pub const SQL_17: &str = "SELECT c.num_timed, c.num_requested, c.write_time, c.sync_time, \
 c.buffers_written, b.buffers_clean, b.maxwritten_clean, NULL, NULL, b.buffers_alloc, \
 floor(extract(epoch FROM b.stats_reset)) FROM pg_stat_bgwriter b, pg_stat_checkpointer c";

/// The query for a `server_version_num`.
pub fn sql_for(version: u32) -> &'static str {
    if version >= 170_000 {
        SQL_17
    } else {
        SQL_BEFORE_17
    }
}

const COLUMNS: [(&str, &str); 11] = [
    ("pg_stat_bgwriter_checkpoints_timed_total", "Number of scheduled checkpoints that have been performed"),
    ("pg_stat_bgwriter_checkpoints_req_total", "Number of requested checkpoints that have been performed"),
    ("pg_stat_bgwriter_checkpoint_write_time_total", "Total amount of time that has been spent in the portion of checkpoint processing where files are written to disk, in milliseconds"),
    ("pg_stat_bgwriter_checkpoint_sync_time_total", "Total amount of time that has been spent in the portion of checkpoint processing where files are synchronized to disk, in milliseconds"),
    ("pg_stat_bgwriter_buffers_checkpoint_total", "Number of buffers written during checkpoints"),
    ("pg_stat_bgwriter_buffers_clean_total", "Number of buffers written by the background writer"),
    ("pg_stat_bgwriter_maxwritten_clean_total", "Number of times the background writer stopped a cleaning scan because it had written too many buffers"),
    ("pg_stat_bgwriter_buffers_backend_total", "Number of buffers written directly by a backend"),
    ("pg_stat_bgwriter_buffers_backend_fsync_total", "Number of times a backend had to execute its own fsync call (normally the background writer handles those even when the backend does its own write)"),
    ("pg_stat_bgwriter_buffers_alloc_total", "Number of buffers allocated"),
    ("pg_stat_bgwriter_stats_reset_total", "Time at which these statistics were last reset"),
];

/// Writes the counters of the one row (`stats_reset` in whole seconds, as postgres_exporter
/// shows it) (NULL columns are left out).
pub fn to_samples(row: &[Option<String>], out: &mut Out) {
    for (i, (name, help)) in COLUMNS.iter().enumerate() {
        let Some(Some(raw)) = row.get(i) else {
            continue;
        };
        match raw.parse::<f64>() {
            Ok(v) => out.counter(*name, *help, &[], v),
            Err(_) => crate::sanitize::not_a_number("pg_stat_bgwriter", name, raw),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_17_reads_the_checkpointer() {
        assert!(sql_for(160_004).contains("checkpoints_timed"));
        assert!(sql_for(170_000).contains("pg_stat_checkpointer"));
        let row: Vec<Option<String>> =
            vec![Some("4".into()), Some("0".into()), None, Some("x".into())];
        let mut out = Out::new("pg");
        to_samples(&row, &mut out);
        let set = out.into_set();
        assert_eq!(
            set.find("pg_stat_bgwriter_checkpoints_timed_total", &[]),
            Some(4.0)
        );
        assert_eq!(
            set.find("pg_stat_bgwriter_checkpoint_write_time_total", &[]),
            None
        );
        assert_eq!(
            set.find("pg_stat_bgwriter_checkpoint_sync_time_total", &[]),
            None
        );
    }
}
