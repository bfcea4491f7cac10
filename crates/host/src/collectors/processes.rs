//! `processes` (off by default, as in node_exporter 1.5): process and thread counts by state
//! from `/proc/<pid>/stat` and `/proc/<pid>/task/<tid>/stat`, the number of threads, and the
//! limits `kernel/pid_max` and `kernel/threads-max`.
//!
//! Per-process files are read with plain `open`/`read`/`close`, not through the kept
//! descriptors of [`super::kept_open`]: thousands of short-lived PIDs would take every kept slot.
//! A process that exits between the listing and the read is skipped.

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `processes` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "processes",
    default_enabled: false,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(ProcessesCollector::new(opts))))),
};

/// Walks procfs on each scrape.
pub struct ProcessesCollector {
    proc: PathBuf,
}

impl ProcessesCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            proc: opts.paths.procfs.clone(),
        }
    }
}

/// (state, num_threads) of a `stat` line; the command name may hold spaces and parentheses,
/// so fields are counted from the last `)`.
fn stat_fields(text: &str) -> Option<(String, u64)> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut f = rest.split_ascii_whitespace();
    let state = f.next()?.to_string();
    let threads = f.nth(16)?.parse().ok()?;
    Some((state, threads))
}

/// Numeric entries of a directory (PIDs or TIDs); empty when it is gone.
fn numeric_entries(dir: &Path) -> Vec<String> {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    listing
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .collect()
}

impl BlockingCollector for ProcessesCollector {
    fn name(&self) -> &str {
        "processes"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let (mut pids, mut threads) = (0u64, 0u64);
        let mut states: BTreeMap<String, u64> = BTreeMap::new();
        let mut thread_states: BTreeMap<String, u64> = BTreeMap::new();
        for pid in numeric_entries(&self.proc) {
            let dir = self.proc.join(&pid);
            let Some((state, n)) = std::fs::read_to_string(dir.join("stat"))
                .ok()
                .and_then(|t| stat_fields(&t))
            else {
                continue;
            };
            pids += 1;
            threads += n;
            *states.entry(state).or_default() += 1;
            let tasks = dir.join("task");
            for tid in numeric_entries(&tasks) {
                if let Some((state, _)) = std::fs::read_to_string(tasks.join(&tid).join("stat"))
                    .ok()
                    .and_then(|t| stat_fields(&t))
                {
                    *thread_states.entry(state).or_default() += 1;
                }
            }
        }
        out.gauge(
            "node_processes_threads",
            "Allocated threads in system",
            threads as f64,
        );
        let fam = out.family(
            "node_processes_threads_state",
            "Number of threads in each state.",
            MetricType::Gauge,
        );
        for (state, n) in &thread_states {
            fam.sample(&[("thread_state", state)], *n as f64);
        }
        let fam = out.family(
            "node_processes_state",
            "Number of processes in each state.",
            MetricType::Gauge,
        );
        for (state, n) in &states {
            fam.sample(&[("state", state)], *n as f64);
        }
        out.gauge("node_processes_pids", "Number of PIDs", pids as f64);
        for (file, name, help) in [
            (
                "sys/kernel/threads-max",
                "node_processes_max_threads",
                "Limit of threads in the system",
            ),
            (
                "sys/kernel/pid_max",
                "node_processes_max_processes",
                "Number of max PIDs limit",
            ),
        ] {
            let path = self.proc.join(file);
            let text = procfile::read(&path)?;
            out.gauge(name, help, procfile::single_value(&path, &text)?);
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
    fn counts_processes_and_threads_by_state() {
        let mut out = MetricSet::new();
        ProcessesCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        assert_eq!(out.find("node_processes_pids", &[]), Some(5.0));
        assert_eq!(out.find("node_processes_threads", &[]), Some(8.0));
        assert_eq!(
            out.find("node_processes_state", &[("state", "S")]),
            Some(2.0)
        );
        assert_eq!(
            out.find("node_processes_threads_state", &[("thread_state", "I")]),
            Some(1.0)
        );
        assert_eq!(
            stat_fields("7 (a) b) c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 4 0"),
            Some(("S".to_string(), 4))
        );
    }
}
