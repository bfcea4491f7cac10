//! `diskstats`: block device I/O counters from `/proc/diskstats` (`node_disk_*`).
//!
//! Field meanings follow the kernel's Documentation/admin-guide/iostats.rst; names, units and
//! help texts follow node_exporter 1.5 (sectors are 512 bytes whatever the device's sector size,
//! times are milliseconds turned into seconds). `node_disk_info` carries udev's identifiers when
//! `--path.udev.data` holds the device's record, and empty strings otherwise; udev's device-mapper,
//! filesystem (`node_disk_filesystem_info`) and ATA facts where it recorded them.

use super::CollectorDef;
use crate::options::{DiskstatsOptions, HostOptions, HostPaths};
use std::collections::HashMap;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, LabelSet, MetricSet, MetricType};

/// Registration of the diskstats collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "diskstats",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(DiskstatsCollector::new(opts))))),
};

/// Bytes per sector in `/proc/diskstats`, fixed by the kernel ABI.
const SECTOR_SIZE: f64 = 512.0;
/// Milliseconds to seconds, written as node_exporter does (a product, not a division) so the
/// values print identically.
const MS: f64 = 0.001;

/// One line of `/proc/diskstats`.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskLine {
    /// Major device number.
    pub major: u32,
    /// Minor device number.
    pub minor: u32,
    /// Kernel device name (`device` label).
    pub name: String,
    /// The statistics fields after the name (11, 15, 17 or more depending on the kernel).
    pub stats: Vec<u64>,
}

/// Parses `/proc/diskstats`.
pub fn parse_diskstats(text: &str) -> Result<Vec<DiskLine>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(major), Some(minor), Some(name)) = (fields.next(), fields.next(), fields.next())
        else {
            if line.trim().is_empty() {
                continue;
            }
            return Err(format!("line {}: too few fields", n + 1));
        };
        let num = |s: &str| {
            s.parse::<u64>()
                .map_err(|_| format!("line {}: invalid number {s:?}", n + 1))
        };
        let major = u32::try_from(num(major)?)
            .map_err(|_| format!("line {}: major out of range", n + 1))?;
        let minor = u32::try_from(num(minor)?)
            .map_err(|_| format!("line {}: minor out of range", n + 1))?;
        let stats = fields.map(num).collect::<Result<Vec<u64>, String>>()?;
        if stats.len() < 11 {
            return Err(format!(
                "line {}: expected at least 11 statistics, found {}",
                n + 1,
                stats.len()
            ));
        }
        out.push(DiskLine {
            major,
            minor,
            name: name.to_string(),
            stats,
        });
    }
    Ok(out)
}

/// A family derived from one statistics field.
struct FieldFamily {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    field: usize,
    scale: f64,
}

const fn counter(name: &'static str, help: &'static str, field: usize, scale: f64) -> FieldFamily {
    FieldFamily {
        name,
        help,
        kind: MetricType::Counter,
        field,
        scale,
    }
}

