//! `zfs`: OpenZFS statistics from the SPL kstat files under `/proc/spl/kstat/zfs`, as
//! node_exporter 1.5: the module-wide files (`arcstats`, `zil`, ...) as
//! `node_zfs_<subsystem>_<name>`, and per pool its `io` counters, each dataset's `objset-*`
//! counters and its `state`.
//!
//! A kstat file is a header line, a `name type data` line, then one row per statistic; only
//! integer rows (types 3 and 4) are exported, untyped, as node_exporter does. No ZFS module:
//! no samples.

use super::class_dir;
use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `zfs` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "zfs",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(ZfsCollector::new(opts))))),
};

/// Module-wide kstat files and the subsystem their metrics are named after.
const FILES: &[(&str, &str)] = &[
    ("abdstats", "abd"),
    ("arcstats", "arc"),
    ("dmu_tx", "dmu_tx"),
    ("dnodestats", "dnode"),
    ("fm", "fm"),
    ("vdev_cache_stats", "vdev_cache"),
    ("vdev_mirror_stats", "vdev_mirror"),
    ("xuio_stats", "xuio"),
    ("zfetchstats", "zfetch"),
    ("zil", "zil"),
];

/// Pool states, each reported as 0 or 1.
const STATES: [&str; 6] = [
    "online", "degraded", "faulted", "offline", "removed", "unavail",
];

/// Reads `/proc/spl/kstat/zfs` on each scrape.
pub struct ZfsCollector {
    dir: PathBuf,
}

impl ZfsCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            dir: opts.paths.proc("spl/kstat/zfs"),
        }
    }
}

/// One row of a named kstat file: (name, type, data).
fn kstat_rows(text: &str) -> impl Iterator<Item = (usize, &str, &str, &str)> {
    let mut started = false;
    text.lines().enumerate().filter_map(move |(n, line)| {
        let mut f = line.split_ascii_whitespace();
        let (name, kind, data) = (f.next()?, f.next()?, f.next()?);
        if !started {
            started = (name, kind, data) == ("name", "type", "data");
            return None;
        }
        Some((n + 1, name, kind, data))
    })
}

/// Integer rows of a kstat file as (name, value); a row of an integer type that does not
/// parse is an error naming the line.
fn integer_rows<'t>(path: &Path, text: &'t str) -> Result<Vec<(&'t str, f64)>, CollectError> {
    let mut out = Vec::new();
    for (line, name, kind, data) in kstat_rows(text) {
        if kind != "3" && kind != "4" {
            continue;
        }
        let v: u64 = data
            .parse()
            .map_err(|_| procfile::malformed(path, line, format!("{name}: {data:?}")))?;
        out.push((name, v as f64));
    }
    Ok(out)
}

/// `name` with every character outside `[a-zA-Z0-9_]` replaced by `_`.
fn metric_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl ZfsCollector {
    fn module_files(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        for (file, subsystem) in FILES {
            let path = self.dir.join(file);
            let Some(text) = procfile::read_optional(&path)? else {
                continue;
            };
            for (name, v) in integer_rows(&path, &text)? {
                out.family(
                    format!("node_zfs_{subsystem}_{}", metric_part(name)),
                    format!("kstat.zfs.misc.{file}.{name}"),
                    MetricType::Untyped,
                )
                .value(v);
            }
        }
        Ok(())
    }

    fn pool(&self, pool: &str, out: &mut MetricSet) -> Result<(), CollectError> {
        let dir = self.dir.join(pool);
        // `io`: a header, a line of column names, a line of values (older OpenZFS only).
        let path = dir.join("io");
        if let Some(text) = procfile::read_optional(&path)? {
            let mut lines = text.lines().skip(1);
            let (names, values) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
            for (name, raw) in names
                .split_ascii_whitespace()
                .zip(values.split_ascii_whitespace())
            {
                let v = procfile::number(&path, 3, name, raw)?;
                out.family(
                    format!("node_zfs_zpool_{}", metric_part(name)),
                    format!("kstat.zfs.misc.io.{name}"),
                    MetricType::Untyped,
                )
                .sample(&[("zpool", pool)], v);
            }
        }
        for objset in class_dir::entries(&dir, "objset-")?.unwrap_or_default() {
            let path = dir.join(&objset);
            let text = match procfile::read_whole(&path) {
                Ok(t) => t,
                // A dataset destroyed since the listing.
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(CollectError::io(path.display(), e)),
            };
            let dataset = kstat_rows(&text)
                .find(|(_, name, _, _)| *name == "dataset_name")
                .map(|(_, _, _, data)| data.to_string())
                .unwrap_or_default();
            for (name, v) in integer_rows(&path, &text)? {
                out.family(
                    format!("node_zfs_zpool_dataset_{}", metric_part(name)),
                    format!("kstat.zfs.misc.objset.{name}"),
                    MetricType::Untyped,
                )
                .sample(&[("zpool", pool), ("dataset", &dataset)], v);
            }
        }
        if let Some(text) = procfile::read_optional(&dir.join("state"))? {
            let state = text.trim().to_lowercase();
            let fam = out.family(
                "node_zfs_zpool_state",
                "kstat.zfs.misc.state",
                MetricType::Gauge,
            );
            for s in STATES {
                fam.sample(
                    &[("zpool", pool), ("state", s)],
                    if s == state { 1.0 } else { 0.0 },
                );
            }
        }
        Ok(())
    }
}

impl BlockingCollector for ZfsCollector {
    fn name(&self) -> &str {
        "zfs"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let Some(entries) = class_dir::entries(&self.dir, "")? else {
            return Ok(());
        };
        self.module_files(out)?;
        for pool in &entries {
            // Pools are the directories; the module-wide kstats are files.
            if self.dir.join(pool).is_dir() {
                self.pool(pool, out)?;
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
    fn reads_module_pool_dataset_and_state_kstats() {
        let mut out = MetricSet::new();
        ZfsCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        assert_eq!(out.find("node_zfs_arc_hits", &[]), Some(1013.0));
        assert_eq!(out.find("node_zfs_fm_erpt_dropped", &[]), Some(1013.0));
        assert_eq!(
            out.find("node_zfs_zpool_nread", &[("zpool", "tank")]),
            Some(1884160.0)
        );
        assert_eq!(
            out.find(
                "node_zfs_zpool_dataset_nread",
                &[("zpool", "tank"), ("dataset", "tank/home")]
            ),
            Some(98304.0)
        );
        let state = |pool, s| out.find("node_zfs_zpool_state", &[("zpool", pool), ("state", s)]);
        assert_eq!(state("backup", "degraded"), Some(1.0));
        assert_eq!(state("backup", "online"), Some(0.0));
        assert_eq!(state("tank", "online"), Some(1.0));
    }

    #[test]
    fn a_bad_integer_row_names_the_line() {
        let text = "1 2\nname type data\nhits 4 12\nmisses 4 x\n";
        let err = integer_rows(Path::new("arcstats"), text).unwrap_err();
        assert!(err.to_string().contains("arcstats:4"), "{err}");
        assert_eq!(
            integer_rows(Path::new("a"), "name type data\ns 7 text\n").unwrap(),
            []
        );
    }
}
