//! Differential test against the Debian Go exporters (postgres_exporter 0.11, mysqld_exporter
//! 0.14, redis_exporter 1.45): each scrapes the same local server as `watchkeeper-db`, and
//!
//! - every family the Go exporter emits by default must be ours too (apart from [`ALLOWED`],
//!   each entry with its reason), with the same type and the same label names (our `target`
//!   stands for their `server`);
//! - settings and variables (`pg_settings_*`, `mysql_global_variables_*`, `redis_config_*`)
//!   have the same value;
//! - counters agree in time: scraped between two scrapes of theirs, ours lies between their two
//!   values (so a wrong unit or a wrong source column shows).
//!
//! A missing Go exporter skips the test with a notice, or fails it when `CI=true`.

mod common;
use common::reference::{shape, values, Reference};
use common::*;
use mysql_async::prelude::Queryable;
use std::time::Duration;

/// Families the Go exporters emit by default that we do not, and why.
const ALLOWED: &[(&str, &str)] = &[
    (
        "pg_scrape_collector_duration_seconds",
        "postgres_exporter's timing of its own collectors; ours is watchkeeper_db_target_scrape_duration_seconds (per target)",
    ),
    (
        "redis_target_scrape_request_errors_total",
        "redis_exporter's count of failed /scrape requests, a self-metric of its multi-target mode",
    ),
    (
        "redis_last_key_groups_scrape_duration_milliseconds",
        "redis_exporter's timing of its check-key-groups option, which is off by default (always 0)",
    ),
    (
        "redis_key_value_as_string",
        "check_keys: a string key's content as a label value (unbounded, may hold secrets); only numeric values are exported, as redis_key_value",
    ),
];

/// Settings whose value depends on the client session, not the server, and why.
const SESSION_SETTINGS: &[(&str, &str)] = &[(
    "pg_settings_extra_float_digits",
    "set by the client driver at connect (lib/pq sends 2, tokio-postgres 1)",
)];

/// Families that are the exporters' own, not the server's.
fn is_self_metric(name: &str) -> bool {
    name.starts_with("go_")
        || name.starts_with("process_")
        || name.starts_with("promhttp_")
        || name.contains("_exporter_")
}

struct Engine {
    what: &'static str,
    prefix: &'static str,
    /// Families whose values must be equal.
    exact: &'static str,
}

/// Compares one engine; returns the failures (empty when all agree).
fn differential(e: &Engine, theirs_before: &str, ours: &str, theirs_after: &str) -> Vec<String> {
    let mut failures = Vec::new();
    let (their_shape, our_shape) = (shape(theirs_before), shape(ours));
    let theirs_default: Vec<&String> = their_shape
        .keys()
        .filter(|n| n.starts_with(e.prefix) && !is_self_metric(n))
        .collect();
    let mut shared = 0;
    for name in &theirs_default {
        let (their_kind, their_labels) = &their_shape[*name];
        match our_shape.get(*name) {
            None => {
                if !ALLOWED.iter().any(|(a, _)| a == name) {
                    failures.push(format!("missing family {name} ({their_kind})"));
                }
            }
            Some((kind, labels)) => {
                shared += 1;
                if kind != their_kind {
                    failures.push(format!("type of {name}: ours {kind}, theirs {their_kind}"));
                }
                if labels != their_labels {
                    failures.push(format!(
                        "label names of {name}: ours {labels:?}, theirs {their_labels:?}"
                    ));
                }
            }
        }
    }
    eprintln!(
        "{}: the Go exporter emits {} families by default; we emit {} of them ({} allow-listed)",
        e.what,
        theirs_default.len(),
        shared,
        theirs_default.len() - shared
    );

    let (before, now, after) = (values(theirs_before), values(ours), values(theirs_after));
    let family = |key: &str| key.split('{').next().unwrap_or(key).to_string();
    let mut compared = (0, 0);
    for (key, ours_v) in &now {
        let fam = family(key);
        if !fam.starts_with(e.prefix) || is_self_metric(&fam) {
            continue;
        }
        let (Some(b), Some(a)) = (before.get(key), after.get(key)) else {
            continue;
        };
        if fam.starts_with(e.exact) {
            if SESSION_SETTINGS.iter().any(|(s, _)| *s == fam) {
                continue;
            }
            compared.0 += 1;
            let same = |x: f64| x == *ours_v || (x.is_nan() && ours_v.is_nan());
            if !same(*b) && !same(*a) {
                failures.push(format!(
                    "value of {key}: ours {ours_v}, theirs {b} then {a}"
                ));
            }
        } else if their_shape.get(&fam).is_some_and(|(k, _)| k == "counter")
            && !ours_v.is_nan()
            && !b.is_nan()
            && !a.is_nan()
        {
            compared.1 += 1;
            if !(*b <= *ours_v && *ours_v <= *a) {
                failures.push(format!(
                    "counter {key}: ours {ours_v} is not between theirs {b} and {a}"
                ));
            }
        }
    }
    eprintln!(
        "{}: {} settings/variables equal, {} counter samples in order",
        e.what, compared.0, compared.1
    );
    assert!(
        compared.0 > 0 || e.exact.is_empty(),
        "{}: no value compared",
        e.what
    );
    failures
}

