//! `pressure`: pressure stall information from `/proc/pressure/{cpu,io,memory}`.
//!
//! Kernels without PSI (before 4.20, or `CONFIG_PSI=n`, or `psi=0`) have no such files: the
//! collector then reports nothing and still succeeds.

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet};

/// Registration of the `pressure` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "pressure",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(PressureCollector::new(opts))))),
};

/// Reads `/proc/pressure/*` on each scrape.
pub struct PressureCollector {
    dir: PathBuf,
}

/// One exported line of a pressure file: its kind (`some`/`full`), metric name and help.
type Line = (&'static str, &'static str, &'static str);

/// Per resource: the file, then the exported lines. node_exporter 1.5 exports only the `some`
/// line for cpu.
const RESOURCES: [(&str, &[Line]); 3] = [
    (
        "cpu",
        &[(
            "some",
            "node_pressure_cpu_waiting_seconds_total",
            "Total time in seconds that processes have waited for CPU time",
        )],
    ),
    (
        "io",
        &[
            (
                "some",
                "node_pressure_io_waiting_seconds_total",
                "Total time in seconds that processes have waited due to IO congestion",
            ),
            (
                "full",
                "node_pressure_io_stalled_seconds_total",
                "Total time in seconds no process could make progress due to IO congestion",
            ),
        ],
    ),
    (
        "memory",
        &[
            (
                "some",
                "node_pressure_memory_waiting_seconds_total",
                "Total time in seconds that processes have waited for memory",
            ),
            (
                "full",
                "node_pressure_memory_stalled_seconds_total",
                "Total time in seconds no process could make progress due to memory congestion",
            ),
        ],
    ),
];

impl PressureCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            dir: opts.paths.proc("pressure"),
        }
    }
}

/// The `total=` value (microseconds) of the line starting with `kind`, in seconds.
fn total_seconds(path: &Path, text: &str, kind: &str) -> Result<Option<f64>, CollectError> {
    for (n, line) in text.lines().enumerate() {
        let mut fields = line.split_ascii_whitespace();
        if fields.next() != Some(kind) {
            continue;
        }
        for field in fields {
            if let Some(raw) = field.strip_prefix("total=") {
                // Two divisions, as node_exporter computes it, so the floats are identical.
                return Ok(Some(
                    procfile::number(path, n + 1, "total", raw)? / 1000.0 / 1000.0,
                ));
            }
        }
        return Err(procfile::malformed(
            path,
            n + 1,
            format!("{kind} line has no total="),
        ));
    }
    Ok(None)
}

impl BlockingCollector for PressureCollector {
    fn name(&self) -> &str {
        "pressure"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        for (resource, lines) in RESOURCES {
            let path = self.dir.join(resource);
            let Some(text) = procfile::read_optional(&path)? else {
                tracing::debug!(path = %path.display(), "pressure information is unavailable (kernel without PSI)");
                continue;
            };
            for (kind, name, help) in lines {
                if let Some(v) = total_seconds(&path, &text, kind)? {
                    out.counter(*name, *help, v);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfile::fixtures;
    use watchkeeper_core::MetricType;

    #[test]
    fn parses_real_pressure_files() {
        // cpu and io are real; memory was hand-edited to non-zero totals.
        let mut out = MetricSet::new();
        PressureCollector::new(&fixtures::options(""))
            .collect(&mut out)
            .unwrap();
        assert_eq!(
            out.find("node_pressure_cpu_waiting_seconds_total", &[]),
            Some(39694242.0 / 1000.0 / 1000.0)
        );
        assert_eq!(
            out.find("node_pressure_io_waiting_seconds_total", &[]),
            Some(3.712306)
        );
        assert_eq!(
            out.find("node_pressure_io_stalled_seconds_total", &[]),
            Some(3.163824)
        );
        assert_eq!(
            out.find("node_pressure_memory_waiting_seconds_total", &[]),
            Some(2.5)
        );
        assert_eq!(
            out.find("node_pressure_memory_stalled_seconds_total", &[]),
            Some(1.2)
        );
        assert_eq!(out.families().len(), 5);
        assert!(out.families().iter().all(|f| f.kind == MetricType::Counter));
    }

    #[test]
    fn no_pressure_directory_is_no_samples_and_no_error() {
        let mut out = MetricSet::new();
        // The edge tree has no proc/pressure.
        PressureCollector::new(&fixtures::options("edge"))
            .collect(&mut out)
            .unwrap();
        assert_eq!(out.sample_count(), 0);
    }

    #[test]
    fn a_line_without_total_is_an_error() {
        let err =
            total_seconds(Path::new("/proc/pressure/io"), "some avg10=0.00\n", "some").unwrap_err();
        assert!(err.to_string().contains("io:1"), "{err}");
    }
}
