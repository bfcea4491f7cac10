//! One target: its connection pool, the `up` logic and single-flight scraping.
//!
//! A target holds at most `pool_size` connections, reuses them between scrapes, throws a
//! connection away after any error that may have left it in an unknown state, and reopens it on
//! the next use. Every step runs under the scrape deadline, so a server that stops answering
//! costs one deadline and yields `<prefix>_up 0`, never a hung scrape.
//!
//! Concurrent scrapes of the same target share one run (single flight): a storm of scrapes
//! costs the database one set of queries, and never more connections than configured.

use crate::config::{Kind, Resolved};
use crate::custom_query;
use crate::engine::{within, DbError, Engine, Out};
use futures_util::future::{FutureExt, Shared};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use watchkeeper_core::metrics::{MetricSet, MetricType};
use watchkeeper_core::{BoxFuture, CollectError, Collector, ScrapeContext, ScrapeDeadline};

/// A connection with the time it was opened.
struct Pooled<C> {
    conn: C,
    opened: Instant,
}

/// A connection borrowed from the pool. Dropping it without [`Pool::give_back`] closes the
/// connection (the safe default when a scrape is cancelled half-way).
struct Lease<C> {
    conn: Option<Pooled<C>>,
    fresh: bool,
    _permit: OwnedSemaphorePermit,
}

/// At most `size` connections, reused.
struct Pool<C> {
    idle: Mutex<Vec<Pooled<C>>>,
    permits: Arc<Semaphore>,
    max_age: Duration,
}

impl<C: Send + 'static> Pool<C> {
    fn new(size: usize, max_age: Duration) -> Self {
        Self {
            idle: Mutex::new(Vec::with_capacity(size)),
            permits: Arc::new(Semaphore::new(size)),
            max_age,
        }
    }

    /// Takes a permit, then an idle connection young enough, or opens one with `connect`.
    async fn acquire<E: Engine<Conn = C>>(
        &self,
        engine: &E,
        deadline: ScrapeDeadline,
        connect_deadline: ScrapeDeadline,
    ) -> Result<Lease<C>, DbError> {
        let permit = within(deadline, async {
            Arc::clone(&self.permits)
                .acquire_owned()
                .await
                .map_err(|_| DbError::Connect("pool closed".into()))
        })
        .await?;
        let reused = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.retain(|p| p.opened.elapsed() < self.max_age);
            idle.pop()
        };
        if let Some(p) = reused {
            return Ok(Lease {
                conn: Some(p),
                fresh: false,
                _permit: permit,
            });
        }
        let conn = within(connect_deadline.min(deadline), engine.connect()).await?;
        Ok(Lease {
            conn: Some(Pooled {
                conn,
                opened: Instant::now(),
            }),
            fresh: true,
            _permit: permit,
        })
    }

    fn give_back(&self, mut lease: Lease<C>) {
        if let Some(p) = lease.conn.take() {
            self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(p);
        }
    }

    fn idle_count(&self) -> usize {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl<C> Lease<C> {
    fn conn(&mut self) -> Option<&mut C> {
        self.conn.as_mut().map(|p| &mut p.conn)
    }
}

/// What the exporter needs from a target, whatever its engine.
pub trait TargetHandle: Send + Sync + 'static {
    /// The target's name.
    fn name(&self) -> &str;
    /// The engine kind.
    fn kind(&self) -> Kind;
    /// The resolved configuration (used to keep unchanged targets across reloads).
    fn resolved(&self) -> &Resolved;
    /// Why the last scrape found the target down (password removed), if it did.
    fn last_error(&self) -> Option<String>;
    /// Scrapes the target; always returns samples (at least `<prefix>_up`).
    fn scrape(&self, deadline: ScrapeDeadline) -> BoxFuture<'_, MetricSet>;
}

type SharedScrape = Shared<BoxFuture<'static, Arc<MetricSet>>>;

/// A target of engine `E`.
pub struct Target<E: Engine> {
    inner: Arc<Inner<E>>,
    next_id: std::sync::atomic::AtomicU64,
}