/// Scrapes theirs, ours (the samples of `target` only), theirs again and compares. On a
/// difference, the samples of the families concerned are shown from both sides.
async fn compare(e: &Engine, reference: &Reference, ours: &Exporter, target: &str) -> Vec<String> {
    let before = reference.scrape().await;
    let now = only_target(&ours.scrape().await.0, target);
    let after = reference.scrape().await;
    let mut failures = differential(e, &before, &now, &after);
    let shown: Vec<String> = failures
        .iter()
        .filter_map(|f| f.split_whitespace().find(|w| w.starts_with(e.prefix)))
        .map(|w| w.split(['{', ':']).next().unwrap_or(w).to_string())
        .collect();
    for fam in shown.iter().take(5) {
        for (side, text) in [("theirs", &before), ("ours", &now)] {
            for line in text.lines().filter(|l| l.starts_with(fam.as_str())).take(3) {
                failures.push(format!("    {side}: {line}"));
            }
        }
    }
    failures
}

/// The scrape without the samples of other targets than `target`.
fn only_target(text: &str, target: &str) -> String {
    let mine = format!("target=\"{target}\"");
    text.lines()
        .filter(|l| l.starts_with('#') || !l.contains("target=\"") || l.contains(&mine))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn assert_agree(e: &Engine, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} differs from the Go exporter:\n  {}",
        e.what,
        failures.join("\n  ")
    );
}

