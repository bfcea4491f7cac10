//! `check_keys`: the length of chosen keys, and the value of numeric string keys, as
//! redis_exporter's `-check-keys` exports them (`redis_key_size{db,key}`,
//! `redis_key_value{db,key}`). A pattern with a glob character is expanded with `SCAN`; the
//! whole is bounded (at most [`MAX_CHECKED_KEYS`] keys, [`MAX_SCAN_CALLS`] `SCAN` calls per
//! pattern) so a pattern matching millions of keys cannot stall the scrape or the server.

use crate::config::MAX_CHECKED_KEYS;
use crate::engine::{DbError, Out};
use futures_util::future::join_all;
use redis::aio::MultiplexedConnection;
use std::collections::BTreeSet;

/// The most `SCAN` calls one pattern may take per scrape.
pub const MAX_SCAN_CALLS: usize = 100;

fn has_glob(p: &str) -> bool {
    p.contains(['*', '?', '['])
}

/// The command giving a key's length, by its type.
fn size_command(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "string" => "STRLEN",
        "list" => "LLEN",
        "set" => "SCARD",
        "zset" => "ZCARD",
        "hash" => "HLEN",
        "stream" => "XLEN",
        _ => return None,
    })
}

async fn expand(
    conn: &mut MultiplexedConnection,
    patterns: &[String],
) -> Result<Vec<Vec<u8>>, redis::RedisError> {
    let mut keys: BTreeSet<Vec<u8>> = BTreeSet::new();
    for p in patterns {
        if !has_glob(p) {
            keys.insert(p.as_bytes().to_vec());
            continue;
        }
        let mut cursor: u64 = 0;
        for call in 0.. {
            if call == MAX_SCAN_CALLS {
                crate::sanitize::warn_once(&format!("check_keys:scan:{p}"), || {
                    format!("check_keys: pattern {p:?} needs more than {MAX_SCAN_CALLS} SCAN calls; the rest of the keyspace is not searched")
                });
                break;
            }
            let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(p)
                .arg("COUNT")
                .arg(1000)
                .query_async(conn)
                .await?;
            keys.extend(batch);
            cursor = next;
            if cursor == 0 || keys.len() >= MAX_CHECKED_KEYS {
                break;
            }
        }
    }
    if keys.len() > MAX_CHECKED_KEYS {
        crate::sanitize::warn_once("check_keys:cut", || {
            format!("check_keys: the patterns match more than {MAX_CHECKED_KEYS} keys; only the first {MAX_CHECKED_KEYS} are reported")
        });
    }
    Ok(keys.into_iter().take(MAX_CHECKED_KEYS).collect())
}

/// Looks the keys up and writes their samples; `db` is the connection's database number.
pub async fn collect(
    conn: &mut MultiplexedConnection,
    patterns: &[String],
    db: i64,
    out: &mut Out,
    classify: fn(redis::RedisError, bool) -> DbError,
) -> Result<(), DbError> {
    let keys = expand(conn, patterns)
        .await
        .map_err(|e| classify(e, false))?;
    // Sent together on the multiplexed connection: one round trip for the types, one for the
    // sizes and values.
    let types = join_all(keys.iter().map(|k| {
        let mut c = conn.clone();
        async move {
            redis::cmd("TYPE")
                .arg(k)
                .query_async::<String>(&mut c)
                .await
        }
    }))
    .await;
    let lookups = join_all(keys.iter().zip(types).map(|(k, t)| {
        let mut c = conn.clone();
        async move {
            let t = t.ok()?;
            let size_cmd = size_command(&t)?;
            let size: i64 = redis::cmd(size_cmd).arg(k).query_async(&mut c).await.ok()?;
            let value = if t == "string" {
                redis::cmd("GET")
                    .arg(k)
                    .query_async::<Option<String>>(&mut c)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|v| v.trim().parse::<f64>().ok())
            } else {
                None
            };
            Some((size, value))
        }
    }))
    .await;
    let db = format!("db{db}");
    for (k, found) in keys.iter().zip(lookups) {
        let Some((size, value)) = found else { continue };
        let key = String::from_utf8_lossy(k);
        let labels = [("db", db.as_str()), ("key", key.as_ref())];
        out.gauge(
            "redis_key_size",
            "The length or size of \"key\"",
            &labels,
            size as f64,
        );
        if let Some(v) = value {
            out.gauge("redis_key_value", "The value of \"key\"", &labels, v);
        }
    }
    Ok(())
}
