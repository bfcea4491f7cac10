//! A scrape storm never opens more connections than configured.

mod common;
use common::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_scrapes_stay_within_the_pool() {
    let s = pg();
    if !available("PostgreSQL", &s) || !have_binary(REDIS_SERVER) {
        return;
    }
    // A role of our own, so pg_stat_activity shows exactly this exporter's sessions.
    let admin = pg_client(&s, "postgres").await;
    let role = unique("wk_storm");
    admin
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN; GRANT pg_monitor TO {role}"
        ))
        .await
        .unwrap();
    // A Redis of our own, so CLIENT LIST shows only the exporter and this test.
    let server = ThrowawayRedis::start(None);
    let cfg = format!(
        "targets:
  - name: pg
    kind: postgres
    host: {h}
    port: {p}
    user: {role}
    pool_size: 2
    custom_queries:
      - name: storm_a
        query: SELECT 'a' AS tag, 1 AS v, pg_sleep(0.02)
        labels: [tag]
        values: [v]
      - name: storm_b
        query: SELECT 'b' AS tag, 2 AS v, pg_sleep(0.02)
        labels: [tag]
        values: [v]
      - name: storm_c
        query: SELECT 'c' AS tag, 3 AS v, pg_sleep(0.02)
        labels: [tag]
        values: [v]
  - name: cache
    kind: redis
    port: {rp}
",
        h = s.host,
        p = s.port,
        rp = server.port
    );
    let exporter = Arc::new(Exporter::start(&cfg, &["--web.max-requests", "250"]));

    // Watch both servers while the storm runs.
    let stop = Arc::new(AtomicBool::new(false));
    let max_pg = Arc::new(AtomicUsize::new(0));
    let max_redis = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (stop, max_pg, max_redis, role) = (
            stop.clone(),
            max_pg.clone(),
            max_redis.clone(),
            role.clone(),
        );
        let s = s.clone();
        let redis_port = server.port;
        tokio::spawn(async move {
            let watch = pg_client(&s, "postgres").await;
            let client = ::redis::Client::open(format!("redis://127.0.0.1:{redis_port}/")).unwrap();
            let mut rc = client.get_multiplexed_async_connection().await.unwrap();
            while !stop.load(Ordering::Relaxed) {
                let n: i64 = watch
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE usename = $1",
                        &[&role],
                    )
                    .await
                    .unwrap()
                    .get(0);
                max_pg.fetch_max(n as usize, Ordering::Relaxed);
                let list: String = ::redis::cmd("CLIENT")
                    .arg("LIST")
                    .query_async(&mut rc)
                    .await
                    .unwrap();
                // Minus this watcher's own connection.
                max_redis.fetch_max(list.lines().count().saturating_sub(1), Ordering::Relaxed);
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
    };

    let scrapes = (0..200).map(|i| {
        let e = Arc::clone(&exporter);
        tokio::spawn(async move {
            let path = if i % 10 == 0 {
                "/probe?target=pg"
            } else {
                "/metrics"
            };
            e.get(path, Some("10")).await
        })
    });
    let results = futures_util::future::join_all(scrapes).await;
    stop.store(true, Ordering::Relaxed);
    watcher.await.unwrap();

    let mut ok = 0;
    for r in results {
        let (status, body) = r.unwrap();
        assert_eq!(status, 200, "{body}");
        let m = Metrics(body);
        assert_eq!(m.must("pg_up", &[("target", "pg")]), 1.0);
        assert_eq!(m.must("storm_b_v", &[("target", "pg"), ("tag", "b")]), 2.0);
        ok += 1;
    }
    assert_eq!(ok, 200);
    let (pg_max, redis_max) = (
        max_pg.load(Ordering::Relaxed),
        max_redis.load(Ordering::Relaxed),
    );
    assert!(pg_max >= 1, "the watcher never saw the exporter's session");
    assert!(
        pg_max <= 2,
        "PostgreSQL saw {pg_max} sessions for a pool of 2"
    );
    assert!(
        redis_max <= 1,
        "Redis saw {redis_max} exporter clients for a pool of 1"
    );

    let m = exporter.scrape().await;
    for q in ["storm_a", "storm_b", "storm_c"] {
        assert_eq!(m.must("pg_custom_query_success", &[("query", q)]), 1.0);
    }
    drop(exporter);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let _ = admin.batch_execute(&format!("DROP ROLE {role}")).await;
}
