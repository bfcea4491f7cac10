//! `mountstats` (off by default, as in node_exporter 1.5): per-mount NFS client statistics
//! from `/proc/self/mountstats` (fs/nfs/super.c `nfs_show_stats`, net/sunrpc/xprt*.c for the
//! `xprt:` line), labelled by export, transport protocol and server address. The address is
//! the `addr=` option of the mount's line in `/proc/self/mountinfo`, matched by position as
//! node_exporter does (both files list mounts in the same order).

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `mountstats` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "mountstats",
    default_enabled: false,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(MountstatsCollector::new(opts))))),
};

/// `events:` counters by position (position 18, congestion waits, is not exported).
#[rustfmt::skip]
const EVENTS: &[(usize, &str, &str)] = &[
    (0, "node_mountstats_nfs_event_inode_revalidate_total", "Number of times cached inode attributes are re-validated from the server."),
    (1, "node_mountstats_nfs_event_dnode_revalidate_total", "Number of times cached dentry nodes are re-validated from the server."),
    (2, "node_mountstats_nfs_event_data_invalidate_total", "Number of times an inode cache is cleared."),
    (3, "node_mountstats_nfs_event_attribute_invalidate_total", "Number of times cached inode attributes are invalidated."),
    (4, "node_mountstats_nfs_event_vfs_open_total", "Number of times cached inode attributes are invalidated."),
    (5, "node_mountstats_nfs_event_vfs_lookup_total", "Number of times a directory lookup has occurred."),
    (6, "node_mountstats_nfs_event_vfs_access_total", "Number of times permissions have been checked."),
    (7, "node_mountstats_nfs_event_vfs_update_page_total", "Number of updates (and potential writes) to pages."),
    (8, "node_mountstats_nfs_event_vfs_read_page_total", "Number of pages read directly via mmap()'d files."),
    (9, "node_mountstats_nfs_event_vfs_read_pages_total", "Number of times a group of pages have been read."),
    (10, "node_mountstats_nfs_event_vfs_write_page_total", "Number of pages written directly via mmap()'d files."),
    (11, "node_mountstats_nfs_event_vfs_write_pages_total", "Number of times a group of pages have been written."),
    (12, "node_mountstats_nfs_event_vfs_getdents_total", "Number of times directory entries have been read with getdents()."),
    (13, "node_mountstats_nfs_event_vfs_setattr_total", "Number of times directory entries have been read with getdents()."),
    (14, "node_mountstats_nfs_event_vfs_flush_total", "Number of pending writes that have been forcefully flushed to the server."),
    (15, "node_mountstats_nfs_event_vfs_fsync_total", "Number of times fsync() has been called on directories and files."),
    (16, "node_mountstats_nfs_event_vfs_lock_total", "Number of times locking has been attempted on a file."),
    (17, "node_mountstats_nfs_event_vfs_file_release_total", "Number of times files have been closed and released."),
    (19, "node_mountstats_nfs_event_truncation_total", "Number of times files have been truncated."),
    (20, "node_mountstats_nfs_event_write_extension_total", "Number of times a file has been grown due to writes beyond its existing end."),
    (21, "node_mountstats_nfs_event_silly_rename_total", "Number of times a file was removed while still open by another process."),
    (22, "node_mountstats_nfs_event_short_read_total", "Number of times the NFS server gave less data than expected while reading."),
    (23, "node_mountstats_nfs_event_short_write_total", "Number of times the NFS server wrote less data than expected while writing."),
    (24, "node_mountstats_nfs_event_jukebox_delay_total", "Number of times the NFS server indicated EJUKEBOX; retrieving data from offline storage."),
    (25, "node_mountstats_nfs_event_pnfs_read_total", "Number of NFS v4.1+ pNFS reads."),
    (26, "node_mountstats_nfs_event_pnfs_write_total", "Number of NFS v4.1+ pNFS writes."),
];

/// `bytes:` counters by position.
#[rustfmt::skip]
const BYTES: &[(usize, &str, &str)] = &[
    (0, "node_mountstats_nfs_read_bytes_total", "Number of bytes read using the read() syscall."),
    (1, "node_mountstats_nfs_write_bytes_total", "Number of bytes written using the write() syscall."),
    (2, "node_mountstats_nfs_direct_read_bytes_total", "Number of bytes read using the read() syscall in O_DIRECT mode."),
    (3, "node_mountstats_nfs_direct_write_bytes_total", "Number of bytes written using the write() syscall in O_DIRECT mode."),
    (4, "node_mountstats_nfs_total_read_bytes_total", "Number of bytes read from the NFS server, in total."),
    (5, "node_mountstats_nfs_total_write_bytes_total", "Number of bytes written to the NFS server, in total."),
    (6, "node_mountstats_nfs_read_pages_total", "Number of pages read directly via mmap()'d files."),
    (7, "node_mountstats_nfs_write_pages_total", "Number of pages written directly via mmap()'d files."),
];

