//! `schedstat`: per-CPU scheduler statistics from `/proc/schedstat`
//! (Documentation/scheduler/sched-stats.rst), as node_exporter 1.5: fields 7-9 of each
//! `cpu<N>` line (time running and waiting in nanoseconds, and the number of timeslices).
//! Kernels built without `CONFIG_SCHEDSTATS` have no such file: no samples.

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `schedstat` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "schedstat",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(SchedstatCollector::new(opts))))),
};

/// Reads `/proc/schedstat` on each scrape.
pub struct SchedstatCollector {
    path: PathBuf,
}

impl SchedstatCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            path: opts.paths.proc("schedstat"),
        }
    }
}

/// (field after the `cpuN` name, family, help, divisor).
const FIELDS: [(usize, &str, &str, f64); 3] = [
    (
        6,
        "node_schedstat_running_seconds_total",
        "Number of seconds CPU spent running a process.",
        1e9,
    ),
    (
        7,
        "node_schedstat_waiting_seconds_total",
        "Number of seconds spent by processing waiting for this CPU.",
        1e9,
    ),
    (
        8,
        "node_schedstat_timeslices_total",
        "Number of timeslices executed by CPU.",
        1.0,
    ),
];

impl BlockingCollector for SchedstatCollector {
    fn name(&self) -> &str {
        "schedstat"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let Some(text) = procfile::read_optional(&self.path)? else {
            return Ok(());
        };
        let mut rows = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let mut fields = line.split_ascii_whitespace();
            let Some(cpu) = fields.next().and_then(|f| f.strip_prefix("cpu")) else {
                continue;
            };
            let values: Vec<&str> = fields.collect();
            let mut row = [0.0; 3];
            for (slot, (at, name, _, _)) in row.iter_mut().zip(FIELDS) {
                let raw = values.get(at).copied().unwrap_or("");
                *slot = procfile::number(&self.path, n + 1, name, raw)?;
            }
            rows.push((cpu, row));
        }
        for (i, (_, name, help, divisor)) in FIELDS.iter().enumerate() {
            let fam = out.family(*name, *help, MetricType::Counter);
            for (cpu, row) in &rows {
                let v = if *divisor == 1.0 {
                    row[i]
                } else {
                    row[i] / divisor
                };
                fam.sample(&[("cpu", cpu)], v);
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
    fn reads_cpu_lines_and_skips_domains() {
        let mut out = MetricSet::new();
        SchedstatCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        assert_eq!(
            out.find("node_schedstat_running_seconds_total", &[("cpu", "0")]),
            Some(2.245066043)
        );
        assert_eq!(
            out.find("node_schedstat_waiting_seconds_total", &[("cpu", "1")]),
            Some(0.009187102)
        );
        assert_eq!(
            out.find("node_schedstat_timeslices_total", &[("cpu", "1")]),
            Some(39411.0)
        );
        assert_eq!(out.sample_count(), 6);
    }
}
