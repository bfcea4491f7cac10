//! `buddyinfo` (off by default, as in node_exporter 1.5): free blocks of each order per NUMA
//! node and memory zone from `/proc/buddyinfo` (Documentation/filesystems/proc.rst).

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `buddyinfo` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "buddyinfo",
    default_enabled: false,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(BuddyinfoCollector::new(opts))))),
};

/// Reads `/proc/buddyinfo` on each scrape.
pub struct BuddyinfoCollector {
    path: PathBuf,
}

impl BuddyinfoCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            path: opts.paths.proc("buddyinfo"),
        }
    }
}

impl BlockingCollector for BuddyinfoCollector {
    fn name(&self) -> &str {
        "buddyinfo"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = procfile::read(&self.path)?;
        let fam = out.family(
            "node_buddyinfo_blocks",
            "Count of free blocks according to size.",
            MetricType::Gauge,
        );
        // `Node 0, zone   Normal   4381   1093 ...`
        for (n, line) in text.lines().enumerate() {
            let fields: Vec<&str> = line.split_ascii_whitespace().collect();
            let [_, node, _, zone, counts @ ..] = fields.as_slice() else {
                continue;
            };
            let node = node.trim_end_matches(',');
            for (order, count) in counts.iter().enumerate() {
                let v = procfile::number(&self.path, n + 1, "count", count)?;
                fam.sample(
                    &[("node", node), ("size", &order.to_string()), ("zone", zone)],
                    v,
                );
            }
        }
        out.prune_empty();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfile::fixtures;

    #[test]
    fn one_sample_per_node_zone_and_order() {
        let mut out = MetricSet::new();
        BuddyinfoCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        assert_eq!(
            out.find(
                "node_buddyinfo_blocks",
                &[("node", "1"), ("zone", "Normal"), ("size", "0")]
            ),
            Some(2129.0)
        );
        assert_eq!(out.sample_count(), 44);
    }
}
