//! `bcache`: bcache cache sets from `/sys/fs/bcache/<set-uuid>/`, their backing devices
//! (`bdev<N>`) and cache devices (`cache<N>`) (Documentation/admin-guide/bcache.rst), as
//! node_exporter 1.5. Sizes are printed by the kernel's `bch_hprint` (`7.3M`: an integer, one
//! digit of tenths of the unit computed as `remainder * 10 / 1024`, and a binary unit) and read
//! back the way node_exporter reads them. `--collector.bcache.priorityStats` adds the unused
//! and metadata shares of each cache device (reading `priority_stats` walks every bucket in
//! the kernel, so it is off by default). No bcache: no samples.
//!
//! `internal/btree_read_average_duration_us` is in microseconds; node_exporter 1.5 scales it
//! as nanoseconds (1000 times too small), we report true seconds.

use super::class_dir;
use super::sysfs_dir::SysfsDir;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `bcache` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "bcache",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(BcacheCollector::new(opts))))),
};

/// How a value is read: a plain number or `bch_hprint` output.
#[derive(Clone, Copy)]
enum Format {
    Plain,
    Human,
    /// Microseconds, reported in seconds.
    Micros,
}

/// A value of a cache set: (file relative to the set, family, type, format, help).
type Field = (&'static str, &'static str, MetricType, Format, &'static str);

const SET: &[Field] = &[
    ("average_key_size", "node_bcache_average_key_size_sectors", MetricType::Gauge, Format::Human, "Average data per key in the btree (sectors)."),
    ("btree_cache_size", "node_bcache_btree_cache_size_bytes", MetricType::Gauge, Format::Human, "Amount of memory currently used by the btree cache."),
    ("cache_available_percent", "node_bcache_cache_available_percent", MetricType::Gauge, Format::Plain, "Percentage of cache device without dirty data, usable for writeback (may contain clean cached data)."),
    ("congested", "node_bcache_congested", MetricType::Gauge, Format::Plain, "Congestion."),
    ("root_usage_percent", "node_bcache_root_usage_percent", MetricType::Gauge, Format::Plain, "Percentage of the root btree node in use (tree depth increases if too high)."),
    ("tree_depth", "node_bcache_tree_depth", MetricType::Gauge, Format::Plain, "Depth of the btree."),
    ("internal/active_journal_entries", "node_bcache_active_journal_entries", MetricType::Gauge, Format::Plain, "Number of journal entries that are newer than the index."),
    ("internal/btree_nodes", "node_bcache_btree_nodes", MetricType::Gauge, Format::Plain, "Total nodes in the btree."),
    ("internal/btree_read_average_duration_us", "node_bcache_btree_read_average_duration_seconds", MetricType::Gauge, Format::Micros, "Average btree read duration."),
    ("internal/cache_read_races", "node_bcache_cache_read_races_total", MetricType::Counter, Format::Plain, "Counts instances where while data was being read from the cache, the bucket was reused and invalidated - i.e. where the pointer was stale after the read completed."),
];

const BACKING: &[Field] = &[
    (
        "stats_total/bypassed",
        "node_bcache_bypassed_bytes_total",
        MetricType::Counter,
        Format::Human,
        "Amount of IO (both reads and writes) that has bypassed the cache.",
    ),
    (
        "stats_total/cache_bypass_hits",
        "node_bcache_cache_bypass_hits_total",
        MetricType::Counter,
        Format::Plain,
        "Hits for IO intended to skip the cache.",
    ),
    (
        "stats_total/cache_bypass_misses",
        "node_bcache_cache_bypass_misses_total",
        MetricType::Counter,
        Format::Plain,
        "Misses for IO intended to skip the cache.",
    ),
    (
        "stats_total/cache_hits",
        "node_bcache_cache_hits_total",
        MetricType::Counter,
        Format::Plain,
        "Hits counted per individual IO as bcache sees them.",
    ),
    (
        "stats_total/cache_miss_collisions",
        "node_bcache_cache_miss_collisions_total",
        MetricType::Counter,
        Format::Plain,
        "Instances where data insertion from cache miss raced with write (data already present).",
    ),
    (
        "stats_total/cache_misses",
        "node_bcache_cache_misses_total",
        MetricType::Counter,
        Format::Plain,
        "Misses counted per individual IO as bcache sees them.",
    ),
    (
        "stats_total/cache_readaheads",
        "node_bcache_cache_readaheads_total",
        MetricType::Counter,
        Format::Plain,
        "Count of times readahead occurred.",
    ),
    (
        "dirty_data",
        "node_bcache_dirty_data_bytes",
        MetricType::Gauge,
        Format::Human,
        "Amount of dirty data for this backing device in the cache.",
    ),
];

/// Lines of a backing device's `writeback_rate_debug`: (key, family, help).
const WRITEBACK: [(&str, &str, &str); 5] = [
    (
        "target",
        "node_bcache_dirty_target_bytes",
        "Current dirty data target threshold for this backing device in bytes.",
    ),
    (
        "rate",
        "node_bcache_writeback_rate",
        "Current writeback rate for this backing device in bytes.",
    ),
    (
        "proportional",
        "node_bcache_writeback_rate_proportional_term",
        "Current result of proportional controller, part of writeback rate",
    ),
    (
        "integral",
        "node_bcache_writeback_rate_integral_term",
        "Current result of integral controller, part of writeback rate",
    ),
    (
        "change",
        "node_bcache_writeback_change",
        "Last writeback rate change step for this backing device.",
    ),
];

const CACHE: &[Field] = &[
    (
        "io_errors",
        "node_bcache_io_errors",
        MetricType::Gauge,
        Format::Plain,
        "Number of errors that have occurred, decayed by io_error_halflife.",
    ),
    (
        "metadata_written",
        "node_bcache_metadata_written_bytes_total",
        MetricType::Counter,
        Format::Human,
        "Sum of all non data writes (btree writes and all other metadata).",
    ),
    (
        "written",
        "node_bcache_written_bytes_total",
        MetricType::Counter,
        Format::Human,
        "Sum of all data that has been written to the cache.",
    ),
];

/// Reads `<sysfs>/fs/bcache` on each scrape.
pub struct BcacheCollector {
    dir: PathBuf,
    priority_stats: bool,
}

impl BcacheCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            dir: opts.paths.sys("fs/bcache"),
            priority_stats: opts.bcache_priority_stats,
        }
    }
}

