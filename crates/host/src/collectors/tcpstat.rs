//! `tcpstat` (off by default, as in node_exporter 1.5): TCP sockets by state, and the bytes
//! queued in them, from `/proc/net/tcp` and `/proc/net/tcp6`.
//!
//! node_exporter 1.5 asks the kernel over netlink (`sock_diag`); the families and labels are the
//! same (`node_tcp_connection_states{state}`, with `rx_queued_bytes` and `tx_queued_bytes` as
//! two more "states"). One difference: for a listening socket netlink's send queue is its
//! maximum accept backlog (e.g. 4096), which node_exporter adds to `tx_queued_bytes`; procfs
//! reports 0 there, so our `tx_queued_bytes` counts only bytes.

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `tcpstat` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "tcpstat",
    default_enabled: false,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(TcpstatCollector::new(opts))))),
};

/// Reads the two socket tables on each scrape.
pub struct TcpstatCollector {
    dir: PathBuf,
}

impl TcpstatCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            dir: opts.paths.proc("net"),
        }
    }
}

/// The state names of include/net/tcp_states.h, by number.
fn state_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0x01 => "established",
        0x02 => "syn_sent",
        0x03 => "syn_recv",
        0x04 => "fin_wait1",
        0x05 => "fin_wait2",
        0x06 => "time_wait",
        0x07 => "close",
        0x08 => "close_wait",
        0x09 => "last_ack",
        0x0A => "listen",
        0x0B => "closing",
        _ => return None,
    })
}

/// Adds the sockets of one table to `states` and the queue totals.
fn count(
    path: &Path,
    text: &str,
    states: &mut BTreeMap<&'static str, f64>,
    queued: &mut (f64, f64),
) -> Result<(), CollectError> {
    for (n, line) in text.lines().enumerate().skip(1) {
        let mut f = line.split_ascii_whitespace();
        let (Some(state), Some(queues)) = (f.nth(3), f.next()) else {
            continue;
        };
        let bad = || procfile::malformed(path, n + 1, format!("state {state:?} queues {queues:?}"));
        let code = u8::from_str_radix(state, 16).map_err(|_| bad())?;
        let (tx, rx) = queues.split_once(':').ok_or_else(bad)?;
        let tx = u64::from_str_radix(tx, 16).map_err(|_| bad())?;
        let rx = u64::from_str_radix(rx, 16).map_err(|_| bad())?;
        if let Some(name) = state_name(code) {
            *states.entry(name).or_default() += 1.0;
        }
        queued.0 += rx as f64;
        queued.1 += tx as f64;
    }
    Ok(())
}

impl BlockingCollector for TcpstatCollector {
    fn name(&self) -> &str {
        "tcpstat"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let mut states = BTreeMap::new();
        let mut queued = (0.0, 0.0);
        let path = self.dir.join("tcp");
        count(&path, &procfile::read(&path)?, &mut states, &mut queued)?;
        let path = self.dir.join("tcp6");
        if let Some(text) = procfile::read_optional(&path)? {
            count(&path, &text, &mut states, &mut queued)?;
        }
        let fam = out.family(
            "node_tcp_connection_states",
            "Number of connection states.",
            MetricType::Gauge,
        );
        for (state, n) in &states {
            fam.sample(&[("state", state)], *n);
        }
        fam.sample(&[("state", "rx_queued_bytes")], queued.0);
        fam.sample(&[("state", "tx_queued_bytes")], queued.1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfile::fixtures;

    #[test]
    fn counts_states_and_queues_of_both_tables() {
        let mut out = MetricSet::new();
        TcpstatCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        let s = |state| out.find("node_tcp_connection_states", &[("state", state)]);
        assert_eq!(s("listen"), Some(3.0));
        assert_eq!(s("established"), Some(2.0));
        assert_eq!(s("time_wait"), Some(1.0));
        assert_eq!(s("close_wait"), Some(1.0));
        assert_eq!(s("syn_sent"), None);
        assert_eq!(s("rx_queued_bytes"), Some(18.0));
        assert_eq!(s("tx_queued_bytes"), Some(292.0));
    }
}
