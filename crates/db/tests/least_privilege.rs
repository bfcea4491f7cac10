//! The smallest grants the README names still give a healthy target: what a user may not run
//! is left out (said once in the log), not turned into a failing scrape.

mod common;
use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn redis_user_without_slowlog_and_latency_is_up_and_quiet() {
    if !have_binary(REDIS_SERVER) {
        return;
    }
    let server = ThrowawayRedis::start(None);
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", server.port)).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let password = unique("acl-pw");
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("monitor")
        .arg("on")
        .arg(format!(">{password}"))
        .arg("+ping")
        .arg("+info")
        .arg("+config|get")
        .arg("+client|setname")
        .query_async(&mut c)
        .await
        .unwrap();
    std::env::set_var("WK_ACL_REDIS_PW", &password);
    let e = Exporter::start(
        &format!(
            "targets:\n  - name: cache\n    kind: redis\n    port: {}\n    user: monitor\n    password_env: WK_ACL_REDIS_PW\n",
            server.port
        ),
        &[],
    );
    for _ in 0..3 {
        let m = e.scrape().await;
        assert_eq!(
            m.must("redis_up", &[("target", "cache")]),
            1.0,
            "{}",
            e.logs()
        );
        assert!(m.must("redis_memory_used_bytes", &[]) > 0.0);
        for collector in ["info", "slowlog", "latency"] {
            assert_eq!(
                m.must(
                    "redis_scrape_collector_success",
                    &[("target", "cache"), ("collector", collector)]
                ),
                1.0,
                "{collector}"
            );
        }
        assert_eq!(m.get("redis_slowlog_length", &[]), None);
    }
    assert!(e.log_shows("Redis refuses SLOWLOG LEN"));
    let logs = e.logs();
    assert_eq!(
        logs.matches("Redis refuses SLOWLOG LEN").count(),
        1,
        "{logs}"
    );
    assert!(!logs.contains("collector failed"), "{logs}");
    assert!(!logs.contains(&password));
}
