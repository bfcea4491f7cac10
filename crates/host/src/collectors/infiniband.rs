//! `infiniband`: InfiniBand HCA ports from `/sys/class/infiniband/<device>/ports/<port>/`
//! (Documentation/ABI/stable/sysfs-class-infiniband), as node_exporter 1.5: port state, physical
//! state and rate, and the standard port counters (`port_*_data` counts 4-byte words, reported
//! in bytes). A counter the HCA does not implement reads `N/A (no PMA)` and is left out. No
//! InfiniBand: no samples.

use super::class_dir;
use super::sysfs_dir::SysfsDir;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `infiniband` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "infiniband",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(InfinibandCollector::new(opts))))),
};

/// Port counters: (file under `counters/`, family, multiplier, help).
#[rustfmt::skip]
const COUNTERS: &[(&str, &str, u64, &str)] = &[
    ("excessive_buffer_overrun_errors", "node_infiniband_excessive_buffer_overrun_errors_total", 1, "Number of times that OverrunErrors consecutive flow control update periods occurred, each having at least one overrun error."),
    ("link_downed", "node_infiniband_link_downed_total", 1, "Number of times the link failed to recover from an error state and went down"),
    ("link_error_recovery", "node_infiniband_link_error_recovery_total", 1, "Number of times the link successfully recovered from an error state"),
    ("local_link_integrity_errors", "node_infiniband_local_link_integrity_errors_total", 1, "Number of times that the count of local physical errors exceeded the threshold specified by LocalPhyErrors."),
    ("multicast_rcv_packets", "node_infiniband_multicast_packets_received_total", 1, "Number of multicast packets received (including errors)"),
    ("multicast_xmit_packets", "node_infiniband_multicast_packets_transmitted_total", 1, "Number of multicast packets transmitted (including errors)"),
    ("port_rcv_constraint_errors", "node_infiniband_port_constraint_errors_received_total", 1, "Number of packets received on the switch physical port that are discarded"),
    ("port_xmit_constraint_errors", "node_infiniband_port_constraint_errors_transmitted_total", 1, "Number of packets not transmitted from the switch physical port"),
    ("port_rcv_data", "node_infiniband_port_data_received_bytes_total", 4, "Number of data octets received on all links"),
    ("port_xmit_data", "node_infiniband_port_data_transmitted_bytes_total", 4, "Number of data octets transmitted on all links"),
    ("port_rcv_discards", "node_infiniband_port_discards_received_total", 1, "Number of inbound packets discarded by the port because the port is down or congested"),
    ("port_xmit_discards", "node_infiniband_port_discards_transmitted_total", 1, "Number of outbound packets discarded by the port because the port is down or congested"),
    ("port_rcv_errors", "node_infiniband_port_errors_received_total", 1, "Number of packets containing an error that were received on this port"),
    ("port_rcv_packets", "node_infiniband_port_packets_received_total", 1, "Number of packets received on all VLs by this port (including errors)"),
    ("port_xmit_packets", "node_infiniband_port_packets_transmitted_total", 1, "Number of packets transmitted on all VLs from this port (including errors)"),
    ("port_rcv_remote_physical_errors", "node_infiniband_port_receive_remote_physical_errors_total", 1, "Number of packets marked with the EBP (End of Bad Packet) delimiter received on the port."),
    ("port_rcv_switch_relay_errors", "node_infiniband_port_receive_switch_relay_errors_total", 1, "Number of packets that could not be forwarded by the switch."),
    ("port_xmit_wait", "node_infiniband_port_transmit_wait_total", 1, "Number of ticks during which the port had data to transmit but no data was sent during the entire tick"),
    ("symbol_error", "node_infiniband_symbol_error_total", 1, "Number of minor link errors detected on one or more physical lanes."),
    ("unicast_rcv_packets", "node_infiniband_unicast_packets_received_total", 1, "Number of unicast packets received (including errors)"),
    ("unicast_xmit_packets", "node_infiniband_unicast_packets_transmitted_total", 1, "Number of unicast packets transmitted (including errors)"),
    ("VL15_dropped", "node_infiniband_vl15_dropped_total", 1, "Number of incoming VL15 packets dropped due to resource limitations."),
];

/// Reads `<sysfs>/class/infiniband` on each scrape.
pub struct InfinibandCollector {
    dir: PathBuf,
}

