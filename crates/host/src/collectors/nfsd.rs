//! `nfsd`: NFS server RPC statistics from `/proc/net/rpc/nfsd`, as node_exporter 1.5 (which
//! leaves out the `Null` procedure and a few NFSv4 operations). No NFS server: no samples.
//!
//! node_exporter 1.5 reports NFSv4 `Verify`, `Write` and `RelLockOwner` from the counters of
//! operations 35-37 (SETCLIENTID, SETCLIENTID_CONFIRM, VERIFY); we report operations 37-39.
//!
//! Lines this collector does not know are ignored: node_exporter 1.5 fails the collector on the
//! `wdeleg_getattr` line of Linux 6.x kernels, we keep reporting.

use super::nfs::{V2, V3};
use super::procfile;
use super::rpc_stats::RpcStats;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `nfsd` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "nfsd",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(NfsdCollector::new(opts))))),
};

/// NFSv4 operations node_exporter reports, by their number on the `proc4ops` line
/// (include/linux/nfs4.h: `OP_ACCESS` = 3, ...).
const V4_OPS: &[(usize, &str)] = &[
    (3, "Access"),
    (4, "Close"),
    (5, "Commit"),
    (6, "Create"),
    (7, "DelegPurge"),
    (8, "DelegReturn"),
    (9, "GetAttr"),
    (10, "GetFH"),
    (11, "Link"),
    (12, "Lock"),
    (13, "Lockt"),
    (14, "Locku"),
    (15, "Lookup"),
    (16, "LookupRoot"),
    (17, "Nverify"),
    (18, "Open"),
    (19, "OpenAttr"),
    (20, "OpenConfirm"),
    (21, "OpenDgrd"),
    (22, "PutFH"),
    (25, "Read"),
    (26, "ReadDir"),
    (27, "ReadLink"),
    (28, "Remove"),
    (29, "Rename"),
    (30, "Renew"),
    (31, "RestoreFH"),
    (32, "SaveFH"),
    (33, "SecInfo"),
    (34, "SetAttr"),
    // node_exporter 1.5 reads these three two places early (as if SETCLIENTID and
    // SETCLIENTID_CONFIRM, 35 and 36, were not there); these are their numbers in RFC 7530.
    (37, "Verify"),
    (38, "Write"),
    (39, "RelLockOwner"),
];

/// Single-value counters: (line, field, family, help).
const COUNTERS: &[(&str, usize, &str, &str)] = &[
    (
        "rc",
        0,
        "node_nfsd_reply_cache_hits_total",
        "Total number of NFSd Reply Cache hits (client lost server response).",
    ),
    (
        "rc",
        1,
        "node_nfsd_reply_cache_misses_total",
        "Total number of NFSd Reply Cache an operation that requires caching (idempotent).",
    ),
    (
        "rc",
        2,
        "node_nfsd_reply_cache_nocache_total",
        "Total number of NFSd Reply Cache non-idempotent operations (rename/delete/\u{2026}).",
    ),
    (
        "fh",
        0,
        "node_nfsd_file_handles_stale_total",
        "Total number of NFSd stale file handles",
    ),
    (
        "io",
        0,
        "node_nfsd_disk_bytes_read_total",
        "Total NFSd bytes read.",
    ),
    (
        "io",
        1,
        "node_nfsd_disk_bytes_written_total",
        "Total NFSd bytes written.",
    ),
    (
        "ra",
        11,
        "node_nfsd_read_ahead_cache_not_found_total",
        "Total number of NFSd read ahead cache not found.",
    ),
    (
        "net",
        3,
        "node_nfsd_connections_total",
        "Total number of NFSd TCP connections.",
    ),
    (
        "rpc",
        0,
        "node_nfsd_server_rpcs_total",
        "Total number of NFSd RPCs.",
    ),
];

/// Reads `/proc/net/rpc/nfsd` on each scrape.
pub struct NfsdCollector {
    path: PathBuf,
}

impl NfsdCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            path: opts.paths.proc("net/rpc/nfsd"),
        }
    }
}

