//! Redis: metrics named as redis_exporter names them (`redis_` prefix), from `INFO ALL`,
//! `SLOWLOG` and `LATENCY LATEST`, sent together (one round trip on the multiplexed
//! connection).

mod check_keys;
mod commandstats;
mod info;
mod keyspace;
mod slowlog;

pub use info::{info_to_samples, parse_info};

use crate::config::Resolved;
use crate::engine::{within, Cell, CollectorOutcome, DbError, Engine, Out, Row};
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, ConnectionAddr, ConnectionInfo, ErrorKind, RedisConnectionInfo,
    RedisError, Value,
};
use std::sync::Mutex;
use std::time::Duration;
use watchkeeper_core::{BoxFuture, ScrapeDeadline};

/// The Redis engine of one target.
pub struct Redis {
    client: Client,
    timeout: Duration,
    /// `CONFIG GET databases` and `io-threads`, asked once: they only change with a restart.
    config: Mutex<Option<StaticConfig>>,
    /// `check_keys` patterns, and the database they are looked up in.
    check_keys: Vec<String>,
    db: i64,
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
            config: Mutex::new(None),
            check_keys: t.check_keys.clone(),
            db,
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

/// Settings that only change with a restart, asked once (`CONFIG GET`).
#[derive(Debug, Clone, Copy, Default)]
struct StaticConfig {
    databases: Option<u32>,
    io_threads: Option<f64>,
}

impl Redis {
    async fn static_config(&self, conn: &mut MultiplexedConnection) -> StaticConfig {
        if let Some(c) = *self.config.lock().unwrap_or_else(|p| p.into_inner()) {
            return c;
        }
        // CONFIG may be renamed or forbidden by ACL; then only non-empty databases are shown.
        // One parameter per CONFIG GET: Redis 6 takes no more.
        let get = |name: &'static str| {
            let mut conn = conn.clone();
            async move {
                let got: Result<Vec<String>, _> = redis::cmd("CONFIG")
                    .arg("GET")
                    .arg(name)
                    .query_async(&mut conn)
                    .await;
                got.map(|v| v.get(1).cloned())
            }
        };
        let (databases, io_threads) = tokio::join!(get("databases"), get("io-threads"));
        let Ok(databases) = databases else {
            return StaticConfig::default();
        };
        let c = StaticConfig {
            databases: databases.and_then(|d| d.parse().ok()),
            io_threads: io_threads.ok().flatten().and_then(|d| d.parse().ok()),
        };
        *self.config.lock().unwrap_or_else(|p| p.into_inner()) = Some(c);
        c
    }

    async fn collect_all(
        &self,
        conn: &mut MultiplexedConnection,
        deadline: ScrapeDeadline,
        out: &mut Out,
    ) -> Vec<CollectorOutcome> {
        let config = within(deadline, async { Ok(self.static_config(conn).await) })
            .await
            .unwrap_or_default();
        let ask = |args: &'static [&'static str]| {
            let mut conn = conn.clone();
            within(deadline, async move {
                let mut cmd = redis::cmd(args[0]);
                for a in &args[1..] {
                    cmd.arg(*a);
                }
                match cmd.query_async::<Value>(&mut conn).await {
                    Ok(v) => Ok(v),
                    // An ACL without the command, or the command renamed away: the families
                    // it gives are left out, said once; the scrape is not a failure.
                    Err(e) if not_permitted(&e) => {
                        crate::sanitize::warn_once(
                            &format!("redis:denied:{}", args.join(" ")),
                            || {
                                format!(
                                    "Redis refuses {} for this user ({}); its metrics are left out",
                                    args.join(" "),
                                    e.kind_description()
                                )
                            },
                        );
                        Ok(Value::Nil)
                    }
                    Err(e) => Err(classify(e, false)),
                }
            })
        };
        // Sent together on the multiplexed connection: one round trip.
        let (info, len, last, latency) = tokio::join!(
            ask(&["INFO", "ALL"]),
            ask(&["SLOWLOG", "LEN"]),
            ask(&["SLOWLOG", "GET", "1"]),
            ask(&["LATENCY", "LATEST"]),
        );
        let info = info.and_then(|v| match v {
            Value::BulkString(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
            Value::VerbatimString { text, .. } => Ok(text),
            Value::SimpleString(s) => Ok(s),
            _ => Err(DbError::Query("INFO returned no text".into())),
        });
        let mut cluster = false;
        let info = info.map(|text| {
            let fields = parse_info(&text);
            cluster = info::cluster_enabled(&fields);
            info_to_samples(&fields, config.databases, out);
            if let Some(n) = config.io_threads {
                out.gauge(
                    "redis_config_io_threads",
                    "config_io_threads metric",
                    &[],
                    n,
                );
            }
        });
        // Only cluster nodes are asked (a second round trip, on them alone).
        let info = match (info, cluster) {
            (Ok(()), true) => ask(&["CLUSTER", "INFO"]).await.and_then(|v| {
                let text = match v {
                    Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
                    Value::VerbatimString { text, .. } => text,
                    Value::Nil => return Ok(()),
                    _ => return Err(DbError::Query("CLUSTER INFO returned no text".into())),
                };
                info::cluster_to_samples(&parse_info(&text), out);
                Ok(())
            }),
            (r, _) => r,
        };
        let slowlog = len.and_then(|len| {
            slowlog::length(&len, out);
            last.map(|last| slowlog::last(&last, out))
        });
        let latency = latency.map(|l| slowlog::latency(&l, out));
        let mut outcomes = vec![("info", info), ("slowlog", slowlog), ("latency", latency)];
        if !self.check_keys.is_empty() {
            let checked = within(
                deadline,
                check_keys::collect(conn, &self.check_keys, self.db, out, classify),
            )
            .await;
            outcomes.push(("check_keys", checked));
        }
        outcomes
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
        Box::pin(async move { self.collect_all(conn, deadline, out).await })
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

/// Whether `e` says the command is not allowed for this user or does not exist (renamed).
fn not_permitted(e: &RedisError) -> bool {
    e.code() == Some("NOPERM")
        || e.detail()
            .is_some_and(|d| d.to_ascii_lowercase().contains("unknown command"))
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
