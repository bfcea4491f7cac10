//! `slabinfo` (off by default, as in node_exporter 1.5): kernel slab caches from
//! `/proc/slabinfo` (version 2.1, readable by root only; see `man 5 slabinfo`).

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `slabinfo` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "slabinfo",
    default_enabled: false,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(SlabinfoCollector::new(opts))))),
};

/// (column after the name, family, help).
const COLUMNS: [(usize, &str, &str); 5] = [
    (0, "node_slabinfo_active_objects", "The number of objects that are currently active (i.e., in use)."),
    (1, "node_slabinfo_objects", "The total number of allocated objects (i.e., objects that are both in use and not in use)."),
    (2, "node_slabinfo_object_size_bytes", "The size of objects in this slab, in bytes."),
    (3, "node_slabinfo_objects_per_slab", "The number of objects stored in each slab."),
    (4, "node_slabinfo_pages_per_slab", "The number of pages allocated for each slab."),
];

/// Reads `/proc/slabinfo` on each scrape.
pub struct SlabinfoCollector {
    path: PathBuf,
}

impl SlabinfoCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            path: opts.paths.proc("slabinfo"),
        }
    }
}

impl BlockingCollector for SlabinfoCollector {
    fn name(&self) -> &str {
        "slabinfo"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = procfile::read(&self.path)?;
        let mut rows = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.starts_with("slabinfo -") || line.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = line.split_ascii_whitespace().collect();
            if f.len() < 6 {
                continue;
            }
            let mut values = [0.0; 5];
            for (v, raw) in values.iter_mut().zip(&f[1..6]) {
                *v = procfile::number(&self.path, n + 1, f[0], raw)?;
            }
            rows.push((f[0], values));
        }
        for (i, name, help) in COLUMNS {
            let fam = out.family(name, help, MetricType::Gauge);
            for (slab, values) in &rows {
                fam.sample(&[("slab", slab)], values[i]);
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
    fn reads_each_cache() {
        let mut out = MetricSet::new();
        SlabinfoCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        let dentry = [("slab", "dentry")];
        assert_eq!(out.find("node_slabinfo_objects", &dentry), Some(102312.0));
        assert_eq!(out.find("node_slabinfo_pages_per_slab", &dentry), Some(1.0));
        assert_eq!(out.sample_count(), 15);
    }
}
