//! `xfs`: per-filesystem XFS statistics from `/sys/fs/xfs/<device>/stats/stats` (the format of
//! fs/xfs/xfs_stats.c: a keyword and its counters per line), as node_exporter 1.5. A line an
//! older kernel does not print reads as zeros. No XFS mounted: no samples.

use super::class_dir;
use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::collections::HashMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `xfs` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "xfs",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(XfsCollector::new(opts))))),
};

/// Exported counters: (line keyword, field, family, help).
#[rustfmt::skip]
const COUNTERS: &[(&str, usize, &str, &str)] = &[
    ("extent_alloc", 0, "node_xfs_extent_allocation_extents_allocated_total", "Number of extents allocated for a filesystem."),
    ("extent_alloc", 1, "node_xfs_extent_allocation_blocks_allocated_total", "Number of blocks allocated for a filesystem."),
    ("extent_alloc", 2, "node_xfs_extent_allocation_extents_freed_total", "Number of extents freed for a filesystem."),
    ("extent_alloc", 3, "node_xfs_extent_allocation_blocks_freed_total", "Number of blocks freed for a filesystem."),
    ("abt", 0, "node_xfs_allocation_btree_lookups_total", "Number of allocation B-tree lookups for a filesystem."),
    ("abt", 1, "node_xfs_allocation_btree_compares_total", "Number of allocation B-tree compares for a filesystem."),
    ("abt", 2, "node_xfs_allocation_btree_records_inserted_total", "Number of allocation B-tree records inserted for a filesystem."),
    ("abt", 3, "node_xfs_allocation_btree_records_deleted_total", "Number of allocation B-tree records deleted for a filesystem."),
    ("blk_map", 0, "node_xfs_block_mapping_reads_total", "Number of block map for read operations for a filesystem."),
    ("blk_map", 1, "node_xfs_block_mapping_writes_total", "Number of block map for write operations for a filesystem."),
    ("blk_map", 2, "node_xfs_block_mapping_unmaps_total", "Number of block unmaps (deletes) for a filesystem."),
    ("blk_map", 3, "node_xfs_block_mapping_extent_list_insertions_total", "Number of extent list insertions for a filesystem."),
    ("blk_map", 4, "node_xfs_block_mapping_extent_list_deletions_total", "Number of extent list deletions for a filesystem."),
    ("blk_map", 5, "node_xfs_block_mapping_extent_list_lookups_total", "Number of extent list lookups for a filesystem."),
    ("blk_map", 6, "node_xfs_block_mapping_extent_list_compares_total", "Number of extent list compares for a filesystem."),
    ("bmbt", 0, "node_xfs_block_map_btree_lookups_total", "Number of block map B-tree lookups for a filesystem."),
    ("bmbt", 1, "node_xfs_block_map_btree_compares_total", "Number of block map B-tree compares for a filesystem."),
    ("bmbt", 2, "node_xfs_block_map_btree_records_inserted_total", "Number of block map B-tree records inserted for a filesystem."),
    ("bmbt", 3, "node_xfs_block_map_btree_records_deleted_total", "Number of block map B-tree records deleted for a filesystem."),
    ("dir", 0, "node_xfs_directory_operation_lookup_total", "Number of file name directory lookups which miss the operating systems directory name lookup cache."),
    ("dir", 1, "node_xfs_directory_operation_create_total", "Number of times a new directory entry was created for a filesystem."),
    ("dir", 2, "node_xfs_directory_operation_remove_total", "Number of times an existing directory entry was created for a filesystem."),
    ("dir", 3, "node_xfs_directory_operation_getdents_total", "Number of times the directory getdents operation was performed for a filesystem."),
    ("ig", 0, "node_xfs_inode_operation_attempts_total", "Number of times the OS looked for an XFS inode in the inode cache."),
    ("ig", 1, "node_xfs_inode_operation_found_total", "Number of times the OS looked for and found an XFS inode in the inode cache."),
    ("ig", 2, "node_xfs_inode_operation_recycled_total", "Number of times the OS found an XFS inode in the cache, but could not use it as it was being recycled."),
    ("ig", 3, "node_xfs_inode_operation_missed_total", "Number of times the OS looked for an XFS inode in the cache, but did not find it."),
    ("ig", 4, "node_xfs_inode_operation_duplicates_total", "Number of times the OS tried to add a missing XFS inode to the inode cache, but found it had already been added by another process."),
    ("ig", 5, "node_xfs_inode_operation_reclaims_total", "Number of times the OS reclaimed an XFS inode from the inode cache to free memory for another purpose."),
    ("ig", 6, "node_xfs_inode_operation_attribute_changes_total", "Number of times the OS explicitly changed the attributes of an XFS inode."),
    ("rw", 0, "node_xfs_write_calls_total", "Number of write(2) system calls made to files in a filesystem."),
    ("rw", 1, "node_xfs_read_calls_total", "Number of read(2) system calls made to files in a filesystem."),
    ("vnodes", 0, "node_xfs_vnode_active_total", "Number of vnodes not on free lists for a filesystem."),
    ("vnodes", 1, "node_xfs_vnode_allocate_total", "Number of times vn_alloc called for a filesystem."),
    ("vnodes", 2, "node_xfs_vnode_get_total", "Number of times vn_get called for a filesystem."),
    ("vnodes", 3, "node_xfs_vnode_hold_total", "Number of times vn_hold called for a filesystem."),
    ("vnodes", 4, "node_xfs_vnode_release_total", "Number of times vn_rele called for a filesystem."),
    ("vnodes", 5, "node_xfs_vnode_reclaim_total", "Number of times vn_reclaim called for a filesystem."),
    ("vnodes", 6, "node_xfs_vnode_remove_total", "Number of times vn_remove called for a filesystem."),];

