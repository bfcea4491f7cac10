//! Replication seen from both sides, with throwaway primaries and replicas.

mod common;
use common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn redis_master_and_replica_report_roles_offsets_and_link() {
    if !have_binary(REDIS_SERVER) {
        return;
    }
    let master = ThrowawayRedis::start(None);
    let replica = ThrowawayRedis::start_with(
        None,
        &["--replicaof", "127.0.0.1", &master.port.to_string()],
    );
    let exporter = Exporter::start(
        &format!(
            "targets:\n  - name: master\n    kind: redis\n    port: {}\n  - name: replica\n    kind: redis\n    port: {}\n",
            master.port, replica.port
        ),
        &[],
    );
    let m = eventually(Duration::from_secs(15), || async {
        let m = exporter.scrape().await;
        (m.get("redis_master_link_up", &[("target", "replica")]) == Some(1.0)
            && m.get("redis_connected_slaves", &[("target", "master")]) == Some(1.0))
        .then_some(m)
    })
    .await
    .expect("the replica never linked up");
    assert!(m
        .get(
            "redis_instance_info",
            &[("target", "master"), ("role", "master")]
        )
        .is_some());
    assert!(m
        .get(
            "redis_instance_info",
            &[("target", "replica"), ("role", "slave")]
        )
        .is_some());
    assert!(m
        .get("redis_slave_repl_offset", &[("target", "replica")])
        .is_some());
    let port = replica.port.to_string();
    assert!(
        m.get(
            "redis_connected_slave_offset_bytes",
            &[("target", "master"), ("slave_port", &port)]
        )
        .is_some(),
        "{}",
        m.0
    );
    assert!(m
        .get("redis_connected_slave_lag_seconds", &[("target", "master")])
        .is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_primary_and_streaming_replica() {
    if pg_bin_dir().is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are required in CI");
        }
        return;
    }
    let password = unique("Repl-Pg-Pw");
    let primary = ThrowawayPg::start(&password);
    let replica = ThrowawayPg::replica_of(&primary, &password);
    std::env::set_var("WK_REPL_PG_PW", &password);
    let exporter = Exporter::start(
        &format!(
            "targets:\n  - name: primary\n    kind: postgres\n    port: {}\n    password_env: WK_REPL_PG_PW\n  - name: replica\n    kind: postgres\n    port: {}\n    password_env: WK_REPL_PG_PW\n",
            primary.port, replica.port
        ),
        &[],
    );
    let m = eventually(Duration::from_secs(15), || async {
        let m = exporter.scrape().await;
        m.get(
            "pg_stat_replication_pg_wal_lsn_diff",
            &[("target", "primary"), ("state", "streaming")],
        )
        .map(|_| m)
    })
    .await
    .expect("the primary never showed a streaming replica");
    assert_eq!(m.must("pg_up", &[("target", "replica")]), 1.0);
    assert_eq!(
        m.must("pg_replication_is_replica", &[("target", "primary")]),
        0.0
    );
    assert_eq!(
        m.must("pg_replication_is_replica", &[("target", "replica")]),
        1.0
    );
    assert!(m.must("pg_replication_lag_seconds", &[("target", "replica")]) >= 0.0);
    assert!(
        m.must(
            "pg_stat_replication_pg_current_wal_lsn_bytes",
            &[("target", "primary")]
        ) > 0.0
    );
    assert!(
        m.must(
            "pg_stat_replication_pg_wal_lsn_diff",
            &[("target", "primary")]
        ) >= 0.0
    );
    for c in ["info", "replication"] {
        assert_eq!(
            m.must(
                "pg_scrape_collector_success",
                &[("target", "replica"), ("collector", c)]
            ),
            1.0
        );
    }
}