async fn run(e: Engine, reference: Option<(Reference, String)>, config: String, target: &str) {
    let Some((reference, _first)) = reference else {
        return;
    };
    let ours = Exporter::start(&config, &[]);
    // Our first scrape opens the connection; compare on the second, like theirs.
    ours.scrape().await;
    assert_agree(&e, compare(&e, &reference, &ours, target).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_matches_postgres_exporter() {
    let s = pg();
    if !available("PostgreSQL", &s) {
        return;
    }
    let port = free_port();
    let password = if s.password.is_empty() {
        String::new()
    } else {
        format!(":{}", s.password)
    };
    let dsn = format!(
        "postgresql://{}{password}@{}:{}/postgres?sslmode=disable",
        s.user, s.host, s.port
    );
    let reference = Reference::start(
        "/usr/bin/prometheus-postgres-exporter",
        port,
        &[format!("--web.listen-address=127.0.0.1:{port}")],
        &[("DATA_SOURCE_NAME", &dsn)],
    )
    .await;
    let config = format!(
        "targets:\n  - name: pg\n    kind: postgres\n    host: {}\n    port: {}\n    user: {}\n{}",
        s.host,
        s.port,
        s.user,
        password_env("PGPASSWORD_WK", &s.password)
    );
    run(POSTGRES, reference, config, "pg").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_matches_mysqld_exporter() {
    let s = mysql();
    if !available("MariaDB", &s) {
        return;
    }
    let port = free_port();
    let password = if s.password.is_empty() {
        String::new()
    } else {
        format!(":{}", s.password)
    };
    let dsn = format!("{}{password}@({}:{})/", s.user, s.host, s.port);
    let reference = Reference::start(
        "/usr/bin/prometheus-mysqld-exporter",
        port,
        &[format!("--web.listen-address=127.0.0.1:{port}")],
        &[("DATA_SOURCE_NAME", &dsn)],
    )
    .await;
    let config = format!(
        "targets:\n  - name: maria\n    kind: mysql\n    host: {}\n    port: {}\n    user: {}\n{}",
        s.host,
        s.port,
        s.user,
        password_env("MYSQL_PASSWORD_WK", &s.password)
    );
    run(MYSQL, reference, config, "maria").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_matches_redis_exporter() {
    let s = redis();
    if !available("Redis", &s) {
        return;
    }
    let port = free_port();
    let reference = Reference::start(
        "/usr/bin/prometheus-redis-exporter",
        port,
        &[
            "-redis.addr".into(),
            format!("redis://{}:{}", s.host, s.port),
            "-web.listen-address".into(),
            format!("127.0.0.1:{port}"),
        ],
        &[],
    )
    .await;
    let config = format!(
        "targets:\n  - name: cache\n    kind: redis\n    host: {}\n    port: {}\n",
        s.host, s.port
    );
    run(REDIS, reference, config, "cache").await;
}

const REDIS: Engine = Engine {
    what: "Redis",
    prefix: "redis_",
    exact: "redis_config_",
};

const MYSQL: Engine = Engine {
    what: "MySQL/MariaDB",
    prefix: "mysql_",
    exact: "mysql_global_variables_",
};

const POSTGRES: Engine = Engine {
    what: "PostgreSQL",
    prefix: "pg_",
    exact: "pg_settings_",
};

async fn redis_reference(port: u16) -> Option<(Reference, String)> {
    let listen = free_port();
    Reference::start(
        "/usr/bin/prometheus-redis-exporter",
        listen,
        &[
            "-redis.addr".into(),
            format!("redis://127.0.0.1:{port}"),
            "-web.listen-address".into(),
            format!("127.0.0.1:{listen}"),
        ],
        &[],
    )
    .await
}

/// Replication as both sides see it: the master's per-replica families and the replica's
/// link, offsets and `redis_slave_info`.
#[tokio::test(flavor = "multi_thread")]
async fn redis_replication_matches_redis_exporter() {
    if !have_binary(REDIS_SERVER) {
        return;
    }
    let master = ThrowawayRedis::start(None);
    let replica = ThrowawayRedis::start_with(
        None,
        &["--replicaof", "127.0.0.1", &master.port.to_string()],
    );
    let ours = Exporter::start(
        &format!(
            "targets:\n  - name: master\n    kind: redis\n    port: {}\n  - name: replica\n    kind: redis\n    port: {}\n",
            master.port, replica.port
        ),
        &[],
    );
    eventually(Duration::from_secs(15), || async {
        let m = ours.scrape().await;
        (m.get("redis_master_link_up", &[("target", "replica")]) == Some(1.0)
            && m.get("redis_connected_slaves", &[("target", "master")]) == Some(1.0))
        .then_some(())
    })
    .await
    .expect("the replica never linked up");
    for (target, port) in [("master", master.port), ("replica", replica.port)] {
        let Some((reference, _)) = redis_reference(port).await else {
            return;
        };
        let failures = compare(&REDIS, &reference, &ours, target).await;
        assert_agree(&REDIS, failures);
    }
}

/// A cluster node (one node owning every slot): `CLUSTER INFO` as redis_exporter maps it.
#[tokio::test(flavor = "multi_thread")]
async fn redis_cluster_node_matches_redis_exporter() {
    if !have_binary(REDIS_SERVER) {
        return;
    }
    let node = ThrowawayRedis::start_with(None, &["--cluster-enabled", "yes"]);
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", node.port)).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CLUSTER")
        .arg("ADDSLOTSRANGE")
        .arg(0)
        .arg(16383)
        .query_async(&mut c)
        .await
        .unwrap();
    let ours = Exporter::start(
        &format!(
            "targets:\n  - name: node\n    kind: redis\n    port: {}\n",
            node.port
        ),
        &[],
    );
    eventually(Duration::from_secs(10), || async {
        let m = ours.scrape().await;
        (m.get("redis_cluster_state", &[]) == Some(1.0)).then_some(())
    })
    .await
    .expect("the cluster never became ok");
    let Some((reference, theirs)) = redis_reference(node.port).await else {
        return;
    };
    assert!(
        theirs.contains("redis_cluster_slots_assigned 16384"),
        "{theirs}"
    );
    let failures = compare(&REDIS, &reference, &ours, "node").await;
    assert_agree(&REDIS, failures);
}

/// A MariaDB replica: every `mysql_slave_status_*` column, with the same labels.
#[tokio::test(flavor = "multi_thread")]
async fn mysql_replica_matches_mysqld_exporter() {
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
    let ours = Exporter::start(
        &format!(
            "targets:\n  - name: replica\n    kind: mysql\n    port: {}\n",
            replica.port
        ),
        &[],
    );
    eventually(Duration::from_secs(20), || async {
        let m = ours.scrape().await;
        (m.get("mysql_slave_status_slave_sql_running", &[]) == Some(1.0)).then_some(())
    })
    .await
    .expect("the replica threads never ran");
    let listen = free_port();
    let dsn = format!("root@(127.0.0.1:{})/", replica.port);
    let Some((reference, theirs)) = Reference::start(
        "/usr/bin/prometheus-mysqld-exporter",
        listen,
        &[format!("--web.listen-address=127.0.0.1:{listen}")],
        &[("DATA_SOURCE_NAME", &dsn)],
    )
    .await
    else {
        return;
    };
    assert!(
        theirs.contains("mysql_slave_status_slave_io_running"),
        "{theirs}"
    );
    let failures = compare(&MYSQL, &reference, &ours, "replica").await;
    c.query_drop("STOP SLAVE").await.unwrap();
    c.disconnect().await.unwrap();
    assert_agree(&MYSQL, failures);
}

/// A PostgreSQL primary with a streaming replica: `pg_stat_replication` on the primary, the
/// replica's own view.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_replication_matches_postgres_exporter() {
    if pg_bin_dir().is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are required in CI");
        }
        return;
    }
    let password = unique("Diff-Pg-Pw");
    let primary = ThrowawayPg::start(&password);
    let replica = ThrowawayPg::replica_of(&primary, &password);
    std::env::set_var("WK_DIFF_PG_PW", &password);
    // An unused slot, so pg_replication_slots has a row.
    let mut admin = pg();
    admin.port = primary.port;
    admin.password = password.clone();
    pg_client(&admin, "postgres")
        .await
        .simple_query("SELECT pg_create_physical_replication_slot('wk_diff_slot')")
        .await
        .expect("create a replication slot");
    let ours = Exporter::start(
        &format!(
            "targets:\n  - name: primary\n    kind: postgres\n    port: {}\n    password_env: WK_DIFF_PG_PW\n  - name: replica\n    kind: postgres\n    port: {}\n    password_env: WK_DIFF_PG_PW\n",
            primary.port, replica.port
        ),
        &[],
    );
    eventually(Duration::from_secs(15), || async {
        let m = ours.scrape().await;
        m.get(
            "pg_stat_replication_pg_wal_lsn_diff",
            &[("target", "primary"), ("state", "streaming")],
        )
        .map(|_| ())
    })
    .await
    .expect("the primary never showed a streaming replica");
    for (target, port) in [("primary", primary.port), ("replica", replica.port)] {
        let listen = free_port();
        let dsn =
            format!("postgresql://postgres:{password}@127.0.0.1:{port}/postgres?sslmode=disable");
        let Some((reference, _)) = Reference::start(
            "/usr/bin/prometheus-postgres-exporter",
            listen,
            &[format!("--web.listen-address=127.0.0.1:{listen}")],
            &[("DATA_SOURCE_NAME", &dsn)],
        )
        .await
        else {
            return;
        };
        let failures = compare(&POSTGRES, &reference, &ours, target).await;
        assert_agree(&POSTGRES, failures);
    }
}

