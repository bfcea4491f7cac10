//! `edac`: memory error counters of each EDAC memory controller,
//! `/sys/devices/system/edac/mc/mc<N>/` (Documentation/admin-guide/ras.rst), as
//! node_exporter 1.5: per controller, and per chip-select row with the errors the driver could
//! not attribute to a row as `csrow="unknown"`. No EDAC driver: no samples.

use super::class_dir;
use super::sysfs_dir::SysfsDir;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `edac` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "edac",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(EdacCollector::new(opts))))),
};

/// Reads `<sysfs>/devices/system/edac/mc` on each scrape.
pub struct EdacCollector {
    dir: PathBuf,
}

impl EdacCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            dir: opts.paths.sys("devices/system/edac/mc"),
        }
    }
}

/// Correctable and uncorrectable counts of one controller or row.
type Counts = (String, Option<i64>, Option<i64>);

impl BlockingCollector for EdacCollector {
    fn name(&self) -> &str {
        "edac"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let Some(controllers) = class_dir::entries(&self.dir, "mc")? else {
            return Ok(());
        };
        let mut totals: Vec<Counts> = Vec::new();
        let mut rows: Vec<(String, Counts)> = Vec::new();
        for mc in &controllers {
            let number = mc[2..].to_string();
            let dir = self.dir.join(mc);
            let d = SysfsDir::open(&dir);
            totals.push((
                number.clone(),
                class_dir::int(&d, "ce_count"),
                class_dir::int(&d, "ue_count"),
            ));
            rows.push((
                number.clone(),
                (
                    "unknown".into(),
                    class_dir::int(&d, "ce_noinfo_count"),
                    class_dir::int(&d, "ue_noinfo_count"),
                ),
            ));
            for row in class_dir::entries(&dir, "csrow")?.unwrap_or_default() {
                let r = SysfsDir::open(&dir.join(&row));
                rows.push((
                    number.clone(),
                    (
                        row[5..].to_string(),
                        class_dir::int(&r, "ce_count"),
                        class_dir::int(&r, "ue_count"),
                    ),
                ));
            }
        }
        for (correctable, name, help) in [
            (
                true,
                "node_edac_correctable_errors_total",
                "Total correctable memory errors.",
            ),
            (
                false,
                "node_edac_uncorrectable_errors_total",
                "Total uncorrectable memory errors.",
            ),
        ] {
            let fam = out.family(name, help, MetricType::Counter);
            for (mc, ce, ue) in &totals {
                if let Some(v) = if correctable { ce } else { ue } {
                    fam.sample(&[("controller", mc)], *v as f64);
                }
            }
        }
        for (correctable, name, help) in [
            (
                true,
                "node_edac_csrow_correctable_errors_total",
                "Total correctable memory errors for this csrow.",
            ),
            (
                false,
                "node_edac_csrow_uncorrectable_errors_total",
                "Total uncorrectable memory errors for this csrow.",
            ),
        ] {
            let fam = out.family(name, help, MetricType::Counter);
            for (mc, (row, ce, ue)) in &rows {
                if let Some(v) = if correctable { ce } else { ue } {
                    fam.sample(&[("controller", mc), ("csrow", row)], *v as f64);
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
    fn reads_controllers_rows_and_unattributed_errors() {
        let mut out = MetricSet::new();
        EdacCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        assert_eq!(
            out.find("node_edac_correctable_errors_total", &[("controller", "1")]),
            Some(11.0)
        );
        assert_eq!(
            out.find(
                "node_edac_csrow_uncorrectable_errors_total",
                &[("controller", "0"), ("csrow", "unknown")]
            ),
            Some(4.0)
        );
        assert_eq!(
            out.find(
                "node_edac_csrow_correctable_errors_total",
                &[("controller", "1"), ("csrow", "1")]
            ),
            Some(16.0)
        );
    }
}
