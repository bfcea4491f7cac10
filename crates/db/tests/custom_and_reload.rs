//! Custom queries (labels, values, row limit, timeout) and configuration reload.

mod common;
use common::*;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn postgres_custom_queries_obey_row_limit_timeout_and_columns() {
    let s = pg();
    if !available("PostgreSQL", &s) {
        return;
    }
    let cfg = format!(
        "targets:
  - name: pg
    kind: postgres
    host: {}
    port: {}
    user: {}
    custom_queries:
      - name: app_series
        help: Rows of a series.
        query: SELECT 'row' || n AS item, n * 10 AS amount FROM generate_series(1, 10) AS n
        labels: [item]
        values: [amount]
        row_limit: 3
      - name: app_typo
        query: SELECT 1 AS present
        values: [absent]
      - name: app_slow
        query: SELECT pg_sleep(5) AS slept, 1 AS v
        values: [v]
        timeout: 500ms
",
        s.host, s.port, s.user
    );
    let exporter = Exporter::start(&cfg, &[]);
    for _ in 0..2 {
        let started = Instant::now();
        let m = exporter.scrape().await;
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "the slow query was not cut off"
        );
        assert_eq!(m.must("pg_up", &[("target", "pg")]), 1.0);
        assert_eq!(
            m.must("app_series_amount", &[("target", "pg"), ("item", "row2")]),
            20.0
        );
        assert_eq!(
            m.get("app_series_amount", &[("item", "row4")]),
            None,
            "row_limit 3 ignored"
        );
        assert_eq!(
            m.must("pg_custom_query_success", &[("query", "app_series")]),
            1.0
        );
        assert_eq!(
            m.must("pg_custom_query_success", &[("query", "app_typo")]),
            0.0
        );
        assert_eq!(
            m.must("pg_custom_query_success", &[("query", "app_slow")]),
            0.0
        );
        assert!(m.0.contains("# HELP app_series_amount Rows of a series."));
    }
    assert!(
        exporter.log_shows("more rows than row_limit"),
        "{}",
        exporter.logs()
    );
    let logs = exporter.logs();
    // logfmt escapes the quotes around the column name.
    assert!(
        logs.contains("column \\\"absent\\\" not in the result")
            || logs.contains("column \"absent\" not in the result"),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_custom_queries_are_lua_scripts_whose_rows_become_gauges() {
    let s = redis();
    if !available("Redis", &s) {
        return;
    }
    let queue = unique("wk_queue");
    let client = ::redis::Client::open(format!("redis://{}:{}/0", s.host, s.port)).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = ::redis::cmd("RPUSH")
        .arg(&queue)
        .arg(&["a", "b", "c"][..])
        .query_async(&mut conn)
        .await
        .unwrap();
    let cfg = format!(
        "targets:
  - name: cache
    kind: redis
    host: {host}
    port: {port}
    custom_queries:
      - name: app_queue
        help: Jobs waiting per queue.
        query: \"return {{{{'queue', 'mail', 'waiting', redis.call('LLEN', '{queue}')}}}}\"
        labels: [queue]
        values: [waiting]
      - name: app_ratio
        query: \"return {{'ratio', tostring(0.25)}}\"
        values: [ratio]
      - name: app_rows
        query: \"return {{{{'item', 'a', 'n', 1}}, {{'item', 'b', 'n', 2}}, {{'item', 'c', 'n', 3}}}}\"
        labels: [item]
        values: [n]
        row_limit: 2
      - name: app_broken
        query: \"return redis.call('NOSUCHCOMMAND')\"
        values: [v]
",
        host = s.host,
        port = s.port,
    );
    let exporter = Exporter::start(&cfg, &[]);
    let m = exporter.scrape().await;
    assert_eq!(
        m.must("redis_up", &[("target", "cache")]),
        1.0,
        "{}",
        exporter.logs()
    );
    assert_eq!(
        m.must(
            "app_queue_waiting",
            &[("target", "cache"), ("queue", "mail")]
        ),
        3.0
    );
    assert!(m
        .0
        .contains("# HELP app_queue_waiting Jobs waiting per queue."));
    assert_eq!(m.must("app_ratio_ratio", &[("target", "cache")]), 0.25);
    assert_eq!(m.must("app_rows_n", &[("item", "b")]), 2.0);
    assert_eq!(
        m.get("app_rows_n", &[("item", "c")]),
        None,
        "row_limit 2 ignored"
    );
    for (q, ok) in [
        ("app_queue", 1.0),
        ("app_ratio", 1.0),
        ("app_rows", 1.0),
        ("app_broken", 0.0),
    ] {
        assert_eq!(
            m.must("redis_custom_query_success", &[("query", q)]),
            ok,
            "{q}: {}",
            exporter.logs()
        );
    }
    assert!(
        exporter.log_shows("NOSUCHCOMMAND") || exporter.log_shows("nknown"),
        "{}",
        exporter.logs()
    );
    let _: () = ::redis::cmd("DEL")
        .arg(&queue)
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_custom_query_rows_become_samples() {
    let s = mysql();
    if !available("MariaDB", &s) || !s.password.is_empty() {
        return;
    }
    let cfg = format!(
        "targets:
  - name: maria
    kind: mysql
    host: {}
    port: {}
    user: {}
    custom_queries:
      - name: app_schema
        query: SELECT table_schema AS db, count(*) AS tables FROM information_schema.tables WHERE table_schema = 'mysql' GROUP BY table_schema
        labels: [db]
        values: [tables]
",
        s.host, s.port, s.user
    );
    let exporter = Exporter::start(&cfg, &[]);
    let m = exporter.scrape().await;
    assert!(m.must("app_schema_tables", &[("target", "maria"), ("db", "mysql")]) >= 1.0);
    assert_eq!(
        m.must("mysql_custom_query_success", &[("query", "app_schema")]),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_adds_targets_and_an_invalid_file_keeps_the_old_ones() {
    let r = redis();
    if !available("Redis", &r) {
        return;
    }
    let one = format!(
        "targets:\n  - name: first\n    kind: redis\n    host: {}\n    port: {}\n",
        r.host, r.port
    );
    let exporter = Exporter::start(&one, &[]);
    let m = exporter.scrape().await;
    assert_eq!(m.must("redis_up", &[("target", "first")]), 1.0);
    assert_eq!(m.get("redis_up", &[("target", "second")]), None);

    let two = format!(
        "{one}  - name: second\n    kind: redis\n    host: {}\n    port: {}\n",
        r.host, r.port
    );
    std::fs::write(&exporter.config, &two).unwrap();
    let (status, body) = http(exporter.addr, "POST", "/-/reload", None).await;
    assert_eq!(status, 200, "{body}");
    let m = exporter.scrape().await;
    assert_eq!(m.must("redis_up", &[("target", "first")]), 1.0);
    assert_eq!(m.must("redis_up", &[("target", "second")]), 1.0);
    assert_eq!(exporter.get("/probe?target=second", None).await.0, 200);

    std::fs::write(
        &exporter.config,
        "targets:\n  - name: broken\n    kind: nosql\n",
    )
    .unwrap();
    let (status, body) = http(exporter.addr, "POST", "/-/reload", None).await;
    assert_ne!(status, 200, "{body}");
    assert!(
        body.contains("db.yml:3:11"),
        "the error names file, line and column: {body}"
    );
    let m = exporter.scrape().await;
    assert_eq!(m.must("redis_up", &[("target", "second")]), 1.0);
    assert_eq!(m.get("redis_up", &[("target", "broken")]), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_keeps_the_connection_of_an_unchanged_target() {
    if !have_binary(REDIS_SERVER) {
        return;
    }
    let server = ThrowawayRedis::start(None);
    let one = format!(
        "targets:\n  - name: kept\n    kind: redis\n    port: {}\n",
        server.port
    );
    let exporter = Exporter::start(&one, &[]);
    assert_eq!(
        exporter
            .scrape()
            .await
            .must("redis_up", &[("target", "kept")]),
        1.0
    );
    let client = ::redis::Client::open(format!("redis://127.0.0.1:{}/", server.port)).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let ids = |list: String| -> Vec<String> {
        list.lines()
            .filter(|l| !l.contains("cmd=client"))
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect()
    };
    let before = ids(::redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut c)
        .await
        .unwrap());
    assert_eq!(before.len(), 1, "{before:?}");

    let two = format!(
        "{one}  - name: added\n    kind: redis\n    port: {}\n",
        blackhole()
    );
    std::fs::write(&exporter.config, two).unwrap();
    assert_eq!(http(exporter.addr, "POST", "/-/reload", None).await.0, 200);
    let (status, body) = exporter.get("/metrics", Some("2")).await;
    assert_eq!(status, 200);
    assert_eq!(Metrics(body).must("redis_up", &[("target", "kept")]), 1.0);
    let after = ids(::redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut c)
        .await
        .unwrap());
    assert_eq!(before, after, "the unchanged target reconnected on reload");
}
