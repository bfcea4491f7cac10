//! `netdev`: per-interface traffic counters from `/proc/net/dev` (`node_network_*_total`).
//!
//! Names follow node_exporter 1.5's legacy field names (`receive_errs`, `transmit_colls`, ...).
//! node_exporter 1.5 reads these over netlink by default, which also carries `rx_nohandler`;
//! `/proc/net/dev` does not, so `node_network_receive_nohandler_total` is read from
//! `<sysfs>/class/net/<dev>/statistics/rx_nohandler` where the kernel provides it.

use super::sysfs_dir::SysfsDir;
use super::CollectorDef;
use crate::options::{HostOptions, HostPaths, NetdevOptions};
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, LabelSet, MetricSet, MetricType};

/// Registration of the netdev collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "netdev",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(NetdevCollector::new(opts))))),
};

/// Column names of `/proc/net/dev`, receive side then transmit side, as node_exporter names them.
const COLUMNS: [&str; 16] = [
    "receive_bytes",
    "receive_packets",
    "receive_errs",
    "receive_drop",
    "receive_fifo",
    "receive_frame",
    "receive_compressed",
    "receive_multicast",
    "transmit_bytes",
    "transmit_packets",
    "transmit_errs",
    "transmit_drop",
    "transmit_fifo",
    "transmit_colls",
    "transmit_carrier",
    "transmit_compressed",
];

/// Full family names and help texts, computed once.
const FAMILIES: [(&str, &str); 16] = [
    (
        "node_network_receive_bytes_total",
        "Network device statistic receive_bytes.",
    ),
    (
        "node_network_receive_packets_total",
        "Network device statistic receive_packets.",
    ),
    (
        "node_network_receive_errs_total",
        "Network device statistic receive_errs.",
    ),
    (
        "node_network_receive_drop_total",
        "Network device statistic receive_drop.",
    ),
    (
        "node_network_receive_fifo_total",
        "Network device statistic receive_fifo.",
    ),
    (
        "node_network_receive_frame_total",
        "Network device statistic receive_frame.",
    ),
    (
        "node_network_receive_compressed_total",
        "Network device statistic receive_compressed.",
    ),
    (
        "node_network_receive_multicast_total",
        "Network device statistic receive_multicast.",
    ),
    (
        "node_network_transmit_bytes_total",
        "Network device statistic transmit_bytes.",
    ),
    (
        "node_network_transmit_packets_total",
        "Network device statistic transmit_packets.",
    ),
    (
        "node_network_transmit_errs_total",
        "Network device statistic transmit_errs.",
    ),
    (
        "node_network_transmit_drop_total",
        "Network device statistic transmit_drop.",
    ),
    (
        "node_network_transmit_fifo_total",
        "Network device statistic transmit_fifo.",
    ),
    (
        "node_network_transmit_colls_total",
        "Network device statistic transmit_colls.",
    ),
    (
        "node_network_transmit_carrier_total",
        "Network device statistic transmit_carrier.",
    ),
    (
        "node_network_transmit_compressed_total",
        "Network device statistic transmit_compressed.",
    ),
];

/// One interface line of `/proc/net/dev`.
#[derive(Debug, Clone, PartialEq)]
pub struct NetDevLine {
    /// Interface name (`device` label).
    pub name: String,
    /// The 16 counters in [`COLUMNS`] order.
    pub values: [u64; 16],
}

/// Parses `/proc/net/dev` (two header lines, then `name: 16 numbers`).
pub fn parse_net_dev(text: &str) -> Result<Vec<NetDevLine>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().skip(2) {
        if line.trim().is_empty() {
            continue;
        }
        let Some((name, rest)) = line.split_once(':') else {
            return Err(format!("line {}: no ':' after the interface name", n + 1));
        };
        let mut values = [0u64; 16];
        let mut count = 0;
        for (i, field) in rest.split_ascii_whitespace().enumerate() {
            if i >= 16 {
                return Err(format!("line {}: more than 16 fields", n + 1));
            }
            values[i] = field
                .parse()
                .map_err(|_| format!("line {}: invalid number {field:?}", n + 1))?;
            count += 1;
        }
        if count != 16 {
            return Err(format!("line {}: expected 16 fields, found {count}", n + 1));
        }
        out.push(NetDevLine {
            name: name.trim().to_string(),
            values,
        });
    }
    Ok(out)
}

/// The netdev collector.
pub struct NetdevCollector {
    paths: HostPaths,
    opts: NetdevOptions,
}

impl NetdevCollector {
    /// A collector reading `<procfs>/net/dev`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            paths: opts.paths.clone(),
            opts: opts.netdev.clone(),
        }
    }
}