/// Reads `<sysfs>/fs/xfs` on each scrape.
pub struct XfsCollector {
    dir: PathBuf,
}

impl XfsCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            dir: opts.paths.sys("fs/xfs"),
        }
    }
}

/// The counters of one stats file by keyword.
fn parse(path: &Path, text: &str) -> Result<HashMap<String, Vec<f64>>, CollectError> {
    let mut lines = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let mut fields = line.split_ascii_whitespace();
        let Some(key) = fields.next() else {
            continue;
        };
        let values = fields
            .map(|f| procfile::number(path, n + 1, key, f))
            .collect::<Result<Vec<_>, _>>()?;
        lines.insert(key.to_string(), values);
    }
    Ok(lines)
}

impl BlockingCollector for XfsCollector {
    fn name(&self) -> &str {
        "xfs"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let Some(entries) = class_dir::entries(&self.dir, "")? else {
            return Ok(());
        };
        let mut devices = Vec::new();
        for device in entries {
            let path = self.dir.join(&device).join("stats/stats");
            match procfile::read_whole(&path) {
                Ok(text) => devices.push((device, parse(&path, &text)?)),
                // The global `stats` entry, or a filesystem unmounted since the listing.
                Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {}
                Err(e) => return Err(CollectError::io(path.display(), e)),
            }
        }
        for (line, field, name, help) in COUNTERS {
            let fam = out.family(*name, *help, MetricType::Counter);
            for (device, stats) in &devices {
                let v = stats
                    .get(*line)
                    .and_then(|v| v.get(*field))
                    .copied()
                    .unwrap_or(0.0);
                fam.sample(&[("device", device)], v);
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
    fn reads_each_mounted_filesystem_and_skips_the_global_file() {
        let mut out = MetricSet::new();
        XfsCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        assert_eq!(
            out.find("node_xfs_read_calls_total", &[("device", "sda1")]),
            Some(1002.0)
        );
        assert_eq!(
            out.find("node_xfs_vnode_remove_total", &[("device", "dm-3")]),
            Some(11307.0)
        );
        assert_eq!(
            out.find("node_xfs_read_calls_total", &[("device", "stats")]),
            None
        );
        assert_eq!(out.sample_count(), 2 * COUNTERS.len());
    }
}
