//! `btrfs`: space allocation of each mounted btrfs filesystem from `/sys/fs/btrfs/<uuid>/`
//! (Documentation/ABI/testing/sysfs-fs-btrfs), as node_exporter 1.5: per block group type
//! (`data`, `metadata`, `system`) and RAID profile the allocated and used bytes and the
//! allocation ratio of the profile, the reserved bytes, the global reserve, and each member
//! device's size.
//!
//! node_exporter 1.5 always reports `node_btrfs_global_rsv_size_bytes` as 0 (its sysfs reader
//! never reads `allocation/global_rsv_size`); we report the file's value. node_exporter's
//! per-device error counters (read with an ioctl on the mount point) are not implemented. No
//! btrfs mounted: no samples.

use super::class_dir;
use super::sysfs_dir::SysfsDir;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, Family, MetricSet, MetricType};

/// Registration of the `btrfs` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "btrfs",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(BtrfsCollector::new(opts))))),
};

/// Block group types.
const TYPES: [&str; 3] = ["data", "metadata", "system"];

/// Reads `<sysfs>/fs/btrfs` on each scrape.
pub struct BtrfsCollector {
    dir: PathBuf,
}

impl BtrfsCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            dir: opts.paths.sys("fs/btrfs"),
        }
    }
}

/// Bytes stored per byte of data under a RAID profile, as node_exporter computes it (0 for a
/// profile it does not know, such as `raid1c3`).
fn allocation_ratio(profile: &str, devices: usize) -> f64 {
    let n = devices as f64;
    match profile {
        "single" | "raid0" => 1.0,
        "dup" | "raid1" | "raid10" => 2.0,
        "raid5" => n / (n - 1.0),
        "raid6" => n / (n - 2.0),
        _ => 0.0,
    }
}

/// A gauge family of `out`.
fn gauge<'a>(out: &'a mut MetricSet, name: &'static str, help: &'static str) -> &'a mut Family {
    out.family(name, help, MetricType::Gauge)
}

impl BtrfsCollector {
    fn filesystem(&self, uuid: &str, dir: &Path, out: &mut MetricSet) -> Result<(), CollectError> {
        let d = SysfsDir::open(dir);
        let label = class_dir::text(&d, "label").unwrap_or_default();
        gauge(out, "node_btrfs_info", "Filesystem information")
            .sample(&[("label", &label), ("uuid", uuid)], 1.0);
        let alloc_dir = dir.join("allocation");
        let alloc = SysfsDir::open(&alloc_dir);
        if let Some(v) = class_dir::int(&alloc, "global_rsv_size") {
            gauge(
                out,
                "node_btrfs_global_rsv_size_bytes",
                "Size of global reserve.",
            )
            .sample(&[("uuid", uuid)], v as f64);
        }
        let devices = class_dir::entries(&dir.join("devices"), "")?.unwrap_or_default();
        for dev in &devices {
            let sd = SysfsDir::open(&dir.join("devices").join(dev));
            if let Some(sectors) = class_dir::int(&sd, "size") {
                gauge(
                    out,
                    "node_btrfs_device_size_bytes",
                    "Size of a device that is part of the filesystem.",
                )
                .sample(&[("device", dev), ("uuid", uuid)], (sectors * 512) as f64);
            }
        }
        for kind in TYPES {
            let type_dir = alloc_dir.join(kind);
            let t = SysfsDir::open(&type_dir);
            if let Some(v) = class_dir::int(&t, "bytes_reserved") {
                gauge(
                    out,
                    "node_btrfs_reserved_bytes",
                    "Amount of space reserved for a data type",
                )
                .sample(&[("block_group_type", kind), ("uuid", uuid)], v as f64);
            }
            for profile in class_dir::entries(&type_dir, "")?.unwrap_or_default() {
                let p = SysfsDir::open(&type_dir.join(&profile));
                let (Some(total), Some(used)) = (
                    class_dir::int(&p, "total_bytes"),
                    class_dir::int(&p, "used_bytes"),
                ) else {
                    // A counter file of the type itself, not a profile directory.
                    continue;
                };
                let labels = [
                    ("block_group_type", kind),
                    ("mode", profile.as_str()),
                    ("uuid", uuid),
                ];
                gauge(
                    out,
                    "node_btrfs_size_bytes",
                    "Amount of space allocated for a layout/data type",
                )
                .sample(&labels, total as f64);
                gauge(
                    out,
                    "node_btrfs_used_bytes",
                    "Amount of used space by a layout/data type",
                )
                .sample(&labels, used as f64);
                gauge(
                    out,
                    "node_btrfs_allocation_ratio",
                    "Data allocation ratio for a layout/data type",
                )
                .sample(&labels, allocation_ratio(&profile, devices.len()));
            }
        }
        Ok(())
    }
}

impl BlockingCollector for BtrfsCollector {
    fn name(&self) -> &str {
        "btrfs"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let Some(entries) = class_dir::entries(&self.dir, "")? else {
            return Ok(());
        };
        for uuid in &entries {
            let dir = self.dir.join(uuid);
            // `features` and other non-filesystem entries have no allocation directory.
            if dir.join("allocation").is_dir() {
                self.filesystem(uuid, &dir, out)?;
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
    fn reads_profiles_devices_and_the_global_reserve() {
        let mut out = MetricSet::new();
        BtrfsCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        let fs2 = "7f4c2f1e-1d1c-4a5c-9d1e-3c0e9b8a7f61";
        assert_eq!(
            out.find(
                "node_btrfs_allocation_ratio",
                &[("uuid", fs2), ("mode", "raid5")]
            ),
            Some(1.5)
        );
        assert_eq!(
            out.find("node_btrfs_global_rsv_size_bytes", &[("uuid", fs2)]),
            Some(33554432.0)
        );
        assert_eq!(
            out.find(
                "node_btrfs_device_size_bytes",
                &[("uuid", fs2), ("device", "sdd")]
            ),
            Some(41943040.0 * 512.0)
        );
        assert_eq!(
            out.find(
                "node_btrfs_used_bytes",
                &[
                    ("uuid", fs2),
                    ("block_group_type", "system"),
                    ("mode", "raid0")
                ]
            ),
            Some(500000.0)
        );
        assert_eq!(allocation_ratio("raid6", 4), 2.0);
        assert_eq!(allocation_ratio("raid1c3", 3), 0.0);
    }
}
