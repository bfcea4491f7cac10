//! `stat`: boot time, context switches, forks, interrupts and process states from `/proc/stat`.

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet};

/// Registration of the `stat` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "stat",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(StatCollector::new(opts))))),
};

/// Reads `/proc/stat` on each scrape.
pub struct StatCollector {
    path: PathBuf,
}

impl StatCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            path: opts.paths.proc("stat"),
        }
    }
}

/// The `/proc/stat` keys we export, in output order.
const KEYS: [&str; 6] = [
    "intr",
    "ctxt",
    "btime",
    "processes",
    "procs_running",
    "procs_blocked",
];

impl BlockingCollector for StatCollector {
    fn name(&self) -> &str {
        "stat"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = procfile::read(&self.path)?;
        let mut values: [Option<f64>; 6] = [None; 6];
        for (n, line) in text.lines().enumerate() {
            let mut fields = line.split_ascii_whitespace();
            let Some(key) = fields.next() else { continue };
            let Some(i) = KEYS.iter().position(|k| *k == key) else {
                continue;
            };
            // `intr` is followed by one count per interrupt; the first is the total.
            let raw = fields.next().ok_or_else(|| {
                procfile::malformed(&self.path, n + 1, format!("{key} has no value"))
            })?;
            values[i] = Some(procfile::number(&self.path, n + 1, key, raw)?);
        }
        let [intr, ctxt, btime, forks, running, blocked] = values;
        if let Some(v) = intr {
            out.counter("node_intr_total", "Total number of interrupts serviced.", v);
        }
        if let Some(v) = ctxt {
            out.counter(
                "node_context_switches_total",
                "Total number of context switches.",
                v,
            );
        }
        if let Some(v) = forks {
            out.counter("node_forks_total", "Total number of forks.", v);
        }
        if let Some(v) = btime {
            out.gauge("node_boot_time_seconds", "Node boot time, in unixtime.", v);
        }
        if let Some(v) = running {
            out.gauge(
                "node_procs_running",
                "Number of processes in runnable state.",
                v,
            );
        }
        if let Some(v) = blocked {
            out.gauge(
                "node_procs_blocked",
                "Number of processes blocked waiting for I/O to complete.",
                v,
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfile::fixtures;
    use watchkeeper_core::MetricType;

    fn collect(root: &str) -> MetricSet {
        let mut out = MetricSet::new();
        StatCollector::new(&fixtures::options(root))
            .collect(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn parses_real_proc_stat() {
        let out = collect("");
        assert_eq!(out.find("node_intr_total", &[]), Some(964348.0));
        assert_eq!(
            out.find("node_context_switches_total", &[]),
            Some(1551283.0)
        );
        assert_eq!(out.find("node_boot_time_seconds", &[]), Some(1795317997.0));
        assert_eq!(out.find("node_forks_total", &[]), Some(18447.0));
        assert_eq!(out.find("node_procs_running", &[]), Some(3.0));
        assert_eq!(out.find("node_procs_blocked", &[]), Some(0.0));
        let kinds: Vec<_> = out
            .families()
            .iter()
            .map(|f| (f.name.as_ref(), f.kind))
            .collect();
        assert!(kinds.contains(&("node_forks_total", MetricType::Counter)));
        assert!(kinds.contains(&("node_procs_running", MetricType::Gauge)));
    }

    #[test]
    fn large_counters_keep_their_value() {
        let out = collect("edge");
        assert_eq!(out.find("node_intr_total", &[]), Some(12345678901.0));
        assert_eq!(out.find("node_procs_running", &[]), Some(17.0));
        assert_eq!(out.find("node_procs_blocked", &[]), Some(2.0));
    }
}
