//! `INFO ALL` fields as redis_exporter 1.45 exports them: its rename table (units in the name,
//! `_total` on counters), the `ok`/`up` status fields as 1/0, the instance and replication
//! info metrics. Fields it does not map are not exported; values that are not numbers are
//! skipped (logged once).

use super::commandstats;
use super::keyspace;
use crate::engine::{unix_now, Out};
use crate::sanitize::not_a_number;
use std::collections::HashMap;
use watchkeeper_core::metrics::MetricType;

/// `INFO` output as key/value pairs (section headers and blank lines skipped).
pub fn parse_info(text: &str) -> HashMap<&str, &str> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.trim_end_matches('\r').split_once(':'))
        .collect()
}

/// `keys=1,expires=0,avg_ttl=0` -> pairs.
pub fn sub_fields(v: &str) -> impl Iterator<Item = (&str, &str)> {
    v.split(',').filter_map(|p| p.split_once('='))
}

use MetricType::{Counter as C, Gauge as G};

/// INFO field, exported name, type, and a factor applied to the value.
/// The help text is "<name without redis_> metric", as redis_exporter words it.
const FIELDS: &[(&str, &str, MetricType, f64)] = &[
    // Server
    ("uptime_in_seconds", "redis_uptime_in_seconds", G, 1.0),
    ("process_id", "redis_process_id", G, 1.0),
    ("io_threads_active", "redis_io_threads_active", G, 1.0),
    // Clients
    ("connected_clients", "redis_connected_clients", G, 1.0),
    ("blocked_clients", "redis_blocked_clients", G, 1.0),
    ("tracking_clients", "redis_tracking_clients", G, 1.0),
    (
        "clients_in_timeout_table",
        "redis_clients_in_timeout_table",
        G,
        1.0,
    ),
    ("cluster_connections", "redis_cluster_connections", G, 1.0),
    ("maxclients", "redis_config_maxclients", G, 1.0),
    // Redis 4 names of the two below.
    (
        "client_longest_output_list",
        "redis_client_longest_output_list",
        G,
        1.0,
    ),
    (
        "client_biggest_input_buf",
        "redis_client_biggest_input_buf",
        G,
        1.0,
    ),
    (
        "client_recent_max_output_buffer",
        "redis_client_recent_max_output_buffer_bytes",
        G,
        1.0,
    ),
    (
        "client_recent_max_input_buffer",
        "redis_client_recent_max_input_buffer_bytes",
        G,
        1.0,
    ),
    // Memory
    ("allocator_active", "redis_allocator_active_bytes", G, 1.0),
    (
        "allocator_allocated",
        "redis_allocator_allocated_bytes",
        G,
        1.0,
    ),
    (
        "allocator_resident",
        "redis_allocator_resident_bytes",
        G,
        1.0,
    ),
    ("allocator_frag_ratio", "redis_allocator_frag_ratio", G, 1.0),
    ("allocator_frag_bytes", "redis_allocator_frag_bytes", G, 1.0),
    ("allocator_rss_ratio", "redis_allocator_rss_ratio", G, 1.0),
    ("allocator_rss_bytes", "redis_allocator_rss_bytes", G, 1.0),
    ("used_memory", "redis_memory_used_bytes", G, 1.0),
    ("used_memory_rss", "redis_memory_used_rss_bytes", G, 1.0),
    ("used_memory_peak", "redis_memory_used_peak_bytes", G, 1.0),
    ("used_memory_lua", "redis_memory_used_lua_bytes", G, 1.0),
    (
        "used_memory_overhead",
        "redis_memory_used_overhead_bytes",
        G,
        1.0,
    ),
    (
        "used_memory_startup",
        "redis_memory_used_startup_bytes",
        G,
        1.0,
    ),
    (
        "used_memory_dataset",
        "redis_memory_used_dataset_bytes",
        G,
        1.0,
    ),
    (
        "used_memory_scripts",
        "redis_memory_used_scripts_bytes",
        G,
        1.0,
    ),
    (
        "number_of_cached_scripts",
        "redis_number_of_cached_scripts",
        G,
        1.0,
    ),
    ("maxmemory", "redis_memory_max_bytes", G, 1.0),
    ("maxmemory", "redis_config_maxmemory", G, 1.0),
    (
        "maxmemory_reservation",
        "redis_memory_max_reservation_bytes",
        G,
        1.0,
    ),
    (
        "maxmemory_desired_reservation",
        "redis_memory_max_reservation_desired_bytes",
        G,
        1.0,
    ),
    (
        "maxfragmentationmemory_reservation",
        "redis_memory_max_fragmentation_reservation_bytes",
        G,
        1.0,
    ),
    (
        "maxfragmentationmemory_desired_reservation",
        "redis_memory_max_fragmentation_reservation_desired_bytes",
        G,
        1.0,
    ),
    (
        "mem_fragmentation_ratio",
        "redis_mem_fragmentation_ratio",
        G,
        1.0,
    ),
    (
        "mem_fragmentation_bytes",
        "redis_mem_fragmentation_bytes",
        G,
        1.0,
    ),
    ("mem_clients_slaves", "redis_mem_clients_slaves", G, 1.0),
    ("mem_clients_normal", "redis_mem_clients_normal", G, 1.0),
    (
        "expired_stale_perc",
        "redis_expired_stale_percentage",
        G,
        1.0,
    ),
    (
        "mem_not_counted_for_evict",
        "redis_mem_not_counted_for_eviction_bytes",
        G,
        1.0,
    ),
    (
        "lazyfree_pending_objects",
        "redis_lazyfree_pending_objects",
        G,
        1.0,
    ),
    (
        "active_defrag_running",
        "redis_active_defrag_running",
        G,
        1.0,
    ),
    (
        "migrate_cached_sockets",
        "redis_migrate_cached_sockets_total",
        G,
        1.0,
    ),
    ("active_defrag_hits", "redis_defrag_hits", G, 1.0),
    ("active_defrag_misses", "redis_defrag_misses", G, 1.0),
    ("active_defrag_key_hits", "redis_defrag_key_hits", G, 1.0),
    (
        "active_defrag_key_misses",
        "redis_defrag_key_misses",
        G,
        1.0,
    ),
    (
        "expired_time_cap_reached_count",
        "redis_expired_time_cap_reached_total",
        G,
        1.0,
    ),
    // Persistence
    ("loading", "redis_loading_dump_file", G, 1.0),
    (
        "rdb_changes_since_last_save",
        "redis_rdb_changes_since_last_save",
        G,
        1.0,
    ),
    (
        "rdb_bgsave_in_progress",
        "redis_rdb_bgsave_in_progress",
        G,
        1.0,
    ),
    (
        "rdb_last_save_time",
        "redis_rdb_last_save_timestamp_seconds",
        G,
        1.0,
    ),
    (
        "rdb_last_bgsave_time_sec",
        "redis_rdb_last_bgsave_duration_sec",
        G,
        1.0,
    ),
    (
        "rdb_current_bgsave_time_sec",
        "redis_rdb_current_bgsave_duration_sec",
        G,
        1.0,
    ),
    ("rdb_last_cow_size", "redis_rdb_last_cow_size_bytes", G, 1.0),
    ("aof_enabled", "redis_aof_enabled", G, 1.0),
    (
        "aof_rewrite_in_progress",
        "redis_aof_rewrite_in_progress",
        G,
        1.0,
    ),
    (
        "aof_rewrite_scheduled",
        "redis_aof_rewrite_scheduled",
        G,
        1.0,
    ),
    (
        "aof_last_rewrite_time_sec",
        "redis_aof_last_rewrite_duration_sec",
        G,
        1.0,
    ),
    (
        "aof_current_rewrite_time_sec",
        "redis_aof_current_rewrite_duration_sec",
        G,
        1.0,
    ),
    ("aof_last_cow_size", "redis_aof_last_cow_size_bytes", G, 1.0),
    ("aof_current_size", "redis_aof_current_size_bytes", G, 1.0),
    ("aof_base_size", "redis_aof_base_size_bytes", G, 1.0),
    ("aof_pending_rewrite", "redis_aof_pending_rewrite", G, 1.0),
    ("aof_buffer_length", "redis_aof_buffer_length", G, 1.0),
    (
        "aof_rewrite_buffer_length",
        "redis_aof_rewrite_buffer_length",
        G,
        1.0,
    ),
    (
        "aof_pending_bio_fsync",
        "redis_aof_pending_bio_fsync",
        G,
        1.0,
    ),
    ("aof_delayed_fsync", "redis_aof_delayed_fsync", G, 1.0),
    (
        "module_fork_in_progress",
        "redis_module_fork_in_progress",
        G,
        1.0,
    ),
    (
        "module_fork_last_cow_size",
        "redis_module_fork_last_cow_size",
        G,
        1.0,
    ),
    // Stats
    ("pubsub_channels", "redis_pubsub_channels", G, 1.0),
    ("pubsub_patterns", "redis_pubsub_patterns", G, 1.0),
    ("latest_fork_usec", "redis_latest_fork_seconds", G, 1e-6),
    ("tracking_total_keys", "redis_tracking_total_keys", G, 1.0),
    ("tracking_total_items", "redis_tracking_total_items", G, 1.0),
    (
        "tracking_total_prefixes",
        "redis_tracking_total_prefixes",
        G,
        1.0,
    ),
    (
        "total_connections_received",
        "redis_connections_received_total",
        C,
        1.0,
    ),
    (
        "total_commands_processed",
        "redis_commands_processed_total",
        C,
        1.0,
    ),
    (
        "rejected_connections",
        "redis_rejected_connections_total",
        C,
        1.0,
    ),
    (
        "total_net_input_bytes",
        "redis_net_input_bytes_total",
        C,
        1.0,
    ),
    (
        "total_net_output_bytes",
        "redis_net_output_bytes_total",
        C,
        1.0,
    ),
    ("expired_keys", "redis_expired_keys_total", C, 1.0),
    ("evicted_keys", "redis_evicted_keys_total", C, 1.0),
    ("keyspace_hits", "redis_keyspace_hits_total", C, 1.0),
    ("keyspace_misses", "redis_keyspace_misses_total", C, 1.0),
    (
        "unexpected_error_replies",
        "redis_unexpected_error_replies",
        C,
        1.0,
    ),
    ("total_error_replies", "redis_total_error_replies", C, 1.0),
    (
        "dump_payload_sanitizations",
        "redis_dump_payload_sanitizations",
        C,
        1.0,
    ),
    (
        "total_reads_processed",
        "redis_total_reads_processed",
        C,
        1.0,
    ),
    (
        "total_writes_processed",
        "redis_total_writes_processed",
        C,
        1.0,
    ),
    (
        "io_threaded_reads_processed",
        "redis_io_threaded_reads_processed",
        C,
        1.0,
    ),
    (
        "io_threaded_writes_processed",
        "redis_io_threaded_writes_processed",
        C,
        1.0,
    ),
    // Replication
    ("connected_slaves", "redis_connected_slaves", G, 1.0),
    (
        "repl_backlog_size",
        "redis_replication_backlog_bytes",
        G,
        1.0,
    ),
    (
        "repl_backlog_active",
        "redis_repl_backlog_is_active",
        G,
        1.0,
    ),
    (
        "repl_backlog_first_byte_offset",
        "redis_repl_backlog_first_byte_offset",
        G,
        1.0,
    ),
    (
        "repl_backlog_histlen",
        "redis_repl_backlog_history_bytes",
        G,
        1.0,
    ),
    ("master_repl_offset", "redis_master_repl_offset", G, 1.0),
    ("second_repl_offset", "redis_second_repl_offset", G, 1.0),
    (
        "slave_expires_tracked_keys",
        "redis_slave_expires_tracked_keys",
        G,
        1.0,
    ),
    ("slave_priority", "redis_slave_priority", G, 1.0),
    ("sync_full", "redis_replica_resyncs_full", G, 1.0),
    (
        "sync_partial_ok",
        "redis_replica_partial_resync_accepted",
        G,
        1.0,
    ),
    (
        "sync_partial_err",
        "redis_replica_partial_resync_denied",
        G,
        1.0,
    ),
    // CPU
    ("used_cpu_sys", "redis_cpu_sys_seconds_total", C, 1.0),
    ("used_cpu_user", "redis_cpu_user_seconds_total", C, 1.0),
    (
        "used_cpu_sys_children",
        "redis_cpu_sys_children_seconds_total",
        C,
        1.0,
    ),
    (
        "used_cpu_user_children",
        "redis_cpu_user_children_seconds_total",
        C,
        1.0,
    ),
    (
        "used_cpu_sys_main_thread",
        "redis_cpu_sys_main_thread_seconds_total",
        C,
        1.0,
    ),
    (
        "used_cpu_user_main_thread",
        "redis_cpu_user_main_thread_seconds_total",
        C,
        1.0,
    ),
    // Cluster
    ("cluster_enabled", "redis_cluster_enabled", G, 1.0),
    (
        "cluster_stats_messages_sent",
        "redis_cluster_messages_sent_total",
        G,
        1.0,
    ),
    (
        "cluster_stats_messages_received",
        "redis_cluster_messages_received_total",
        G,
        1.0,
    ),
];

