//! `ipvs`: IP Virtual Server statistics from `/proc/net/ip_vs_stats` (totals, hexadecimal) and
//! the virtual-server table `/proc/net/ip_vs` (net/netfilter/ipvs/ip_vs_ctl.c), as
//! node_exporter 1.5: per backend its active and inactive connections and weight, labelled by
//! `--collector.ipvs.backend-labels` (backends that become indistinguishable under fewer labels
//! are summed). No IPVS module: no samples.

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `ipvs` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "ipvs",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(IpvsCollector::new(opts))))),
};

/// The backend labels node_exporter knows, in its default order.
pub const BACKEND_LABELS: [&str; 6] = [
    "local_address",
    "local_port",
    "remote_address",
    "remote_port",
    "proto",
    "local_mark",
];

/// Reads the two IPVS files on each scrape.
pub struct IpvsCollector {
    dir: PathBuf,
    /// Indexes into [`BACKEND_LABELS`], in the order given.
    labels: Vec<usize>,
}

impl IpvsCollector {
    /// A collector reading below `opts.paths`, labelling backends by `opts.ipvs_backend_labels`
    /// (names outside [`BACKEND_LABELS`] were rejected when the flags were parsed).
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            dir: opts.paths.proc("net"),
            labels: opts
                .ipvs_backend_labels
                .iter()
                .filter_map(|l| BACKEND_LABELS.iter().position(|k| k == l))
                .collect(),
        }
    }
}

/// One backend line with the virtual service it belongs to; fields in [`BACKEND_LABELS`] order.
struct Backend {
    labels: [String; 6],
    weight: f64,
    active: f64,
    inactive: f64,
}

/// `C0A80016:0CEA` or `[2620:0000:...:0001]:0050` -> (address, port).
fn address(text: &str) -> Option<(String, String)> {
    let (addr, port) = text.rsplit_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?.to_string();
    let addr = if let Some(v6) = addr.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
        let mut groups = [0u16; 8];
        let mut parts = v6.split(':');
        for g in &mut groups {
            *g = u16::from_str_radix(parts.next()?, 16).ok()?;
        }
        Ipv6Addr::from(groups).to_string()
    } else {
        Ipv4Addr::from(u32::from_str_radix(addr, 16).ok()?).to_string()
    };
    Some((addr, port))
}

/// Parses the virtual-server table.
fn backends(path: &Path, text: &str) -> Result<Vec<Backend>, CollectError> {
    let mut out = Vec::new();
    // (local_address, local_port, proto, local_mark) of the current virtual service.
    let mut service: Option<(String, String, String, String)> = None;
    for (n, line) in text.lines().enumerate().skip(3) {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let bad = |what: &str| procfile::malformed(path, n + 1, format!("{what}: {line:?}"));
        match fields.as_slice() {
            ["->", remote, _forward, weight, active, inactive, ..] => {
                let Some((local_address, local_port, proto, mark)) = &service else {
                    return Err(bad("backend before any virtual service"));
                };
                let (remote_address, remote_port) =
                    address(remote).ok_or_else(|| bad("address"))?;
                let num = |s: &str| s.parse::<f64>().map_err(|_| bad("number"));
                out.push(Backend {
                    labels: [
                        local_address.clone(),
                        local_port.clone(),
                        remote_address,
                        remote_port,
                        proto.clone(),
                        mark.clone(),
                    ],
                    weight: num(weight)?,
                    active: num(active)?,
                    inactive: num(inactive)?,
                });
            }
            ["FWM", mark, ..] => {
                service = Some((String::new(), "0".into(), "FWM".into(), mark.to_string()));
            }
            [proto, local, ..] if *proto != "->" => {
                let (a, p) = address(local).ok_or_else(|| bad("address"))?;
                service = Some((a, p, proto.to_string(), String::new()));
            }
            [] => {}
            _ => return Err(bad("unexpected line")),
        }
    }
    Ok(out)
}

