//! Redis: metrics named as redis_exporter names them (`redis_` prefix), from `INFO ALL`.

use crate::config::Resolved;
use crate::engine::{unix_now, within, Cell, CollectorOutcome, DbError, Engine, Out, Row};
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, ConnectionAddr, ConnectionInfo, ErrorKind, RedisConnectionInfo,
    RedisError, Value,
};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use watchkeeper_core::metrics::MetricType;
use watchkeeper_core::{BoxFuture, ScrapeDeadline};

/// The Redis engine of one target.
pub struct Redis {
    client: Client,
    timeout: Duration,
    /// `CONFIG GET databases`, asked once: it only changes with a server restart.
    databases: Mutex<Option<u32>>,
}

fn read(path: &std::path::Path, field: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("tls.{field}: cannot read {}: {e}", path.display()))
}

impl Redis {
    /// The engine for a resolved target; fails when TLS files cannot be read.
    pub fn new(target: &Resolved) -> Result<Self, String> {
        let t = &target.config;
        let db = t
            .database
            .as_deref()
            .map(|d| d.parse::<i64>().unwrap_or(0))
            .unwrap_or(0);
        let redis_info = RedisConnectionInfo {
            db,
            username: t.user.clone(),
            password: target.password.as_ref().map(|p| p.expose().to_string()),
            ..Default::default()
        };
        let client = match &t.tls {
            None => Client::open(ConnectionInfo {
                addr: ConnectionAddr::Tcp(t.host.clone(), target.port),
                redis: redis_info,
            }),
            Some(tls) => {
                let client_tls = match (&tls.cert_file, &tls.key_file) {
                    (Some(c), Some(k)) => Some(redis::ClientTlsConfig {
                        client_cert: read(c, "cert_file")?,
                        client_key: read(k, "key_file")?,
                    }),
                    _ => None,
                };
                let root_cert = match &tls.ca_file {
                    Some(ca) => Some(read(ca, "ca_file")?),
                    None => None,
                };
                Client::build_with_tls(
                    ConnectionInfo {
                        addr: ConnectionAddr::TcpTls {
                            host: tls.server_name.clone().unwrap_or_else(|| t.host.clone()),
                            port: target.port,
                            insecure: tls.insecure_skip_verify,
                            tls_params: None,
                        },
                        redis: redis_info,
                    },
                    redis::TlsCertificates {
                        client_tls,
                        root_cert,
                    },
                )
            }
        }
        .map_err(|e| format!("target {}: {}", t.name, e.kind_description()))?;
        Ok(Self {
            client,
            timeout: t.connect_timeout.get(),
            databases: Mutex::new(None),
        })
    }
}

trait KindDescription {
    fn kind_description(&self) -> String;
}

impl KindDescription for RedisError {
    /// The error without any connection details (which could carry the password).
    fn kind_description(&self) -> String {
        match self.detail() {
            Some(d) => format!("{}: {d}", self.category()),
            None => self.category().to_string(),
        }
    }
}

fn classify(e: RedisError, connecting: bool) -> DbError {
    let text = e.kind_description();
    let auth = e.kind() == ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("WRONGPASS") | Some("NOAUTH"));
    if auth {
        DbError::Auth(text)
    } else if connecting {
        DbError::Connect(text)
    } else if e.is_io_error()
        || e.is_connection_dropped()
        || e.is_timeout()
        || e.is_unrecoverable_error()
    {
        DbError::Broken(text)
    } else {
        DbError::Query(text)
    }
}

/// `INFO` output as key/value pairs (section headers and blank lines skipped).
pub fn parse_info(text: &str) -> HashMap<&str, &str> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.trim_end_matches('\r').split_once(':'))
        .collect()
}

/// `keys=1,expires=0,avg_ttl=0` -> pairs.
fn sub_fields(v: &str) -> impl Iterator<Item = (&str, &str)> {
    v.split(',').filter_map(|p| p.split_once('='))
}

const GAUGES: [(&str, &str, &str); 13] = [
    (
        "used_memory",
        "redis_memory_used_bytes",
        "Memory used by Redis in bytes.",
    ),
    (
        "maxmemory",
        "redis_memory_max_bytes",
        "Configured memory limit in bytes (0: none).",
    ),
    (
        "connected_clients",
        "redis_connected_clients",
        "Number of client connections.",
    ),
    (
        "blocked_clients",
        "redis_blocked_clients",
        "Clients blocked in a blocking call.",
    ),
    (
        "maxclients",
        "redis_config_maxclients",
        "Maximum number of client connections allowed.",
    ),
    (
        "connected_slaves",
        "redis_connected_slaves",
        "Number of connected replicas.",
    ),
    (
        "master_repl_offset",
        "redis_master_repl_offset",
        "Replication offset of this server.",
    ),
    (
        "slave_repl_offset",
        "redis_slave_repl_offset",
        "Replication offset processed by this replica.",
    ),
    (
        "master_last_io_seconds_ago",
        "redis_master_last_io_seconds_ago",
        "Seconds since the last interaction with the master.",
    ),
    (
        "master_sync_in_progress",
        "redis_master_sync_in_progress",
        "Whether the replica is syncing from its master.",
    ),
    (
        "rdb_changes_since_last_save",
        "redis_rdb_changes_since_last_save",
        "Changes since the last RDB save.",
    ),
    (
        "rdb_last_save_time",
        "redis_rdb_last_save_timestamp_seconds",
        "Time of the last successful RDB save, in Unix seconds.",
    ),
    (
        "uptime_in_seconds",
        "redis_uptime_in_seconds",
        "Seconds since the server started.",
    ),
];

