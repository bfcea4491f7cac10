//! Typed options the host collectors are built from (parsed from flags by the binary).

use regex::Regex;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the host's pseudo-filesystems are mounted (different inside a container).
#[derive(Debug, Clone)]
pub struct HostPaths {
    /// procfs mount point (`--path.procfs`, default `/proc`).
    pub procfs: PathBuf,
    /// sysfs mount point (`--path.sysfs`, default `/sys`).
    pub sysfs: PathBuf,
    /// Root filesystem (`--path.rootfs`, default `/`), prefixed to mount points for statfs.
    pub rootfs: PathBuf,
}

impl Default for HostPaths {
    fn default() -> Self {
        Self {
            procfs: PathBuf::from("/proc"),
            sysfs: PathBuf::from("/sys"),
            rootfs: PathBuf::from("/"),
        }
    }
}

impl HostPaths {
    /// A path below procfs, e.g. `proc("meminfo")`.
    pub fn proc(&self, rel: &str) -> PathBuf {
        self.procfs.join(rel)
    }

    /// A path below sysfs, e.g. `sys("class/net")`.
    pub fn sys(&self, rel: &str) -> PathBuf {
        self.sysfs.join(rel)
    }

    /// A path below the root filesystem.
    pub fn root(&self, rel: &Path) -> PathBuf {
        match rel.strip_prefix("/") {
            Ok(stripped) => self.rootfs.join(stripped),
            Err(_) => self.rootfs.join(rel),
        }
    }
}

/// Everything a collector may be configured with.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// Pseudo-filesystem locations.
    pub paths: HostPaths,
    /// `--collector.textfile.directory` (None: the textfile collector reports nothing).
    pub textfile_directory: Option<PathBuf>,
    /// Filesystem collector settings.
    pub filesystem: FilesystemOptions,
    /// Diskstats collector settings.
    pub diskstats: DiskstatsOptions,
    /// Netdev collector settings.
    pub netdev: NetdevOptions,
    /// Netclass collector settings.
    pub netclass: NetclassOptions,
    /// Devices the arp collector reports (`--collector.arp.device-include/-exclude`).
    pub arp_devices: DeviceFilter,
    /// Power supplies left out (`--collector.powersupply.ignored-supplies`, default none).
    pub powersupply_ignored: Option<Regex>,
    /// One `node_rapl_joules_total` with a `rapl_zone` label (`--collector.rapl.enable-zone-label`).
    pub rapl_zone_label: bool,
    /// Labels of the IPVS backend metrics (`--collector.ipvs.backend-labels`).
    pub ipvs_backend_labels: Vec<String>,
    /// Tape devices left out (`--collector.tapestats.ignored-devices`, default none).
    pub tapestats_ignored: Option<Regex>,
    /// Also read bcache's `priority_stats` (`--collector.bcache.priorityStats`).
    pub bcache_priority_stats: bool,
    /// Numeric sysctls to export (`--collector.sysctl.include`, `name` or `name:field,...`).
    pub sysctl_include: Vec<String>,
    /// Sysctls exported as labels of `node_sysctl_info` (`--collector.sysctl.include-info`).
    pub sysctl_include_info: Vec<String>,
    /// Updates collector settings.
    pub updates: crate::collectors::updates::UpdatesOptions,
}

impl Default for HostOptions {
    fn default() -> Self {
        Self {
            paths: HostPaths::default(),
            textfile_directory: None,
            filesystem: FilesystemOptions::default(),
            diskstats: DiskstatsOptions::default(),
            netdev: NetdevOptions::default(),
            netclass: NetclassOptions::default(),
            arp_devices: DeviceFilter::default(),
            powersupply_ignored: None,
            rapl_zone_label: false,
            ipvs_backend_labels: crate::collectors::ipvs::BACKEND_LABELS
                .iter()
                .map(|l| l.to_string())
                .collect(),
            tapestats_ignored: None,
            bcache_priority_stats: false,
            sysctl_include: Vec::new(),
            sysctl_include_info: Vec::new(),
            updates: crate::collectors::updates::UpdatesOptions::default(),
        }
    }
}

/// Compiles a regex that is a constant of this crate.
fn constant_regex(pattern: &str) -> Regex {
    // The patterns passed here are string literals covered by the unit tests below, so
    // compilation cannot fail at run time.
    #[allow(clippy::expect_used)]
    Regex::new(pattern).expect("constant regex compiles")
}

