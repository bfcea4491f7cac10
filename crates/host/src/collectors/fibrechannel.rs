//! `fibrechannel`: Fibre Channel host adapters from `/sys/class/fc_host/<host>/`
//! (drivers/scsi/scsi_transport_fc.c), as node_exporter 1.5: `node_fibrechannel_info` with the
//! port's identity (hexadecimal names without their `0x`) and the `statistics/` counters
//! (hexadecimal; all ones means the adapter does not count it, and it is left out). No FC
//! adapter: no samples.

use super::class_dir;
use super::sysfs_dir::SysfsDir;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `fibrechannel` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "fibrechannel",
    default_enabled: true,
    build: |opts| {
        Ok(Arc::new(Blocking(Arc::new(FibreChannelCollector::new(
            opts,
        )))))
    },
};

/// `statistics/` counters: (file, family, help).
const COUNTERS: [(&str, &str, &str); 14] = [
    (
        "dumped_frames",
        "node_fibrechannel_dumped_frames_total",
        "Number of dumped frames",
    ),
    (
        "error_frames",
        "node_fibrechannel_error_frames_total",
        "Number of errors in frames",
    ),
    (
        "fcp_packet_aborts",
        "node_fibrechannel_fcp_packet_aborts_total",
        "Number of aborted packets",
    ),
    (
        "invalid_crc_count",
        "node_fibrechannel_invalid_crc_total",
        "Invalid Cyclic Redundancy Check count",
    ),
    (
        "invalid_tx_word_count",
        "node_fibrechannel_invalid_tx_words_total",
        "Number of invalid words transmitted by host port",
    ),
    (
        "link_failure_count",
        "node_fibrechannel_link_failure_total",
        "Number of times the host port link has failed",
    ),
    (
        "loss_of_signal_count",
        "node_fibrechannel_loss_of_signal_total",
        "Number of times signal has been lost",
    ),
    (
        "loss_of_sync_count",
        "node_fibrechannel_loss_of_sync_total",
        "Number of failures on either bit or transmission word boundaries",
    ),
    (
        "nos_count",
        "node_fibrechannel_nos_total",
        "Number Not_Operational Primitive Sequence received by host port",
    ),
    (
        "rx_frames",
        "node_fibrechannel_rx_frames_total",
        "Number of frames received",
    ),
    (
        "rx_words",
        "node_fibrechannel_rx_words_total",
        "Number of words received by host port",
    ),
    (
        "seconds_since_last_reset",
        "node_fibrechannel_seconds_since_last_reset_total",
        "Number of seconds since last host port reset",
    ),
    (
        "tx_frames",
        "node_fibrechannel_tx_frames_total",
        "Number of frames transmitted by host port",
    ),
    (
        "tx_words",
        "node_fibrechannel_tx_words_total",
        "Number of words transmitted by host port",
    ),
];

/// Text attributes of `node_fibrechannel_info`: (file, label, strip a `0x` prefix).
const INFO: [(&str, &str, bool); 10] = [
    ("dev_loss_tmo", "dev_loss_tmo", false),
    ("fabric_name", "fabric_name", true),
    ("port_id", "port_id", true),
    ("port_name", "port_name", true),
    ("port_state", "port_state", false),
    ("port_type", "port_type", false),
    ("speed", "speed", false),
    ("supported_classes", "supported_classes", false),
    ("supported_speeds", "supported_speeds", false),
    ("symbolic_name", "symbolic_name", false),
];

/// Reads `<sysfs>/class/fc_host` on each scrape.
pub struct FibreChannelCollector {
    dir: PathBuf,
}

impl FibreChannelCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            dir: opts.paths.sys("class/fc_host"),
        }
    }
}

/// A hexadecimal counter; `None` when unreadable or all ones (not counted by the adapter).
fn hex_counter(text: &str) -> Option<u64> {
    let v = u64::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok()?;
    (v != u64::MAX).then_some(v)
}

impl BlockingCollector for FibreChannelCollector {
    fn name(&self) -> &str {
        "fibrechannel"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let Some(hosts) = class_dir::entries(&self.dir, "")? else {
            return Ok(());
        };
        for host in &hosts {
            let d = SysfsDir::open(&self.dir.join(host));
            let values: Vec<String> = INFO
                .iter()
                .map(|(file, _, hex)| {
                    let v = class_dir::text(&d, file).unwrap_or_default();
                    match v.strip_prefix("0x") {
                        Some(stripped) if *hex => stripped.to_string(),
                        _ => v,
                    }
                })
                .collect();
            if values.iter().all(String::is_empty) {
                // Removed since the listing.
                continue;
            }
            let mut labels: Vec<(&str, &str)> = vec![("fc_host", host)];
            labels.extend(
                INFO.iter()
                    .zip(&values)
                    .map(|((_, l, _), v)| (*l, v.as_str())),
            );
            out.family(
                "node_fibrechannel_info",
                "Non-numeric data from /sys/class/fc_host/<host>, value is always 1.",
                MetricType::Gauge,
            )
            .sample(&labels, 1.0);
            let s = SysfsDir::open(&self.dir.join(host).join("statistics"));
            for (file, name, help) in COUNTERS {
                if let Some(v) = class_dir::text(&s, file).and_then(|t| hex_counter(&t)) {
                    out.family(name, help, MetricType::Counter)
                        .sample(&[("fc_host", host)], v as f64);
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
    fn reads_identity_and_counters_and_skips_uncounted_ones() {
        let mut out = MetricSet::new();
        FibreChannelCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        let h = [("fc_host", "host0")];
        assert_eq!(
            out.find("node_fibrechannel_dumped_frames_total", &h),
            Some(42.0)
        );
        assert_eq!(out.find("node_fibrechannel_link_failure_total", &h), None);
        assert_eq!(
            out.find(
                "node_fibrechannel_info",
                &[("port_name", "2100f4e9d4123456"), ("speed", "16 Gbit")]
            ),
            Some(1.0)
        );
        assert_eq!(hex_counter("0x10"), Some(16));
        assert_eq!(hex_counter("0xffffffffffffffff"), None);
    }
}
