//! `zoneinfo` (off by default, as in node_exporter 1.5): per memory zone watermarks, sizes
//! and NUMA counters from `/proc/zoneinfo` (Documentation/filesystems/proc.rst), and the
//! per-node page statistics the kernel prints under the first zone of each node.

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `zoneinfo` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "zoneinfo",
    default_enabled: false,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(ZoneinfoCollector::new(opts))))),
};

/// (key in the file, family, type, help). `pages free` stands for the `free` watermark line.
const FIELDS: &[(&str, &str, MetricType, &str)] = &[
    (
        "pages free",
        "node_zoneinfo_nr_free_pages",
        MetricType::Gauge,
        "Total number of free pages in the zone",
    ),
    (
        "min",
        "node_zoneinfo_min_pages",
        MetricType::Gauge,
        "Zone watermark pages_min",
    ),
    (
        "low",
        "node_zoneinfo_low_pages",
        MetricType::Gauge,
        "Zone watermark pages_low",
    ),
    (
        "high",
        "node_zoneinfo_high_pages",
        MetricType::Gauge,
        "Zone watermark pages_high",
    ),
    (
        "spanned",
        "node_zoneinfo_spanned_pages",
        MetricType::Gauge,
        "Total pages spanned by the zone, including holes",
    ),
    (
        "present",
        "node_zoneinfo_present_pages",
        MetricType::Gauge,
        "Physical pages existing within the zone",
    ),
    (
        "managed",
        "node_zoneinfo_managed_pages",
        MetricType::Gauge,
        "Present pages managed by the buddy system",
    ),
    (
        "nr_active_anon",
        "node_zoneinfo_nr_active_anon_pages",
        MetricType::Gauge,
        "Number of anonymous pages recently more used",
    ),
    (
        "nr_inactive_anon",
        "node_zoneinfo_nr_inactive_anon_pages",
        MetricType::Gauge,
        "Number of anonymous pages recently less used",
    ),
    (
        "nr_isolated_anon",
        "node_zoneinfo_nr_isolated_anon_pages",
        MetricType::Gauge,
        "Temporary isolated pages from anon lru",
    ),
    (
        "nr_anon_pages",
        "node_zoneinfo_nr_anon_pages",
        MetricType::Gauge,
        "Number of anonymous pages currently used by the system",
    ),
    (
        "nr_anon_transparent_hugepages",
        "node_zoneinfo_nr_anon_transparent_hugepages",
        MetricType::Gauge,
        "Number of anonymous transparent huge pages currently used by the system",
    ),
    (
        "nr_active_file",
        "node_zoneinfo_nr_active_file_pages",
        MetricType::Gauge,
        "Number of active pages with file-backing",
    ),
    (
        "nr_inactive_file",
        "node_zoneinfo_nr_inactive_file_pages",
        MetricType::Gauge,
        "Number of inactive pages with file-backing",
    ),
    (
        "nr_isolated_file",
        "node_zoneinfo_nr_isolated_file_pages",
        MetricType::Gauge,
        "Temporary isolated pages from file lru",
    ),
    (
        "nr_file_pages",
        "node_zoneinfo_nr_file_pages",
        MetricType::Gauge,
        "Number of file pages",
    ),
    (
        "nr_slab_reclaimable",
        "node_zoneinfo_nr_slab_reclaimable_pages",
        MetricType::Gauge,
        "Number of reclaimable slab pages",
    ),
    (
        "nr_slab_unreclaimable",
        "node_zoneinfo_nr_slab_unreclaimable_pages",
        MetricType::Gauge,
        "Number of unreclaimable slab pages",
    ),
    (
        "nr_kernel_stack",
        "node_zoneinfo_nr_kernel_stacks",
        MetricType::Gauge,
        "Number of kernel stacks",
    ),
    (
        "nr_mapped",
        "node_zoneinfo_nr_mapped_pages",
        MetricType::Gauge,
        "Number of mapped pages",
    ),
    (
        "nr_dirty",
        "node_zoneinfo_nr_dirty_pages",
        MetricType::Gauge,
        "Number of dirty pages",
    ),
    (
        "nr_writeback",
        "node_zoneinfo_nr_writeback_pages",
        MetricType::Gauge,
        "Number of writeback pages",
    ),
    (
        "nr_shmem",
        "node_zoneinfo_nr_shmem_pages",
        MetricType::Gauge,
        "Number of shmem pages (included tmpfs/GEM pages)",
    ),
    (
        "nr_unevictable",
        "node_zoneinfo_nr_unevictable_pages",
        MetricType::Gauge,
        "Number of unevictable pages",
    ),
    (
        "nr_dirtied",
        "node_zoneinfo_nr_dirtied_total",
        MetricType::Counter,
        "Page dirtyings since bootup",
    ),
    (
        "nr_written",
        "node_zoneinfo_nr_written_total",
        MetricType::Counter,
        "Page writings since bootup",
    ),
    (
        "numa_hit",
        "node_zoneinfo_numa_hit_total",
        MetricType::Counter,
        "Allocated in intended node",
    ),
    (
        "numa_miss",
        "node_zoneinfo_numa_miss_total",
        MetricType::Counter,
        "Allocated in non intended node",
    ),
    (
        "numa_foreign",
        "node_zoneinfo_numa_foreign_total",
        MetricType::Counter,
        "Was intended here, hit elsewhere",
    ),
    (
        "numa_interleave",
        "node_zoneinfo_numa_interleave_total",
        MetricType::Counter,
        "Interleaver preferred this zone",
    ),
    (
        "numa_local",
        "node_zoneinfo_numa_local_total",
        MetricType::Counter,
        "Allocation from local node",
    ),
    (
        "numa_other",
        "node_zoneinfo_numa_other_total",
        MetricType::Counter,
        "Allocation from other node",
    ),
];