/// node_exporter's device filter: a name is ignored when it matches `exclude` or, when
/// `include` is set, does not match it.
#[derive(Debug, Clone, Default)]
pub struct DeviceFilter {
    /// Devices to leave out (`--collector.<name>.device-exclude`).
    pub exclude: Option<Regex>,
    /// Devices to keep, all others left out (`--collector.<name>.device-include`).
    pub include: Option<Regex>,
}

impl DeviceFilter {
    /// Whether `name` is left out.
    pub fn ignored(&self, name: &str) -> bool {
        self.exclude.as_ref().is_some_and(|r| r.is_match(name))
            || self.include.as_ref().is_some_and(|r| !r.is_match(name))
    }
}

/// node_exporter 1.5's `--collector.filesystem.mount-points-exclude` default.
pub const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
/// node_exporter 1.5's `--collector.filesystem.fs-types-exclude` default.
pub const DEFAULT_FS_TYPES_EXCLUDE: &str = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$";
/// node_exporter 1.5's `--collector.diskstats.device-exclude` default.
pub const DEFAULT_DISKSTATS_DEVICE_EXCLUDE: &str =
    r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";

/// Settings of the filesystem collector.
#[derive(Debug, Clone)]
pub struct FilesystemOptions {
    /// Mount points left out (`--collector.filesystem.mount-points-exclude`).
    pub mount_points_exclude: Regex,
    /// Filesystem types left out (`--collector.filesystem.fs-types-exclude`).
    pub fs_types_exclude: Regex,
    /// How long one `statfs` may take before its mount is reported as failed and skipped on
    /// later scrapes until the call returns (`--collector.filesystem.mount-timeout`).
    pub mount_timeout: Duration,
}

impl Default for FilesystemOptions {
    fn default() -> Self {
        Self {
            mount_points_exclude: constant_regex(DEFAULT_MOUNT_POINTS_EXCLUDE),
            fs_types_exclude: constant_regex(DEFAULT_FS_TYPES_EXCLUDE),
            mount_timeout: Duration::from_secs(5),
        }
    }
}

/// Settings of the diskstats collector.
#[derive(Debug, Clone)]
pub struct DiskstatsOptions {
    /// Which block devices are reported.
    pub devices: DeviceFilter,
    /// udev's database (`--path.udev.data`, default `/run/udev/data`), for `node_disk_info`.
    pub udev_data: PathBuf,
}

impl Default for DiskstatsOptions {
    fn default() -> Self {
        Self {
            devices: DeviceFilter {
                exclude: Some(constant_regex(DEFAULT_DISKSTATS_DEVICE_EXCLUDE)),
                include: None,
            },
            udev_data: PathBuf::from("/run/udev/data"),
        }
    }
}

/// Settings of the netdev collector.
#[derive(Debug, Clone, Default)]
pub struct NetdevOptions {
    /// Which network devices are reported.
    pub devices: DeviceFilter,
}

/// Settings of the netclass collector.
#[derive(Debug, Clone, Default)]
pub struct NetclassOptions {
    /// Devices left out (`--collector.netclass.ignored-devices`, default none).
    pub ignored_devices: Option<Regex>,
    /// Leave out `node_network_speed_bytes` when the kernel reports an unknown (negative) speed
    /// (`--collector.netclass.ignore-invalid-speed`).
    pub ignore_invalid_speed: bool,
}

#[cfg(test)]
mod option_tests {
    use super::*;

    #[test]
    fn defaults_compile_and_match_like_node_exporter() {
        let fs = FilesystemOptions::default();
        assert!(fs.mount_points_exclude.is_match("/proc/sys/fs/binfmt_misc"));
        assert!(fs.mount_points_exclude.is_match("/dev"));
        assert!(fs
            .mount_points_exclude
            .is_match("/var/lib/docker/overlay2/x"));
        assert!(!fs.mount_points_exclude.is_match("/"));
        assert!(!fs.mount_points_exclude.is_match("/devices"));
        assert!(fs.fs_types_exclude.is_match("cgroup2"));
        assert!(!fs.fs_types_exclude.is_match("ext4"));
        let disk = DiskstatsOptions::default();
        for excluded in ["loop0", "ram1", "sda1", "vda2", "xvda1", "nvme0n1p1"] {
            assert!(disk.devices.ignored(excluded), "{excluded}");
        }
        for kept in ["sda", "vda", "nvme0n1", "dm-0", "md0", "zram0"] {
            assert!(!disk.devices.ignored(kept), "{kept}");
        }
    }

    #[test]
    fn include_filter_keeps_only_matches() {
        let f = DeviceFilter {
            exclude: None,
            include: Some(constant_regex("^eth")),
        };
        assert!(!f.ignored("eth0"));
        assert!(f.ignored("lo"));
    }
}
