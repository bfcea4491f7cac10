//! Bad input from a server: a Redis-protocol server on 127.0.0.1 that answers `INFO` with
//! values that are not numbers, names that are not valid metric names, label values with quotes
//! and 10 000 command-statistics rows. The exporter must answer every scrape, skip or clean
//! what it cannot use, and log each oddity once, not once per scrape.

mod common;
use common::reference::shape;
use common::*;
use std::fmt::Write as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

fn hostile_info() -> String {
    let mut s = String::from(
        "# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:banana\r\nrole:master\r\n\
         # Memory\r\nused_memory:12abc\r\nmaxmemory:0\r\nmem_fragmentation_ratio:inf-ish\r\n\
         # Stats\r\ntotal_commands_processed:42\r\nkeyspace_hits:-\r\n\
         # Errorstats\r\nerrorstat_WEIRD\"TYPE:count=3\r\nerrorstat_ERR:count=x\r\n\
         # Keyspace\r\ndb0:keys=many,expires=1,avg_ttl=0\r\ndbX:keys=1\r\n\
         # Commandstats\r\ncmdstat_get:calls=7,usec=70,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n\
         cmdstat_odd\"cmd\\name:calls=1,usec=1,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n\
         cmdstat_broken:calls=lots,usec=1\r\n",
    );
    for i in 0..10_000 {
        let _ = write!(
            s,
            "cmdstat_c{i}:calls={i},usec=1,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n"
        );
    }
    s
}

/// Reads one RESP command (an array of bulk strings) and returns its words.
async fn read_command<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> Option<Vec<String>> {
    let mut line = String::new();
    if r.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let n: usize = line.trim().strip_prefix('*')?.parse().ok()?;
    let mut words = Vec::with_capacity(n);
    for _ in 0..n {
        line.clear();
        r.read_line(&mut line).await.ok()?;
        line.clear();
        r.read_line(&mut line).await.ok()?;
        words.push(line.trim_end().to_string());
    }
    Some(words)
}

/// A server that speaks just enough of the Redis protocol for the exporter.
async fn hostile_redis() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut r = BufReader::new(r);
                while let Some(cmd) = read_command(&mut r).await {
                    let verb = cmd
                        .first()
                        .map(|c| c.to_ascii_uppercase())
                        .unwrap_or_default();
                    let reply = match verb.as_str() {
                        "PING" => "+PONG\r\n".to_string(),
                        "INFO" => {
                            let body = hostile_info();
                            format!("${}\r\n{body}\r\n", body.len())
                        }
                        "CONFIG" | "LATENCY" => "*0\r\n".to_string(),
                        "SLOWLOG"
                            if cmd.get(1).map(|s| s.to_ascii_uppercase()) == Some("LEN".into()) =>
                        {
                            ":0\r\n".to_string()
                        }
                        "SLOWLOG" => "*0\r\n".to_string(),
                        _ => "+OK\r\n".to_string(),
                    };
                    if w.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_info_is_skipped_or_cleaned_and_logged_once() {
    let port = hostile_redis().await;
    let e = Exporter::start(
        &format!("targets:\n  - name: odd\n    kind: redis\n    port: {port}\n"),
        &[],
    );
    for _ in 0..3 {
        let m = e.scrape().await;
        assert_eq!(m.must("redis_up", &[("target", "odd")]), 1.0);
        assert_eq!(m.must("redis_commands_total", &[("cmd", "get")]), 7.0);
        assert_eq!(m.must("redis_commands_total", &[("cmd", "c9999")]), 9999.0);
        assert_eq!(m.must("redis_commands_processed_total", &[]), 42.0);
        // Not numbers: left out, not zero, not an error.
        assert_eq!(m.get("redis_memory_used_bytes", &[]), None);
        assert_eq!(m.get("redis_uptime_in_seconds", &[]), None);
        assert_eq!(m.get("redis_keyspace_hits_total", &[]), None);
        assert_eq!(m.get("redis_commands_total", &[("cmd", "broken")]), None);
        assert_eq!(m.get("redis_errors_total", &[("err", "ERR")]), None);
        assert_eq!(m.must("redis_db_keys_expiring", &[("db", "db0")]), 1.0);
        assert_eq!(
            m.must(
                "redis_scrape_collector_success",
                &[("target", "odd"), ("collector", "info")]
            ),
            1.0
        );
        // Quotes and backslashes in label values are escaped, so the page still parses.
        assert!(m.0.contains(r#"cmd="odd\"cmd\\name""#), "{}", &m.0[..2000]);
        assert!(m.0.contains(r#"err="WEIRD\"TYPE""#));
        let families = shape(&m.0);
        assert!(families.keys().all(|n| n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')));
    }
    assert!(e.log_shows("is not a number"));
    let logs = e.logs();
    let once = |needle: &str| logs.matches(needle).count();
    assert_eq!(
        once(r#"used_memory = \"12abc\" is not a number"#),
        1,
        "{logs}"
    );
    assert_eq!(once("cmdstat_broken"), 1, "{logs}");
}
