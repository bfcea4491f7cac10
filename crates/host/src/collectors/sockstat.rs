//! `sockstat`: socket counts from `/proc/net/sockstat` and `/proc/net/sockstat6`.
//!
//! Each `PROTO: key value ...` pair becomes `node_sockstat_<PROTO>_<key>`, plus
//! `node_sockstat_<PROTO>_mem_bytes` (pages times the page size) where `mem` is given, and
//! `sockets: used N` becomes `node_sockstat_sockets_used`, as in node_exporter 1.5. A missing file
//! (IPv6 disabled) is skipped.

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `sockstat` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "sockstat",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(SockstatCollector::new(opts))))),
};

/// Reads the sockstat files on each scrape.
pub struct SockstatCollector {
    v4: PathBuf,
    v6: PathBuf,
    page_size: f64,
}

/// The per-protocol keys node_exporter knows; others are not exported, so we never emit a
/// family node_exporter does not define.
const KEYS: [&str; 6] = ["inuse", "orphan", "tw", "alloc", "mem", "memory"];

impl SockstatCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            v4: opts.paths.proc("net/sockstat"),
            v6: opts.paths.proc("net/sockstat6"),
            page_size: rustix::param::page_size() as f64,
        }
    }

    fn parse(&self, path: &Path, text: &str, out: &mut MetricSet) -> Result<(), CollectError> {
        for (n, line) in text.lines().enumerate() {
            let mut fields = line.split_ascii_whitespace();
            let Some(proto) = fields.next().and_then(|p| p.strip_suffix(':')) else {
                continue;
            };
            let rest: Vec<&str> = fields.collect();
            if !rest.len().is_multiple_of(2) {
                return Err(procfile::malformed(
                    path,
                    n + 1,
                    "odd number of key/value fields",
                ));
            }
            for pair in rest.chunks_exact(2) {
                let (key, raw) = (pair[0], pair[1]);
                if proto == "sockets" {
                    if key == "used" {
                        let v = procfile::number(path, n + 1, key, raw)?;
                        out.gauge(
                            "node_sockstat_sockets_used",
                            "Number of IPv4 sockets in use.",
                            v,
                        );
                    }
                    continue;
                }
                if !KEYS.contains(&key) {
                    continue;
                }
                let v = procfile::number(path, n + 1, key, raw)?;
                emit(out, proto, key, v);
                if key == "mem" {
                    emit(out, proto, "mem_bytes", v * self.page_size);
                }
            }
        }
        Ok(())
    }
}

fn emit(out: &mut MetricSet, proto: &str, key: &str, value: f64) {
    out.family(
        format!("node_sockstat_{proto}_{key}"),
        format!("Number of {proto} sockets in state {key}."),
        MetricType::Gauge,
    )
    .value(value);
}

impl BlockingCollector for SockstatCollector {
    fn name(&self) -> &str {
        "sockstat"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        for path in [&self.v4, &self.v6] {
            match procfile::read_optional(path)? {
                Some(text) => self.parse(path, &text, out)?,
                None => {
                    tracing::debug!(path = %path.display(), "sockstat file not found, skipping")
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

    fn collector(root: &str) -> SockstatCollector {
        let mut c = SockstatCollector::new(&fixtures::options(root));
        c.page_size = 4096.0;
        c
    }

    #[test]
    fn parses_real_sockstat_files() {
        let mut out = MetricSet::new();
        collector("").collect(&mut out).unwrap();
        // sockets: used 48 / TCP: inuse 25 orphan 0 tw 7 alloc 28 mem 129
        assert_eq!(out.find("node_sockstat_sockets_used", &[]), Some(48.0));
        assert_eq!(out.find("node_sockstat_TCP_inuse", &[]), Some(25.0));
        assert_eq!(out.find("node_sockstat_TCP_tw", &[]), Some(7.0));
        assert_eq!(out.find("node_sockstat_TCP_alloc", &[]), Some(28.0));
        assert_eq!(out.find("node_sockstat_TCP_mem", &[]), Some(129.0));
        assert_eq!(
            out.find("node_sockstat_TCP_mem_bytes", &[]),
            Some(129.0 * 4096.0)
        );
        assert_eq!(out.find("node_sockstat_UDP_mem_bytes", &[]), Some(0.0));
        assert_eq!(out.find("node_sockstat_FRAG_memory", &[]), Some(0.0));
        assert_eq!(out.find("node_sockstat_TCP6_inuse", &[]), Some(2.0));
        assert_eq!(out.find("node_sockstat_FRAG6_memory", &[]), Some(0.0));
        assert_eq!(out.families().len(), 20);
        let tcp_tw = out
            .families()
            .iter()
            .find(|f| f.name == "node_sockstat_TCP_tw")
            .unwrap();
        assert_eq!(tcp_tw.help, "Number of TCP sockets in state tw.");
    }

    #[test]
    fn missing_ipv6_file_is_skipped() {
        let mut out = MetricSet::new();
        collector("edge").collect(&mut out).unwrap();
        assert_eq!(out.find("node_sockstat_sockets_used", &[]), Some(3.0));
        assert_eq!(out.find("node_sockstat_TCP_mem_bytes", &[]), Some(8192.0));
        // Unknown keys are not exported.
        assert!(!out
            .families()
            .iter()
            .any(|f| f.name.contains("future") || f.name.contains('6')));
    }
}
