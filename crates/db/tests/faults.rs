//! Faults with throwaway servers: a server that stops and comes back, wrong passwords, and a
//! server that accepts TCP but never answers. Secrets are grepped for in every page and log.

mod common;
use common::*;
use mysql_async::prelude::Queryable;
use std::time::{Duration, Instant};

/// Scrapes `/metrics` with Prometheus' timeout header and checks the answer came in time.
async fn timed_scrape(e: &Exporter, timeout_secs: f64) -> Metrics {
    let started = Instant::now();
    let (status, body) = e.get("/metrics", Some(&timeout_secs.to_string())).await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    // The budget is the header minus the 500ms offset; allow generous slack for a busy machine.
    assert!(
        took < Duration::from_secs_f64(timeout_secs + 1.0),
        "scrape took {took:?} with a {timeout_secs}s timeout"
    );
    Metrics(body)
}

/// Every page a user (or Prometheus) could see, plus the log, for secret grepping.
async fn everything_visible(e: &Exporter, targets: &[&str]) -> String {
    let mut all = String::new();
    for path in ["/", "/metrics", "/-/healthy"] {
        all.push_str(&e.get(path, None).await.1);
    }
    for t in targets {
        all.push_str(&e.get(&format!("/probe?target={t}"), None).await.1);
        all.push_str(
            &e.get(&format!("/probe?target={t}&debug=true"), None)
                .await
                .1,
        );
    }
    all.push_str(&e.logs());
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_stopped_mid_run_goes_down_and_comes_back_without_restarting_the_exporter() {
    if !have_binary(REDIS_SERVER) {
        return;
    }
    let mut server = ThrowawayRedis::start(None);
    let exporter = Exporter::start(
        &format!(
            "targets:\n  - name: r\n    kind: redis\n    port: {}\n",
            server.port
        ),
        &[],
    );
    assert_eq!(
        timed_scrape(&exporter, 3.0)
            .await
            .must("redis_up", &[("target", "r")]),
        1.0
    );
    server.down();
    assert_eq!(
        timed_scrape(&exporter, 3.0)
            .await
            .must("redis_up", &[("target", "r")]),
        0.0
    );
    server.up();
    let back = eventually(Duration::from_secs(10), || async {
        (timed_scrape(&exporter, 3.0)
            .await
            .get("redis_up", &[("target", "r")])
            == Some(1.0))
        .then_some(())
    })
    .await;
    assert!(
        back.is_some(),
        "redis_up did not return to 1; log:\n{}",
        exporter.logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_wrong_password_is_down_and_never_shown() {
    if !have_binary(REDIS_SERVER) {
        return;
    }
    let right = unique("Right-Redis-Pw");
    let wrong = unique("Wrong-Redis-Pw");
    let server = ThrowawayRedis::start(Some(&right));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("right"), format!("{right}\n")).unwrap();
    std::fs::write(dir.path().join("wrong"), format!("{wrong}\n")).unwrap();
    let cfg = format!(
        "targets:\n  - name: good\n    kind: redis\n    port: {p}\n    password_file: right\n  - name: bad\n    kind: redis\n    port: {p}\n    password_file: wrong\n  - name: none\n    kind: redis\n    port: {p}\n",
        p = server.port
    );
    let exporter = Exporter::start_in(dir, &cfg, &[]);
    let m = timed_scrape(&exporter, 3.0).await;
    assert_eq!(m.must("redis_up", &[("target", "good")]), 1.0);
    assert_eq!(m.must("redis_up", &[("target", "bad")]), 0.0);
    assert_eq!(m.must("redis_up", &[("target", "none")]), 0.0);
    assert!(
        exporter.log_shows("authentication failed"),
        "{}",
        exporter.logs()
    );
    let seen = everything_visible(&exporter, &["good", "bad", "none"]).await;
    assert!(
        exporter.log_shows("target_name=bad"),
        "no log line for the failing target:\n{}",
        exporter.logs()
    );
    assert!(
        !seen.contains(&right) && !seen.contains(&wrong),
        "a password leaked:\n{seen}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_stop_restart_and_wrong_password() {
    if pg_bin_dir().is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are required in CI");
        }
        eprintln!("NOTICE: no PostgreSQL server binaries; test not run");
        return;
    }
    let right = unique("Right-Pg-Pw");
    let wrong = unique("Wrong-Pg-Pw");
    let server = ThrowawayPg::start(&right);
    std::env::set_var("WK_FAULT_PG_RIGHT", &right);
    std::env::set_var("WK_FAULT_PG_WRONG", &wrong);
    let cfg = format!(
        "targets:\n  - name: good\n    kind: postgres\n    port: {p}\n    password_env: WK_FAULT_PG_RIGHT\n  - name: bad\n    kind: postgres\n    port: {p}\n    password_env: WK_FAULT_PG_WRONG\n",
        p = server.port
    );
    let exporter = Exporter::start(&cfg, &[]);
    let m = timed_scrape(&exporter, 3.0).await;
    assert_eq!(m.must("pg_up", &[("target", "good")]), 1.0);
    assert_eq!(m.must("pg_up", &[("target", "bad")]), 0.0);
    assert!(
        exporter.log_shows("authentication failed"),
        "the log names the reason:\n{}",
        exporter.logs()
    );

    server.down();
    let m = timed_scrape(&exporter, 3.0).await;
    assert_eq!(m.must("pg_up", &[("target", "good")]), 0.0);
    server.up();
    let back = eventually(Duration::from_secs(15), || async {
        (timed_scrape(&exporter, 3.0)
            .await
            .get("pg_up", &[("target", "good")])
            == Some(1.0))
        .then_some(())
    })
    .await;
    assert!(
        back.is_some(),
        "pg_up did not return to 1; log:\n{}",
        exporter.logs()
    );

    let seen = everything_visible(&exporter, &["good", "bad"]).await;
    assert!(
        !seen.contains(&right) && !seen.contains(&wrong),
        "a password leaked:\n{seen}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_wrong_password_is_down_and_never_shown() {
    let s = mysql();
    if !available("MariaDB", &s) {
        return;
    }
    let admin_opts: mysql_async::Opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(s.host.clone())
        .tcp_port(s.port)
        .user(Some(s.user.clone()))
        .pass((!s.password.is_empty()).then(|| s.password.clone()))
        .prefer_socket(false)
        .into();
    let mut admin = mysql_async::Conn::new(admin_opts).await.unwrap();
    let user = unique("wk_user");
    let right = unique("Right-My-Pw");
    let wrong = unique("Wrong-My-Pw");
    admin
        .query_drop(format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{right}'"))
        .await
        .unwrap();
    admin
        .query_drop(format!(
            "GRANT PROCESS, REPLICATION CLIENT ON *.* TO '{user}'@'%'"
        ))
        .await
        .unwrap();
    std::env::set_var("WK_FAULT_MY_RIGHT", &right);
    std::env::set_var("WK_FAULT_MY_WRONG", &wrong);
    let cfg = format!(
        "targets:\n  - name: good\n    kind: mysql\n    host: {h}\n    port: {p}\n    user: {user}\n    password_env: WK_FAULT_MY_RIGHT\n  - name: bad\n    kind: mysql\n    host: {h}\n    port: {p}\n    user: {user}\n    password_env: WK_FAULT_MY_WRONG\n",
        h = s.host,
        p = s.port
    );
    let exporter = Exporter::start(&cfg, &[]);
    let m = timed_scrape(&exporter, 3.0).await;
    let good = m.get("mysql_up", &[("target", "good")]);
    let bad = m.get("mysql_up", &[("target", "bad")]);
    let seen = everything_visible(&exporter, &["good", "bad"]).await;
    admin
        .query_drop(format!("DROP USER '{user}'@'%'"))
        .await
        .unwrap();
    assert_eq!(good, Some(1.0), "log:\n{}", exporter.logs());
    assert_eq!(bad, Some(0.0));
    assert!(
        exporter.log_shows("Access denied"),
        "log:\n{}",
        exporter.logs()
    );
    assert!(
        !seen.contains(&right) && !seen.contains(&wrong),
        "a password leaked:\n{seen}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_never_answers_costs_one_deadline_and_blanks_nothing_else() {
    let r = redis();
    if !available("Redis", &r) {
        return;
    }
    let hole = blackhole();
    let cfg = format!(
        "targets:\n  - name: healthy\n    kind: redis\n    host: {}\n    port: {}\n  - name: pg-hole\n    kind: postgres\n    port: {hole}\n  - name: my-hole\n    kind: mysql\n    port: {hole}\n  - name: redis-hole\n    kind: redis\n    port: {hole}\n",
        r.host, r.port
    );
    let exporter = Exporter::start(&cfg, &[]);
    for _ in 0..2 {
        let m = timed_scrape(&exporter, 2.0).await;
        assert_eq!(m.must("redis_up", &[("target", "healthy")]), 1.0);
        assert_eq!(m.must("pg_up", &[("target", "pg-hole")]), 0.0);
        assert_eq!(m.must("mysql_up", &[("target", "my-hole")]), 0.0);
        assert_eq!(m.must("redis_up", &[("target", "redis-hole")]), 0.0);
        // Budget: 2s header - 0.5s offset; each target stops a little before it.
        let hole = m.must(
            "watchkeeper_db_target_scrape_duration_seconds",
            &[("target", "pg-hole")],
        );
        assert!(hole > 0.5 && hole <= 1.5, "pg-hole took {hole}s");
        let healthy = m.must(
            "watchkeeper_db_target_scrape_duration_seconds",
            &[("target", "healthy")],
        );
        assert!(healthy < hole, "the healthy target waited for the dead one");
    }
    // The probe endpoint obeys the same deadline.
    let started = Instant::now();
    let (status, body) = exporter.get("/probe?target=pg-hole", Some("2")).await;
    assert_eq!(status, 200);
    assert_eq!(Metrics(body).must("pg_up", &[]), 0.0);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_password_shows_as_down_even_with_a_connection_in_the_pool() {
    if pg_bin_dir().is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are required in CI");
        }
        return;
    }
    let password = unique("Pool-Pg-Pw");
    let server = ThrowawayPg::start(&password);
    std::env::set_var("WK_FAULT_PG_POOL", &password);
    let cfg = format!(
        "targets:\n  - name: pooled\n    kind: postgres\n    port: {}\n    password_env: WK_FAULT_PG_POOL\n    max_connection_age: 1s\n",
        server.port
    );
    let exporter = Exporter::start(&cfg, &[]);
    assert_eq!(timed_scrape(&exporter, 3.0).await.must("pg_up", &[]), 1.0);

    // Change the password behind the exporter's back; its pooled session stays logged in.
    let mut c = tokio_postgres::Config::new();
    c.host("127.0.0.1")
        .port(server.port)
        .user("postgres")
        .password(password.as_str())
        .dbname("postgres");
    let (admin, conn) = c.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    admin
        .batch_execute("ALTER ROLE postgres PASSWORD 'something-else-entirely'")
        .await
        .unwrap();
    let down = eventually(Duration::from_secs(10), || async {
        (timed_scrape(&exporter, 3.0).await.get("pg_up", &[]) == Some(0.0)).then_some(())
    })
    .await;
    assert!(
        down.is_some(),
        "pg_up stayed 1 after the password was revoked"
    );
    assert!(
        exporter.log_shows("authentication failed"),
        "{}",
        exporter.logs()
    );
    assert!(!exporter.logs().contains(&password));
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_stopped_mid_run_goes_down_and_comes_back_without_restarting_the_exporter() {
    if !have_binary(MARIADB_INSTALL_DB) || !have_binary(MARIADBD) {
        return;
    }
    let mut server = ThrowawayMaria::start(None);
    let exporter = Exporter::start(
        &format!(
            "targets:\n  - name: m\n    kind: mysql\n    port: {}\n",
            server.port
        ),
        &[],
    );
    assert_eq!(
        timed_scrape(&exporter, 3.0)
            .await
            .must("mysql_up", &[("target", "m")]),
        1.0
    );
    server.down();
    assert_eq!(
        timed_scrape(&exporter, 3.0)
            .await
            .must("mysql_up", &[("target", "m")]),
        0.0
    );
    server.up();
    let back = eventually(Duration::from_secs(15), || async {
        (timed_scrape(&exporter, 3.0)
            .await
            .get("mysql_up", &[("target", "m")])
            == Some(1.0))
        .then_some(())
    })
    .await;
    assert!(
        back.is_some(),
        "mysql_up did not return to 1; log:\n{}",
        exporter.logs()
    );
}
