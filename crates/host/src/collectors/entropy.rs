//! `entropy`: the kernel's entropy pool from `/proc/sys/kernel/random/{entropy_avail,poolsize}`
//! (Documentation/admin-guide/sysctl/kernel.rst), as node_exporter 1.5.

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet};

/// Registration of the `entropy` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "entropy",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(EntropyCollector::new(opts))))),
};

/// Reads the two sysctl files on each scrape.
pub struct EntropyCollector {
    dir: PathBuf,
}

impl EntropyCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            dir: opts.paths.proc("sys/kernel/random"),
        }
    }
}

impl BlockingCollector for EntropyCollector {
    fn name(&self) -> &str {
        "entropy"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let path = self.dir.join("entropy_avail");
        let text = procfile::read(&path)?;
        out.gauge(
            "node_entropy_available_bits",
            "Bits of available entropy.",
            procfile::single_value(&path, &text)?,
        );
        let path = self.dir.join("poolsize");
        if let Some(text) = procfile::read_optional(&path)? {
            out.gauge(
                "node_entropy_pool_size_bits",
                "Bits of entropy pool.",
                procfile::single_value(&path, &text)?,
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfile::fixtures;

    #[test]
    fn reads_available_bits_and_pool_size() {
        let mut out = MetricSet::new();
        EntropyCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        assert_eq!(out.find("node_entropy_available_bits", &[]), Some(256.0));
        assert_eq!(out.find("node_entropy_pool_size_bits", &[]), Some(256.0));
    }
}