/// Per-operation counters: (position, family, divisor, help).
#[rustfmt::skip]
const OPERATIONS: &[(usize, &str, f64, &str)] = &[
    (0, "node_mountstats_nfs_operations_requests_total", 1.0, "Number of requests performed for a given operation."),
    (1, "node_mountstats_nfs_operations_transmissions_total", 1.0, "Number of times an actual RPC request has been transmitted for a given operation."),
    (2, "node_mountstats_nfs_operations_major_timeouts_total", 1.0, "Number of times a request has had a major timeout for a given operation."),
    (3, "node_mountstats_nfs_operations_sent_bytes_total", 1.0, "Number of bytes sent for a given operation, including RPC headers and payload."),
    (4, "node_mountstats_nfs_operations_received_bytes_total", 1.0, "Number of bytes received for a given operation, including RPC headers and payload."),
    (5, "node_mountstats_nfs_operations_queue_time_seconds_total", 1000.0, "Duration all requests spent queued for transmission for a given operation before they were sent, in seconds."),
    (6, "node_mountstats_nfs_operations_response_time_seconds_total", 1000.0, "Duration all requests took to get a reply back after a request for a given operation was transmitted, in seconds."),
    (7, "node_mountstats_nfs_operations_request_time_seconds_total", 1000.0, "Duration all requests took from when a request was enqueued to when it was completely handled for a given operation, in seconds."),
];

/// Transport values, in [`Transport`] order: (family, type, help).
#[rustfmt::skip]
const TRANSPORT: &[(&str, MetricType, &str)] = &[
    ("node_mountstats_nfs_transport_bind_total", MetricType::Counter, "Number of times the client has had to establish a connection from scratch to the NFS server."),
    ("node_mountstats_nfs_transport_connect_total", MetricType::Counter, "Number of times the client has made a TCP connection to the NFS server."),
    ("node_mountstats_nfs_transport_idle_time_seconds", MetricType::Gauge, "Duration since the NFS mount last saw any RPC traffic, in seconds."),
    ("node_mountstats_nfs_transport_sends_total", MetricType::Counter, "Number of RPC requests for this mount sent to the NFS server."),
    ("node_mountstats_nfs_transport_receives_total", MetricType::Counter, "Number of RPC responses for this mount received from the NFS server."),
    ("node_mountstats_nfs_transport_bad_transaction_ids_total", MetricType::Counter, "Number of times the NFS server sent a response with a transaction ID unknown to this client."),
    ("node_mountstats_nfs_transport_backlog_queue_total", MetricType::Counter, "Total number of items added to the RPC backlog queue."),
    ("node_mountstats_nfs_transport_maximum_rpc_slots", MetricType::Gauge, "Maximum number of simultaneously active RPC requests ever used."),
    ("node_mountstats_nfs_transport_sending_queue_total", MetricType::Counter, "Total number of items added to the RPC transmission sending queue."),
    ("node_mountstats_nfs_transport_pending_queue_total", MetricType::Counter, "Total number of items added to the RPC transmission pending queue."),
];
/// Reads `/proc/self/mountstats` and `mountinfo` on each scrape.
pub struct MountstatsCollector {
    stats: PathBuf,
    info: PathBuf,
}

impl MountstatsCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            stats: opts.paths.proc("self/mountstats"),
            info: opts.paths.proc("self/mountinfo"),
        }
    }
}

/// One NFS mount's statistics.
#[derive(Default)]
struct Mount {
    export: String,
    age: f64,
    events: Vec<f64>,
    bytes: Vec<f64>,
    protocol: String,
    /// bind, connect, idle time, sends, receives, bad xids, backlog, max slots, sending,
    /// pending (as in [`TRANSPORT`]).
    transport: [f64; 10],
    operations: Vec<(String, Vec<f64>)>,
}

/// The numbers of a whitespace-separated list; `None` if one is not a number.
fn numbers(text: &str) -> Option<Vec<f64>> {
    text.split_ascii_whitespace()
        .map(|v| v.parse().ok())
        .collect()
}

/// The `xprt:` line in [`TRANSPORT`] order (`tcp`/`udp` layouts; others are left at 0).
fn transport(fields: &[f64], protocol: &str) -> [f64; 10] {
    let f = |i: usize| fields.get(i).copied().unwrap_or(0.0);
    match protocol {
        // port bind connect connect_time idle sends recvs bad_xids req_u backlog_u
        // [max_slots sending_u pending_u]
        "tcp" => [
            f(1),
            f(2),
            f(4),
            f(5),
            f(6),
            f(7),
            f(9),
            f(10),
            f(11),
            f(12),
        ],
        // port bind sends recvs bad_xids req_u backlog_u [max_slots sending_u pending_u]
        "udp" => [f(1), 0.0, 0.0, f(2), f(3), f(4), f(6), f(7), f(8), f(9)],
        _ => [0.0; 10],
    }
}