/// Reads back a `bch_hprint` value (`2.5k`, `-4.6M`, `8.0k/sec`, `512`) as node_exporter 1.5
/// does: the integer times the unit, plus the tenths digit times 100 times the unit / 1024.
pub fn dehumanize(text: &str) -> Option<f64> {
    let text = text.trim().trim_end_matches("/sec");
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (number, unit) = match text.as_bytes().last()? {
        b'0'..=b'9' => (text, 1u64),
        _ => {
            let power = match text.as_bytes()[text.len() - 1] {
                b'k' => 1,
                b'M' => 2,
                b'G' => 3,
                b'T' => 4,
                b'P' => 5,
                b'E' => 6,
                _ => return None,
            };
            (&text[..text.len() - 1], 1u64 << (10 * power))
        }
    };
    let (int, tenths) = match number.split_once('.') {
        Some((i, f)) => (i.parse::<u64>().ok()?, f.parse::<u64>().ok()?),
        None => (number.parse::<u64>().ok()?, 0),
    };
    let v = int
        .checked_mul(unit)?
        .checked_add(tenths.checked_mul(100)?.checked_mul(unit / 1024)?)?;
    Some(if negative { -(v as f64) } else { v as f64 })
}

/// Reads `file` of `dir` in `format`.
fn value(dir: &SysfsDir, file: &str, format: Format) -> Option<f64> {
    let text = class_dir::text(dir, file)?;
    match format {
        Format::Plain => text.parse().ok(),
        Format::Human => dehumanize(&text),
        Format::Micros => text.parse::<f64>().ok().map(|us| us / 1e6),
    }
}

/// Emits `fields` of the directory `dir` with `labels`.
fn emit(out: &mut MetricSet, dir: &Path, fields: &[Field], labels: &[(&str, &str)]) {
    let d = SysfsDir::open(dir);
    for (file, name, kind, format, help) in fields {
        if let Some(v) = value(&d, file, *format) {
            out.family(*name, *help, *kind).sample(labels, v);
        }
    }
}