struct Inner<E: Engine> {
    engine: E,
    resolved: Resolved,
    pool: Pool<E::Conn>,
    last_error: Mutex<Option<String>>,
    /// The scrape in progress, shared by every concurrent scraper of this target.
    inflight: Mutex<Option<(u64, SharedScrape)>>,
}

impl<E: Engine> Target<E> {
    /// A target with an empty pool; connections open on first scrape.
    pub fn new(engine: E, resolved: Resolved) -> Self {
        let pool = Pool::new(
            resolved.config.pool_size,
            resolved.config.max_connection_age.get(),
        );
        Self {
            inner: Arc::new(Inner {
                engine,
                resolved,
                pool,
                last_error: Mutex::new(None),
                inflight: Mutex::new(None),
            }),
            next_id: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Connections currently idle in the pool (for tests and the landing page).
    pub fn idle_connections(&self) -> usize {
        self.inner.pool.idle_count()
    }

    async fn scrape_shared(&self, deadline: ScrapeDeadline) -> MetricSet {
        let fut = {
            let mut slot = self
                .inner
                .inflight
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            match slot.as_ref() {
                Some((_, fut)) => fut.clone(),
                None => {
                    let id = self
                        .next_id
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    // The run is its own task: a scraper that hangs up does not cancel it
                    // half-way for the others, and the task clears the slot when done.
                    let inner = Arc::clone(&self.inner);
                    let task = tokio::spawn(async move {
                        let set = Arc::new(inner.scrape_once(deadline).await);
                        let mut slot = inner.inflight.lock().unwrap_or_else(|p| p.into_inner());
                        if matches!(slot.as_ref(), Some((cur, _)) if *cur == id) {
                            *slot = None;
                        }
                        set
                    });
                    let fut: BoxFuture<'static, Arc<MetricSet>> = Box::pin(async move {
                        task.await.unwrap_or_else(|_| Arc::new(MetricSet::new()))
                    });
                    let fut = fut.shared();
                    *slot = Some((id, fut.clone()));
                    fut
                }
            }
        };
        // A joiner may have an earlier deadline than the run it joined.
        match deadline.run(fut).await {
            Some(set) => (*set).clone(),
            None => {
                let mut out = Out::new(&self.inner.resolved.config.name);
                self.inner.report_down(&mut out, &DbError::Timeout);
                out.into_set()
            }
        }
    }
}

impl<E: Engine> Inner<E> {
    fn name(&self) -> &str {
        &self.resolved.config.name
    }

    /// Error text with the password removed, should a driver ever echo it.
    fn scrub(&self, e: &DbError) -> String {
        let text = e.to_string();
        match &self.resolved.password {
            Some(p) if !p.is_empty() => text.replace(p.expose(), "<redacted>"),
            _ => text,
        }
    }

    fn report_down(&self, out: &mut Out, e: &DbError) {
        let prefix = self.engine.prefix();
        let reason = self.scrub(e);
        tracing::warn!(target_name = self.name(), engine = prefix, error = %reason, "target down");
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
        out.gauge(
            format!("{prefix}_up"),
            "Whether the last connection, authentication and health query succeeded.",
            &[],
            0.0,
        );
    }