/// node_exporter 1.5's families, by index into [`DiskLine::stats`].
const FAMILIES: &[FieldFamily] = &[
    counter(
        "node_disk_reads_completed_total",
        "The total number of reads completed successfully.",
        0,
        1.0,
    ),
    counter(
        "node_disk_reads_merged_total",
        "The total number of reads merged.",
        1,
        1.0,
    ),
    counter(
        "node_disk_read_bytes_total",
        "The total number of bytes read successfully.",
        2,
        SECTOR_SIZE,
    ),
    counter(
        "node_disk_read_time_seconds_total",
        "The total number of seconds spent by all reads.",
        3,
        MS,
    ),
    counter(
        "node_disk_writes_completed_total",
        "The total number of writes completed successfully.",
        4,
        1.0,
    ),
    counter(
        "node_disk_writes_merged_total",
        "The number of writes merged.",
        5,
        1.0,
    ),
    counter(
        "node_disk_written_bytes_total",
        "The total number of bytes written successfully.",
        6,
        SECTOR_SIZE,
    ),
    counter(
        "node_disk_write_time_seconds_total",
        "This is the total number of seconds spent by all writes.",
        7,
        MS,
    ),
    FieldFamily {
        name: "node_disk_io_now",
        help: "The number of I/Os currently in progress.",
        kind: MetricType::Gauge,
        field: 8,
        scale: 1.0,
    },
    counter(
        "node_disk_io_time_seconds_total",
        "Total seconds spent doing I/Os.",
        9,
        MS,
    ),
    counter(
        "node_disk_io_time_weighted_seconds_total",
        "The weighted # of seconds spent doing I/Os.",
        10,
        MS,
    ),
    counter(
        "node_disk_discards_completed_total",
        "The total number of discards completed successfully.",
        11,
        1.0,
    ),
    counter(
        "node_disk_discards_merged_total",
        "The total number of discards merged.",
        12,
        1.0,
    ),
    counter(
        "node_disk_discarded_sectors_total",
        "The total number of sectors discarded successfully.",
        13,
        1.0,
    ),
    counter(
        "node_disk_discard_time_seconds_total",
        "This is the total number of seconds spent by all discards.",
        14,
        MS,
    ),
    counter(
        "node_disk_flush_requests_total",
        "The total number of flush requests completed successfully",
        15,
        1.0,
    ),
    counter(
        "node_disk_flush_requests_time_seconds_total",
        "This is the total number of seconds spent by all flush requests.",
        16,
        MS,
    ),
];

/// Reads udev's record of a block device (`E:KEY=value` lines); empty when absent.
fn udev_properties(opts: &DiskstatsOptions, major: u32, minor: u32) -> HashMap<String, String> {
    let path = opts.udev_data.join(format!("b{major}:{minor}"));
    let Ok(text) = super::procfile::read_whole(&path) else {
        return HashMap::new();
    };
    parse_udev(&text)
}

/// Parses a udev database record into its `E:` properties.
pub fn parse_udev(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("E:"))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The diskstats collector.
pub struct DiskstatsCollector {
    paths: HostPaths,
    opts: DiskstatsOptions,
}

impl DiskstatsCollector {
    /// A collector reading `<procfs>/diskstats`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            paths: opts.paths.clone(),
            opts: opts.diskstats.clone(),
        }
    }
}

impl BlockingCollector for DiskstatsCollector {
    fn name(&self) -> &str {
        "diskstats"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let path = self.paths.proc("diskstats");
        let text = super::procfile::read(&path)?;
        let lines = parse_diskstats(&text).map_err(|d| CollectError::parse(path.display(), d))?;
        let disks: Vec<&DiskLine> = lines
            .iter()
            .filter(|d| !self.opts.devices.ignored(&d.name))
            .collect();
        write_samples(out, &disks, |d| {
            udev_properties(&self.opts, d.major, d.minor)
        });
        Ok(())
    }
}

