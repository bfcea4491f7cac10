//! `cgroups` (off by default, as in node_exporter 1.5): the cgroup controllers of
//! `/proc/cgroups`, their number of cgroups and whether each is enabled. node_exporter gives
//! both families the same help text; so do we.

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `cgroups` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "cgroups",
    default_enabled: false,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(CgroupsCollector::new(opts))))),
};

/// Reads `/proc/cgroups` on each scrape.
pub struct CgroupsCollector {
    path: PathBuf,
}

impl CgroupsCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            path: opts.paths.proc("cgroups"),
        }
    }
}

impl BlockingCollector for CgroupsCollector {
    fn name(&self) -> &str {
        "cgroups"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = procfile::read(&self.path)?;
        let mut rows = Vec::new();
        // `#subsys_name hierarchy num_cgroups enabled`
        for (n, line) in text.lines().enumerate() {
            if line.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = line.split_ascii_whitespace().collect();
            let [name, _, count, enabled, ..] = f.as_slice() else {
                continue;
            };
            rows.push((
                *name,
                procfile::number(&self.path, n + 1, "num_cgroups", count)?,
                procfile::number(&self.path, n + 1, "enabled", enabled)?,
            ));
        }
        let help = "Current cgroup number of the subsystem.";
        let fam = out.family("node_cgroups_cgroups", help, MetricType::Gauge);
        for (name, count, _) in &rows {
            fam.sample(&[("subsys_name", name)], *count);
        }
        let fam = out.family("node_cgroups_enabled", help, MetricType::Gauge);
        for (name, _, enabled) in &rows {
            fam.sample(&[("subsys_name", name)], *enabled);
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
    fn reads_each_controller() {
        let mut out = MetricSet::new();
        CgroupsCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        let misc = [("subsys_name", "misc")];
        assert_eq!(out.find("node_cgroups_cgroups", &misc), Some(107.0));
        assert_eq!(out.find("node_cgroups_enabled", &misc), Some(0.0));
    }
}