const COUNTERS: [(&str, &str, &str); 7] = [
    (
        "rejected_connections",
        "redis_rejected_connections_total",
        "Connections rejected because of maxclients.",
    ),
    (
        "evicted_keys",
        "redis_evicted_keys_total",
        "Keys evicted because of maxmemory.",
    ),
    ("expired_keys", "redis_expired_keys_total", "Keys expired."),
    (
        "keyspace_hits",
        "redis_keyspace_hits_total",
        "Successful key lookups.",
    ),
    (
        "keyspace_misses",
        "redis_keyspace_misses_total",
        "Failed key lookups.",
    ),
    (
        "total_commands_processed",
        "redis_commands_processed_total",
        "Commands processed.",
    ),
    (
        "total_connections_received",
        "redis_connections_received_total",
        "Connections accepted.",
    ),
];

/// Writes the samples of one `INFO ALL` answer.
pub fn info_to_samples(info: &HashMap<&str, &str>, databases: Option<u32>, out: &mut Out) {
    let f = |k: &str| info.get(k).and_then(|v| v.trim().parse::<f64>().ok());
    for (key, name, help) in GAUGES {
        if let Some(v) = f(key) {
            out.gauge(name, help, &[], v);
        }
    }
    for (key, name, help) in COUNTERS {
        if let Some(v) = f(key) {
            out.counter(name, help, &[], v);
        }
    }
    if let Some(up) = f("uptime_in_seconds") {
        out.gauge(
            "redis_start_time_seconds",
            "Start time of the Redis instance, in Unix seconds.",
            &[],
            (unix_now() - up).floor(),
        );
    }
    if let Some(s) = info.get("rdb_last_bgsave_status") {
        out.gauge(
            "redis_rdb_last_bgsave_status",
            "Whether the last background save succeeded.",
            &[],
            if s.trim() == "ok" { 1.0 } else { 0.0 },
        );
    }
    if let Some(s) = info.get("master_link_status") {
        out.gauge(
            "redis_master_link_up",
            "Whether the replica's link to its master is up.",
            &[],
            if s.trim() == "up" { 1.0 } else { 0.0 },
        );
    }
    if let Some(v) = f("repl_backlog_active") {
        out.gauge(
            "redis_repl_backlog_is_active",
            "Whether the replication backlog is active.",
            &[],
            v,
        );
    }
    if let Some(v) = f("repl_backlog_size") {
        out.gauge(
            "redis_replication_backlog_bytes",
            "Size of the replication backlog in bytes.",
            &[],
            v,
        );
    }
    let label = |k: &str| info.get(k).map(|v| v.trim()).unwrap_or("");
    out.gauge(
        "redis_instance_info",
        "Information about the Redis instance.",
        &[
            ("maxmemory_policy", label("maxmemory_policy")),
            ("os", label("os")),
            ("process_id", label("process_id")),
            ("redis_build_id", label("redis_build_id")),
            ("redis_mode", label("redis_mode")),
            ("redis_version", label("redis_version")),
            ("role", label("role")),
            ("run_id", label("run_id")),
            ("tcp_port", label("tcp_port")),
        ],
        1.0,
    );
    // Replicas as the master sees them: slave0:ip=..,port=..,state=online,offset=..,lag=..
    for (k, v) in info.iter() {
        let Some(n) = k.strip_prefix("slave") else {
            continue;
        };
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let fields: HashMap<&str, &str> = sub_fields(v).collect();
        let labels = [
            ("slave_ip", fields.get("ip").copied().unwrap_or("")),
            ("slave_port", fields.get("port").copied().unwrap_or("")),
            ("slave_state", fields.get("state").copied().unwrap_or("")),
        ];
        if let Some(o) = fields.get("offset").and_then(|o| o.parse::<f64>().ok()) {
            out.gauge(
                "redis_connected_slave_offset_bytes",
                "Replication offset of a connected replica.",
                &labels,
                o,
            );
        }
        if let Some(l) = fields.get("lag").and_then(|o| o.parse::<f64>().ok()) {
            out.gauge(
                "redis_connected_slave_lag_seconds",
                "Lag of a connected replica in seconds.",
                &labels,
                l,
            );
        }
    }
    // Keyspace: every database up to `databases` (0 when empty), as redis_exporter does.
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
            "Total number of keys by DB.",
            &[("db", &db)],
            keys,
        );
        out.gauge(
            "redis_db_keys_expiring",
            "Total number of expiring keys by DB.",
            &[("db", &db)],
            expires,
        );
        out.add(
            "redis_db_avg_ttl_seconds",
            "Average TTL of expiring keys by DB, in seconds.",
            MetricType::Gauge,
            &[("db", &db)],
            avg_ttl / 1000.0,
        );
    }
}