/// Reads `/proc/zoneinfo` on each scrape.
pub struct ZoneinfoCollector {
    path: PathBuf,
}

impl ZoneinfoCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            path: opts.paths.proc("zoneinfo"),
        }
    }
}

/// One zone: its node and name, the values of [`FIELDS`] found, and its protection array.
struct Zone<'t> {
    node: &'t str,
    zone: &'t str,
    values: Vec<Option<f64>>,
    protection: Vec<f64>,
}

impl BlockingCollector for ZoneinfoCollector {
    fn name(&self) -> &str {
        "zoneinfo"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = procfile::read(&self.path)?;
        let mut zones: Vec<Zone> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            // `Node 0, zone      DMA`
            if let Some(rest) = trimmed.strip_prefix("Node ") {
                let mut f = rest.split_ascii_whitespace();
                if let (Some(node), Some("zone"), Some(zone)) = (f.next(), f.next(), f.next()) {
                    zones.push(Zone {
                        node: node.trim_end_matches(','),
                        zone,
                        values: vec![None; FIELDS.len()],
                        protection: Vec::new(),
                    });
                }
                continue;
            }
            let Some(current) = zones.last_mut() else {
                continue;
            };
            if let Some(list) = trimmed.strip_prefix("protection:") {
                current.protection = list
                    .trim()
                    .trim_matches(|c| c == '(' || c == ')')
                    .split(',')
                    .map(|v| procfile::number(&self.path, n + 1, "protection", v.trim()))
                    .collect::<Result<_, _>>()?;
                continue;
            }
            let (key, value) = match trimmed.strip_prefix("pages free") {
                Some(v) => ("pages free", v.trim()),
                None => {
                    let mut f = trimmed.split_ascii_whitespace();
                    match (f.next(), f.next(), f.next()) {
                        (Some(k), Some(v), None) => (k, v),
                        _ => continue,
                    }
                }
            };
            if let Some(i) = FIELDS.iter().position(|(k, ..)| *k == key) {
                current.values[i] = Some(procfile::number(&self.path, n + 1, key, value)?);
            }
        }
        for (i, (_, name, kind, help)) in FIELDS.iter().enumerate() {
            let fam = out.family(*name, *help, *kind);
            for z in &zones {
                if let Some(v) = z.values[i] {
                    fam.sample(&[("node", z.node), ("zone", z.zone)], v);
                }
            }
        }
        let width = zones.iter().map(|z| z.protection.len()).max().unwrap_or(0);
        for p in 0..width {
            let fam = out.family(
                format!("node_zoneinfo_protection_{p}"),
                format!("Protection array {p}. field"),
                MetricType::Gauge,
            );
            for z in &zones {
                if let Some(v) = z.protection.get(p) {
                    fam.sample(&[("node", z.node), ("zone", z.zone)], *v);
                }
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
    fn zone_watermarks_per_node_stats_and_protection() {
        let mut out = MetricSet::new();
        ZoneinfoCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        let normal = [("node", "0"), ("zone", "Normal")];
        let dma = [("node", "0"), ("zone", "DMA")];
        assert_eq!(out.find("node_zoneinfo_high_pages", &normal), Some(18512.0));
        assert_eq!(
            out.find("node_zoneinfo_nr_free_pages", &normal),
            Some(56479.0)
        );
        assert_eq!(out.find("node_zoneinfo_protection_1", &dma), Some(2877.0));
        // Per-node statistics are printed under the node's first zone only.
        assert_eq!(out.find("node_zoneinfo_nr_dirty_pages", &dma), Some(908.0));
        assert_eq!(out.find("node_zoneinfo_nr_dirty_pages", &normal), None);
        assert_eq!(
            out.find("node_zoneinfo_numa_hit_total", &normal),
            Some(62836441.0)
        );
    }
}