/// The optional collectors, turned on on both sides: `info_schema.processlist` (with a
/// sleeping session to list) and `info_schema.tables` (with a table of our own).
#[tokio::test(flavor = "multi_thread")]
async fn mysql_optional_collectors_match_mysqld_exporter() {
    let s = mysql();
    if !available("MariaDB", &s) || !s.password.is_empty() {
        return;
    }
    let opts: mysql_async::Opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(s.host.clone())
        .tcp_port(s.port)
        .user(Some(s.user.clone()))
        .prefer_socket(false)
        .into();
    let mut admin = mysql_async::Conn::new(opts.clone()).await.unwrap();
    let schema = unique("wk_diff");
    admin
        .query_drop(format!(
            "CREATE DATABASE {schema}; CREATE TABLE {schema}.jobs (id INT PRIMARY KEY, body TEXT) ENGINE=InnoDB; INSERT INTO {schema}.jobs VALUES (1, 'a'), (2, 'b')"
        ))
        .await
        .unwrap();
    let sleeper = tokio::spawn(async move {
        let mut c = mysql_async::Conn::new(opts).await.unwrap();
        let _ = c.query_drop("SELECT SLEEP(15)").await;
    });
    let listen = free_port();
    let dsn = format!("{}@({}:{})/", s.user, s.host, s.port);
    let reference = Reference::start(
        "/usr/bin/prometheus-mysqld-exporter",
        listen,
        &[
            format!("--web.listen-address=127.0.0.1:{listen}"),
            "--collect.info_schema.processlist".into(),
            "--collect.info_schema.tables".into(),
        ],
        &[("DATA_SOURCE_NAME", &dsn)],
    )
    .await;
    let config = format!(
        "targets:\n  - name: maria\n    kind: mysql\n    host: {}\n    port: {}\n    user: {}\n    collect: [info_schema.processlist, info_schema.tables]\n",
        s.host, s.port, s.user
    );
    if let Some((reference, theirs)) = reference {
        let ours = Exporter::start(&config, &[]);
        let m = ours.scrape().await;
        let l = [("schema", schema.as_str()), ("table", "jobs")];
        assert!(
            m.get("mysql_info_schema_table_rows", &l).is_some(),
            "{}",
            m.0
        );
        assert!(
            theirs.contains("mysql_info_schema_processlist_threads"),
            "{theirs}"
        );
        let failures = compare(&MYSQL, &reference, &ours, "maria").await;
        admin
            .query_drop(format!("DROP DATABASE {schema}"))
            .await
            .unwrap();
        sleeper.abort();
        assert_agree(&MYSQL, failures);
    } else {
        admin
            .query_drop(format!("DROP DATABASE {schema}"))
            .await
            .unwrap();
        sleeper.abort();
    }
}