/// `CLUSTER INFO` fields (asked only of nodes whose `INFO` says `cluster_enabled:1`).
const CLUSTER_FIELDS: [&str; 8] = [
    "cluster_slots_assigned",
    "cluster_slots_ok",
    "cluster_slots_pfail",
    "cluster_slots_fail",
    "cluster_known_nodes",
    "cluster_size",
    "cluster_current_epoch",
    "cluster_my_epoch",
];

/// Whether the node runs in cluster mode (then `CLUSTER INFO` is asked too).
pub fn cluster_enabled(info: &HashMap<&str, &str>) -> bool {
    info.get("cluster_enabled").map(|v| v.trim()) == Some("1")
}

/// Writes the samples of a `CLUSTER INFO` answer, as redis_exporter names them (its message
/// counters are gauges there, and so here).
pub fn cluster_to_samples(cluster: &HashMap<&str, &str>, out: &mut Out) {
    if let Some(state) = cluster.get("cluster_state") {
        let v = if state.trim() == "ok" { 1.0 } else { 0.0 };
        out.gauge("redis_cluster_state", "cluster_state metric", &[], v);
    }
    for field in CLUSTER_FIELDS {
        if let Some(v) = cluster.get(field).and_then(|raw| number(field, raw)) {
            out.gauge(format!("redis_{field}"), format!("{field} metric"), &[], v);
        }
    }
    for (field, name, kind, factor) in FIELDS {
        if field.starts_with("cluster_stats_") {
            if let Some(v) = cluster.get(field).and_then(|raw| number(field, raw)) {
                out.add(*name, help(name), *kind, &[], v * factor);
            }
        }
    }
}

