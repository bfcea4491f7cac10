//! `nvme`: `node_nvme_info` from `/sys/class/nvme/<device>/` (`serial`, `model`, `state`,
//! `firmware_rev`; Documentation/ABI/testing/sysfs-class-nvme), as node_exporter 1.5.
//!
//! node_exporter fails the whole collector when one controller lacks one of the four files; we
//! report such a controller with an empty label, and leave out one that vanished between
//! listing and reading (nothing readable).

use super::class_dir;
use super::sysfs_dir::SysfsDir;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `nvme` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "nvme",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(NvmeCollector::new(opts))))),
};

/// Reads `<sysfs>/class/nvme` on each scrape.
pub struct NvmeCollector {
    dir: PathBuf,
}

impl NvmeCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            dir: opts.paths.sys("class/nvme"),
        }
    }
}

impl BlockingCollector for NvmeCollector {
    fn name(&self) -> &str {
        "nvme"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let Some(devices) = class_dir::entries(&self.dir, "")? else {
            return Ok(());
        };
        let fam = out.family(
            "node_nvme_info",
            "Non-numeric data from /sys/class/nvme/<device>, value is always 1.",
            MetricType::Gauge,
        );
        for dev in &devices {
            let d = SysfsDir::open(&self.dir.join(dev));
            let attrs =
                ["firmware_rev", "model", "serial", "state"].map(|f| class_dir::text(&d, f));
            if attrs.iter().all(Option::is_none) {
                continue;
            }
            let [firmware, model, serial, state] = attrs.map(Option::unwrap_or_default);
            fam.sample(
                &[
                    ("device", dev),
                    ("firmware_revision", &firmware),
                    ("model", &model),
                    ("serial", &serial),
                    ("state", &state),
                ],
                1.0,
            );
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
    fn trims_the_padded_identification_strings() {
        let mut out = MetricSet::new();
        NvmeCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        assert_eq!(
            out.find(
                "node_nvme_info",
                &[
                    ("device", "nvme0"),
                    ("model", "Samsung SSD 980 PRO 1TB"),
                    ("serial", "S4EWNX0R123456"),
                    ("state", "live"),
                    ("firmware_revision", "5B2QGXA7"),
                ]
            ),
            Some(1.0)
        );
        assert_eq!(out.sample_count(), 2);
    }

    #[test]
    fn a_controller_that_vanished_is_left_out_and_missing_files_are_empty() {
        let sys = tempfile::tempdir().unwrap();
        let class = sys.path().join("class/nvme");
        std::fs::create_dir_all(class.join("nvme0")).unwrap();
        std::fs::write(class.join("nvme0/state"), "live\n").unwrap();
        std::os::unix::fs::symlink("../../devices/gone", class.join("nvme1")).unwrap();
        let mut opts = HostOptions::default();
        opts.paths.sysfs = sys.path().to_path_buf();
        let mut out = MetricSet::new();
        NvmeCollector::new(&opts).collect(&mut out).unwrap();
        assert_eq!(out.sample_count(), 1);
        assert_eq!(
            out.find(
                "node_nvme_info",
                &[("device", "nvme0"), ("state", "live"), ("serial", "")]
            ),
            Some(1.0)
        );
    }
}
