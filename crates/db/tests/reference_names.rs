//! Our metric names, types and label names match the Debian reference exporters wherever both
//! export a family (the reference's `server` label is our `target` label).

mod common;
use common::reference::{shape, Reference};
use common::*;

async fn reference(
    bin: &str,
    port: u16,
    args: &[String],
    env: &[(&str, &str)],
) -> Option<(Reference, String)> {
    Reference::start(bin, port, args, env).await
}

fn compare(ours: &str, theirs: &str, must_share: &[&str]) {
    let (ours, theirs) = (shape(ours), shape(theirs));
    for name in must_share {
        assert!(ours.contains_key(*name), "we do not export {name}");
        assert!(
            theirs.contains_key(*name),
            "the reference does not export {name}"
        );
    }
    let mut shared = 0;
    for (name, (kind, labels)) in &ours {
        let Some((their_kind, their_labels)) = theirs.get(name) else {
            continue;
        };
        shared += 1;
        assert_eq!(kind, their_kind, "type of {name}");
        assert_eq!(labels, their_labels, "label names of {name}");
    }
    assert!(shared >= must_share.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_names_match_postgres_exporter() {
    let s = pg();
    if !available("PostgreSQL", &s) {
        return;
    }
    let port = free_port();
    let dsn = format!(
        "postgresql://{}@{}:{}/postgres?sslmode=disable",
        s.user, s.host, s.port
    );
    let Some((_ref, theirs)) = reference(
        "/usr/bin/prometheus-postgres-exporter",
        port,
        &[format!("--web.listen-address=127.0.0.1:{port}")],
        &[("DATA_SOURCE_NAME", &dsn)],
    )
    .await
    else {
        return;
    };
    let e = Exporter::start(
        &format!("targets:\n  - name: pg\n    kind: postgres\n    host: {}\n    port: {}\n    user: {}\n", s.host, s.port, s.user),
        &[],
    );
    let ours = e.scrape().await.0;
    compare(
        &ours,
        &theirs,
        &[
            "pg_up",
            "pg_static",
            "pg_database_size_bytes",
            "pg_stat_activity_count",
            "pg_stat_activity_max_tx_duration",
            "pg_locks_count",
            "pg_settings_max_connections",
            "pg_stat_database_xact_commit",
            "pg_stat_database_blks_hit",
            "pg_stat_database_deadlocks",
            "pg_stat_database_temp_bytes",
            "pg_stat_database_numbackends",
            "pg_stat_archiver_failed_count",
            "pg_stat_archiver_last_archive_age",
            "pg_scrape_collector_success",
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_names_match_mysqld_exporter() {
    let s = mysql();
    if !available("MariaDB", &s) || !s.password.is_empty() {
        return;
    }
    let port = free_port();
    let dsn = format!("{}@({}:{})/", s.user, s.host, s.port);
    let Some((_ref, theirs)) = reference(
        "/usr/bin/prometheus-mysqld-exporter",
        port,
        &[format!("--web.listen-address=127.0.0.1:{port}")],
        &[("DATA_SOURCE_NAME", &dsn)],
    )
    .await
    else {
        return;
    };
    let e = Exporter::start(
        &format!("targets:\n  - name: maria\n    kind: mysql\n    host: {}\n    port: {}\n    user: {}\n", s.host, s.port, s.user),
        &[],
    );
    let ours = e.scrape().await.0;
    compare(
        &ours,
        &theirs,
        &[
            "mysql_up",
            "mysql_version_info",
            "mysql_global_status_threads_connected",
            "mysql_global_status_threads_running",
            "mysql_global_status_queries",
            "mysql_global_status_slow_queries",
            "mysql_global_status_aborted_connects",
            "mysql_global_status_buffer_pool_pages",
            "mysql_global_status_innodb_buffer_pool_read_requests",
            "mysql_global_status_uptime",
            "mysql_global_variables_max_connections",
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_names_match_redis_exporter() {
    let s = redis();
    if !available("Redis", &s) {
        return;
    }
    let port = free_port();
    let Some((_ref, theirs)) = reference(
        "/usr/bin/prometheus-redis-exporter",
        port,
        &[
            "-redis.addr".into(),
            format!("redis://{}:{}", s.host, s.port),
            "-web.listen-address".into(),
            format!("127.0.0.1:{port}"),
        ],
        &[],
    )
    .await
    else {
        return;
    };
    let e = Exporter::start(
        &format!(
            "targets:\n  - name: cache\n    kind: redis\n    host: {}\n    port: {}\n",
            s.host, s.port
        ),
        &[],
    );
    let ours = e.scrape().await.0;
    compare(
        &ours,
        &theirs,
        &[
            "redis_up",
            "redis_memory_used_bytes",
            "redis_memory_max_bytes",
            "redis_connected_clients",
            "redis_blocked_clients",
            "redis_rejected_connections_total",
            "redis_evicted_keys_total",
            "redis_expired_keys_total",
            "redis_keyspace_hits_total",
            "redis_keyspace_misses_total",
            "redis_db_keys",
            "redis_db_keys_expiring",
            "redis_master_repl_offset",
            "redis_rdb_last_save_timestamp_seconds",
            "redis_rdb_last_bgsave_status",
            "redis_start_time_seconds",
            "redis_config_maxclients",
        ],
    );
}