impl Redis {
    async fn databases(&self, conn: &mut MultiplexedConnection) -> Option<u32> {
        if let Some(n) = *self.databases.lock().unwrap_or_else(|p| p.into_inner()) {
            return Some(n);
        }
        // CONFIG may be renamed or forbidden by ACL; then only non-empty databases are shown.
        let got: Result<Vec<String>, _> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("databases")
            .query_async(conn)
            .await;
        let n = got.ok()?.get(1)?.parse::<u32>().ok()?;
        *self.databases.lock().unwrap_or_else(|p| p.into_inner()) = Some(n);
        Some(n)
    }
}

impl Engine for Redis {
    type Conn = MultiplexedConnection;

    fn prefix(&self) -> &'static str {
        "redis"
    }

    fn connect(&self) -> BoxFuture<'_, Result<MultiplexedConnection, DbError>> {
        Box::pin(async move {
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(self.timeout)
                .set_response_timeout(self.timeout);
            self.client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map_err(|e| classify(e, true))
        })
    }

    fn health<'a>(
        &'a self,
        conn: &'a mut MultiplexedConnection,
    ) -> BoxFuture<'a, Result<(), DbError>> {
        Box::pin(async move {
            redis::cmd("PING")
                .query_async::<String>(conn)
                .await
                .map(drop)
                .map_err(|e| match classify(e, false) {
                    DbError::Query(m) => DbError::Broken(m),
                    e => e,
                })
        })
    }

    fn collect<'a>(
        &'a self,
        conn: &'a mut MultiplexedConnection,
        deadline: ScrapeDeadline,
        out: &'a mut Out,
    ) -> BoxFuture<'a, Vec<CollectorOutcome>> {
        Box::pin(async move {
            let result = within(deadline, async {
                let databases = self.databases(conn).await;
                let text: String = redis::cmd("INFO")
                    .arg("ALL")
                    .query_async(conn)
                    .await
                    .map_err(|e| classify(e, false))?;
                info_to_samples(&parse_info(&text), databases, out);
                Ok(())
            })
            .await;
            vec![("info", result)]
        })
    }

    fn query<'a>(
        &'a self,
        conn: &'a mut MultiplexedConnection,
        script: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<(Vec<Row>, bool), DbError>> {
        Box::pin(async move {
            // A Redis "query" is a Lua script, run with no keys; see `script_rows`.
            let reply: Value = redis::cmd("EVAL")
                .arg(script)
                .arg(0)
                .query_async(conn)
                .await
                .map_err(|e| {
                    let detail = script_error(&e);
                    match classify(e, false) {
                        DbError::Query(_) => DbError::Query(detail),
                        other => other,
                    }
                })?;
            script_rows(reply, limit).map_err(DbError::Query)
        })
    }
}

/// A failed script's message: Redis' own words (the Lua error), which name no secret.
fn script_error(e: &RedisError) -> String {
    match e.detail() {
        Some(detail) => format!("script: {detail}"),
        None => format!("script: {}", e.kind_description()),
    }
}

/// The rows of a custom query's script reply. A script returns one row as a flat array of
/// column names and values (`{"queue", "mail", "waiting", 3}`), or several rows as an array
/// of such arrays. Lua numbers arrive as integers (Redis truncates them), so fractions must
/// be returned as strings (`tostring(x)`); a nil or empty reply is no rows.
pub fn script_rows(reply: Value, limit: usize) -> Result<(Vec<Row>, bool), String> {
    let items = match reply {
        Value::Nil => return Ok((Vec::new(), false)),
        Value::Array(items) => items,
        Value::Map(pairs) => {
            let flat = pairs.into_iter().flat_map(|(k, v)| [k, v]).collect();
            vec![Value::Array(flat)]
        }
        other => {
            return Err(format!(
                "the script returned {}, not an array of column names and values",
                kind_of(&other)
            ))
        }
    };
    let nested = !items.is_empty() && items.iter().all(|v| matches!(v, Value::Array(_)));
    let raw_rows: Vec<Vec<Value>> = if nested {
        items
            .into_iter()
            .filter_map(|v| match v {
                Value::Array(row) => Some(row),
                _ => None,
            })
            .collect()
    } else if items.is_empty() {
        Vec::new()
    } else {
        vec![items]
    };
    let more = raw_rows.len() > limit;
    let mut rows = Vec::with_capacity(raw_rows.len().min(limit));
    for (n, raw) in raw_rows.into_iter().take(limit).enumerate() {
        if raw.len() % 2 != 0 {
            return Err(format!(
                "row {n} has {} items; a row alternates column names and values",
                raw.len()
            ));
        }
        let mut row = Row::with_capacity(raw.len() / 2);
        let mut it = raw.into_iter();
        while let (Some(name), Some(value)) = (it.next(), it.next()) {
            let Some(Cell::Text(name)) = cell(name) else {
                return Err(format!("row {n}: a column name must be a string"));
            };
            let Some(value) = cell(value) else {
                return Err(format!("row {n}: column {name:?} holds a nested value"));
            };
            row.push((name, value));
        }
        rows.push(row);
    }
    Ok((rows, more))
}