/// The percentage after `key:` in `priority_stats` (`Unused:\t\t99%`).
fn percent(text: &str, key: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches('%')
        .parse()
        .ok()
}

impl BcacheCollector {
    fn set(&self, uuid: &str, out: &mut MetricSet) -> Result<(), CollectError> {
        let dir = self.dir.join(uuid);
        emit(out, &dir, SET, &[("uuid", uuid)]);
        for bdev in class_dir::entries(&dir, "bdev")?.unwrap_or_default() {
            let labels = [("backing_device", bdev.as_str()), ("uuid", uuid)];
            let bdir = dir.join(&bdev);
            emit(out, &bdir, BACKING, &labels);
            let d = SysfsDir::open(&bdir);
            let Some(debug) = class_dir::text(&d, "writeback_rate_debug") else {
                continue;
            };
            for (key, name, help) in WRITEBACK {
                let v = debug.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    (k.trim() == key).then(|| dehumanize(v)).flatten()
                });
                if let Some(v) = v {
                    out.family(name, help, MetricType::Gauge).sample(&labels, v);
                }
            }
        }
        for cache in class_dir::entries(&dir, "cache")?.unwrap_or_default() {
            let labels = [("cache_device", cache.as_str()), ("uuid", uuid)];
            let cdir = dir.join(&cache);
            emit(out, &cdir, CACHE, &labels);
            if !self.priority_stats {
                continue;
            }
            let d = SysfsDir::open(&cdir);
            let Some(stats) = class_dir::text(&d, "priority_stats") else {
                continue;
            };
            for (key, name, help) in [
                (
                    "Unused",
                    "node_bcache_priority_stats_unused_percent",
                    "The percentage of the cache that doesn't contain any data.",
                ),
                (
                    "Metadata",
                    "node_bcache_priority_stats_metadata_percent",
                    "Bcache's metadata overhead.",
                ),
            ] {
                if let Some(v) = percent(&stats, key) {
                    out.family(name, help, MetricType::Gauge).sample(&labels, v);
                }
            }
        }
        Ok(())
    }
}

impl BlockingCollector for BcacheCollector {
    fn name(&self) -> &str {
        "bcache"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let Some(entries) = class_dir::entries(&self.dir, "")? else {
            return Ok(());
        };
        for uuid in &entries {
            // Cache sets are directories named by UUID; `register` and friends are files.
            if uuid.matches('-').count() == 4 && self.dir.join(uuid).is_dir() {
                self.set(uuid, out)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfile::fixtures;

    #[test]
    fn reads_back_bch_hprint_like_node_exporter() {
        assert_eq!(dehumanize("2.5k"), Some(2548.0));
        assert_eq!(dehumanize("7.3M"), Some(7647232.0));
        assert_eq!(dehumanize("-4.6M"), Some(-4808704.0));
        assert_eq!(dehumanize("8.0k/sec"), Some(8192.0));
        assert_eq!(dehumanize("0/sec"), Some(0.0));
        assert_eq!(dehumanize("512"), Some(512.0));
        assert_eq!(dehumanize("1.1x"), None);
        assert_eq!(dehumanize(""), None);
    }

    #[test]
    fn reads_sets_backing_and_cache_devices() {
        let mut opts = fixtures::options("server");
        opts.bcache_priority_stats = true;
        let mut out = MetricSet::new();
        BcacheCollector::new(&opts).collect(&mut out).unwrap();
        let uuid = "deaddd54-c735-46d5-868e-f331c5fd7c74";
        assert_eq!(
            out.find("node_bcache_tree_depth", &[("uuid", uuid)]),
            Some(2.0)
        );
        assert_eq!(
            out.find(
                "node_bcache_dirty_target_bytes",
                &[("backing_device", "bdev0")]
            ),
            Some(2147483648.0)
        );
        assert_eq!(
            out.find(
                "node_bcache_written_bytes_total",
                &[("cache_device", "cache0")]
            ),
            Some(66572288.0)
        );
        assert_eq!(
            out.find(
                "node_bcache_priority_stats_unused_percent",
                &[("cache_device", "cache0")]
            ),
            Some(99.0)
        );
    }
}
