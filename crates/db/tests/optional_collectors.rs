//! Optional collectors that have no counterpart in the Debian Go exporters' versions (so the
//! differential test cannot cover them): PostgreSQL `stat_statements`.

mod common;
use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn postgres_stat_statements_reports_calls_and_time_per_statement() {
    if pg_bin_dir().is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are required in CI");
        }
        return;
    }
    let password = unique("Stmt-Pg-Pw");
    let server = ThrowawayPg::start_with_settings(
        &password,
        "-c shared_preload_libraries=pg_stat_statements",
    );
    let mut s = pg();
    s.port = server.port;
    s.password = password.clone();
    let c = pg_client(&s, "postgres").await;
    c.batch_execute("CREATE EXTENSION pg_stat_statements; CREATE TABLE wk_jobs (id int)")
        .await
        .unwrap();
    for _ in 0..5 {
        c.simple_query("SELECT count(*) FROM wk_jobs /* wk-marker */")
            .await
            .unwrap();
    }
    let row = c
        .query_one(
            "SELECT queryid::text, calls FROM pg_stat_statements WHERE query LIKE '%wk-marker%' AND query NOT LIKE '%pg_stat_statements%'",
            &[],
        )
        .await
        .unwrap();
    let (queryid, calls): (String, i64) = (row.get(0), row.get(1));
    assert_eq!(calls, 5);
    std::env::set_var("WK_STMT_PG_PW", &password);
    let e = Exporter::start(
        &format!(
            "targets:\n  - name: pg\n    kind: postgres\n    port: {}\n    password_env: WK_STMT_PG_PW\n    collect: [stat_statements]\n",
            server.port
        ),
        &[],
    );
    let m = e.scrape().await;
    let l = [
        ("target", "pg"),
        ("user", "postgres"),
        ("datname", "postgres"),
        ("queryid", queryid.as_str()),
    ];
    assert_eq!(m.must("pg_stat_statements_calls_total", &l), 5.0, "{}", m.0);
    assert!(m.must("pg_stat_statements_seconds_total", &l) >= 0.0);
    assert_eq!(m.must("pg_stat_statements_rows_total", &l), 5.0);
    assert_eq!(
        m.must(
            "pg_scrape_collector_success",
            &[("target", "pg"), ("collector", "stat_statements")]
        ),
        1.0
    );

    // Without the option, nothing of it (and no query against the extension).
    let off = Exporter::start(
        &format!(
            "targets:\n  - name: pg\n    kind: postgres\n    port: {}\n    password_env: WK_STMT_PG_PW\n",
            server.port
        ),
        &[],
    );
    let m = off.scrape().await;
    assert!(m.get("pg_stat_statements_calls_total", &[]).is_none());
    assert!(m
        .get(
            "pg_scrape_collector_success",
            &[("collector", "stat_statements")]
        )
        .is_none());
}