/// A scalar reply as a cell; `None` for nested values.
fn cell(v: Value) -> Option<Cell> {
    Some(match v {
        Value::Nil => Cell::Null,
        Value::Int(i) => Cell::Number(i as f64),
        Value::Double(d) => Cell::Number(d),
        Value::Boolean(b) => Cell::Number(if b { 1.0 } else { 0.0 }),
        Value::BulkString(b) => Cell::Text(String::from_utf8_lossy(&b).into_owned()),
        Value::SimpleString(s) => Cell::Text(s),
        Value::VerbatimString { text, .. } => Cell::Text(text),
        Value::Okay => Cell::Text("OK".into()),
        _ => return None,
    })
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Int(_) => "an integer",
        Value::BulkString(_) | Value::SimpleString(_) | Value::VerbatimString { .. } => "a string",
        Value::Okay => "OK",
        Value::Double(_) => "a number",
        Value::Boolean(_) => "a boolean",
        _ => "an unsupported reply",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn script_replies_become_rows() {
        // One flat row.
        let (rows, more) = script_rows(
            Value::Array(vec![
                text("queue"),
                text("mail"),
                text("waiting"),
                Value::Int(3),
            ]),
            10,
        )
        .unwrap();
        assert!(!more);
        assert_eq!(
            rows,
            vec![vec![
                ("queue".to_string(), Cell::Text("mail".into())),
                ("waiting".to_string(), Cell::Number(3.0)),
            ]]
        );
        // Nested rows, cut at the limit.
        let row = |n| Value::Array(vec![text("n"), Value::Int(n)]);
        let (rows, more) = script_rows(Value::Array(vec![row(1), row(2), row(3)]), 2).unwrap();
        assert!(more);
        assert_eq!(rows.len(), 2);
        // Nothing.
        assert_eq!(script_rows(Value::Nil, 5).unwrap().0.len(), 0);
        assert_eq!(script_rows(Value::Array(vec![]), 5).unwrap().0.len(), 0);
    }

    #[test]
    fn malformed_script_replies_are_errors_not_samples() {
        assert!(script_rows(Value::Int(3), 5)
            .unwrap_err()
            .contains("an integer"));
        let odd = Value::Array(vec![text("a"), Value::Int(1), text("b")]);
        assert!(script_rows(odd, 5).unwrap_err().contains("3 items"));
        let numeric_name = Value::Array(vec![Value::Int(1), Value::Int(1)]);
        assert!(script_rows(numeric_name, 5)
            .unwrap_err()
            .contains("column name must be a string"));
    }

    #[test]
    fn info_fields_become_redis_exporter_metrics() {
        let text = "# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:10\r\nrole:master\r\n# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=2000\r\nrdb_last_bgsave_status:err\r\nslave0:ip=10.0.0.2,port=6380,state=online,offset=42,lag=1\r\n";
        let info = parse_info(text);
        let mut out = Out::new("cache");
        info_to_samples(&info, Some(2), &mut out);
        let set = out.into_set();
        assert_eq!(
            set.find("redis_db_keys", &[("target", "cache"), ("db", "db0")]),
            Some(3.0)
        );
        assert_eq!(set.find("redis_db_keys", &[("db", "db1")]), Some(0.0));
        assert_eq!(
            set.find("redis_db_avg_ttl_seconds", &[("db", "db0")]),
            Some(2.0)
        );
        assert_eq!(set.find("redis_rdb_last_bgsave_status", &[]), Some(0.0));
        assert_eq!(
            set.find("redis_instance_info", &[("role", "master")]),
            Some(1.0)
        );
        assert_eq!(
            set.find(
                "redis_connected_slave_offset_bytes",
                &[("slave_ip", "10.0.0.2")]
            ),
            Some(42.0)
        );
    }
}
