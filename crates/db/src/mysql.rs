//! MySQL and MariaDB: metrics named as mysqld_exporter names them (`mysql_` prefix).

use crate::config::Resolved;
use crate::engine::{unix_now, within, Cell, CollectorOutcome, DbError, Engine, Out, Row};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, SslOpts, Value};
use watchkeeper_core::metrics::MetricType;
use watchkeeper_core::{BoxFuture, ScrapeDeadline};

/// The MySQL engine of one target.
pub struct Mysql {
    opts: Opts,
}

impl Mysql {
    /// The engine for a resolved target.
    pub fn new(target: &Resolved) -> Self {
        let t = &target.config;
        let mut b = OptsBuilder::default()
            .ip_or_hostname(t.host.clone())
            .tcp_port(target.port)
            .user(Some(t.user.clone().unwrap_or_else(|| "root".into())))
            .pass(target.password.as_ref().map(|p| p.expose().to_string()))
            .db_name(t.database.clone())
            // Without this the driver would switch to the server's Unix socket on localhost,
            // which is not the address the config names.
            .prefer_socket(false)
            // No prepared statements are used; keep nothing cached on the server.
            .stmt_cache_size(0)
            .tcp_nodelay(true);
        if let Some(tls) = &t.tls {
            let mut ssl = SslOpts::default()
                .with_danger_accept_invalid_certs(tls.insecure_skip_verify)
                .with_danger_skip_domain_validation(tls.insecure_skip_verify);
            if let Some(ca) = &tls.ca_file {
                ssl = ssl.with_root_certs(vec![ca.clone().into()]);
            }
            if let (Some(c), Some(k)) = (&tls.cert_file, &tls.key_file) {
                ssl = ssl.with_client_identity(Some(mysql_async::ClientIdentity::new(
                    c.clone().into(),
                    k.clone().into(),
                )));
            }
            if let Some(name) = &tls.server_name {
                ssl = ssl.with_danger_tls_hostname_override(Some(name.clone()));
            }
            b = b.ssl_opts(Some(ssl));
        }
        Self {
            opts: Opts::from(b),
        }
    }
}

/// MySQL error codes meaning the credentials or grants were refused.
const AUTH_CODES: [u16; 4] = [1044, 1045, 1698, 1251];

fn classify(e: mysql_async::Error, connecting: bool) -> DbError {
    let text = match &e {
        mysql_async::Error::Server(s) => format!("{} ({})", s.message, s.code),
        other => other.to_string(),
    };
    match &e {
        mysql_async::Error::Server(s) if AUTH_CODES.contains(&s.code) && connecting => {
            DbError::Auth(text)
        }
        _ if connecting => DbError::Connect(text),
        mysql_async::Error::Server(_) => DbError::Query(text),
        _ => DbError::Broken(text),
    }
}

fn cell(v: &Value) -> Cell {
    match v {
        Value::NULL => Cell::Null,
        Value::Bytes(b) => Cell::Text(String::from_utf8_lossy(b).into_owned()),
        Value::Int(i) => Cell::Number(*i as f64),
        Value::UInt(u) => Cell::Number(*u as f64),
        Value::Float(f) => Cell::Number(f64::from(*f)),
        Value::Double(d) => Cell::Number(*d),
        other => Cell::Text(other.as_sql(true)),
    }
}

async fn rows(conn: &mut Conn, sql: &str, limit: usize) -> Result<(Vec<Row>, bool), DbError> {
    let mut result = conn.query_iter(sql).await.map_err(|e| classify(e, false))?;
    let mut out = Vec::new();
    let mut truncated = false;
    while let Some(row) = result.next().await.map_err(|e| classify(e, false))? {
        if out.len() == limit {
            // Keep reading (and discarding) so the connection stays usable.
            truncated = true;
            continue;
        }
        let cols = row.columns();
        // `Row::unwrap` hands over the row's values (a Vec); it cannot fail.
        let values = row.unwrap();
        out.push(
            cols.iter()
                .zip(values.iter())
                .map(|(c, v)| (c.name_str().into_owned(), cell(v)))
                .collect(),
        );
    }
    drop(result);
    Ok((out, truncated))
}

/// `SHOW GLOBAL STATUS` names (lower case) exported as `mysql_global_status_<name>`.
const STATUS: [&str; 20] = [
    "aborted_clients",
    "aborted_connects",
    "bytes_received",
    "bytes_sent",
    "connections",
    "max_used_connections",
    "queries",
    "questions",
    "slow_queries",
    "threads_cached",
    "threads_connected",
    "threads_created",
    "threads_running",
    "uptime",
    "innodb_buffer_pool_bytes_data",
    "innodb_buffer_pool_bytes_dirty",
    "innodb_buffer_pool_read_requests",
    "innodb_buffer_pool_reads",
    "innodb_buffer_pool_wait_free",
    "innodb_buffer_pool_write_requests",
];

fn pair(row: &Row) -> Option<(String, &Cell)> {
    Some((
        row.first()?.1.as_label().to_ascii_lowercase(),
        &row.get(1)?.1,
    ))
}