    async fn scrape_once(&self, deadline: ScrapeDeadline) -> MetricSet {
        // Keep a little time to assemble the answer before the caller's deadline.
        let margin = deadline.remaining().min(Duration::from_millis(1000)) / 10;
        let deadline = ScrapeDeadline::after(deadline.remaining().saturating_sub(margin));
        let mut out = Out::new(self.name());
        let prefix = self.engine.prefix();
        let connect_deadline = ScrapeDeadline::after(self.resolved.config.connect_timeout.get());

        let mut lease = match self
            .healthy_lease(deadline, connect_deadline, &mut out)
            .await
        {
            Ok(l) => l,
            Err(e) => {
                self.report_down(&mut out, &e);
                return out.into_set();
            }
        };
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
        out.gauge(
            format!("{prefix}_up"),
            "Whether the last connection, authentication and health query succeeded.",
            &[],
            1.0,
        );

        let mut poisoned = false;
        if let Some(conn) = lease.conn() {
            let outcomes = self.engine.collect(conn, deadline, &mut out).await;
            for (collector, result) in outcomes {
                if let Err(e) = &result {
                    tracing::warn!(target_name = self.name(), engine = prefix, collector, error = %self.scrub(e), "collector failed");
                    poisoned |= e.poisons_connection();
                }
                out.gauge(
                    format!("{prefix}_scrape_collector_success"),
                    "Whether a built-in collector of the exporter succeeded.",
                    &[("collector", collector)],
                    if result.is_ok() { 1.0 } else { 0.0 },
                );
            }
        }
        if poisoned {
            drop(lease);
        } else {
            self.pool.give_back(lease);
        }

        let queries = &self.resolved.config.custom_queries;
        if !queries.is_empty() {
            let runs = queries.iter().map(|q| async move {
                let q_deadline = ScrapeDeadline::after(q.timeout.get()).min(deadline);
                let mut lease = self
                    .pool
                    .acquire(&self.engine, q_deadline, connect_deadline)
                    .await?;
                let conn = lease
                    .conn()
                    .ok_or_else(|| DbError::Broken("no connection".into()))?;
                let res = within(q_deadline, self.engine.query(conn, &q.query, q.row_limit)).await;
                match &res {
                    Err(e) if e.poisons_connection() => drop(lease),
                    _ => self.pool.give_back(lease),
                }
                res
            });
            let results = futures_util::future::join_all(runs).await;
            for (q, res) in queries.iter().zip(results) {
                let ok = match res {
                    Ok((rows, truncated)) => {
                        if truncated {
                            tracing::warn!(target_name = self.name(), query = %q.name, limit = q.row_limit, "custom query returned more rows than row_limit; extra rows ignored");
                        }
                        match custom_query::to_samples(q, &rows, &mut out) {
                            Ok(()) => true,
                            Err(msg) => {
                                tracing::warn!(target_name = self.name(), query = %q.name, error = %msg, "custom query result not usable");
                                false
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(target_name = self.name(), query = %q.name, error = %self.scrub(&e), "custom query failed");
                        false
                    }
                };
                out.add(
                    format!("{prefix}_custom_query_success"),
                    "Whether a custom query succeeded.",
                    MetricType::Gauge,
                    &[("query", &q.name)],
                    if ok { 1.0 } else { 0.0 },
                );
            }
        }
        out.into_set()
    }

    /// A connection that just answered the health query. A reused connection that fails is
    /// replaced once by a fresh one, so a server restart costs no false `up 0`.
    async fn healthy_lease(
        &self,
        deadline: ScrapeDeadline,
        connect_deadline: ScrapeDeadline,
        out: &mut Out,
    ) -> Result<Lease<E::Conn>, DbError> {
        let prefix = self.engine.prefix();
        loop {
            let mut lease = self
                .pool
                .acquire(&self.engine, deadline, connect_deadline)
                .await?;
            let started = Instant::now();
            let conn = lease
                .conn()
                .ok_or_else(|| DbError::Broken("no connection".into()))?;
            match within(deadline, self.engine.health(conn)).await {
                Ok(()) => {
                    out.gauge(
                        format!("{prefix}_health_query_duration_seconds"),
                        "Round trip time of the trivial health query.",
                        &[],
                        started.elapsed().as_secs_f64(),
                    );
                    return Ok(lease);
                }
                Err(e) if !lease.fresh && !matches!(e, DbError::Timeout) => {
                    tracing::info!(target_name = self.name(), engine = prefix, error = %self.scrub(&e), "reused connection failed; reconnecting");
                    drop(lease);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl<E: Engine> TargetHandle for Target<E> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn kind(&self) -> Kind {
        self.inner.resolved.config.kind
    }

    fn resolved(&self) -> &Resolved {
        &self.inner.resolved
    }

    fn last_error(&self) -> Option<String> {
        self.inner
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn scrape(&self, deadline: ScrapeDeadline) -> BoxFuture<'_, MetricSet> {
        Box::pin(self.scrape_shared(deadline))
    }
}

impl<E: Engine> Collector for Target<E> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn collect(&self, ctx: ScrapeContext) -> BoxFuture<'_, Result<MetricSet, CollectError>> {
        Box::pin(async move { Ok(self.scrape_shared(ctx.deadline).await) })
    }
}
