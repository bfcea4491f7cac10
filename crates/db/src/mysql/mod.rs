//! MySQL and MariaDB: metrics named as mysqld_exporter names them (`mysql_` prefix).

mod global_status;
mod global_variables;
mod info_schema;
mod innodb_cmp;
mod perf_schema;
mod slave_status;
mod value;

use crate::config::Resolved;
use crate::engine::{within, Cell, CollectorOutcome, DbError, Engine, Out, Row};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, SslOpts, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use watchkeeper_core::{BoxFuture, ScrapeDeadline};

/// The MySQL engine of one target.
pub struct Mysql {
    opts: Opts,
    /// Optional collectors turned on in the configuration.
    processlist: bool,
    tables: bool,
    events_statements: bool,
    table_io_waits: bool,
    /// Which of [`slave_status::QUERIES`] the server understood last.
    replica_syntax: AtomicUsize,
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
            replica_syntax: AtomicUsize::new(0),
            processlist: t.collect.iter().any(|c| c == "info_schema.processlist"),
            tables: t.collect.iter().any(|c| c == "info_schema.tables"),
            events_statements: t
                .collect
                .iter()
                .any(|c| c == "perf_schema.eventsstatements"),
            table_io_waits: t.collect.iter().any(|c| c == "perf_schema.tableiowaits"),
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

/// Reads a two-column `SHOW ...` answer as (name, value) text pairs.
fn pairs(rows: &[Row]) -> impl Iterator<Item = (&str, &str)> {
    rows.iter().filter_map(|row| {
        let name = match &row.first()?.1 {
            Cell::Text(t) => t.as_str(),
            _ => return None,
        };
        let value = match &row.get(1)?.1 {
            Cell::Text(t) => t.as_str(),
            _ => return None,
        };
        Some((name, value))
    })
}

/// At most this many rows are read from one `SHOW` statement; the rest are discarded (and the
/// cut logged once). Real servers have about a thousand.
const MAX_ROWS: usize = 20_000;

async fn show(conn: &mut Conn, sql: &'static str) -> Result<Vec<Row>, DbError> {
    let (rows, truncated) = rows(conn, sql, MAX_ROWS).await?;
    if truncated {
        crate::sanitize::warn_once(&format!("rows:{sql}"), || {
            format!("{sql}: more than {MAX_ROWS} rows; the rest are ignored")
        });
    }
    Ok(rows)
}

async fn collect_status(conn: &mut Conn, out: &mut Out) -> Result<(), DbError> {
    let rows = show(conn, "SHOW GLOBAL STATUS").await?;
    global_status::to_samples(pairs(&rows), out);
    Ok(())
}

async fn collect_variables(conn: &mut Conn, out: &mut Out) -> Result<(), DbError> {
    let rows = show(conn, "SHOW GLOBAL VARIABLES").await?;
    global_variables::to_samples(pairs(&rows), out);
    Ok(())
}

async fn collect_processlist(conn: &mut Conn, out: &mut Out) -> Result<(), DbError> {
    let (rows, _) = rows(conn, info_schema::PROCESSLIST_SQL, 10_000).await?;
    info_schema::processlist(&rows, out);
    Ok(())
}

async fn collect_tables(conn: &mut Conn, out: &mut Out) -> Result<(), DbError> {
    let (rows, _) = rows(conn, info_schema::TABLES_SQL, info_schema::MAX_TABLES + 1).await?;
    info_schema::tables(&rows, out);
    Ok(())
}

async fn collect_events_statements(conn: &mut Conn, out: &mut Out) -> Result<(), DbError> {
    let (rows, _) = rows(
        conn,
        perf_schema::EVENTS_STATEMENTS_SQL,
        perf_schema::DIGEST_LIMIT,
    )
    .await?;
    perf_schema::events_statements(&rows, out);
    Ok(())
}

async fn collect_table_io_waits(conn: &mut Conn, out: &mut Out) -> Result<(), DbError> {
    let (rows, _) = rows(conn, perf_schema::TABLE_IO_WAITS_SQL, 5_000).await?;
    perf_schema::table_io_waits(&rows, out);
    Ok(())
}

async fn collect_innodb_cmp(conn: &mut Conn, out: &mut Out) -> Result<(), DbError> {
    let (rows, _) = rows(conn, innodb_cmp::SQL, 1024).await?;
    innodb_cmp::to_samples(&rows, out);
    Ok(())
}

async fn collect_replica(
    conn: &mut Conn,
    syntax: &AtomicUsize,
    out: &mut Out,
) -> Result<(), DbError> {
    // MariaDB knows SHOW ALL SLAVES STATUS (every channel), MySQL before 8.4 SHOW SLAVE STATUS,
    // 8.4 only SHOW REPLICA STATUS. The one that worked is remembered, so a scrape costs one
    // query once it is known.
    let start = syntax.load(Ordering::Relaxed);
    let mut last = None;
    for (i, sql) in slave_status::QUERIES.iter().enumerate().skip(start) {
        match rows(conn, sql, 64).await {
            Ok((r, _)) => {
                syntax.store(i, Ordering::Relaxed);
                slave_status::to_samples(&r, out);
                return Ok(());
            }
            Err(DbError::Query(m)) => last = Some(DbError::Query(m)),
            Err(e) => return Err(e),
        }
    }
    syntax.store(0, Ordering::Relaxed);
    Err(last.unwrap_or_else(|| DbError::Query("no replica status statement".into())))
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
            let mut outcomes: Vec<CollectorOutcome> = Vec::with_capacity(4);
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
                within(deadline, collect_replica(conn, &self.replica_syntax, out)).await,
            ));
            outcomes.push((
                "info_schema_innodb_cmp",
                within(deadline, collect_innodb_cmp(conn, out)).await,
            ));
            if self.processlist {
                outcomes.push((
                    "info_schema.processlist",
                    within(deadline, collect_processlist(conn, out)).await,
                ));
            }
            if self.events_statements {
                outcomes.push((
                    "perf_schema.eventsstatements",
                    within(deadline, collect_events_statements(conn, out)).await,
                ));
            }
            if self.table_io_waits {
                outcomes.push((
                    "perf_schema.tableiowaits",
                    within(deadline, collect_table_io_waits(conn, out)).await,
                ));
            }
            if self.tables {
                outcomes.push((
                    "info_schema.tables",
                    within(deadline, collect_tables(conn, out)).await,
                ));
            }
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