impl InfinibandCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            dir: opts.paths.sys("class/infiniband"),
        }
    }
}

/// The number before the colon of `4: ACTIVE`.
fn state_id(text: &str) -> Option<f64> {
    text.split(':').next()?.trim().parse().ok()
}

/// `100 Gb/sec (4X EDR)` in bytes per second.
fn rate_bytes(text: &str) -> Option<f64> {
    let gbit: f64 = text.split_ascii_whitespace().next()?.parse().ok()?;
    // Truncated to whole bytes, as node_exporter computes it.
    Some((gbit * 125_000_000.0).trunc())
}

impl BlockingCollector for InfinibandCollector {
    fn name(&self) -> &str {
        "infiniband"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let Some(devices) = class_dir::entries(&self.dir, "")? else {
            return Ok(());
        };
        for device in &devices {
            let dir = self.dir.join(device);
            if !dir.is_dir() {
                // Removed since the listing.
                continue;
            }
            let d = SysfsDir::open(&dir);
            let text = |f| class_dir::text(&d, f).unwrap_or_default();
            let (board, fw, hca) = (text("board_id"), text("fw_ver"), text("hca_type"));
            out.family(
                "node_infiniband_info",
                "Non-numeric data from /sys/class/infiniband/<device>, value is always 1.",
                MetricType::Gauge,
            )
            .sample(
                &[
                    ("board_id", &board),
                    ("device", device),
                    ("firmware_version", &fw),
                    ("hca_type", &hca),
                ],
                1.0,
            );
            let ports_dir = dir.join("ports");
            for port in class_dir::entries(&ports_dir, "")?.unwrap_or_default() {
                let labels = [("device", device.as_str()), ("port", port.as_str())];
                let p = SysfsDir::open(&ports_dir.join(&port));
                if let Some(v) = class_dir::text(&p, "state").and_then(|s| state_id(&s)) {
                    out.family(
                        "node_infiniband_state_id",
                        "State of the InfiniBand port (0: no change, 1: down, 2: init, 3: armed, 4: active, 5: act defer)",
                        MetricType::Gauge,
                    )
                    .sample(&labels, v);
                }
                if let Some(v) = class_dir::text(&p, "phys_state").and_then(|s| state_id(&s)) {
                    out.family(
                        "node_infiniband_physical_state_id",
                        "Physical state of the InfiniBand port (0: no change, 1: sleep, 2: polling, 3: disable, 4: shift, 5: link up, 6: link error recover, 7: phytest)",
                        MetricType::Gauge,
                    )
                    .sample(&labels, v);
                }
                if let Some(v) = class_dir::text(&p, "rate").and_then(|s| rate_bytes(&s)) {
                    out.family(
                        "node_infiniband_rate_bytes_per_second",
                        "Maximum signal transfer rate",
                        MetricType::Gauge,
                    )
                    .sample(&labels, v);
                }
                let c = SysfsDir::open(&ports_dir.join(&port).join("counters"));
                for (file, name, multiplier, help) in COUNTERS {
                    let Some(raw) = class_dir::text(&c, file) else {
                        continue;
                    };
                    if let Ok(v) = raw.parse::<u64>() {
                        out.family(*name, *help, MetricType::Counter)
                            .sample(&labels, v.wrapping_mul(*multiplier) as f64);
                    }
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

    #[test]
    fn reads_ports_states_rates_and_counters() {
        let mut out = MetricSet::new();
        InfinibandCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        let p1 = [("device", "mlx5_0"), ("port", "1")];
        let p2 = [("device", "mlx5_0"), ("port", "2")];
        assert_eq!(out.find("node_infiniband_state_id", &p1), Some(4.0));
        assert_eq!(
            out.find("node_infiniband_physical_state_id", &p2),
            Some(3.0)
        );
        assert_eq!(
            out.find("node_infiniband_rate_bytes_per_second", &p1),
            Some(12.5e9)
        );
        assert_eq!(
            out.find("node_infiniband_port_data_received_bytes_total", &p1),
            Some(752.0)
        );
        // "N/A (no PMA)" is left out.
        assert_eq!(
            out.find("node_infiniband_port_data_received_bytes_total", &p2),
            None
        );
        assert_eq!(rate_bytes("2.5 Gb/sec (1X SDR)"), Some(312_500_000.0));
        assert_eq!(state_id("4: ACTIVE"), Some(4.0));
    }
}
