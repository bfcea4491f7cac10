//! `netclass`: interface properties from `/sys/class/net/<iface>/` (`node_network_up`,
//! `_mtu_bytes`, `_speed_bytes`, `_info`, ...).
//!
//! As in node_exporter 1.5, an attribute the kernel refuses to give (e.g. `speed` of a virtual
//! or down interface answers EINVAL) is left out silently; `node_network_info` is always
//! emitted, with an empty string for a missing text attribute.

use super::sysfs_dir::SysfsDir;
use super::CollectorDef;
use crate::options::{HostOptions, HostPaths, NetclassOptions};
use std::path::Path;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, LabelSet, MetricSet, MetricType};

/// Registration of the netclass collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "netclass",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(NetclassCollector::new(opts))))),
};

/// Numeric attributes: (sysfs file, family name, type). `speed` is handled separately.
const NUMERIC: &[(&str, &str, MetricType)] = &[
    (
        "addr_assign_type",
        "node_network_address_assign_type",
        MetricType::Gauge,
    ),
    ("carrier", "node_network_carrier", MetricType::Gauge),
    (
        "carrier_changes",
        "node_network_carrier_changes_total",
        MetricType::Counter,
    ),
    (
        "carrier_up_count",
        "node_network_carrier_up_changes_total",
        MetricType::Counter,
    ),
    (
        "carrier_down_count",
        "node_network_carrier_down_changes_total",
        MetricType::Counter,
    ),
    ("dev_id", "node_network_device_id", MetricType::Gauge),
    ("dormant", "node_network_dormant", MetricType::Gauge),
    ("flags", "node_network_flags", MetricType::Gauge),
    ("ifindex", "node_network_iface_id", MetricType::Gauge),
    ("iflink", "node_network_iface_link", MetricType::Gauge),
    (
        "link_mode",
        "node_network_iface_link_mode",
        MetricType::Gauge,
    ),
    ("mtu", "node_network_mtu_bytes", MetricType::Gauge),
    (
        "name_assign_type",
        "node_network_name_assign_type",
        MetricType::Gauge,
    ),
    (
        "netdev_group",
        "node_network_net_dev_group",
        MetricType::Gauge,
    ),
    (
        "tx_queue_len",
        "node_network_transmit_queue_length",
        MetricType::Gauge,
    ),
    ("type", "node_network_protocol_type", MetricType::Gauge),
];

/// What was readable for one interface.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Interface {
    /// Interface name (`device` label).
    pub name: String,
    /// `address` file.
    pub address: String,
    /// `broadcast` file.
    pub broadcast: String,
    /// `duplex` file.
    pub duplex: String,
    /// `operstate` file.
    pub operstate: String,
    /// `ifalias` file.
    pub ifalias: String,
    /// Values of [`NUMERIC`] attributes, `None` where unreadable.
    pub numeric: Vec<Option<i64>>,
    /// `speed` in Mbit/s, `None` where unreadable.
    pub speed: Option<i64>,
}

/// Parses an integer attribute the way procfs does (`0x` prefix for hex, e.g. `flags`).
fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Reads the attributes of the interface directory `dir`; an unopenable directory (the
/// interface vanished mid-scrape) yields an interface with nothing but its name.
pub fn read_interface(dir: &Path, name: &str) -> Interface {
    let mut iface = Interface {
        name: name.to_string(),
        numeric: vec![None; NUMERIC.len()],
        ..Interface::default()
    };
    let d = SysfsDir::open(dir);
    let mut buf = [0u8; 4096];
    let mut text = |f: &str| d.read(f, &mut buf).map(str::to_string).unwrap_or_default();
    iface.address = text("address");
    iface.broadcast = text("broadcast");
    iface.duplex = text("duplex");
    iface.operstate = text("operstate");
    iface.ifalias = text("ifalias");
    for (slot, (file, _, _)) in iface.numeric.iter_mut().zip(NUMERIC) {
        *slot = d.read(file, &mut buf).and_then(parse_int);
    }
    iface.speed = d.read("speed", &mut buf).and_then(parse_int);
    iface
}

/// The netclass collector.
pub struct NetclassCollector {
    paths: HostPaths,
    opts: NetclassOptions,
}

impl NetclassCollector {
    /// A collector reading `<sysfs>/class/net`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            paths: opts.paths.clone(),
            opts: opts.netclass.clone(),
        }
    }
}

