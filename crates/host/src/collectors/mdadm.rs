//! `mdadm`: Linux software RAID state from `/proc/mdstat` (`node_md_*`), as node_exporter 1.5.
//!
//! A host without md support has no `/proc/mdstat`; that yields no samples.

use super::CollectorDef;
use crate::options::{HostOptions, HostPaths};
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, LabelSet, MetricSet, MetricType};

/// Registration of the mdadm collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "mdadm",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(MdadmCollector::new(opts))))),
};

/// One md device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdStat {
    /// Device name (`md0`).
    pub name: String,
    /// `active`, `inactive`, `recovering`, `resyncing` or `checking`.
    pub activity_state: String,
    /// Active member disks.
    pub disks_active: u64,
    /// Members the array needs.
    pub disks_total: u64,
    /// Members marked `(F)`.
    pub disks_failed: u64,
    /// Members marked `(S)`.
    pub disks_spare: u64,
    /// Size in 1 KiB blocks.
    pub blocks_total: u64,
    /// Blocks in sync (equal to the size unless a sync is running).
    pub blocks_synced: u64,
}

/// `N blocks ... [total/active] [UU_]` on the status line.
fn status_counts(status_line: &str) -> Option<(u64, u64)> {
    let open = status_line.rfind('[')?;
    let before = &status_line[..open];
    let counts_open = before.rfind('[')?;
    let counts_close = before[counts_open..].find(']')? + counts_open;
    let (total, active) = before[counts_open + 1..counts_close].split_once('/')?;
    Some((total.trim().parse().ok()?, active.trim().parse().ok()?))
}

/// The `(synced/total)` pair of a recovery or resync progress line.
fn synced_blocks(line: &str) -> Option<u64> {
    let start = line.find('(')?;
    let end = line[start..].find(')')? + start;
    let (synced, _) = line[start + 1..end].split_once('/')?;
    synced.trim().parse().ok()
}

/// Parses `/proc/mdstat`.
pub fn parse_mdstat(text: &str) -> Result<Vec<MdStat>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty()
            || line.starts_with(' ')
            || line.starts_with('\t')
            || line.starts_with("Personalities")
            || line.starts_with("unused")
        {
            continue;
        }
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if fields.len() < 3 {
            return Err(format!(
                "line {}: not enough fields in md device line {line:?}",
                i + 1
            ));
        }
        let name = fields[0].to_string();
        let mut state = fields[2].to_string();
        let status = lines
            .get(i + 1)
            .ok_or_else(|| format!("line {}: md device {name} has no status line", i + 1))?;
        let blocks_total: u64 = status
            .split_ascii_whitespace()
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("line {}: no block count for {name}", i + 2))?;
        let disks_failed = line.matches("(F)").count() as u64;
        let disks_spare = line.matches("(S)").count() as u64;
        let (disks_total, disks_active) = if line.contains("raid0") || line.contains("linear") {
            // Striped and linear arrays have no redundancy line; every listed member is active.
            let n = line.matches('[').count() as u64;
            (n, n)
        } else if line.contains("inactive") {
            (0, 0)
        } else {
            status_counts(status)
                .ok_or_else(|| format!("line {}: cannot read disk counts of {name}", i + 2))?
        };

        let mut blocks_synced = blocks_total;
        let mut sync_idx = i + 2;
        if lines.get(sync_idx).is_some_and(|l| l.contains("bitmap")) {
            sync_idx += 1;
        }
        if let Some(sync) = lines.get(sync_idx) {
            let recovering = sync.contains("recovery");
            let resyncing = sync.contains("resync");
            let checking = sync.contains("check");
            if recovering || resyncing || checking {
                state = if recovering {
                    "recovering"
                } else if checking {
                    "checking"
                } else {
                    "resyncing"
                }
                .to_string();
                blocks_synced = if sync.contains("PENDING") || sync.contains("DELAYED") {
                    0
                } else {
                    synced_blocks(sync).ok_or_else(|| {
                        format!("line {}: cannot read sync progress of {name}", sync_idx + 1)
                    })?
                };
            }
        }
        out.push(MdStat {
            name,
            activity_state: state,
            disks_active,
            disks_total,
            disks_failed,
            disks_spare,
            blocks_total,
            blocks_synced,
        });
    }
    Ok(out)
}

/// The mdadm collector.
pub struct MdadmCollector {
    paths: HostPaths,
}

impl MdadmCollector {
    /// A collector reading `<procfs>/mdstat`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            paths: opts.paths.clone(),
        }
    }
}

impl BlockingCollector for MdadmCollector {
    fn name(&self) -> &str {
        "mdadm"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let path = self.paths.proc("mdstat");
        let text = match super::procfile::read_whole(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(CollectError::io(path.display(), e)),
        };
        let stats = parse_mdstat(&text).map_err(|d| CollectError::parse(path.display(), d))?;
        write_samples(out, &stats);
        Ok(())
    }
}

