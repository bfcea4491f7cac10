//! PostgreSQL: metrics named as postgres_exporter names them (`pg_` prefix).
//!
//! Queries use the simple query protocol: one round trip each, every value arrives as text, and
//! nothing is left prepared on the server between scrapes. All collectors' queries are issued
//! together and pipelined on the one session.

mod settings;
mod stat_bgwriter;
mod stat_database;
mod stat_statements;
mod stat_user_tables;

use crate::config::Resolved;
use crate::engine::{within, Cell, CollectorOutcome, DbError, Engine, Out, Row};
use futures_util::StreamExt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, SimpleQueryMessage};
use watchkeeper_core::metrics::MetricType;
use watchkeeper_core::{BoxFuture, ScrapeDeadline};

/// The PostgreSQL engine of one target.
pub struct Postgres {
    config: tokio_postgres::Config,
    /// Set when `tls.server_name` differs from the host: the host is then only dialled, and the
    /// certificate is checked against this name (libpq's `host` + `hostaddr`).
    tls_name: Option<TlsName>,
    tls: Option<Arc<rustls::ClientConfig>>,
    sizes: Mutex<SizeCache>,
    /// `server_version_num` as last read (0: not yet), to pick version-specific queries.
    version: AtomicU32,
    /// The optional `stat_statements` collector is on.
    stat_statements: bool,
}

/// Where to connect when the certificate name differs from the address.
struct TlsName {
    host: String,
    port: u16,
    server_name: String,
}

/// An open session. Dropping it stops the connection task at once, so a session stuck on a
/// server that stopped answering does not linger.
pub struct PgConn {
    client: Client,
    task: JoinHandle<()>,
}

impl Drop for PgConn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Postgres {
    /// The engine for a resolved target (`tls` already built from the target's options).
    pub fn new(target: &Resolved, tls: Option<Arc<rustls::ClientConfig>>) -> Self {
        let t = &target.config;
        let tls_name = t
            .tls
            .as_ref()
            .and_then(|o| o.server_name.clone())
            .filter(|name| tls.is_some() && *name != t.host)
            .map(|server_name| TlsName {
                host: t.host.clone(),
                port: target.port,
                server_name,
            });
        let mut config = tokio_postgres::Config::new();
        if tls_name.is_none() {
            config.host(&t.host);
        }
        config
            .port(target.port)
            .user(t.user.as_deref().unwrap_or("postgres"))
            .dbname(t.database.as_deref().unwrap_or("postgres"))
            .application_name("watchkeeper-db")
            .connect_timeout(t.connect_timeout.get())
            .keepalives(true)
            .ssl_mode(if tls.is_some() {
                tokio_postgres::config::SslMode::Require
            } else {
                tokio_postgres::config::SslMode::Disable
            });
        if let Some(p) = &target.password {
            config.password(p.expose());
        }
        Self {
            config,
            tls_name,
            tls,
            sizes: Mutex::new(SizeCache::default()),
            version: AtomicU32::new(0),
            stat_statements: t.collect.iter().any(|c| c == "stat_statements"),
        }
    }
}

fn classify(e: tokio_postgres::Error, connecting: bool) -> DbError {
    let text = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => crate::engine::error_chain(&e),
    };
    match e.code() {
        Some(c)
            if *c == SqlState::INVALID_PASSWORD
                || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
        {
            DbError::Auth(text)
        }
        _ if connecting => DbError::Connect(text),
        _ if e.is_closed() || e.as_db_error().is_none() => DbError::Broken(text),
        _ => DbError::Query(text),
    }
}

/// Runs one statement and returns its rows as text cells.
async fn rows(client: &Client, sql: &str) -> Result<Vec<Vec<Option<String>>>, DbError> {
    let msgs = client
        .simple_query(sql)
        .await
        .map_err(|e| classify(e, false))?;
    Ok(msgs
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect())
}