impl BlockingCollector for IpvsCollector {
    fn name(&self) -> &str {
        "ipvs"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let stats_path = self.dir.join("ip_vs_stats");
        let Some(stats) = procfile::read_optional(&stats_path)? else {
            return Ok(());
        };
        // Line 3 holds the five totals in hexadecimal.
        let totals: Vec<u64> = stats
            .lines()
            .nth(2)
            .unwrap_or("")
            .split_ascii_whitespace()
            .map(|f| u64::from_str_radix(f, 16))
            .collect::<Result<_, _>>()
            .map_err(|_| procfile::malformed(&stats_path, 3, "totals are not hexadecimal"))?;
        if totals.len() < 5 {
            return Err(procfile::malformed(&stats_path, 3, "fewer than 5 totals"));
        }
        for (i, name, help) in [
            (
                0,
                "node_ipvs_connections_total",
                "The total number of connections made.",
            ),
            (
                1,
                "node_ipvs_incoming_packets_total",
                "The total number of incoming packets.",
            ),
            (
                2,
                "node_ipvs_outgoing_packets_total",
                "The total number of outgoing packets.",
            ),
            (
                3,
                "node_ipvs_incoming_bytes_total",
                "The total amount of incoming data.",
            ),
            (
                4,
                "node_ipvs_outgoing_bytes_total",
                "The total amount of outgoing data.",
            ),
        ] {
            out.counter(name, help, totals[i] as f64);
        }

        let table_path = self.dir.join("ip_vs");
        let table = procfile::read(&table_path)?;
        let mut summed: BTreeMap<Vec<&str>, [f64; 3]> = BTreeMap::new();
        let parsed = backends(&table_path, &table)?;
        for b in &parsed {
            let key: Vec<&str> = self.labels.iter().map(|&i| b.labels[i].as_str()).collect();
            let slot = summed.entry(key).or_default();
            slot[0] += b.active;
            slot[1] += b.inactive;
            slot[2] += b.weight;
        }
        for (i, name, help) in [
            (
                0,
                "node_ipvs_backend_connections_active",
                "The current active connections by local and remote address.",
            ),
            (
                1,
                "node_ipvs_backend_connections_inactive",
                "The current inactive connections by local and remote address.",
            ),
            (
                2,
                "node_ipvs_backend_weight",
                "The current backend weight by local and remote address.",
            ),
        ] {
            let fam = out.family(name, help, MetricType::Gauge);
            for (key, values) in &summed {
                let labels: Vec<(&str, &str)> = self
                    .labels
                    .iter()
                    .zip(key)
                    .map(|(&l, v)| (BACKEND_LABELS[l], *v))
                    .collect();
                fam.sample(&labels, values[i]);
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
    fn reads_totals_and_backends_with_all_labels() {
        let mut out = MetricSet::new();
        IpvsCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        assert_eq!(
            out.find("node_ipvs_connections_total", &[]),
            Some(23765872.0)
        );
        assert_eq!(
            out.find(
                "node_ipvs_backend_connections_active",
                &[
                    ("local_address", "2620::1"),
                    ("remote_address", "2620::2"),
                    ("remote_port", "80")
                ]
            ),
            Some(3.0)
        );
        assert_eq!(
            out.find(
                "node_ipvs_backend_connections_inactive",
                &[
                    ("proto", "FWM"),
                    ("local_mark", "10001000"),
                    ("remote_address", "192.168.49.32")
                ]
            ),
            Some(2.0)
        );
    }

    #[test]
    fn fewer_labels_sum_the_backends() {
        let mut opts = fixtures::options("server");
        opts.ipvs_backend_labels = vec!["local_port".into(), "proto".into()];
        let mut out = MetricSet::new();
        IpvsCollector::new(&opts).collect(&mut out).unwrap();
        assert_eq!(
            out.find(
                "node_ipvs_backend_connections_active",
                &[("local_port", "3306"), ("proto", "TCP")]
            ),
            Some(3493.0)
        );
        assert_eq!(
            out.find(
                "node_ipvs_backend_weight",
                &[("local_port", "3306"), ("proto", "TCP")]
            ),
            Some(400.0)
        );
    }

    #[test]
    fn addresses_of_both_families() {
        assert_eq!(
            address("C0A80016:0CEA"),
            Some(("192.168.0.22".into(), "3306".into()))
        );
        assert_eq!(
            address("[2620:0000:0000:0000:0000:0000:0000:0001]:0050"),
            Some(("2620::1".into(), "80".into()))
        );
        assert_eq!(address("zz:1"), None);
    }
}
