//! `udp_queues`: bytes queued in UDP sockets, summed over `/proc/net/udp` and `/proc/net/udp6`
//! (the `tx_queue:rx_queue` column, hexadecimal), as node_exporter 1.5. A kernel without IPv6
//! has no `udp6`: only the `v4` samples are reported.

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `udp_queues` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "udp_queues",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(UdpQueuesCollector::new(opts))))),
};

/// Reads the two socket tables on each scrape.
pub struct UdpQueuesCollector {
    dir: PathBuf,
}

impl UdpQueuesCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            dir: opts.paths.proc("net"),
        }
    }
}

/// Sums of the transmit and receive queues of one socket table.
fn queue_sums(path: &Path, text: &str) -> Result<(u64, u64), CollectError> {
    let (mut tx, mut rx) = (0u64, 0u64);
    // The first line is the column header.
    for (n, line) in text.lines().enumerate().skip(1) {
        let Some(queues) = line.split_ascii_whitespace().nth(4) else {
            continue;
        };
        let parsed = queues.split_once(':').and_then(|(t, r)| {
            Some((
                u64::from_str_radix(t, 16).ok()?,
                u64::from_str_radix(r, 16).ok()?,
            ))
        });
        let (t, r) = parsed
            .ok_or_else(|| procfile::malformed(path, n + 1, format!("queue column {queues:?}")))?;
        tx = tx.wrapping_add(t);
        rx = rx.wrapping_add(r);
    }
    Ok((tx, rx))
}

impl BlockingCollector for UdpQueuesCollector {
    fn name(&self) -> &str {
        "udp_queues"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let fam = out.family(
            "node_udp_queues",
            "Number of allocated memory in the kernel for UDP datagrams in bytes.",
            MetricType::Gauge,
        );
        for (file, ip) in [("udp", "v4"), ("udp6", "v6")] {
            let path = self.dir.join(file);
            let Some(text) = procfile::read_optional(&path)? else {
                continue;
            };
            let (tx, rx) = queue_sums(&path, &text)?;
            fam.sample(&[("ip", ip), ("queue", "tx")], tx as f64);
            fam.sample(&[("ip", ip), ("queue", "rx")], rx as f64);
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
    fn sums_both_queues_of_both_tables() {
        let mut out = MetricSet::new();
        UdpQueuesCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        let q = |ip, queue| out.find("node_udp_queues", &[("ip", ip), ("queue", queue)]);
        assert_eq!(q("v4", "tx"), Some(2560.0));
        assert_eq!(q("v4", "rx"), Some(3072.0));
        assert_eq!(q("v6", "rx"), Some(256.0));
        assert_eq!(q("v6", "tx"), Some(0.0));
    }

    #[test]
    fn a_bad_queue_column_names_the_line() {
        let err = queue_sums(Path::new("/proc/net/udp"), "header\n 1: a b 07 zz\n").unwrap_err();
        assert!(err.to_string().contains("udp:2"), "{err}");
    }
}
