//! `conntrack`: netfilter connection-tracking table size and per-CPU statistics.
//!
//! Without the `nf_conntrack` module loaded the files do not exist; the collector then reports
//! nothing and still succeeds.

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `conntrack` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "conntrack",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(ConntrackCollector::new(opts))))),
};

/// Reads the conntrack sysctls and `/proc/net/stat/nf_conntrack` on each scrape.
pub struct ConntrackCollector {
    count: PathBuf,
    max: PathBuf,
    stat: PathBuf,
}

/// The `/proc/net/stat/nf_conntrack` columns node_exporter 1.5 exports, with their help.
const STATS: [(&str, &str); 8] = [
    ("found", "Number of searched entries which were successful."),
    ("invalid", "Number of packets seen which can not be tracked."),
    (
        "ignore",
        "Number of packets seen which are already connected to a conntrack entry.",
    ),
    ("insert", "Number of entries inserted into the list."),
    (
        "insert_failed",
        "Number of entries for which list insertion was attempted but failed.",
    ),
    ("drop", "Number of packets dropped due to conntrack failure."),
    (
        "early_drop",
        "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached.",
    ),
    (
        "search_restart",
        "Number of conntrack table lookups which had to be restarted due to hashtable resizes.",
    ),
];

impl ConntrackCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            count: opts.paths.proc("sys/net/netfilter/nf_conntrack_count"),
            max: opts.paths.proc("sys/net/netfilter/nf_conntrack_max"),
            stat: opts.paths.proc("net/stat/nf_conntrack"),
        }
    }
}

/// Sums the per-CPU rows (hexadecimal) of the columns in [`STATS`], located by header name so
/// kernels that renamed other columns (`searched` became `clashres`) parse alike.
fn sum_stats(path: &Path, text: &str) -> Result<[Option<f64>; STATS.len()], CollectError> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or("")
        .split_ascii_whitespace()
        .collect();
    let columns = STATS.map(|(name, _)| header.iter().position(|h| *h == name));
    let mut sums = columns.map(|c| c.map(|_| 0.0));
    for (n, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        if fields.len() != header.len() {
            return Err(procfile::malformed(
                path,
                n + 2,
                format!("{} fields, header has {}", fields.len(), header.len()),
            ));
        }
        for (sum, col) in sums.iter_mut().zip(columns) {
            let (Some(sum), Some(col)) = (sum.as_mut(), col) else {
                continue;
            };
            let v = u64::from_str_radix(fields[col], 16).map_err(|_| {
                procfile::malformed(path, n + 2, format!("{:?} is not hexadecimal", fields[col]))
            })?;
            *sum += v as f64;
        }
    }
    Ok(sums)
}

impl BlockingCollector for ConntrackCollector {
    fn name(&self) -> &str {
        "conntrack"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let (Some(count), Some(max)) = (
            procfile::read_optional(&self.count)?,
            procfile::read_optional(&self.max)?,
        ) else {
            tracing::debug!("conntrack is not loaded (no nf_conntrack_count)");
            return Ok(());
        };
        let count = procfile::single_value(&self.count, &count)?;
        let max = procfile::single_value(&self.max, &max)?;
        let stats = match procfile::read_optional(&self.stat)? {
            Some(text) => sum_stats(&self.stat, &text)?,
            None => [None; STATS.len()],
        };
        out.gauge(
            "node_nf_conntrack_entries",
            "Number of currently allocated flow entries for connection tracking.",
            count,
        );
        out.gauge(
            "node_nf_conntrack_entries_limit",
            "Maximum size of connection tracking table.",
            max,
        );
        for ((name, help), sum) in STATS.iter().zip(stats) {
            if let Some(v) = sum {
                out.family(
                    format!("node_nf_conntrack_stat_{name}"),
                    *help,
                    MetricType::Gauge,
                )
                .value(v);
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
    fn parses_real_sysctls_and_sums_cpu_rows() {
        let mut out = MetricSet::new();
        ConntrackCollector::new(&fixtures::options(""))
            .collect(&mut out)
            .unwrap();
        assert_eq!(out.find("node_nf_conntrack_entries", &[]), Some(0.0));
        assert_eq!(
            out.find("node_nf_conntrack_entries_limit", &[]),
            Some(262144.0)
        );
        // Two CPU rows (values hand-edited into the real header): 0xa+0x5, 0x100+0x1, ...
        let stat = |n| out.find(&format!("node_nf_conntrack_stat_{n}"), &[]);
        assert_eq!(stat("found"), Some(15.0));
        assert_eq!(stat("invalid"), Some(4.0));
        assert_eq!(stat("ignore"), Some(17.0));
        assert_eq!(stat("insert"), Some(257.0));
        assert_eq!(stat("insert_failed"), Some(2.0));
        assert_eq!(stat("drop"), Some(5.0));
        assert_eq!(stat("early_drop"), Some(4.0));
        assert_eq!(stat("search_restart"), Some(18.0));
        assert_eq!(out.families().len(), 10);
    }

    #[test]
    fn no_conntrack_module_is_no_samples_and_no_error() {
        let mut out = MetricSet::new();
        ConntrackCollector::new(&fixtures::options("edge"))
            .collect(&mut out)
            .unwrap();
        assert_eq!(out.sample_count(), 0);
    }

    #[test]
    fn a_short_row_is_an_error_naming_the_line() {
        let text = "entries found\n00000001 00000002\n00000001\n";
        let err = sum_stats(Path::new("/proc/net/stat/nf_conntrack"), text).unwrap_err();
        assert!(err.to_string().contains("nf_conntrack:3"), "{err}");
    }
}
