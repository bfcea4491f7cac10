//! Replication seen from both sides, with throwaway primaries and replicas.

mod common;
use common::*;
use mysql_async::prelude::Queryable;
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

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_replica_reports_its_threads_and_delay() {
    if !have_binary(MARIADB_INSTALL_DB) || !have_binary(MARIADBD) {
        return;
    }
    let primary = ThrowawayMaria::start_with(None, &["--log-bin=primary-bin", "--server-id=1"]);
    let replica = ThrowawayMaria::start_with(None, &["--skip-log-bin", "--server-id=2"]);
    let opts: mysql_async::Opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(replica.port)
        .user(Some("root"))
        .prefer_socket(false)
        .into();
    let mut c = mysql_async::Conn::new(opts).await.unwrap();
    c.query_drop(format!(
        "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='root', MASTER_PASSWORD='', MASTER_USE_GTID=no",
        primary.port
    ))
    .await
    .unwrap();
    c.query_drop("START SLAVE").await.unwrap();
    let exporter = Exporter::start(
        &format!(
            "targets:\n  - name: primary\n    kind: mysql\n    port: {}\n  - name: replica\n    kind: mysql\n    port: {}\n",
            primary.port, replica.port
        ),
        &[],
    );
    let labels = [("target", "replica"), ("master_host", "127.0.0.1")];
    let m = eventually(Duration::from_secs(20), || async {
        let m = exporter.scrape().await;
        (m.get("mysql_slave_status_slave_io_running", &labels) == Some(1.0)
            && m.get("mysql_slave_status_slave_sql_running", &labels) == Some(1.0))
        .then_some(m)
    })
    .await
    .expect("the replica threads never ran");
    assert!(m.must("mysql_slave_status_seconds_behind_master", &labels) >= 0.0);
    assert_eq!(
        m.get(
            "mysql_slave_status_slave_io_running",
            &[("target", "primary")]
        ),
        None
    );
    assert_eq!(
        m.must(
            "mysql_scrape_collector_success",
            &[("target", "replica"), ("collector", "slave_status")]
        ),
        1.0
    );

    // Stopping the SQL thread shows at once.
    c.query_drop("STOP SLAVE SQL_THREAD").await.unwrap();
    let m = exporter.scrape().await;
    assert_eq!(m.must("mysql_slave_status_slave_sql_running", &labels), 0.0);
    c.query_drop("STOP SLAVE").await.unwrap();
    c.disconnect().await.unwrap();
}
