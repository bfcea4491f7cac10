//! `meminfo_numa` (off by default, as in node_exporter 1.5): memory per NUMA node from
//! `/sys/devices/system/node/node<N>/meminfo` (gauges, `kB` values in bytes, `Active(anon)`
//! named `Active_anon`) and `numastat` (counters with `_total`).

use super::class_dir;
use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `meminfo_numa` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "meminfo_numa",
    default_enabled: false,
    build: |opts| {
        Ok(Arc::new(Blocking(Arc::new(MeminfoNumaCollector::new(
            opts,
        )))))
    },
};

/// Reads `<sysfs>/devices/system/node` on each scrape.
pub struct MeminfoNumaCollector {
    dir: PathBuf,
}

impl MeminfoNumaCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            dir: opts.paths.sys("devices/system/node"),
        }
    }
}

/// `Active(anon)` -> `Active_anon`.
fn field_name(key: &str) -> String {
    key.replace('(', "_").replace(')', "")
}

impl BlockingCollector for MeminfoNumaCollector {
    fn name(&self) -> &str {
        "meminfo_numa"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let Some(entries) = class_dir::entries(&self.dir, "node")? else {
            return Ok(());
        };
        // Family name -> (type, samples by node), so each family is written once, sorted.
        let mut families: BTreeMap<String, (MetricType, Vec<(String, f64)>)> = BTreeMap::new();
        for entry in &entries {
            let node = &entry[4..];
            if node.is_empty() || !node.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let path = self.dir.join(entry).join("meminfo");
            let text = match procfile::read_whole(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(CollectError::io(path.display(), e)),
            };
            // `Node 0 MemTotal:       16300756 kB`
            for (n, line) in text.lines().enumerate() {
                let f: Vec<&str> = line.split_ascii_whitespace().collect();
                let [_, _, key, value, rest @ ..] = f.as_slice() else {
                    continue;
                };
                let mut v = procfile::number(&path, n + 1, key, value)?;
                if rest.first() == Some(&"kB") {
                    v *= 1024.0;
                }
                let name = format!("node_memory_numa_{}", field_name(key.trim_end_matches(':')));
                families
                    .entry(name)
                    .or_insert((MetricType::Gauge, Vec::new()))
                    .1
                    .push((node.to_string(), v));
            }
            let path = self.dir.join(entry).join("numastat");
            if let Some(text) = procfile::read_optional(&path)? {
                for (n, line) in text.lines().enumerate() {
                    let mut f = line.split_ascii_whitespace();
                    let (Some(key), Some(value)) = (f.next(), f.next()) else {
                        continue;
                    };
                    let v = procfile::number(&path, n + 1, key, value)?;
                    families
                        .entry(format!("node_memory_numa_{key}_total"))
                        .or_insert((MetricType::Counter, Vec::new()))
                        .1
                        .push((node.to_string(), v));
                }
            }
        }
        for (name, (kind, samples)) in families {
            let field = name.trim_start_matches("node_memory_numa_").to_string();
            let fam = out.family(name, format!("Memory information field {field}."), kind);
            for (node, v) in samples {
                fam.sample(&[("node", &node)], v);
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
    fn reads_meminfo_and_numastat_per_node() {
        let mut out = MetricSet::new();
        MeminfoNumaCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        let n1 = [("node", "1")];
        assert_eq!(
            out.find("node_memory_numa_MemTotal", &n1),
            Some(16300756.0 * 1024.0)
        );
        assert_eq!(
            out.find("node_memory_numa_Active_anon", &n1),
            Some(123456.0 * 1024.0)
        );
        assert_eq!(out.find("node_memory_numa_HugePages_Total", &n1), Some(0.0));
        assert_eq!(
            out.find("node_memory_numa_numa_hit_total", &n1),
            Some(1001.0)
        );
    }
}
