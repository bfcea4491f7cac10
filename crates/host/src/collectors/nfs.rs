//! `nfs`: NFS client RPC statistics from `/proc/net/rpc/nfs`, as node_exporter 1.5. No NFS
//! client module loaded: no file, no samples.

use super::procfile;
use super::rpc_stats::RpcStats;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `nfs` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "nfs",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(NfsCollector::new(opts))))),
};

/// NFSv2 procedures, in the kernel's order.
pub(crate) const V2: [&str; 18] = [
    "Null", "GetAttr", "SetAttr", "Root", "Lookup", "ReadLink", "Read", "WrCache", "Write",
    "Create", "Remove", "Rename", "Link", "SymLink", "MkDir", "RmDir", "ReadDir", "FsStat",
];

/// NFSv3 procedures, in the kernel's order.
pub(crate) const V3: [&str; 22] = [
    "Null",
    "GetAttr",
    "SetAttr",
    "Lookup",
    "Access",
    "ReadLink",
    "Read",
    "Write",
    "Create",
    "MkDir",
    "SymLink",
    "MkNod",
    "Remove",
    "RmDir",
    "Rename",
    "Link",
    "ReadDir",
    "ReadDirPlus",
    "FsStat",
    "FsInfo",
    "PathConf",
    "Commit",
];

/// NFSv4 client operations node_exporter names, in the kernel's order (fs/nfs/nfs4xdr.c).
const V4: [&str; 59] = [
    "Null",
    "Read",
    "Write",
    "Commit",
    "Open",
    "OpenConfirm",
    "OpenNoattr",
    "OpenDowngrade",
    "Close",
    "Setattr",
    "FsInfo",
    "Renew",
    "SetClientID",
    "SetClientIDConfirm",
    "Lock",
    "Lockt",
    "Locku",
    "Access",
    "Getattr",
    "Lookup",
    "LookupRoot",
    "Remove",
    "Rename",
    "Link",
    "Symlink",
    "Create",
    "Pathconf",
    "StatFs",
    "ReadLink",
    "ReadDir",
    "ServerCaps",
    "DelegReturn",
    "GetACL",
    "SetACL",
    "FsLocations",
    "ReleaseLockowner",
    "Secinfo",
    "FsidPresent",
    "ExchangeID",
    "CreateSession",
    "DestroySession",
    "Sequence",
    "GetLeaseTime",
    "ReclaimComplete",
    "LayoutGet",
    "GetDeviceInfo",
    "LayoutCommit",
    "LayoutReturn",
    "SecinfoNoName",
    "TestStateID",
    "FreeStateID",
    "GetDeviceList",
    "BindConnToSession",
    "DestroyClientID",
    "Seek",
    "Allocate",
    "DeAllocate",
    "LayoutStats",
    "Clone",
];

/// Reads `/proc/net/rpc/nfs` on each scrape.
pub struct NfsCollector {
    path: PathBuf,
}

impl NfsCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            path: opts.paths.proc("net/rpc/nfs"),
        }
    }
}

impl BlockingCollector for NfsCollector {
    fn name(&self) -> &str {
        "nfs"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let Some(text) = procfile::read_optional(&self.path)? else {
            return Ok(());
        };
        let s = RpcStats::parse(&self.path, &text)?;
        out.family(
            "node_nfs_packets_total",
            "Total NFSd network packets (sent+received) by protocol type.",
            MetricType::Counter,
        )
        .sample(&[("protocol", "udp")], s.get("net", 1))
        .sample(&[("protocol", "tcp")], s.get("net", 2));
        out.counter(
            "node_nfs_connections_total",
            "Total number of NFSd TCP connections.",
            s.get("net", 3),
        );
        out.counter(
            "node_nfs_rpcs_total",
            "Total number of RPCs performed.",
            s.get("rpc", 0),
        );
        out.counter(
            "node_nfs_rpc_retransmissions_total",
            "Number of RPC transmissions performed.",
            s.get("rpc", 1),
        );
        out.counter(
            "node_nfs_rpc_authentication_refreshes_total",
            "Number of RPC authentication refreshes performed.",
            s.get("rpc", 2),
        );
        let fam = out.family(
            "node_nfs_requests_total",
            "Number of NFS procedures invoked.",
            MetricType::Counter,
        );
        for (proto, key, names) in [
            ("2", "proc2", &V2[..]),
            ("3", "proc3", &V3[..]),
            ("4", "proc4", &V4[..]),
        ] {
            for (i, method) in names.iter().enumerate() {
                fam.sample(&[("method", method), ("proto", proto)], s.procedure(key, i));
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
    fn reads_the_client_statistics() {
        let mut out = MetricSet::new();
        NfsCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        assert_eq!(out.find("node_nfs_rpcs_total", &[]), Some(4329785.0));
        assert_eq!(
            out.find("node_nfs_packets_total", &[("protocol", "tcp")]),
            Some(18617.0)
        );
        let req = |m, p| out.find("node_nfs_requests_total", &[("method", m), ("proto", p)]);
        assert_eq!(req("Null", "4"), Some(503.0));
        assert_eq!(req("Clone", "4"), Some(677.0));
        assert_eq!(req("Commit", "3"), Some(2066.0));
    }

    #[test]
    fn no_client_module_is_no_samples() {
        let mut out = MetricSet::new();
        NfsCollector::new(&fixtures::options("edge"))
            .collect(&mut out)
            .unwrap();
        assert_eq!(out.sample_count(), 0);
    }
}
