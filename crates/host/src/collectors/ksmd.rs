//! `ksmd` (off by default, as in node_exporter 1.5): kernel same-page merging statistics from
//! `/sys/kernel/mm/ksm/` (Documentation/admin-guide/mm/ksm.rst).

use super::sysfs_dir::SysfsDir;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `ksmd` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "ksmd",
    default_enabled: false,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(KsmdCollector::new(opts))))),
};

/// The files node_exporter reads, in its order.
const FILES: [&str; 9] = [
    "full_scans",
    "merge_across_nodes",
    "pages_shared",
    "pages_sharing",
    "pages_to_scan",
    "pages_unshared",
    "pages_volatile",
    "run",
    "sleep_millisecs",
];

/// Reads `<sysfs>/kernel/mm/ksm` on each scrape.
pub struct KsmdCollector {
    dir: PathBuf,
}

impl KsmdCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            dir: opts.paths.sys("kernel/mm/ksm"),
        }
    }
}

impl BlockingCollector for KsmdCollector {
    fn name(&self) -> &str {
        "ksmd"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let d = SysfsDir::open(&self.dir);
        for file in FILES {
            let Some(v) = super::class_dir::int(&d, file) else {
                // Older kernels lack merge_across_nodes and pages_volatile.
                continue;
            };
            let help = format!("ksmd '{file}' file.");
            match file {
                "full_scans" => out.family("node_ksmd_full_scans_total", help, MetricType::Counter),
                "sleep_millisecs" => {
                    out.family("node_ksmd_sleep_seconds", help, MetricType::Gauge)
                        .value(v as f64 / 1000.0);
                    continue;
                }
                _ => out.family(format!("node_ksmd_{file}"), help, MetricType::Gauge),
            }
            .value(v as f64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfile::fixtures;

    #[test]
    fn reads_the_ksm_files() {
        let mut out = MetricSet::new();
        KsmdCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        assert_eq!(out.find("node_ksmd_full_scans_total", &[]), Some(7.0));
        assert_eq!(out.find("node_ksmd_sleep_seconds", &[]), Some(2.047));
        assert_eq!(out.find("node_ksmd_run", &[]), Some(1023.0));
    }
}