/// The `performance_schema` collectors on a MariaDB with it switched on: statement digests and
/// table I/O waits.
#[tokio::test(flavor = "multi_thread")]
async fn mysql_perf_schema_collectors_match_mysqld_exporter() {
    if !have_binary(MARIADB_INSTALL_DB) || !have_binary(MARIADBD) {
        return;
    }
    let server = ThrowawayMaria::start_with(None, &["--performance-schema=ON"]);
    let opts: mysql_async::Opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(server.port)
        .user(Some("root"))
        .prefer_socket(false)
        .into();
    let mut c = mysql_async::Conn::new(opts).await.unwrap();
    c.query_drop(
        "CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY, total INT) ENGINE=InnoDB; \
         INSERT INTO shop.orders VALUES (1, 10), (2, 20), (3, 30); \
         UPDATE shop.orders SET total = total + 1 WHERE id = 2",
    )
    .await
    .unwrap();
    c.query_drop("USE shop").await.unwrap();
    for _ in 0..3 {
        c.query_drop("SELECT sum(total) FROM orders WHERE id > 1")
            .await
            .unwrap();
    }
    let listen = free_port();
    let dsn = format!("root@(127.0.0.1:{})/", server.port);
    let Some((reference, theirs)) = Reference::start(
        "/usr/bin/prometheus-mysqld-exporter",
        listen,
        &[
            format!("--web.listen-address=127.0.0.1:{listen}"),
            "--collect.perf_schema.eventsstatements".into(),
            "--collect.perf_schema.tableiowaits".into(),
        ],
        &[("DATA_SOURCE_NAME", &dsn)],
    )
    .await
    else {
        return;
    };
    assert!(
        theirs.contains("mysql_perf_schema_events_statements_total"),
        "{theirs}"
    );
    assert!(
        theirs.contains("mysql_perf_schema_table_io_waits_total"),
        "{theirs}"
    );
    let ours = Exporter::start(
        &format!(
            "targets:\n  - name: maria\n    kind: mysql\n    port: {}\n    collect: [perf_schema.eventsstatements, perf_schema.tableiowaits]\n",
            server.port
        ),
        &[],
    );
    let m = ours.scrape().await;
    let io = [
        ("schema", "shop"),
        ("name", "orders"),
        ("operation", "insert"),
    ];
    assert_eq!(
        m.get("mysql_perf_schema_table_io_waits_total", &io),
        Some(3.0),
        "{}",
        m.0
    );
    let failures = compare(&MYSQL, &reference, &ours, "maria").await;
    assert_agree(&MYSQL, failures);
}