/// Runs one statement and returns its column names and rows as text cells.
async fn named_rows(
    client: &Client,
    sql: &str,
) -> Result<(Vec<String>, Vec<Vec<Option<String>>>), DbError> {
    let msgs = client
        .simple_query(sql)
        .await
        .map_err(|e| classify(e, false))?;
    let mut columns = Vec::new();
    let mut out = Vec::new();
    for m in msgs {
        match m {
            SimpleQueryMessage::RowDescription(cols) => {
                columns = cols.iter().map(|c| c.name().to_string()).collect();
            }
            SimpleQueryMessage::Row(r) => {
                if columns.is_empty() {
                    columns = r.columns().iter().map(|c| c.name().to_string()).collect();
                }
                out.push((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect());
            }
            _ => {}
        }
    }
    Ok((columns, out))
}

async fn collect_settings(c: &Client, out: &mut Out) -> Result<(), DbError> {
    let r = rows(c, settings::SQL).await?;
    settings::to_samples(
        r.iter().map(|row| {
            let t = |i: usize| row.get(i).and_then(|c| c.as_deref()).unwrap_or("");
            (t(0), t(1), t(2), t(3), t(4))
        }),
        out,
    );
    Ok(())
}

/// The server's `server_version_num`, as the info collector last read it (asked directly on
/// an engine's first scrape).
async fn server_version(c: &Client, version: &AtomicU32) -> Result<u32, DbError> {
    let v = version.load(Ordering::Relaxed);
    if v != 0 {
        return Ok(v);
    }
    let r = rows(c, "SHOW server_version_num").await?;
    Ok(r.first()
        .and_then(|row| row.first())
        .and_then(|c| c.as_deref())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0))
}

async fn collect_stat_statements(
    c: &Client,
    version: &AtomicU32,
    out: &mut Out,
) -> Result<(), DbError> {
    let v = server_version(c, version).await?;
    let r = rows(c, &stat_statements::sql_for(v)).await?;
    stat_statements::to_samples(&r, out);
    Ok(())
}

async fn collect_bgwriter(c: &Client, version: &AtomicU32, out: &mut Out) -> Result<(), DbError> {
    let v = server_version(c, version).await?;
    let r = rows(c, stat_bgwriter::sql_for(v)).await?;
    if let Some(row) = r.first() {
        stat_bgwriter::to_samples(row, out);
    }
    Ok(())
}

async fn collect_user_tables(c: &Client, out: &mut Out) -> Result<(), DbError> {
    let r = rows(c, stat_user_tables::SQL).await?;
    stat_user_tables::to_samples(&r, out);
    Ok(())
}

fn num(v: &Option<String>) -> f64 {
    v.as_deref()
        .and_then(|s| match s {
            "t" => Some(1.0),
            "f" => Some(0.0),
            s => s.parse().ok(),
        })
        .unwrap_or(f64::NAN)
}

