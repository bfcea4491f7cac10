//! `loadavg`: `node_load1`, `node_load5` and `node_load15` from `/proc/loadavg`.

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet};

/// Registration of the `loadavg` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "loadavg",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(LoadavgCollector::new(opts))))),
};

/// Reads `/proc/loadavg` on each scrape.
pub struct LoadavgCollector {
    path: PathBuf,
}

impl LoadavgCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            path: opts.paths.proc("loadavg"),
        }
    }
}

const LOADS: [(&str, &str, &str); 3] = [
    ("node_load1", "1m load average.", "1m"),
    ("node_load5", "5m load average.", "5m"),
    ("node_load15", "15m load average.", "15m"),
];

impl BlockingCollector for LoadavgCollector {
    fn name(&self) -> &str {
        "loadavg"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = procfile::read(&self.path)?;
        let mut fields = text.split_ascii_whitespace();
        let mut values = [0.0; 3];
        for (slot, (_, _, field)) in values.iter_mut().zip(LOADS) {
            let raw = fields.next().ok_or_else(|| {
                procfile::malformed(&self.path, 1, format!("missing {field} load"))
            })?;
            *slot = procfile::number(&self.path, 1, field, raw)?;
        }
        for ((name, help, _), value) in LOADS.into_iter().zip(values) {
            out.gauge(name, help, value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfile::fixtures;

    #[test]
    fn parses_real_loadavg() {
        let mut out = MetricSet::new();
        LoadavgCollector::new(&fixtures::options(""))
            .collect(&mut out)
            .unwrap();
        // 2.19 1.68 0.81 3/204 18448
        assert_eq!(out.find("node_load1", &[]), Some(2.19));
        assert_eq!(out.find("node_load5", &[]), Some(1.68));
        assert_eq!(out.find("node_load15", &[]), Some(0.81));
        assert_eq!(out.families()[0].help, "1m load average.");
    }

    #[test]
    fn truncated_file_is_an_error_and_emits_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("loadavg"), "0.5 0.25\n").unwrap();
        let mut opts = fixtures::options("");
        opts.paths.procfs = dir.path().to_path_buf();
        let mut out = MetricSet::new();
        let err = LoadavgCollector::new(&opts).collect(&mut out).unwrap_err();
        assert!(err.to_string().contains("missing 15m load"), "{err}");
        assert_eq!(out.sample_count(), 0);
    }
}