async fn collect_status(conn: &mut Conn, out: &mut Out) -> Result<(), DbError> {
    let (rows, _) = rows(conn, "SHOW GLOBAL STATUS", usize::MAX).await?;
    for row in &rows {
        let Some((name, value)) = pair(row) else {
            continue;
        };
        let Some(v) = value.as_value() else { continue };
        if STATUS.contains(&name.as_str()) {
            out.add(
                format!("mysql_global_status_{name}"),
                "Generic metric from SHOW GLOBAL STATUS.",
                MetricType::Untyped,
                &[],
                v,
            );
            if name == "uptime" {
                out.gauge(
                    "mysql_start_time_seconds",
                    "Start time of the server, in Unix seconds.",
                    &[],
                    (unix_now() - v).floor(),
                );
            }
        } else if let Some(state) = name.strip_prefix("innodb_buffer_pool_pages_") {
            match state {
                "data" | "free" | "misc" | "old" => out.gauge(
                    "mysql_global_status_buffer_pool_pages",
                    "Innodb buffer pool pages by state.",
                    &[("state", state)],
                    v,
                ),
                "dirty" => out.gauge(
                    "mysql_global_status_buffer_pool_dirty_pages",
                    "Innodb buffer pool dirty pages.",
                    &[],
                    v,
                ),
                _ => {}
            }
        }
    }
    Ok(())
}

async fn collect_variables(conn: &mut Conn, out: &mut Out) -> Result<(), DbError> {
    let (rows, _) = rows(
        conn,
        "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('max_connections', 'version', 'version_comment', 'innodb_version')",
        16,
    )
    .await?;
    let get = |n: &str| {
        rows.iter()
            .filter_map(pair)
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    if let Some(v) = get("max_connections").and_then(|c| c.as_value()) {
        out.gauge(
            "mysql_global_variables_max_connections",
            "Generic gauge metric from SHOW GLOBAL VARIABLES.",
            &[],
            v,
        );
    }
    let label = |n: &str| get(n).map(|c| c.as_label()).unwrap_or_default();
    out.gauge(
        "mysql_version_info",
        "MySQL version and distribution.",
        &[
            ("innodb_version", &label("innodb_version")),
            ("version", &label("version")),
            ("version_comment", &label("version_comment")),
        ],
        1.0,
    );
    Ok(())
}

async fn collect_replica(conn: &mut Conn, out: &mut Out) -> Result<(), DbError> {
    // MySQL 8.4 dropped SHOW SLAVE STATUS; MariaDB and older MySQL lack SHOW REPLICA STATUS.
    let rows = match rows(conn, "SHOW SLAVE STATUS", 64).await {
        Ok((r, _)) => r,
        Err(DbError::Query(_)) => rows(conn, "SHOW REPLICA STATUS", 64).await?.0,
        Err(e) => return Err(e),
    };
    for row in &rows {
        let get = |names: &[&str]| {
            row.iter()
                .find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
                .map(|(_, v)| v.clone())
        };
        let master_host = get(&["Master_Host", "Source_Host"])
            .map(|c| c.as_label())
            .unwrap_or_default();
        let channel = get(&["Channel_Name", "Connection_name"])
            .map(|c| c.as_label())
            .unwrap_or_default();
        let labels = [
            ("channel_name", channel.as_str()),
            ("master_host", master_host.as_str()),
        ];
        // NULL while the SQL thread is stopped: leave the sample out rather than invent 0.
        if let Some(v) =
            get(&["Seconds_Behind_Master", "Seconds_Behind_Source"]).and_then(|c| c.as_value())
        {
            out.gauge(
                "mysql_slave_status_seconds_behind_master",
                "Seconds the replica is behind its source.",
                &labels,
                v,
            );
        }
        if let Some(v) = get(&["Slave_IO_Running", "Replica_IO_Running"]).and_then(|c| c.as_value())
        {
            out.gauge(
                "mysql_slave_status_slave_io_running",
                "Whether the replica I/O thread is running.",
                &labels,
                v,
            );
        }
        if let Some(v) =
            get(&["Slave_SQL_Running", "Replica_SQL_Running"]).and_then(|c| c.as_value())
        {
            out.gauge(
                "mysql_slave_status_slave_sql_running",
                "Whether the replica SQL thread is running.",
                &labels,
                v,
            );
        }
    }
    Ok(())
}

impl Engine for Mysql {
    type Conn = Conn;

    fn prefix(&self) -> &'static str {
        "mysql"
    }

    fn connect(&self) -> BoxFuture<'_, Result<Conn, DbError>> {
        Box::pin(async move {
            Conn::new(self.opts.clone())
                .await
                .map_err(|e| classify(e, true))
        })
    }

    fn health<'a>(&'a self, conn: &'a mut Conn) -> BoxFuture<'a, Result<(), DbError>> {
        Box::pin(async move {
            conn.query_drop("SELECT 1")
                .await
                .map_err(|e| match classify(e, false) {
                    DbError::Query(m) => DbError::Broken(m),
                    e => e,
                })
        })
    }

    fn collect<'a>(
        &'a self,
        conn: &'a mut Conn,
        deadline: ScrapeDeadline,
        out: &'a mut Out,
    ) -> BoxFuture<'a, Vec<CollectorOutcome>> {
        Box::pin(async move {
            let mut outcomes: Vec<CollectorOutcome> = Vec::with_capacity(3);
            outcomes.push((
                "global_status",
                within(deadline, collect_status(conn, out)).await,
            ));
            outcomes.push((
                "global_variables",
                within(deadline, collect_variables(conn, out)).await,
            ));
            outcomes.push((
                "slave_status",
                within(deadline, collect_replica(conn, out)).await,
            ));
            outcomes
        })
    }

    fn query<'a>(
        &'a self,
        conn: &'a mut Conn,
        sql: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<(Vec<Row>, bool), DbError>> {
        Box::pin(rows(conn, sql, limit))
    }
}
