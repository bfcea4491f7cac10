//! `INFO keyspace`: `db0:keys=3,expires=1,avg_ttl=2000` per database.

use super::info::sub_fields;
use crate::engine::Out;
use std::collections::HashMap;

/// Writes `redis_db_keys`, `redis_db_keys_expiring` and `redis_db_avg_ttl_seconds` for every
/// database in the keyspace, and zero keys for the others up to `databases` (as redis_exporter
/// does, so a panel shows an empty database rather than none).
pub fn to_samples(info: &HashMap<&str, &str>, databases: Option<u32>, out: &mut Out) {
    let mut dbs: Vec<(u32, f64, f64, f64)> = Vec::new();
    for (k, v) in info.iter() {
        let Some(n) = k.strip_prefix("db").and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let fields: HashMap<&str, &str> = sub_fields(v).collect();
        let g = |x: &str| {
            fields
                .get(x)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        dbs.push((n, g("keys"), g("expires"), g("avg_ttl")));
    }
    for n in 0..databases.unwrap_or(0) {
        if !dbs.iter().any(|d| d.0 == n) {
            dbs.push((n, 0.0, 0.0, 0.0));
        }
    }
    dbs.sort_by_key(|d| d.0);
    for (n, keys, expires, avg_ttl) in dbs {
        let db = format!("db{n}");
        out.gauge(
            "redis_db_keys",
            "Total number of keys by DB",
            &[("db", &db)],
            keys,
        );
        out.gauge(
            "redis_db_keys_expiring",
            "Total number of expiring keys by DB",
            &[("db", &db)],
            expires,
        );
        out.gauge(
            "redis_db_avg_ttl_seconds",
            "Avg TTL in seconds",
            &[("db", &db)],
            avg_ttl / 1000.0,
        );
    }
}
