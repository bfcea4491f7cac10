//! `tapestats`: SCSI tape drive statistics from `/sys/class/scsi_tape/st<N>/stats/`
//! (Documentation/scsi/st.rst, "Statistics"), as node_exporter 1.5. Only the `st<N>` nodes are
//! reported (`nst<N>` and the mode nodes `st<N>a`... are the same drive again). Times are in
//! nanoseconds. No tape drive: no samples.

use super::class_dir;
use super::sysfs_dir::SysfsDir;
use super::CollectorDef;
use crate::options::HostOptions;
use regex::Regex;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `tapestats` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "tapestats",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(TapestatsCollector::new(opts))))),
};

/// (file under `stats/`, family, type, scale, help).
const STATS: [(&str, &str, MetricType, f64, &str); 10] = [
    ("in_flight", "node_tape_io_now", MetricType::Gauge, 1.0, "The number of I/Os currently outstanding to this device."),
    ("other_cnt", "node_tape_io_others_total", MetricType::Counter, 1.0, "The number of I/Os issued to the tape drive other than read or write commands. The time taken to complete these commands uses the following calculation io_time_seconds_total-read_time_seconds_total-write_time_seconds_total"),
    ("io_ns", "node_tape_io_time_seconds_total", MetricType::Counter, 1e-9, "The amount of time spent waiting for all I/O to complete (including read and write). This includes tape movement commands such as seeking between file or set marks and implicit tape movement such as when rewind on close tape devices are used."),
    ("read_byte_cnt", "node_tape_read_bytes_total", MetricType::Counter, 1.0, "The number of bytes read from the tape drive."),
    ("read_ns", "node_tape_read_time_seconds_total", MetricType::Counter, 1e-9, "The amount of time spent waiting for read requests to complete."),
    ("read_cnt", "node_tape_reads_completed_total", MetricType::Counter, 1.0, "The number of read requests issued to the tape drive."),
    ("resid_cnt", "node_tape_residual_total", MetricType::Counter, 1.0, "The number of times during a read or write we found the residual amount to be non-zero. This should mean that a program is issuing a read larger thean the block size on tape. For write not all data made it to tape."),
    ("write_ns", "node_tape_write_time_seconds_total", MetricType::Counter, 1e-9, "The amount of time spent waiting for write requests to complete."),
    ("write_cnt", "node_tape_writes_completed_total", MetricType::Counter, 1.0, "The number of write requests issued to the tape drive."),
    ("write_byte_cnt", "node_tape_written_bytes_total", MetricType::Counter, 1.0, "The number of bytes written to the tape drive."),
];

/// Reads `<sysfs>/class/scsi_tape` on each scrape.
pub struct TapestatsCollector {
    dir: PathBuf,
    ignored: Option<Regex>,
}

impl TapestatsCollector {
    /// A collector reading below `opts.paths`, leaving out `opts.tapestats_ignored`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            dir: opts.paths.sys("class/scsi_tape"),
            ignored: opts.tapestats_ignored.clone(),
        }
    }
}

impl BlockingCollector for TapestatsCollector {
    fn name(&self) -> &str {
        "tapestats"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let Some(devices) = class_dir::entries(&self.dir, "st")? else {
            return Ok(());
        };
        for device in &devices {
            let is_drive = device.len() > 2 && device[2..].bytes().all(|b| b.is_ascii_digit());
            if !is_drive || self.ignored.as_ref().is_some_and(|r| r.is_match(device)) {
                continue;
            }
            let d = SysfsDir::open(&self.dir.join(device).join("stats"));
            for (file, name, kind, scale, help) in STATS {
                if let Some(v) = class_dir::int(&d, file) {
                    let v = if scale == 1.0 {
                        v as f64
                    } else {
                        v as f64 * scale
                    };
                    out.family(name, help, kind)
                        .sample(&[("device", device)], v);
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
    fn reads_drives_only_with_times_in_seconds() {
        let mut opts = fixtures::options("server");
        let mut out = MetricSet::new();
        TapestatsCollector::new(&opts).collect(&mut out).unwrap();
        let st0 = [("device", "st0")];
        assert_eq!(out.find("node_tape_io_now", &st0), Some(1.0));
        assert_eq!(
            out.find("node_tape_write_time_seconds_total", &st0),
            Some(59255668.0 * 1e-9)
        );
        assert_eq!(out.find("node_tape_io_now", &[("device", "nst0")]), None);
        opts.tapestats_ignored = Some(Regex::new("^st0$").unwrap());
        let mut out = MetricSet::new();
        TapestatsCollector::new(&opts).collect(&mut out).unwrap();
        assert_eq!(out.sample_count(), 0);
    }
}
