//! `vmstat`: selected `/proc/vmstat` fields as untyped `node_vmstat_<field>`.
//!
//! The selection is node_exporter 1.5's default `--collector.vmstat.fields`,
//! `^(oom_kill|pgpg|pswp|pg.*fault).*`, matched here without a regex.

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `vmstat` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "vmstat",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(VmstatCollector::new(opts))))),
};

/// Reads `/proc/vmstat` on each scrape.
pub struct VmstatCollector {
    path: PathBuf,
}

impl VmstatCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            path: opts.paths.proc("vmstat"),
        }
    }
}

/// node_exporter's default field selection, `^(oom_kill|pgpg|pswp|pg.*fault).*`.
fn selected(field: &str) -> bool {
    field.starts_with("oom_kill")
        || field.starts_with("pgpg")
        || field.starts_with("pswp")
        || field
            .strip_prefix("pg")
            .is_some_and(|rest| rest.contains("fault"))
}

impl BlockingCollector for VmstatCollector {
    fn name(&self) -> &str {
        "vmstat"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = procfile::read(&self.path)?;
        for (n, line) in text.lines().enumerate() {
            let mut fields = line.split_ascii_whitespace();
            let (Some(key), Some(raw)) = (fields.next(), fields.next()) else {
                continue;
            };
            if !selected(key) {
                continue;
            }
            let value = procfile::number(&self.path, n + 1, key, raw)?;
            out.family(
                format!("node_vmstat_{key}"),
                format!("/proc/vmstat information field {key}."),
                MetricType::Untyped,
            )
            .value(value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfile::fixtures;

    #[test]
    fn exports_node_exporters_default_fields_from_real_vmstat() {
        let mut out = MetricSet::new();
        VmstatCollector::new(&fixtures::options(""))
            .collect(&mut out)
            .unwrap();
        let names: Vec<_> = out.families().iter().map(|f| f.name.as_ref()).collect();
        assert_eq!(
            names,
            [
                "node_vmstat_pgpgin",
                "node_vmstat_pgpgout",
                "node_vmstat_pswpin",
                "node_vmstat_pswpout",
                "node_vmstat_pgfault",
                "node_vmstat_pgmajfault",
                "node_vmstat_oom_kill",
            ]
        );
        assert_eq!(out.find("node_vmstat_pgpgin", &[]), Some(1866901.0));
        assert_eq!(out.find("node_vmstat_pgfault", &[]), Some(14473327.0));
        assert_eq!(out.find("node_vmstat_pgmajfault", &[]), Some(1286.0));
        assert_eq!(out.families()[0].kind, MetricType::Untyped);
        assert_eq!(
            out.families()[0].help,
            "/proc/vmstat information field pgpgin."
        );
    }

    #[test]
    fn selection_matches_the_default_regex() {
        let re = regex::Regex::new("^(oom_kill|pgpg|pswp|pg.*fault).*").unwrap();
        for field in [
            "pgfault",
            "pgmajfault",
            "pgpgin",
            "pswpout",
            "oom_kill",
            "pgscan_kswapd",
            "nr_free_pages",
            "pgdemote_fault",
            "thp_fault_alloc",
            "pg",
            "pgfaul",
            "oom_killx",
        ] {
            assert_eq!(selected(field), re.is_match(field), "{field}");
        }
    }
}
