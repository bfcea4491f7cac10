//! `meminfo`: every field of `/proc/meminfo` as a `node_memory_*` gauge.
//!
//! Naming follows node_exporter 1.5: `Active(anon)` becomes `Active_anon`; a value with a unit
//! (always `kB`) is converted to bytes and gets `_bytes`; a unitless count such as
//! `HugePages_Total` keeps its bare name.

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `meminfo` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "meminfo",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(MeminfoCollector::new(opts))))),
};

/// Reads `/proc/meminfo` on each scrape.
pub struct MeminfoCollector {
    path: PathBuf,
}

impl MeminfoCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            path: opts.paths.proc("meminfo"),
        }
    }
}

/// The metric name suffix for a meminfo key: `Active(anon)` -> `Active_anon`.
fn metric_key(key: &str, has_unit: bool) -> String {
    let mut name = String::with_capacity(key.len() + 6);
    match (key.find('('), key.rfind(')')) {
        (Some(open), Some(close)) if open < close => {
            name.push_str(&key[..open]);
            name.push('_');
            name.push_str(&key[open + 1..close]);
            name.push_str(&key[close + 1..]);
        }
        _ => name.push_str(key),
    }
    if has_unit {
        name.push_str("_bytes");
    }
    name
}

impl BlockingCollector for MeminfoCollector {
    fn name(&self) -> &str {
        "meminfo"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = procfile::read(&self.path)?;
        for (n, line) in text.lines().enumerate() {
            let mut fields = line.split_ascii_whitespace();
            let (Some(key), Some(raw)) = (fields.next(), fields.next()) else {
                continue;
            };
            let key = key.strip_suffix(':').unwrap_or(key);
            let mut value = procfile::number(&self.path, n + 1, key, raw)?;
            let has_unit = match (fields.next(), fields.next()) {
                (None, _) => false,
                // The kernel only ever prints kB (KiB).
                (Some(_unit), None) => {
                    value *= 1024.0;
                    true
                }
                (Some(_), Some(_)) => {
                    return Err(procfile::malformed(
                        &self.path,
                        n + 1,
                        format!("field {key}: more than a value and a unit"),
                    ))
                }
            };
            let key = metric_key(key, has_unit);
            out.family(
                format!("node_memory_{key}"),
                format!("Memory information field {key}."),
                MetricType::Gauge,
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
    fn parses_real_meminfo_with_node_exporter_names() {
        let c = MeminfoCollector::new(&fixtures::options(""));
        let mut out = MetricSet::new();
        c.collect(&mut out).unwrap();
        assert_eq!(
            out.find("node_memory_MemTotal_bytes", &[]),
            Some(24682416.0 * 1024.0)
        );
        assert_eq!(
            out.find("node_memory_Active_anon_bytes", &[]),
            Some(5112.0 * 1024.0)
        );
        assert_eq!(
            out.find("node_memory_Inactive_anon_bytes", &[]),
            Some(553020.0 * 1024.0)
        );
        assert_eq!(out.find("node_memory_HugePages_Total", &[]), Some(0.0));
        assert_eq!(
            out.find("node_memory_Hugepagesize_bytes", &[]),
            Some(2048.0 * 1024.0)
        );
        assert_eq!(
            out.find("node_memory_DirectMap1G_bytes", &[]),
            Some(25165824.0 * 1024.0)
        );
        let names: Vec<_> = out.families().iter().map(|f| f.name.as_ref()).collect();
        assert!(!names.iter().any(|n| n.contains('(')));
        assert!(!names.contains(&"node_memory_HugePages_Total_bytes"));
        let fam = &out.families()[0];
        assert_eq!(fam.help, "Memory information field MemTotal_bytes.");
        assert_eq!(fam.kind, MetricType::Gauge);
        assert_eq!(out.families().len(), 54);
    }

    #[test]
    fn names_follow_node_exporter() {
        assert_eq!(metric_key("Active(file)", true), "Active_file_bytes");
        assert_eq!(metric_key("HugePages_Free", false), "HugePages_Free");
        assert_eq!(metric_key("Zswapped", true), "Zswapped_bytes");
    }

    #[test]
    fn a_bad_value_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("meminfo"),
            "MemTotal: 1 kB\nMemFree: lots kB\n",
        )
        .unwrap();
        let mut opts = fixtures::options("");
        opts.paths.procfs = dir.path().to_path_buf();
        let err = MeminfoCollector::new(&opts)
            .collect(&mut MetricSet::new())
            .unwrap_err();
        assert!(
            err.to_string().contains("meminfo:2: field MemFree"),
            "{err}"
        );
    }
}