impl BlockingCollector for NfsdCollector {
    fn name(&self) -> &str {
        "nfsd"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let Some(text) = procfile::read_optional(&self.path)? else {
            return Ok(());
        };
        let s = RpcStats::parse(&self.path, &text)?;
        for (line, field, name, help) in COUNTERS {
            out.counter(*name, *help, s.get(line, *field));
        }
        out.gauge(
            "node_nfsd_server_threads",
            "Total number of NFSd kernel threads that are running.",
            s.get("th", 0),
        );
        out.gauge(
            "node_nfsd_read_ahead_cache_size_blocks",
            "How large the read ahead cache is in blocks.",
            s.get("ra", 0),
        );
        out.family(
            "node_nfsd_packets_total",
            "Total NFSd network packets (sent+received) by protocol type.",
            MetricType::Counter,
        )
        .sample(&[("proto", "udp")], s.get("net", 1))
        .sample(&[("proto", "tcp")], s.get("net", 2));
        out.family(
            "node_nfsd_rpc_errors_total",
            "Total number of NFSd RPC errors by error type.",
            MetricType::Counter,
        )
        .sample(&[("error", "fmt")], s.get("rpc", 2))
        .sample(&[("error", "auth")], s.get("rpc", 3))
        .sample(&[("error", "cInt")], s.get("rpc", 4));
        let fam = out.family(
            "node_nfsd_requests_total",
            "Total number NFSd Requests by method and protocol.",
            MetricType::Counter,
        );
        for (proto, key, names) in [("2", "proc2", &V2[..]), ("3", "proc3", &V3[..])] {
            // The server does not report its Null procedure.
            for (i, method) in names.iter().enumerate().skip(1) {
                fam.sample(&[("method", method), ("proto", proto)], s.procedure(key, i));
            }
        }
        for (op, method) in V4_OPS {
            fam.sample(
                &[("method", method), ("proto", "4")],
                s.procedure("proc4ops", *op),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfile::fixtures;

    #[test]
    fn reads_the_server_statistics() {
        let mut out = MetricSet::new();
        NfsdCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        assert_eq!(out.find("node_nfsd_server_threads", &[]), Some(8.0));
        assert_eq!(
            out.find("node_nfsd_rpc_errors_total", &[("error", "auth")]),
            Some(2.0)
        );
        let req = |m, p| out.find("node_nfsd_requests_total", &[("method", m), ("proto", p)]);
        assert_eq!(req("Null", "3"), None);
        assert_eq!(req("Access", "4"), Some(19.0));
        // proc4ops values in the fixture are 7 + 3 * (op + 1).
        assert_eq!(req("Write", "4"), Some(124.0));
        assert_eq!(req("RelLockOwner", "4"), Some(127.0));
    }

    #[test]
    fn a_linux_6_file_with_lines_node_exporter_does_not_know() {
        let dir = tempfile::tempdir().unwrap();
        let ops: Vec<String> = (0..75).map(|i| i.to_string()).collect();
        std::fs::create_dir_all(dir.path().join("net/rpc")).unwrap();
        std::fs::write(
            dir.path().join("net/rpc/nfsd"),
            format!(
                "rc 0 2 3\nfh 0 0 0 0 0\nio 1 2\nth 16 0\nnet 5 0 5 1\nrpc 5 0 0 0 0\n\
                 proc3 22 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21\n\
                 proc4 2 0 5\nproc4ops 75 {}\nwdeleg_getattr 0\n",
                ops.join(" ")
            ),
        )
        .unwrap();
        let mut opts = HostOptions::default();
        opts.paths.procfs = dir.path().to_path_buf();
        let mut out = MetricSet::new();
        NfsdCollector::new(&opts).collect(&mut out).unwrap();
        assert_eq!(out.find("node_nfsd_server_threads", &[]), Some(16.0));
        // No `ra` line since Linux 5.x: zeros, as node_exporter reports them.
        assert_eq!(
            out.find("node_nfsd_read_ahead_cache_size_blocks", &[]),
            Some(0.0)
        );
        assert_eq!(
            out.find(
                "node_nfsd_requests_total",
                &[("method", "Write"), ("proto", "4")]
            ),
            Some(38.0)
        );
    }
}
