//! MariaDB/MySQL against the real server.

mod common;
use common::*;
use mysql_async::prelude::Queryable;

fn opts(s: &Service) -> mysql_async::Opts {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname(s.host.clone())
        .tcp_port(s.port)
        .user(Some(s.user.clone()))
        .pass((!s.password.is_empty()).then(|| s.password.clone()))
        .prefer_socket(false)
        .into()
}

#[tokio::test(flavor = "multi_thread")]
async fn counters_move_and_connections_are_counted() {
    let s = mysql();
    if !available("MariaDB", &s) {
        return;
    }
    let pw = if s.password.is_empty() {
        String::new()
    } else {
        // The test's own password goes through an env var, never inline.
        std::env::set_var("WK_TEST_MYSQL_PW", &s.password);
        "    password_env: WK_TEST_MYSQL_PW\n".into()
    };
    let exporter = Exporter::start(
        &format!(
            "targets:\n  - name: maria\n    kind: mysql\n    host: {}\n    port: {}\n    user: {}\n{pw}",
            s.host, s.port, s.user
        ),
        &[],
    );
    let m = exporter.scrape().await;
    assert_eq!(m.must("mysql_up", &[("target", "maria")]), 1.0);
    assert!(
        m.must(
            "mysql_global_variables_max_connections",
            &[("target", "maria")]
        ) >= 1.0
    );
    assert!(m
        .get("mysql_version_info", &[("target", "maria")])
        .is_some());
    assert!(m.must("mysql_global_status_uptime", &[]) > 0.0);
    assert!(m
        .get(
            "mysql_global_status_buffer_pool_pages",
            &[("state", "data")]
        )
        .is_some());
    for c in ["global_status", "global_variables", "slave_status"] {
        assert_eq!(
            m.must("mysql_scrape_collector_success", &[("collector", c)]),
            1.0,
            "{c}"
        );
    }
    let queries = m.must("mysql_global_status_queries", &[]);
    let threads = m.must("mysql_global_status_threads_connected", &[]);

    let n = 3;
    let mut conns = Vec::new();
    for _ in 0..n {
        let mut c = mysql_async::Conn::new(opts(&s)).await.unwrap();
        for _ in 0..5 {
            c.query_drop("SELECT 1").await.unwrap();
        }
        conns.push(c);
    }
    let m = exporter.scrape().await;
    assert!(m.must("mysql_global_status_queries", &[]) >= queries + 15.0);
    assert!(m.must("mysql_global_status_threads_connected", &[]) >= threads + n as f64);
    for c in conns {
        c.disconnect().await.unwrap();
    }
}