/// `rx_nohandler` of one interface; `None` when absent or unreadable.
fn read_nohandler(class_net: &std::path::Path, device: &str) -> Option<u64> {
    let dir = SysfsDir::open(&class_net.join(device).join("statistics"));
    let mut buf = [0u8; 64];
    dir.read("rx_nohandler", &mut buf)?.trim().parse().ok()
}

impl BlockingCollector for NetdevCollector {
    fn name(&self) -> &str {
        "netdev"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let path = self.paths.proc("net/dev");
        let text = super::procfile::read(&path)?;
        let lines = parse_net_dev(&text).map_err(|d| CollectError::parse(path.display(), d))?;
        let devices: Vec<&NetDevLine> = lines
            .iter()
            .filter(|d| !self.opts.devices.ignored(&d.name))
            .collect();
        let class_net = self.paths.sys("class/net");
        let nohandler: Vec<Option<u64>> = devices
            .iter()
            .map(|d| read_nohandler(&class_net, &d.name))
            .collect();
        write_samples(out, &devices, &nohandler);
        Ok(())
    }
}

/// Emits the families for `devices`; `nohandler[i]` is device i's `rx_nohandler`, if known.
pub fn write_samples(out: &mut MetricSet, devices: &[&NetDevLine], nohandler: &[Option<u64>]) {
    let labels: Vec<LabelSet> = devices
        .iter()
        .map(|d| {
            let mut l = LabelSet::new();
            l.push("device", &d.name);
            l
        })
        .collect();
    for (col, (name, help)) in FAMILIES.iter().enumerate() {
        debug_assert!(name.contains(COLUMNS[col]));
        let fam = out.family(*name, *help, MetricType::Counter);
        for (d, l) in devices.iter().zip(&labels) {
            fam.sample_rendered(l, d.values[col] as f64);
        }
    }
    let fam = out.family(
        "node_network_receive_nohandler_total",
        "Network device statistic receive_nohandler.",
        MetricType::Counter,
    );
    for (v, l) in nohandler.iter().zip(&labels) {
        if let Some(v) = v {
            fam.sample_rendered(l, *v as f64);
        }
    }
    out.prune_empty();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::DeviceFilter;

    const NET_DEV: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  117530    1304    0    0    0     0          0         0   117530    1304    0    0    0     0       0          0
  eth0: 217648296    9038    1    2    3     4          5         6   530404    5973    7    8    9    10      11         12
";

    #[test]
    fn columns_map_to_node_exporter_names() {
        let lines = parse_net_dev(NET_DEV).unwrap();
        let devices: Vec<&NetDevLine> = lines.iter().collect();
        let mut set = MetricSet::new();
        write_samples(&mut set, &devices, &[None, Some(42)]);
        let eth0 = [("device", "eth0")];
        let expect = [
            ("node_network_receive_bytes_total", 217648296.0),
            ("node_network_receive_packets_total", 9038.0),
            ("node_network_receive_errs_total", 1.0),
            ("node_network_receive_drop_total", 2.0),
            ("node_network_receive_fifo_total", 3.0),
            ("node_network_receive_frame_total", 4.0),
            ("node_network_receive_compressed_total", 5.0),
            ("node_network_receive_multicast_total", 6.0),
            ("node_network_transmit_bytes_total", 530404.0),
            ("node_network_transmit_packets_total", 5973.0),
            ("node_network_transmit_errs_total", 7.0),
            ("node_network_transmit_drop_total", 8.0),
            ("node_network_transmit_fifo_total", 9.0),
            ("node_network_transmit_colls_total", 10.0),
            ("node_network_transmit_carrier_total", 11.0),
            ("node_network_transmit_compressed_total", 12.0),
            ("node_network_receive_nohandler_total", 42.0),
        ];
        for (name, v) in expect {
            assert_eq!(set.find(name, &eth0), Some(v), "{name}");
        }
        assert_eq!(
            set.find("node_network_receive_bytes_total", &[("device", "lo")]),
            Some(117530.0)
        );
        assert_eq!(
            set.find("node_network_receive_nohandler_total", &[("device", "lo")]),
            None
        );
    }

    #[test]
    fn exclude_filter_drops_devices() {
        let lines = parse_net_dev(NET_DEV).unwrap();
        let filter = DeviceFilter {
            exclude: Some(regex::Regex::new("^lo$").unwrap()),
            include: None,
        };
        let names: Vec<&str> = lines
            .iter()
            .filter(|d| !filter.ignored(&d.name))
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(names, vec!["eth0"]);
    }

    #[test]
    fn malformed_lines_are_errors() {
        let bad = "h1\nh2\n  eth0 1 2 3\n";
        assert!(parse_net_dev(bad).unwrap_err().contains("no ':'"));
        let short = "h1\nh2\n  eth0: 1 2 3\n";
        assert!(parse_net_dev(short)
            .unwrap_err()
            .contains("expected 16 fields, found 3"));
    }
}
