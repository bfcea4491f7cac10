//! PostgreSQL against the real server: values a user would look at.

mod common;
use common::*;
use std::time::Duration;

fn config(s: &Service) -> String {
    format!(
        "targets:\n  - name: pg\n    kind: postgres\n    host: {}\n    port: {}\n    user: {}\n",
        s.host, s.port, s.user
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn created_database_has_a_size_and_its_sessions_and_transactions_are_seen() {
    let s = pg();
    if !available("PostgreSQL", &s) {
        return;
    }
    let admin = pg_client(&s, "postgres").await;
    let db = unique("wk_pg");
    admin
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    let exporter = Exporter::start(&config(&s), &[]);

    // The new database is measured.
    let m = exporter.scrape().await;
    assert_eq!(m.must("pg_up", &[("target", "pg")]), 1.0);
    assert!(m.must("pg_health_query_duration_seconds", &[("target", "pg")]) > 0.0);
    let size = m.must(
        "pg_database_size_bytes",
        &[("target", "pg"), ("datname", &db)],
    );
    assert!(
        size > 1_000_000.0,
        "a fresh database takes megabytes, got {size}"
    );
    assert_eq!(
        m.must(
            "pg_stat_activity_count",
            &[("datname", &db), ("state", "idle")]
        ),
        0.0
    );
    assert!(m.must("pg_settings_max_connections", &[("target", "pg")]) >= 1.0);
    assert_eq!(
        m.must("pg_replication_is_replica", &[("target", "pg")]),
        0.0
    );
    assert!(m.get("pg_static", &[("target", "pg")]).is_some());
    for c in [
        "info",
        "database",
        "activity",
        "locks",
        "replication",
        "archiver",
    ] {
        assert_eq!(
            m.must("pg_scrape_collector_success", &[("collector", c)]),
            1.0,
            "{c}"
        );
    }

    // N open sessions are counted as idle in that database.
    let n = 4;
    let mut sessions = Vec::new();
    for _ in 0..n {
        sessions.push(pg_client(&s, &db).await);
    }
    let m = exporter.scrape().await;
    assert_eq!(
        m.must(
            "pg_stat_activity_count",
            &[("datname", &db), ("state", "idle")]
        ),
        n as f64
    );

    // A transaction left open makes max_tx_duration grow.
    sessions[0]
        .batch_execute("BEGIN; CREATE TABLE t (x int); LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let labels = [("datname", db.as_str()), ("state", "idle in transaction")];
    let first = exporter
        .scrape()
        .await
        .must("pg_stat_activity_max_tx_duration", &labels);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let m = exporter.scrape().await;
    let second = m.must("pg_stat_activity_max_tx_duration", &labels);
    assert!(
        second >= 1.0 && second > first,
        "max_tx_duration {first} -> {second}"
    );
    assert!(
        m.must(
            "pg_locks_count",
            &[("datname", &db), ("mode", "accessexclusivelock")]
        ) >= 1.0
    );
    sessions[0].batch_execute("ROLLBACK").await.unwrap();

    // The database's own counters move.
    let before = m.must("pg_stat_database_xact_commit", &[("datname", &db)]);
    {
        // A backend flushes its statistics when it exits (or after PostgreSQL's idle interval).
        let worker = pg_client(&s, &db).await;
        for _ in 0..5 {
            worker.batch_execute("SELECT 1").await.unwrap();
        }
    }
    let after = eventually(Duration::from_secs(15), || async {
        let v = exporter
            .scrape()
            .await
            .must("pg_stat_database_xact_commit", &[("datname", &db)]);
        (v >= before + 5.0).then_some(v)
    })
    .await;
    assert!(after.is_some(), "xact_commit did not move from {before}");

    drop(sessions);
    tokio::time::sleep(Duration::from_millis(200)).await;
    admin
        .batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn probe_scrapes_one_target_by_name_and_rejects_unknown_names() {
    let s = pg();
    if !available("PostgreSQL", &s) {
        return;
    }
    let cfg = format!(
        "{}  - name: other\n    kind: redis\n    port: {}\n",
        config(&s),
        blackhole()
    );
    let exporter = Exporter::start(&cfg, &[]);
    let (status, body) = exporter.get("/probe?target=pg", None).await;
    assert_eq!(status, 200, "{body}");
    let m = Metrics(body.clone());
    assert_eq!(m.must("pg_up", &[("target", "pg")]), 1.0);
    assert!(
        !body.contains("target=\"other\""),
        "probe must only scrape the named target"
    );

    let (status, body) = exporter.get("/probe?target=nope", None).await;
    assert_eq!(status, 400);
    assert!(body.contains("unknown target \"nope\""), "{body}");
    let (status, body) = exporter.get("/probe", None).await;
    assert_eq!(status, 400);
    assert!(body.contains("missing parameter \"target\""), "{body}");
    // A DSN is not a target name: it is refused, never dialled.
    let (status, _) = exporter
        .get(
            "/probe?target=postgresql%3A%2F%2Fpostgres%40127.0.0.1%2Fpostgres",
            None,
        )
        .await;
    assert_eq!(status, 400);
}