impl BlockingCollector for NetclassCollector {
    fn name(&self) -> &str {
        "netclass"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let base = self.paths.sys("class/net");
        let entries = std::fs::read_dir(&base).map_err(|e| CollectError::io(base.display(), e))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| CollectError::io(base.display(), e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            // Interfaces are symlinks to directories; `bonding_masters` is a plain file.
            if !entry.path().is_dir() {
                continue;
            }
            if self
                .opts
                .ignored_devices
                .as_ref()
                .is_some_and(|r| r.is_match(&name))
            {
                continue;
            }
            names.push(name);
        }
        names.sort();
        let ifaces: Vec<Interface> = names
            .iter()
            .map(|n| read_interface(&base.join(n), n))
            .collect();
        write_samples(out, &ifaces, &self.opts);
        Ok(())
    }
}

/// Emits every family for `ifaces`.
pub fn write_samples(out: &mut MetricSet, ifaces: &[Interface], opts: &NetclassOptions) {
    let labels: Vec<LabelSet> = ifaces
        .iter()
        .map(|i| {
            let mut l = LabelSet::new();
            l.push("device", &i.name);
            l
        })
        .collect();
    {
        let fam = out.family(
            "node_network_up",
            "Value is 1 if operstate is 'up', 0 otherwise.",
            MetricType::Gauge,
        );
        for (i, l) in ifaces.iter().zip(&labels) {
            fam.sample_rendered(l, if i.operstate == "up" { 1.0 } else { 0.0 });
        }
    }
    {
        let fam = out.family(
            "node_network_info",
            "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
            MetricType::Gauge,
        );
        for i in ifaces {
            fam.sample(
                &[
                    ("device", &i.name),
                    ("address", &i.address),
                    ("broadcast", &i.broadcast),
                    ("duplex", &i.duplex),
                    ("operstate", &i.operstate),
                    ("ifalias", &i.ifalias),
                ],
                1.0,
            );
        }
    }
    for (idx, (_, name, kind)) in NUMERIC.iter().enumerate() {
        let property = name.trim_start_matches("node_network_");
        let fam = out.family(*name, format!("Network device property: {property}"), *kind);
        for (i, l) in ifaces.iter().zip(&labels) {
            if let Some(Some(v)) = i.numeric.get(idx) {
                fam.sample_rendered(l, *v as f64);
            }
        }
    }
    let fam = out.family(
        "node_network_speed_bytes",
        "Network device property: speed_bytes",
        MetricType::Gauge,
    );
    for (i, l) in ifaces.iter().zip(&labels) {
        if let Some(speed) = i.speed {
            // The kernel reports -1 for an unknown speed; node_exporter passes it on unless told not to.
            if speed >= 0 || !opts.ignore_invalid_speed {
                fam.sample_rendered(l, (speed * 1000 * 1000 / 8) as f64);
            }
        }
    }
    out.prune_empty();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn fixture() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let eth0 = dir.path().join("eth0");
        fs::create_dir(&eth0).unwrap();
        for (f, v) in [
            ("address", "02:fc:00:00:00:01\n"),
            ("broadcast", "ff:ff:ff:ff:ff:ff\n"),
            ("duplex", "full\n"),
            ("operstate", "up\n"),
            ("ifalias", "\n"),
            ("addr_assign_type", "0\n"),
            ("carrier", "1\n"),
            ("carrier_changes", "2\n"),
            ("carrier_up_count", "1\n"),
            ("carrier_down_count", "1\n"),
            ("dev_id", "0x20\n"),
            ("flags", "0x1003\n"),
            ("ifindex", "4\n"),
            ("iflink", "4\n"),
            ("mtu", "1500\n"),
            ("speed", "1000\n"),
            ("type", "1\n"),
        ] {
            fs::write(eth0.join(f), v).unwrap();
        }
        let virt = dir.path().join("veth1");
        fs::create_dir(&virt).unwrap();
        fs::write(virt.join("operstate"), "down\n").unwrap();
        fs::write(virt.join("speed"), "-1\n").unwrap();
        fs::write(virt.join("mtu"), "9000\n").unwrap();
        dir
    }

    #[test]
    fn reads_attributes_and_skips_missing_ones() {
        let dir = fixture();
        let ifaces = vec![
            read_interface(&dir.path().join("eth0"), "eth0"),
            read_interface(&dir.path().join("veth1"), "veth1"),
        ];
        let mut set = MetricSet::new();
        write_samples(&mut set, &ifaces, &NetclassOptions::default());
        let eth0 = [("device", "eth0")];
        let veth = [("device", "veth1")];
        assert_eq!(set.find("node_network_up", &eth0), Some(1.0));
        assert_eq!(set.find("node_network_up", &veth), Some(0.0));
        assert_eq!(set.find("node_network_mtu_bytes", &veth), Some(9000.0));
        assert_eq!(
            set.find("node_network_speed_bytes", &eth0),
            Some(125_000_000.0)
        );
        assert_eq!(
            set.find("node_network_speed_bytes", &veth),
            Some(-125_000.0)
        );
        assert_eq!(set.find("node_network_flags", &eth0), Some(4099.0));
        assert_eq!(set.find("node_network_device_id", &eth0), Some(32.0));
        assert_eq!(set.find("node_network_iface_id", &eth0), Some(4.0));
        assert_eq!(
            set.find("node_network_carrier_changes_total", &eth0),
            Some(2.0)
        );
        assert_eq!(set.find("node_network_carrier", &veth), None);
        assert_eq!(set.find("node_network_protocol_type", &eth0), Some(1.0));
        assert_eq!(
            set.find(
                "node_network_info",
                &[
                    ("device", "eth0"),
                    ("address", "02:fc:00:00:00:01"),
                    ("broadcast", "ff:ff:ff:ff:ff:ff"),
                    ("duplex", "full"),
                    ("operstate", "up"),
                    ("ifalias", "")
                ]
            ),
            Some(1.0)
        );
        assert_eq!(
            set.find(
                "node_network_info",
                &[("device", "veth1"), ("address", ""), ("duplex", "")]
            ),
            Some(1.0)
        );
    }

    #[test]
    fn invalid_speed_can_be_ignored() {
        let dir = fixture();
        let ifaces = vec![read_interface(&dir.path().join("veth1"), "veth1")];
        let mut set = MetricSet::new();
        let opts = NetclassOptions {
            ignore_invalid_speed: true,
            ..Default::default()
        };
        write_samples(&mut set, &ifaces, &opts);
        assert_eq!(
            set.find("node_network_speed_bytes", &[("device", "veth1")]),
            None
        );
    }

    #[test]
    fn collector_lists_interface_directories_only() {
        let sys = tempfile::tempdir().unwrap();
        let net = sys.path().join("class/net");
        fs::create_dir_all(net.join("eth0")).unwrap();
        fs::write(net.join("eth0/operstate"), "up\n").unwrap();
        fs::write(net.join("bonding_masters"), "bond0\n").unwrap();
        let mut opts = HostOptions::default();
        opts.paths.sysfs = sys.path().to_path_buf();
        let c = NetclassCollector::new(&opts);
        let mut set = MetricSet::new();
        c.collect(&mut set).unwrap();
        assert_eq!(
            set.find("node_network_up", &[("device", "eth0")]),
            Some(1.0)
        );
        assert_eq!(
            set.find("node_network_up", &[("device", "bonding_masters")]),
            None
        );
    }
}