/// Status fields exported as 1 when they read `ok`.
const STATUS_OK: [(&str, &str); 3] = [
    ("rdb_last_bgsave_status", "redis_rdb_last_bgsave_status"),
    (
        "aof_last_bgrewrite_status",
        "redis_aof_last_bgrewrite_status",
    ),
    ("aof_last_write_status", "redis_aof_last_write_status"),
];

/// Replica-side fields labelled with the master's address.
const REPLICA_FIELDS: [(&str, &str); 3] = [
    (
        "master_last_io_seconds_ago",
        "redis_master_last_io_seconds_ago",
    ),
    ("slave_repl_offset", "redis_slave_repl_offset"),
    ("master_sync_in_progress", "redis_master_sync_in_progress"),
];

fn help(name: &'static str) -> String {
    format!("{} metric", name.trim_start_matches("redis_"))
}

fn number(field: &str, raw: &str) -> Option<f64> {
    let v = raw.trim();
    match v.parse::<f64>() {
        Ok(n) => Some(n),
        Err(_) => {
            not_a_number("INFO", field, v);
            None
        }
    }
}

/// Writes the samples of one `INFO ALL` answer. `databases` is the server's `databases`
/// setting (every database up to it gets `redis_db_keys`, 0 when empty).
pub fn info_to_samples(info: &HashMap<&str, &str>, databases: Option<u32>, out: &mut Out) {
    for (field, name, kind, factor) in FIELDS {
        if let Some(v) = info.get(field).and_then(|raw| number(field, raw)) {
            out.add(*name, help(name), *kind, &[], v * factor);
        }
    }
    for (field, name) in STATUS_OK {
        if let Some(s) = info.get(field) {
            let v = if s.trim() == "ok" { 1.0 } else { 0.0 };
            out.gauge(name, help(name), &[], v);
        }
    }
    if let Some(up) = info
        .get("uptime_in_seconds")
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        out.gauge(
            "redis_start_time_seconds",
            "Start time of the Redis instance since unix epoch in seconds.",
            &[],
            (unix_now() - up).floor(),
        );
    }
    let label = |k: &str| info.get(k).map(|v| v.trim()).unwrap_or("");
    out.gauge(
        "redis_instance_info",
        "Information about the Redis instance",
        &[
            ("maxmemory_policy", label("maxmemory_policy")),
            ("os", label("os")),
            ("process_id", label("process_id")),
            ("redis_build_id", label("redis_build_id")),
            ("redis_mode", label("redis_mode")),
            ("redis_version", label("redis_version")),
            ("role", label("role")),
            ("run_id", label("run_id")),
            ("tcp_port", label("tcp_port")),
        ],
        1.0,
    );
    replica_side(info, out);
    master_side(info, out);
    keyspace::to_samples(info, databases, out);
    commandstats::to_samples(info, out);
}