/// Emits every family for `disks`, asking `udev` for each device's udev properties.
pub fn write_samples(
    out: &mut MetricSet,
    disks: &[&DiskLine],
    udev: impl Fn(&DiskLine) -> HashMap<String, String>,
) {
    let labels: Vec<LabelSet> = disks
        .iter()
        .map(|d| {
            let mut l = LabelSet::new();
            l.push("device", &d.name);
            l
        })
        .collect();

    let udev: Vec<HashMap<String, String>> = disks.iter().map(|d| udev(d)).collect();
    {
        let fam = out.family(
            "node_disk_info",
            "Info of /sys/block/<block_device>.",
            MetricType::Gauge,
        );
        for (d, props) in disks.iter().zip(&udev) {
            let get = |k: &str| props.get(k).map(String::as_str).unwrap_or("");
            let serial = props
                .get("ID_SERIAL_SHORT")
                .or_else(|| props.get("SCSI_IDENT_SERIAL"))
                .map(String::as_str)
                .unwrap_or("");
            let (major, minor) = (d.major.to_string(), d.minor.to_string());
            fam.sample(
                &[
                    ("device", &d.name),
                    ("major", &major),
                    ("minor", &minor),
                    ("path", get("ID_PATH")),
                    ("wwn", get("ID_WWN")),
                    ("model", get("ID_MODEL")),
                    ("serial", serial),
                    ("revision", get("ID_REVISION")),
                ],
                1.0,
            );
        }
    }

    for f in FAMILIES {
        let fam = out.family(f.name, f.help, f.kind);
        for (d, l) in disks.iter().zip(&labels) {
            if let Some(v) = d.stats.get(f.field) {
                fam.sample_rendered(l, *v as f64 * f.scale);
            }
        }
    }

    // Device-mapper and ATA details exist only where udev recorded them.
    {
        let fam = out.family(
            "node_disk_device_mapper_info",
            "Info about disk device mapper.",
            MetricType::Gauge,
        );
        for (d, props) in disks.iter().zip(&udev) {
            if let Some(name) = props.get("DM_NAME") {
                let get = |k: &str| props.get(k).map(String::as_str).unwrap_or("");
                fam.sample(
                    &[
                        ("device", &d.name),
                        ("name", name),
                        ("uuid", get("DM_UUID")),
                        ("vg_name", get("DM_VG_NAME")),
                        ("lv_name", get("DM_LV_NAME")),
                        ("lv_layer", get("DM_LV_LAYER")),
                    ],
                    1.0,
                );
            }
        }
    }
    {
        let fam = out.family(
            "node_disk_filesystem_info",
            "Info about disk filesystem.",
            MetricType::Gauge,
        );
        for (d, props) in disks.iter().zip(&udev) {
            // udev records `ID_FS_TYPE=` (empty) for a disk it probed and found no
            // filesystem on; node_exporter reports only a filesystem it found.
            let Some(kind) = props.get("ID_FS_TYPE").filter(|t| !t.is_empty()) else {
                continue;
            };
            let get = |k: &str| props.get(k).map(String::as_str).unwrap_or("");
            fam.sample(
                &[
                    ("device", &d.name),
                    ("type", kind),
                    ("usage", get("ID_FS_USAGE")),
                    ("uuid", get("ID_FS_UUID")),
                    ("version", get("ID_FS_VERSION")),
                ],
                1.0,
            );
        }
    }
    let ata: [(&str, &str, &str); 3] = [
        (
            "node_disk_ata_write_cache",
            "ATA disk has a write cache.",
            "ID_ATA_WRITE_CACHE",
        ),
        (
            "node_disk_ata_write_cache_enabled",
            "ATA disk has its write cache enabled.",
            "ID_ATA_WRITE_CACHE_ENABLED",
        ),
        (
            "node_disk_ata_rotation_rate_rpm",
            "ATA disk rotation rate in RPMs (0 for SSDs).",
            "ID_ATA_ROTATION_RATE_RPM",
        ),
    ];
    for (name, help, key) in ata {
        let fam = out.family(name, help, MetricType::Gauge);
        for (props, l) in udev.iter().zip(&labels) {
            if let Some(v) = props.get(key).and_then(|v| v.trim().parse::<f64>().ok()) {
                fam.sample_rendered(l, v);
            }
        }
    }
    out.prune_empty();
}

#[cfg(test)]
mod tests {
    use super::*;

    const DISKSTATS: &str = "\
   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 254       0 vda 53149 8215 3312050 15227 32947 24781 4198312 15252 0 6584 31063 10608 11 1131352 448 6353 134
 254       1 vda1 100 0 200 3 0 0 0 0 0 4 3 0 0 0 0 0 0
   8       0 sda 10 2 30 4 5 6 7 8 1 9 31182
 253       0 dm-0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
";

    fn collect(text: &str, opts: &DiskstatsOptions) -> MetricSet {
        let lines = parse_diskstats(text).unwrap();
        let disks: Vec<&DiskLine> = lines
            .iter()
            .filter(|d| !opts.devices.ignored(&d.name))
            .collect();
        let mut set = MetricSet::new();
        write_samples(&mut set, &disks, |d| {
            if d.name == "dm-0" {
                parse_udev("S:disk/by-id/x\nE:DM_NAME=vg-root\nE:DM_UUID=LVM-abc\nE:DM_VG_NAME=vg\nE:DM_LV_NAME=root\nE:ID_PATH=pci-0\n")
            } else {
                HashMap::new()
            }
        });
        set
    }