fn text(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

/// `150020` -> `15.20.0`, `90624` -> `9.6.24` (postgres_exporter's `short_version`).
fn short_version(num: &str) -> String {
    let Ok(n) = num.trim().parse::<u32>() else {
        return String::new();
    };
    if n >= 100_000 {
        format!("{}.{}.0", n / 10_000, n % 10_000)
    } else {
        format!("{}.{}.{}", n / 10_000, (n / 100) % 100, n % 100)
    }
}

const INFO_SQL: &str = "SELECT version(), current_setting('server_version_num'), \
 extract(epoch FROM pg_postmaster_start_time()), pg_is_in_recovery(), \
 CASE WHEN pg_is_in_recovery() THEN greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp())) ELSE 0 END";

const SIZE_SQL: &str = "SELECT datname, pg_database_size(oid) FROM pg_database \
 WHERE has_database_privilege(oid, 'CONNECT')";

/// How long database sizes are reused. `pg_database_size` walks every file of every database
/// and is by far the most expensive query of a scrape; sizes move slowly, so they are measured
/// at most this often (and at once when a database appears).
const SIZE_REFRESH: Duration = Duration::from_secs(15);

/// Database sizes from the last measurement.
#[derive(Default)]
struct SizeCache {
    measured: Option<Instant>,
    sizes: Vec<(String, f64)>,
}

const ACTIVITY_SQL: &str = "SELECT d.datname, s.state, coalesce(a.n, 0), coalesce(a.max_tx, 0) \
 FROM pg_database d \
 CROSS JOIN (VALUES ('active'), ('idle'), ('idle in transaction'), ('idle in transaction (aborted)'), \
   ('fastpath function call'), ('disabled')) AS s(state) \
 LEFT JOIN (SELECT datname, state, count(*) AS n, \
   max(extract(epoch FROM now() - xact_start)) AS max_tx \
   FROM pg_stat_activity GROUP BY datname, state) a \
 ON a.datname = d.datname AND a.state = s.state \
 ORDER BY 1, 2";

const LOCKS_SQL: &str = "SELECT d.datname, m.mode, coalesce(l.n, 0) \
 FROM pg_database d \
 CROSS JOIN (VALUES ('accessexclusivelock'), ('accesssharelock'), ('exclusivelock'), \
   ('rowexclusivelock'), ('rowsharelock'), ('sharelock'), ('sharerowexclusivelock'), \
   ('shareupdateexclusivelock'), ('sireadlock')) AS m(mode) \
 LEFT JOIN (SELECT database, lower(mode) AS mode, count(*) AS n FROM pg_locks \
   WHERE database IS NOT NULL GROUP BY database, lower(mode)) l \
 ON l.database = d.oid AND l.mode = m.mode \
 ORDER BY 1, 2";

/// postgres_exporter 0.11 labels these samples `slot_name` with the WAL sender's pid (its
/// column mapping puts the pid there); the same is done here so series and dashboards match.
const REPLICATION_SQL: &str = "SELECT coalesce(application_name, ''), coalesce(host(client_addr), ''), \
 coalesce(state, ''), \
 CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) END, \
 CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') END, \
 pid::text, floor(extract(epoch FROM reply_time)) \
 FROM pg_stat_replication";

const SLOTS_SQL: &str = "SELECT slot_name, coalesce(database, ''), active, \
 CASE WHEN pg_is_in_recovery() THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), restart_lsn) \
 ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) END \
 FROM pg_replication_slots";

const ARCHIVER_SQL: &str = "SELECT archived_count, failed_count, \
 extract(epoch FROM now() - last_archived_time), extract(epoch FROM last_archived_time) \
 FROM pg_stat_archiver";

async fn collect_info(c: &Client, version: &AtomicU32, out: &mut Out) -> Result<(), DbError> {
    let r = rows(c, INFO_SQL).await?;
    let Some(row) = r.first() else {
        return Err(DbError::Query("no row from version query".into()));
    };
    if let Some(v) = row[1].as_deref().and_then(|v| v.trim().parse().ok()) {
        version.store(v, Ordering::Relaxed);
    }
    out.add(
        "pg_static",
        "Version string as reported by postgres.",
        MetricType::Untyped,
        &[
            ("short_version", &short_version(text(&row[1]))),
            ("version", text(&row[0])),
        ],
        1.0,
    );
    out.gauge(
        "pg_postmaster_start_time_seconds",
        "Time at which postmaster started, in Unix seconds.",
        &[],
        num(&row[2]),
    );
    out.gauge(
        "pg_replication_is_replica",
        "Indicates if the server is a replica.",
        &[],
        num(&row[3]),
    );
    out.gauge(
        "pg_replication_lag_seconds",
        "Replication lag behind master in seconds (0 on a primary).",
        &[],
        match num(&row[4]) {
            v if v.is_nan() => 0.0,
            v => v,
        },
    );
    Ok(())
}

async fn collect_database(
    c: &Client,
    cache: &Mutex<SizeCache>,
    out: &mut Out,
) -> Result<(), DbError> {
    let (columns, stats) = named_rows(c, stat_database::SQL).await?;
    let names = stat_database::to_samples(&columns, &stats, out);
    let cached = {
        let cache = cache.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = cache.measured.is_some_and(|t| t.elapsed() < SIZE_REFRESH);
        let complete = names
            .iter()
            .all(|n| cache.sizes.iter().any(|(d, _)| d == n));
        (fresh && complete).then(|| cache.sizes.clone())
    };
    let sizes = match cached {
        Some(s) => s,
        None => {
            let sizes: Vec<(String, f64)> = rows(c, SIZE_SQL)
                .await?
                .iter()
                .map(|r| (text(&r[0]).to_string(), num(&r[1])))
                .collect();
            let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
            cache.measured = Some(Instant::now());
            cache.sizes = sizes.clone();
            sizes
        }
    };
    for (datname, size) in &sizes {
        out.gauge(
            "pg_database_size_bytes",
            "Disk space used by the database.",
            &[("datname", datname)],
            *size,
        );
    }
    Ok(())
}

async fn collect_activity(c: &Client, out: &mut Out) -> Result<(), DbError> {
    for row in rows(c, ACTIVITY_SQL).await? {
        let labels = [("datname", text(&row[0])), ("state", text(&row[1]))];
        out.gauge(
            "pg_stat_activity_count",
            "Number of connections in this state.",
            &labels,
            num(&row[2]),
        );
        out.gauge(
            "pg_stat_activity_max_tx_duration",
            "Max duration in seconds any active transaction has been running.",
            &labels,
            num(&row[3]).max(0.0),
        );
    }
    Ok(())
}

async fn collect_locks(c: &Client, out: &mut Out) -> Result<(), DbError> {
    for row in rows(c, LOCKS_SQL).await? {
        out.gauge(
            "pg_locks_count",
            "Number of locks.",
            &[("datname", text(&row[0])), ("mode", text(&row[1]))],
            num(&row[2]),
        );
    }
    Ok(())
}

async fn collect_replication(c: &Client, out: &mut Out) -> Result<(), DbError> {
    let (senders, slots) = tokio::join!(rows(c, REPLICATION_SQL), rows(c, SLOTS_SQL));
    for row in slots? {
        let labels = [("database", text(&row[1])), ("slot_name", text(&row[0]))];
        out.gauge(
            "pg_replication_slots_active",
            "Flag indicating if the slot is active",
            &labels,
            num(&row[2]),
        );
        out.gauge(
            "pg_replication_slots_pg_wal_lsn_diff",
            "Replication lag in bytes",
            &labels,
            num(&row[3]),
        );
    }
    for row in senders? {
        let labels = [
            ("application_name", text(&row[0])),
            ("client_addr", text(&row[1])),
            ("slot_name", text(&row[5])),
            ("state", text(&row[2])),
        ];
        if row[6].is_some() {
            out.add(
                "pg_stat_replication_reply_time",
                "Unknown metric from pg_stat_replication",
                MetricType::Untyped,
                &labels,
                num(&row[6]),
            );
        }
        if row[3].is_some() {
            out.gauge(
                "pg_stat_replication_pg_wal_lsn_diff",
                "Lag in bytes between the primary's current WAL position and the replica's replay position.",
                &labels,
                num(&row[3]),
            );
        }
        if row[4].is_some() {
            out.gauge(
                "pg_stat_replication_pg_current_wal_lsn_bytes",
                "The primary's current WAL position in bytes.",
                &labels,
                num(&row[4]),
            );
        }
    }
    Ok(())
}

async fn collect_archiver(c: &Client, out: &mut Out) -> Result<(), DbError> {
    let r = rows(c, ARCHIVER_SQL).await?;
    let Some(row) = r.first() else {
        return Ok(());
    };
    out.counter(
        "pg_stat_archiver_archived_count",
        "Number of WAL files that have been successfully archived.",
        &[],
        num(&row[0]),
    );
    out.counter(
        "pg_stat_archiver_failed_count",
        "Number of failed attempts for archiving WAL files.",
        &[],
        num(&row[1]),
    );
    out.gauge(
        "pg_stat_archiver_last_archive_age",
        "Time in seconds since last WAL segment was successfully archived.",
        &[],
        num(&row[2]),
    );
    out.gauge(
        "pg_stat_archiver_last_archive_timestamp_seconds",
        "Time of the last successful WAL archive, in Unix seconds.",
        &[],
        num(&row[3]),
    );
    Ok(())
}

impl Postgres {
    /// With a distinct `tls.server_name`: the config for this connect, one `host` (the name to
    /// verify) per resolved address of the real host. `None` uses the config as built.
    async fn dial_config(&self) -> Result<Option<tokio_postgres::Config>, DbError> {
        let Some(n) = &self.tls_name else {
            return Ok(None);
        };
        let addrs = tokio::net::lookup_host((n.host.as_str(), n.port))
            .await
            .map_err(|e| DbError::Connect(format!("resolving {}: {e}", n.host)))?;
        let mut config = self.config.clone();
        for addr in addrs {
            config.host(&n.server_name).hostaddr(addr.ip());
        }
        if config.get_hostaddrs().is_empty() {
            return Err(DbError::Connect(format!("{} has no address", n.host)));
        }
        Ok(Some(config))
    }
}

impl Engine for Postgres {
    type Conn = PgConn;

    fn prefix(&self) -> &'static str {
        "pg"
    }

    fn connect(&self) -> BoxFuture<'_, Result<PgConn, DbError>> {
        Box::pin(async move {
            let (client, task) = match &self.tls {
                Some(tls) => {
                    let tls = tokio_postgres_rustls::MakeRustlsConnect::new((**tls).clone());
                    let config = self.dial_config().await?;
                    let (client, conn) = config
                        .as_ref()
                        .unwrap_or(&self.config)
                        .connect(tls)
                        .await
                        .map_err(|e| classify(e, true))?;
                    (client, tokio::spawn(async move { drop(conn.await) }))
                }
                None => {
                    let (client, conn) = self
                        .config
                        .connect(tokio_postgres::NoTls)
                        .await
                        .map_err(|e| classify(e, true))?;
                    (client, tokio::spawn(async move { drop(conn.await) }))
                }
            };
            Ok(PgConn { client, task })
        })
    }

    fn health<'a>(&'a self, conn: &'a mut PgConn) -> BoxFuture<'a, Result<(), DbError>> {
        Box::pin(async move {
            rows(&conn.client, "SELECT 1")
                .await
                .map(drop)
                .map_err(|e| match e {
                    DbError::Query(m) => DbError::Broken(m),
                    e => e,
                })
        })
    }

    fn collect<'a>(
        &'a self,
        conn: &'a mut PgConn,
        deadline: ScrapeDeadline,
        out: &'a mut Out,
    ) -> BoxFuture<'a, Vec<CollectorOutcome>> {
        Box::pin(async move {
            let c = &conn.client;
            let target = out.target().to_string();
            let mut parts: Vec<Out> = (0..9).map(|_| Out::new(&target)).collect();
            let mut statements = Out::new(&target);
            let [info, database, activity, locks, replication, archiver, settings, bgwriter, tables] =
                &mut parts[..]
            else {
                return Vec::new();
            };
            // Issued together, the queries are pipelined on the one session: one network
            // round trip instead of nine, each still with its own success flag.
            let (
                r_info,
                r_database,
                r_activity,
                r_locks,
                r_replication,
                r_archiver,
                r_settings,
                r_bgwriter,
                r_tables,
                r_statements,
            ) = tokio::join!(
                within(deadline, collect_info(c, &self.version, info)),
                within(deadline, collect_database(c, &self.sizes, database)),
                within(deadline, collect_activity(c, activity)),
                within(deadline, collect_locks(c, locks)),
                within(deadline, collect_replication(c, replication)),
                within(deadline, collect_archiver(c, archiver)),
                within(deadline, collect_settings(c, settings)),
                within(deadline, collect_bgwriter(c, &self.version, bgwriter)),
                within(deadline, collect_user_tables(c, tables)),
                async {
                    if self.stat_statements {
                        let r = collect_stat_statements(c, &self.version, &mut statements);
                        Some(within(deadline, r).await)
                    } else {
                        None
                    }
                },
            );
            for part in parts {
                out.merge(part);
            }
            out.merge(statements);
            let mut outcomes = vec![
                ("info", r_info),
                ("database", r_database),
                ("activity", r_activity),
                ("locks", r_locks),
                ("replication", r_replication),
                ("archiver", r_archiver),
                ("settings", r_settings),
                ("stat_bgwriter", r_bgwriter),
                ("stat_user_tables", r_tables),
            ];
            if let Some(r) = r_statements {
                outcomes.push(("stat_statements", r));
            }
            outcomes
        })
    }

    fn query<'a>(
        &'a self,
        conn: &'a mut PgConn,
        sql: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<(Vec<Row>, bool), DbError>> {
        Box::pin(async move {
            // Streamed, so rows past the limit are never buffered here.
            let stream = conn
                .client
                .simple_query_raw(sql)
                .await
                .map_err(|e| classify(e, false))?;
            let mut stream = std::pin::pin!(stream);
            let mut out = Vec::new();
            let mut truncated = false;
            while let Some(msg) = stream.next().await {
                if let SimpleQueryMessage::Row(r) = msg.map_err(|e| classify(e, false))? {
                    if out.len() == limit {
                        truncated = true;
                        break;
                    }
                    let row: Row = r
                        .columns()
                        .iter()
                        .enumerate()
                        .map(|(i, col)| {
                            let cell = match r.get(i) {
                                None => Cell::Null,
                                Some(s) => Cell::Text(s.to_string()),
                            };
                            (col.name().to_string(), cell)
                        })
                        .collect();
                    out.push(row);
                }
            }
            Ok((out, truncated))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_version_follows_postgres_exporter() {
        assert_eq!(short_version("150020"), "15.20.0");
        assert_eq!(short_version("90624"), "9.6.24");
        assert_eq!(short_version("x"), "");
    }
}
