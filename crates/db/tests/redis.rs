//! Redis against the real server.

mod common;
use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn keys_set_in_a_database_are_counted() {
    let s = redis();
    if !available("Redis", &s) {
        return;
    }
    let exporter = Exporter::start(
        &format!(
            "targets:\n  - name: cache\n    kind: redis\n    host: {}\n    port: {}\n",
            s.host, s.port
        ),
        &[],
    );
    let client = ::redis::Client::open(format!("redis://{}:{}/11", s.host, s.port)).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let prefix = unique("wk_redis");
    // A scraper that hangs up mid-request must not leave a stale result behind for others.
    for _ in 0..3 {
        use tokio::io::AsyncWriteExt;
        let mut s = tokio::net::TcpStream::connect(exporter.addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        drop(s);
    }
    let m = exporter.scrape().await;
    assert_eq!(m.must("redis_up", &[("target", "cache")]), 1.0);
    let before = m
        .get("redis_db_keys", &[("target", "cache"), ("db", "db11")])
        .unwrap_or(0.0);
    for i in 0..3 {
        let _: () = ::redis::cmd("SET")
            .arg(format!("{prefix}_{i}"))
            .arg("v")
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let _: () = ::redis::cmd("EXPIRE")
        .arg(format!("{prefix}_0"))
        .arg(600)
        .query_async(&mut conn)
        .await
        .unwrap();
    let m = exporter.scrape().await;
    assert!(m.must("redis_db_keys", &[("target", "cache"), ("db", "db11")]) >= before + 3.0);
    assert!(m.must("redis_db_keys_expiring", &[("db", "db11")]) >= 1.0);
    assert!(m.must("redis_memory_used_bytes", &[("target", "cache")]) > 0.0);
    assert!(m.must("redis_connected_clients", &[("target", "cache")]) >= 2.0);
    assert!(m.must("redis_config_maxclients", &[("target", "cache")]) >= 1.0);
    assert!(m.must("redis_rdb_last_save_timestamp_seconds", &[]) > 1.0e9);
    assert!(m
        .get("redis_rdb_last_bgsave_status", &[("target", "cache")])
        .is_some());
    assert!(m
        .get("redis_instance_info", &[("role", "master")])
        .is_some());
    assert!(m.get("redis_master_repl_offset", &[]).is_some());

    // Hits and misses move.
    let hits = m.must("redis_keyspace_hits_total", &[]);
    let misses = m.must("redis_keyspace_misses_total", &[]);
    let _: Option<String> = ::redis::cmd("GET")
        .arg(format!("{prefix}_1"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: Option<String> = ::redis::cmd("GET")
        .arg(format!("{prefix}_missing"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let m = exporter.scrape().await;
    assert!(m.must("redis_keyspace_hits_total", &[]) >= hits + 1.0);
    assert!(m.must("redis_keyspace_misses_total", &[]) >= misses + 1.0);

    for i in 0..3 {
        let _: i64 = ::redis::cmd("DEL")
            .arg(format!("{prefix}_{i}"))
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}