    #[test]
    fn fields_units_and_default_excludes() {
        let set = collect(DISKSTATS, &DiskstatsOptions::default());
        let vda = [("device", "vda")];
        assert_eq!(
            set.find("node_disk_reads_completed_total", &vda),
            Some(53149.0)
        );
        assert_eq!(
            set.find("node_disk_read_bytes_total", &vda),
            Some(3312050.0 * 512.0)
        );
        assert_eq!(
            set.find("node_disk_written_bytes_total", &vda),
            Some(4198312.0 * 512.0)
        );
        assert_eq!(
            set.find("node_disk_read_time_seconds_total", &vda),
            Some(15227.0 * 0.001)
        );
        assert_eq!(set.find("node_disk_io_now", &vda), Some(0.0));
        assert_eq!(
            set.find("node_disk_io_time_seconds_total", &vda),
            Some(6584.0 * 0.001)
        );
        assert_eq!(
            set.find("node_disk_io_time_weighted_seconds_total", &vda),
            Some(31063.0 * 0.001)
        );
        assert_eq!(
            set.find("node_disk_discards_completed_total", &vda),
            Some(10608.0)
        );
        assert_eq!(
            set.find("node_disk_discarded_sectors_total", &vda),
            Some(1131352.0)
        );
        assert_eq!(
            set.find("node_disk_flush_requests_total", &vda),
            Some(6353.0)
        );
        assert_eq!(
            set.find("node_disk_flush_requests_time_seconds_total", &vda),
            Some(0.134)
        );
        // loop0 and the partition vda1 are excluded by default.
        assert_eq!(
            set.find("node_disk_reads_completed_total", &[("device", "loop0")]),
            None
        );
        assert_eq!(
            set.find("node_disk_reads_completed_total", &[("device", "vda1")]),
            None
        );
    }

    #[test]
    fn old_kernels_have_no_discard_or_flush_series() {
        let set = collect(DISKSTATS, &DiskstatsOptions::default());
        let sda = [("device", "sda")];
        assert_eq!(
            set.find("node_disk_io_time_weighted_seconds_total", &sda),
            Some(31.182000000000002)
        );
        assert_eq!(set.find("node_disk_discards_completed_total", &sda), None);
        let dm = [("device", "dm-0")];
        assert_eq!(
            set.find("node_disk_discard_time_seconds_total", &dm),
            Some(0.015)
        );
        assert_eq!(set.find("node_disk_flush_requests_total", &dm), None);
    }

    #[test]
    fn info_without_and_with_udev() {
        let set = collect(DISKSTATS, &DiskstatsOptions::default());
        assert_eq!(
            set.find(
                "node_disk_info",
                &[
                    ("device", "vda"),
                    ("major", "254"),
                    ("minor", "0"),
                    ("path", ""),
                    ("serial", ""),
                    ("wwn", "")
                ]
            ),
            Some(1.0)
        );
        assert_eq!(
            set.find("node_disk_info", &[("device", "dm-0"), ("path", "pci-0")]),
            Some(1.0)
        );
        assert_eq!(
            set.find(
                "node_disk_device_mapper_info",
                &[
                    ("device", "dm-0"),
                    ("name", "vg-root"),
                    ("vg_name", "vg"),
                    ("lv_name", "root"),
                    ("lv_layer", "")
                ]
            ),
            Some(1.0)
        );
        assert_eq!(
            set.find("node_disk_device_mapper_info", &[("device", "vda")]),
            None
        );
    }

    #[test]
    fn include_filter_overrides() {
        let opts = DiskstatsOptions {
            devices: crate::options::DeviceFilter {
                exclude: None,
                include: Some(regex::Regex::new("^loop").unwrap()),
            },
            ..Default::default()
        };
        let set = collect(DISKSTATS, &opts);
        assert_eq!(
            set.find("node_disk_reads_completed_total", &[("device", "loop0")]),
            Some(0.0)
        );
        assert_eq!(
            set.find("node_disk_reads_completed_total", &[("device", "vda")]),
            None
        );
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(parse_diskstats("   8 0 sda 1 2 3\n")
            .unwrap_err()
            .contains("at least 11"));
        assert!(parse_diskstats("   8 0 sda 1 2 x 4 5 6 7 8 9 10 11\n")
            .unwrap_err()
            .contains("invalid number"));
        assert!(parse_diskstats("8 0\n").unwrap_err().contains("too few"));
    }
}
