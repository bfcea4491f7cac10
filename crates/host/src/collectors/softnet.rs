//! `softnet`: per-CPU packet processing counters from `/proc/net/softnet_stat`, as
//! node_exporter 1.5 (`processed`, `dropped`, `time_squeeze`: the first three hexadecimal
//! columns; the `cpu` label is the line's position, as node_exporter numbers it).

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `softnet` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "softnet",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(SoftnetCollector::new(opts))))),
};

/// Reads `/proc/net/softnet_stat` on each scrape.
pub struct SoftnetCollector {
    path: PathBuf,
}

impl SoftnetCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            path: opts.paths.proc("net/softnet_stat"),
        }
    }
}

/// The exported columns: (column, family, help).
const COLUMNS: [(usize, &str, &str); 3] = [
    (
        0,
        "node_softnet_processed_total",
        "Number of processed packets",
    ),
    (1, "node_softnet_dropped_total", "Number of dropped packets"),
    (
        2,
        "node_softnet_times_squeezed_total",
        "Number of times processing packets ran out of quota",
    ),
];

impl BlockingCollector for SoftnetCollector {
    fn name(&self) -> &str {
        "softnet"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let Some(text) = procfile::read_optional(&self.path)? else {
            return Ok(());
        };
        let mut rows = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let mut values = [0u64; 3];
            let mut fields = line.split_ascii_whitespace();
            for v in &mut values {
                let field = fields.next().unwrap_or("");
                *v = u64::from_str_radix(field, 16).map_err(|_| {
                    procfile::malformed(&self.path, n + 1, format!("{field:?} is not hexadecimal"))
                })?;
            }
            rows.push((n.to_string(), values));
        }
        for (i, (_, name, help)) in COLUMNS.iter().enumerate() {
            let fam = out.family(*name, *help, MetricType::Counter);
            for (cpu, values) in &rows {
                fam.sample(&[("cpu", cpu)], values[i] as f64);
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
    fn reads_hexadecimal_columns_per_cpu() {
        let mut out = MetricSet::new();
        SoftnetCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        assert_eq!(
            out.find("node_softnet_processed_total", &[("cpu", "0")]),
            Some(42226.0)
        );
        assert_eq!(
            out.find("node_softnet_dropped_total", &[("cpu", "1")]),
            Some(7.0)
        );
        assert_eq!(
            out.find("node_softnet_times_squeezed_total", &[("cpu", "0")]),
            Some(27.0)
        );
    }
}