/// Parses the NFS mounts of `mountstats`, each with its position among all mounts.
fn parse(text: &str) -> Vec<(usize, Mount)> {
    let mut out: Vec<(usize, Mount)> = Vec::new();
    let mut index = 0usize;
    let mut current: Option<Mount> = None;
    let mut in_ops = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("device ") {
            if let Some(m) = current.take() {
                out.push((index - 1, m));
            }
            index += 1;
            in_ops = false;
            // `device <export> mounted on <dir> with fstype nfs4 statvers=1.1`
            let export = rest.split(" mounted on ").next().unwrap_or("");
            let fstype = rest.rsplit(" with fstype ").next().unwrap_or("");
            if fstype.starts_with("nfs ") || fstype.starts_with("nfs4 ") {
                current = Some(Mount {
                    export: export.to_string(),
                    ..Mount::default()
                });
            }
            continue;
        }
        let Some(m) = current.as_mut() else {
            continue;
        };
        let trimmed = line.trim();
        if trimmed == "per-op statistics" {
            in_ops = true;
            continue;
        }
        let Some((key, value)) = trimmed.split_once(':') else {
            continue;
        };
        if in_ops {
            if let Some(v) = numbers(value) {
                m.operations.push((key.to_string(), v));
            }
            continue;
        }
        match key {
            "age" => m.age = value.trim().parse().unwrap_or(0.0),
            "events" => m.events = numbers(value).unwrap_or_default(),
            "bytes" => m.bytes = numbers(value).unwrap_or_default(),
            "xprt" => {
                let mut f = value.split_ascii_whitespace();
                m.protocol = f.next().unwrap_or("").to_string();
                let rest: Vec<f64> = f.filter_map(|v| v.parse().ok()).collect();
                // The port is field 0 of `rest`.
                m.transport = transport(&rest, &m.protocol);
            }
            _ => {}
        }
    }
    if let Some(m) = current.take() {
        out.push((index - 1, m));
    }
    out
}

/// The `addr=` super option of each line of `mountinfo`, by position.
fn addresses(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            let supers = l.rsplit(' ').next().unwrap_or("");
            supers
                .split(',')
                .find_map(|o| o.strip_prefix("addr="))
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

impl BlockingCollector for MountstatsCollector {
    fn name(&self) -> &str {
        "mountstats"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let stats = procfile::read(&self.stats)?;
        let addrs = addresses(&procfile::read(&self.info)?);
        let mut seen = HashSet::new();
        for (index, m) in parse(&stats) {
            let addr = addrs.get(index).map(String::as_str).unwrap_or("");
            // The same export mounted twice would give duplicate series.
            if !seen.insert((m.export.clone(), m.protocol.clone(), addr.to_string())) {
                continue;
            }
            let labels = [
                ("export", m.export.as_str()),
                ("mountaddr", addr),
                ("protocol", m.protocol.as_str()),
            ];
            out.family(
                "node_mountstats_nfs_age_seconds_total",
                "The age of the NFS mount in seconds.",
                MetricType::Counter,
            )
            .sample(&labels, m.age);
            for (i, name, help) in BYTES {
                let v = m.bytes.get(*i).copied().unwrap_or(0.0);
                out.family(*name, *help, MetricType::Counter)
                    .sample(&labels, v);
            }
            for (i, name, help) in EVENTS {
                let v = m.events.get(*i).copied().unwrap_or(0.0);
                out.family(*name, *help, MetricType::Counter)
                    .sample(&labels, v);
            }
            for ((name, kind, help), v) in TRANSPORT.iter().zip(m.transport) {
                out.family(*name, *help, *kind).sample(&labels, v);
            }
            for (op, values) in &m.operations {
                let op_labels = [
                    ("export", m.export.as_str()),
                    ("mountaddr", addr),
                    ("operation", op.as_str()),
                    ("protocol", m.protocol.as_str()),
                ];
                for (i, name, divisor, help) in OPERATIONS {
                    let v = values.get(*i).copied().unwrap_or(0.0) / divisor;
                    out.family(*name, *help, MetricType::Counter)
                        .sample(&op_labels, v);
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
    fn reads_nfs_mounts_with_their_server_address() {
        let mut out = MetricSet::new();
        MountstatsCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        let m = [
            ("export", "192.168.1.1:/srv/export"),
            ("mountaddr", "192.168.1.1"),
        ];
        assert_eq!(
            out.find("node_mountstats_nfs_age_seconds_total", &m),
            Some(13968.0)
        );
        assert_eq!(
            out.find("node_mountstats_nfs_event_pnfs_write_total", &m),
            Some(126.0)
        );
        assert_eq!(
            out.find("node_mountstats_nfs_transport_pending_queue_total", &m),
            Some(13.0)
        );
        assert_eq!(
            out.find(
                "node_mountstats_nfs_operations_request_time_seconds_total",
                &[("operation", "READ")]
            ),
            Some(79.407)
        );
    }
}