/// A replica's view of its master.
fn replica_side(info: &HashMap<&str, &str>, out: &mut Out) {
    let label = |k: &str| info.get(k).map(|v| v.trim()).unwrap_or("");
    let master = [
        ("master_host", label("master_host")),
        ("master_port", label("master_port")),
    ];
    if label("role") == "slave" {
        out.gauge(
            "redis_slave_info",
            "Information about the Redis slave",
            &[
                ("master_host", label("master_host")),
                ("master_port", label("master_port")),
                ("read_only", label("slave_read_only")),
            ],
            1.0,
        );
    }
    if let Some(s) = info.get("master_link_status") {
        out.gauge(
            "redis_master_link_up",
            "master_link_up metric",
            &master,
            if s.trim() == "up" { 1.0 } else { 0.0 },
        );
    }
    for (field, name) in REPLICA_FIELDS {
        if let Some(v) = info.get(field).and_then(|raw| number(field, raw)) {
            out.gauge(name, help(name), &master, v);
        }
    }
}

/// A master's view of its replicas: `slave0:ip=..,port=..,state=online,offset=..,lag=..`.
fn master_side(info: &HashMap<&str, &str>, out: &mut Out) {
    for (k, v) in info.iter() {
        let Some(n) = k.strip_prefix("slave") else {
            continue;
        };
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let fields: HashMap<&str, &str> = sub_fields(v).collect();
        let labels = [
            ("slave_ip", fields.get("ip").copied().unwrap_or("")),
            ("slave_port", fields.get("port").copied().unwrap_or("")),
            ("slave_state", fields.get("state").copied().unwrap_or("")),
        ];
        if let Some(o) = fields.get("offset").and_then(|o| o.parse::<f64>().ok()) {
            out.gauge(
                "redis_connected_slave_offset_bytes",
                "Offset of connected slave",
                &labels,
                o,
            );
        }
        if let Some(l) = fields.get("lag").and_then(|o| o.parse::<f64>().ok()) {
            out.gauge(
                "redis_connected_slave_lag_seconds",
                "Lag of connected slave",
                &labels,
                l,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renamed_fields_units_and_odd_values() {
        let text = "# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:10\r\nrole:slave\r\nmaster_host:10.0.0.1\r\nmaster_port:6379\r\nmaster_link_status:up\r\nslave_repl_offset:99\r\nlatest_fork_usec:2500\r\nused_cpu_sys:1.5\r\nused_memory:lots\r\nmem_fragmentation_ratio:6.33\r\naof_last_write_status:err\r\nunknown_future_field:7\r\n";
        let mut out = Out::new("c");
        info_to_samples(&parse_info(text), None, &mut out);
        let set = out.into_set();
        assert_eq!(set.find("redis_latest_fork_seconds", &[]), Some(0.0025));
        assert_eq!(set.find("redis_cpu_sys_seconds_total", &[]), Some(1.5));
        assert_eq!(set.find("redis_mem_fragmentation_ratio", &[]), Some(6.33));
        assert_eq!(set.find("redis_memory_used_bytes", &[]), None);
        assert_eq!(set.find("redis_aof_last_write_status", &[]), Some(0.0));
        let master = [("master_host", "10.0.0.1"), ("master_port", "6379")];
        assert_eq!(set.find("redis_master_link_up", &master), Some(1.0));
        assert_eq!(set.find("redis_slave_repl_offset", &master), Some(99.0));
        assert_eq!(set.find("redis_slave_info", &master), Some(1.0));
        assert!(set
            .families()
            .iter()
            .all(|f| !f.name.contains("unknown_future")));
        let kind = |n: &str| set.families().iter().find(|f| f.name == n).map(|f| f.kind);
        assert_eq!(
            kind("redis_cpu_sys_seconds_total"),
            Some(MetricType::Counter)
        );
        assert_eq!(
            kind("redis_mem_fragmentation_ratio"),
            Some(MetricType::Gauge)
        );
    }
}