/// Emits the families for `stats`.
pub fn write_samples(out: &mut MetricSet, stats: &[MdStat]) {
    let labels: Vec<LabelSet> = stats
        .iter()
        .map(|s| {
            let mut l = LabelSet::new();
            l.push("device", &s.name);
            l
        })
        .collect();
    let fam = out.family(
        "node_md_disks_required",
        "Total number of disks of device.",
        MetricType::Gauge,
    );
    for (s, l) in stats.iter().zip(&labels) {
        fam.sample_rendered(l, s.disks_total as f64);
    }
    let fam = out.family(
        "node_md_disks",
        "Number of active/failed/spare disks of device.",
        MetricType::Gauge,
    );
    for s in stats {
        for (state, v) in [
            ("active", s.disks_active),
            ("failed", s.disks_failed),
            ("spare", s.disks_spare),
        ] {
            fam.sample(&[("device", &s.name), ("state", state)], v as f64);
        }
    }
    let fam = out.family(
        "node_md_state",
        "Indicates the state of md-device.",
        MetricType::Gauge,
    );
    for s in stats {
        // Label value, then the activity state the kernel text maps to.
        for (label, key) in [
            ("active", "active"),
            ("inactive", "inactive"),
            ("recovering", "recovering"),
            ("resync", "resyncing"),
            ("check", "checking"),
        ] {
            let v = if s.activity_state == key { 1.0 } else { 0.0 };
            fam.sample(&[("device", &s.name), ("state", label)], v);
        }
    }
    let fam = out.family(
        "node_md_blocks",
        "Total number of blocks on device.",
        MetricType::Gauge,
    );
    for (s, l) in stats.iter().zip(&labels) {
        fam.sample_rendered(l, s.blocks_total as f64);
    }
    let fam = out.family(
        "node_md_blocks_synced",
        "Number of blocks synced on device.",
        MetricType::Gauge,
    );
    for (s, l) in stats.iter().zip(&labels) {
        fam.sample_rendered(l, s.blocks_synced as f64);
    }
    out.prune_empty();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/proc/mdstat");
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn parses_every_array_kind() {
        let stats = parse_mdstat(&fixture()).unwrap();
        let get = |n: &str| stats.iter().find(|s| s.name == n).unwrap().clone();
        let md3 = get("md3");
        assert_eq!(md3.activity_state, "active");
        assert_eq!(
            (
                md3.disks_total,
                md3.disks_active,
                md3.disks_failed,
                md3.disks_spare
            ),
            (8, 8, 0, 2)
        );
        assert_eq!(
            (md3.blocks_total, md3.blocks_synced),
            (5853468288, 5853468288)
        );
        let md127 = get("md127");
        assert_eq!((md127.disks_total, md127.disks_active), (2, 2));
        let md6 = get("md6");
        assert_eq!(md6.activity_state, "recovering");
        assert_eq!(
            (
                md6.disks_total,
                md6.disks_active,
                md6.disks_failed,
                md6.disks_spare
            ),
            (2, 1, 1, 1)
        );
        assert_eq!(md6.blocks_synced, 616256);
        let md8 = get("md8");
        assert_eq!(md8.activity_state, "resyncing");
        assert_eq!(
            md8.blocks_synced, 0,
            "resync=PENDING counts as nothing synced"
        );
        let md7 = get("md7");
        assert_eq!(md7.activity_state, "checking");
        assert_eq!(md7.blocks_synced, 1000);
        let md9 = get("md9");
        assert_eq!(md9.activity_state, "inactive");
        assert_eq!((md9.disks_total, md9.disks_active), (0, 0));
        let md0 = get("md0");
        assert_eq!(
            (md0.disks_total, md0.disks_active),
            (2, 2),
            "raid0 counts listed members"
        );
    }

    #[test]
    fn samples_follow_node_exporter() {
        let stats = parse_mdstat(&fixture()).unwrap();
        let mut set = MetricSet::new();
        write_samples(&mut set, &stats);
        assert_eq!(
            set.find(
                "node_md_state",
                &[("device", "md6"), ("state", "recovering")]
            ),
            Some(1.0)
        );
        assert_eq!(
            set.find("node_md_state", &[("device", "md6"), ("state", "active")]),
            Some(0.0)
        );
        assert_eq!(
            set.find("node_md_state", &[("device", "md8"), ("state", "resync")]),
            Some(1.0)
        );
        assert_eq!(
            set.find("node_md_state", &[("device", "md7"), ("state", "check")]),
            Some(1.0)
        );
        assert_eq!(
            set.find("node_md_disks", &[("device", "md6"), ("state", "failed")]),
            Some(1.0)
        );
        assert_eq!(
            set.find("node_md_disks_required", &[("device", "md3")]),
            Some(8.0)
        );
        assert_eq!(
            set.find("node_md_blocks", &[("device", "md3")]),
            Some(5853468288.0)
        );
        assert_eq!(
            set.find("node_md_blocks_synced", &[("device", "md6")]),
            Some(616256.0)
        );
    }

    #[test]
    fn missing_file_gives_no_samples_and_bad_file_an_error() {
        let proc = tempfile::tempdir().unwrap();
        let mut opts = HostOptions::default();
        opts.paths.procfs = proc.path().to_path_buf();
        let c = MdadmCollector::new(&opts);
        let mut set = MetricSet::new();
        c.collect(&mut set).unwrap();
        assert_eq!(set.sample_count(), 0);
        std::fs::write(proc.path().join("mdstat"), "md0 : active raid1 sda[0]\n").unwrap();
        let err = c.collect(&mut set).unwrap_err().to_string();
        assert!(err.contains("no status line"), "{err}");
    }
}