/// `check_keys` against redis_exporter's `-check-keys`: a pattern and a plain key.
#[tokio::test(flavor = "multi_thread")]
async fn redis_check_keys_match_redis_exporter() {
    if !have_binary(REDIS_SERVER) {
        return;
    }
    let server = ThrowawayRedis::start(None);
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", server.port)).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::pipe()
        .cmd("SET")
        .arg("wk:count")
        .arg("42")
        .cmd("SET")
        .arg("wk:name")
        .arg("mail")
        .cmd("RPUSH")
        .arg("wk:queue")
        .arg("a")
        .arg("b")
        .arg("c")
        .cmd("HSET")
        .arg("plain")
        .arg("f")
        .arg("v")
        .query_async(&mut c)
        .await
        .unwrap();
    let listen = free_port();
    let Some((reference, _)) = Reference::start(
        "/usr/bin/prometheus-redis-exporter",
        listen,
        &[
            "-redis.addr".into(),
            format!("redis://127.0.0.1:{}", server.port),
            "-web.listen-address".into(),
            format!("127.0.0.1:{listen}"),
            "-check-keys".into(),
            "wk:*,plain".into(),
        ],
        &[],
    )
    .await
    else {
        return;
    };
    let ours = Exporter::start(
        &format!(
            "targets:\n  - name: cache\n    kind: redis\n    port: {}\n    check_keys: [\"wk:*\", plain]\n",
            server.port
        ),
        &[],
    );
    let m = ours.scrape().await;
    assert_eq!(
        m.get("redis_key_size", &[("key", "wk:queue")]),
        Some(3.0),
        "{}",
        m.0
    );
    assert_eq!(m.get("redis_key_value", &[("key", "wk:count")]), Some(42.0));
    assert_eq!(m.get("redis_key_value", &[("key", "wk:name")]), None);
    assert_eq!(m.get("redis_key_size", &[("key", "plain")]), Some(1.0));
    let failures = compare(&REDIS, &reference, &ours, "cache").await;
    assert_agree(&REDIS, failures);
}

/// The config line for a password, read from an environment variable of the exporter (set
/// here for the child); empty without a password.
fn password_env(var: &str, password: &str) -> String {
    if password.is_empty() {
        return String::new();
    }
    std::env::set_var(var, password);
    format!("    password_env: {var}\n")
}

#[test]
fn allow_lists_name_their_reasons() {
    for (name, reason) in ALLOWED.iter().chain(SESSION_SETTINGS) {
        assert!(!reason.is_empty(), "{name} has no reason");
    }
}
