//! The host collectors, one file each, and the list the binary registers them from.

pub mod arp;
pub mod bcache;
pub mod bonding;
pub mod btrfs;
pub mod buddyinfo;
pub mod cgroups;
pub(crate) mod class_dir;
pub mod conntrack;
pub mod cpu;
pub mod cpufreq;
pub mod diskstats;
pub mod dmi;
pub mod edac;
pub mod entropy;
pub mod fibrechannel;
pub mod filefd;
pub mod filesystem;
pub mod hwmon;
pub mod infiniband;
pub mod interrupts;
pub mod ipvs;
pub(crate) mod kept_open;
pub mod ksmd;
pub mod loadavg;
pub mod mdadm;
pub mod meminfo;
pub mod meminfo_numa;
pub mod mountstats;
pub mod netclass;
pub mod netdev;
pub mod netstat;
pub mod nfs;
pub mod nfsd;
pub mod nvme;
pub mod os;
pub mod powersupplyclass;
pub mod pressure;
pub mod processes;
pub(crate) mod procfile;
pub mod rapl;
pub(crate) mod rpc_stats;
pub mod schedstat;
pub mod selinux;
pub mod slabinfo;
pub mod sockstat;
pub mod softnet;
pub mod stat;
pub mod sysctl;
pub(crate) mod sysfs_dir;
pub mod tapestats;
pub mod tcpstat;
pub mod textfile;
pub(crate) mod textformat;
pub mod thermal_zone;
pub mod time;
pub mod timex;
pub mod udp_queues;
pub mod uname;
pub mod updates;
pub mod vmstat;
pub mod xfs;
pub mod zfs;
pub mod zoneinfo;

use crate::options::HostOptions;
use std::sync::Arc;
use watchkeeper_core::Collector;

/// How to build one collector, and whether it is on without a flag (node_exporter's defaults).
pub struct CollectorDef {
    /// The collector name: `--collector.<name>` and the `collector` label.
    pub name: &'static str,
    /// Enabled unless `--no-collector.<name>` is given.
    pub default_enabled: bool,
    /// Builds the collector; an error is a startup (usage) error, phrased for one stderr line.
    pub build: fn(&HostOptions) -> Result<Arc<dyn Collector>, String>,
}

/// Every collector, in the order their samples appear.
pub const ALL: &[CollectorDef] = &[
    cpu::DEF,
    meminfo::DEF,
    loadavg::DEF,
    stat::DEF,
    vmstat::DEF,
    pressure::DEF,
    filefd::DEF,
    conntrack::DEF,
    sockstat::DEF,
    netstat::DEF,
    uname::DEF,
    os::DEF,
    time::DEF,
    timex::DEF,
    textfile::DEF,
    diskstats::DEF,
    netdev::DEF,
    netclass::DEF,
    hwmon::DEF,
    mdadm::DEF,
    thermal_zone::DEF,
    powersupplyclass::DEF,
    nvme::DEF,
    bonding::DEF,
    softnet::DEF,
    udp_queues::DEF,
    arp::DEF,
    entropy::DEF,
    schedstat::DEF,
    nfs::DEF,
    nfsd::DEF,
    xfs::DEF,
    zfs::DEF,
    cpufreq::DEF,
    edac::DEF,
    selinux::DEF,
    dmi::DEF,
    rapl::DEF,
    ipvs::DEF,
    infiniband::DEF,
    fibrechannel::DEF,
    tapestats::DEF,
    btrfs::DEF,
    bcache::DEF,
    // Off by default, as in node_exporter.
    buddyinfo::DEF,
    ksmd::DEF,
    interrupts::DEF,
    meminfo_numa::DEF,
    cgroups::DEF,
    slabinfo::DEF,
    sysctl::DEF,
    processes::DEF,
    zoneinfo::DEF,
    mountstats::DEF,
    tcpstat::DEF,
    updates::DEF,
    // Last: on its first encounter a hung network mount costs up to the mount timeout, and
    // blocking collectors run one after another, so nothing else waits behind it.
    filesystem::DEF,
];
