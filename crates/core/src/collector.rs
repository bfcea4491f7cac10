//! Collectors and the runner that executes them for one scrape.
//!
//! Every collector runs concurrently under the scrape deadline. A collector that fails or runs
//! out of time reports `success 0` and contributes nothing else; the rest of the page is served.

use crate::deadline::ScrapeDeadline;
use crate::metrics::{MetricSet, MetricType};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// A boxed, sendable future, the return type of [`Collector::collect`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a collector could not produce its samples.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// A file or directory could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The path that failed.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Input was read but could not be understood.
    #[error("parsing {what}: {detail}")]
    Parse {
        /// What was being parsed (a file name, a command's output).
        what: String,
        /// What was wrong with it.
        detail: String,
    },
    /// The collector ran past the scrape deadline.
    #[error("deadline exceeded")]
    Timeout,
    /// Anything else, already phrased for a log line (never containing a secret).
    #[error("{0}")]
    Other(String),
}

impl CollectError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        CollectError::Io {
            path: path.to_string(),
            source,
        }
    }

    /// A parse error for `what`.
    pub fn parse(what: impl std::fmt::Display, detail: impl std::fmt::Display) -> Self {
        CollectError::Parse {
            what: what.to_string(),
            detail: detail.to_string(),
        }
    }
}

/// What a collector knows about the scrape it serves.
#[derive(Debug, Clone, Copy)]
pub struct ScrapeContext {
    /// When the samples must be ready.
    pub deadline: ScrapeDeadline,
}

/// One source of samples on `/metrics`.
pub trait Collector: Send + Sync + 'static {
    /// The value of the `collector` label on the scrape self-metrics.
    fn name(&self) -> &str;

    /// Produces this collector's samples for one scrape.
    fn collect(&self, ctx: ScrapeContext) -> BoxFuture<'_, Result<MetricSet, CollectError>>;

    /// The synchronous collector behind this one, if it is plain blocking work: the runner then
    /// batches it with the others on one blocking thread instead of one thread hop each.
    fn as_blocking(&self) -> Option<Arc<dyn BlockingCollector>> {
        None
    }
}

/// A collector whose work is synchronous file reading (procfs, sysfs, textfiles).
///
/// It runs on the blocking thread pool so a slow read never stalls the async workers; the runner
/// still enforces the deadline, and a read that never returns only costs that one thread.
pub trait BlockingCollector: Send + Sync + 'static {
    /// The value of the `collector` label.
    fn name(&self) -> &str;

    /// Adds this collector's samples to `out`.
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError>;
}

/// Adapts a [`BlockingCollector`] to [`Collector`].
pub struct Blocking<C>(pub Arc<C>);

impl<C: BlockingCollector> Collector for Blocking<C> {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn collect(&self, _ctx: ScrapeContext) -> BoxFuture<'_, Result<MetricSet, CollectError>> {
        let inner = Arc::clone(&self.0);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut out = MetricSet::new();
                inner.collect(&mut out).map(|()| out)
            })
            .await
            .map_err(|e| CollectError::Other(format!("collector task failed: {e}")))?
        })
    }

    fn as_blocking(&self) -> Option<Arc<dyn BlockingCollector>> {
        Some(Arc::clone(&self.0) as Arc<dyn BlockingCollector>)
    }
}

/// Results of the blocking collectors of one scrape, filled by the blocking thread.
#[derive(Default)]
struct BlockingBatch {
    done: std::sync::Mutex<Vec<Outcome>>,
    /// Set by the scrape once it stops waiting.
    abandoned: AtomicBool,
}

/// One collector's result and how long it took, by collector index.
type Outcome = (usize, Result<MetricSet, CollectError>, f64);

impl BlockingBatch {
    fn push(&self, outcome: Outcome) {
        self.done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(outcome);
    }

    fn take(&self) -> Vec<Outcome> {
        std::mem::take(&mut *self.done.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Start times of the collections of one collector that are in progress.
#[derive(Debug, Default)]
struct InFlight(std::sync::Mutex<Vec<Instant>>);

impl InFlight {
    fn hung(&self, after: std::time::Duration) -> bool {
        let runs = self.0.lock().unwrap_or_else(|p| p.into_inner());
        runs.iter().any(|t| t.elapsed() > after)
    }

    fn begin(&self, t: Instant) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(t);
    }

    fn end(&self, t: Instant) {
        let mut runs = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pos) = runs.iter().position(|x| *x == t) {
            runs.swap_remove(pos);
        }
    }
}

/// Runs a fixed list of collectors for each scrape and adds the per-collector self metrics.
pub struct CollectorRunner {
    collectors: Vec<Arc<dyn Collector>>,
    /// Per collector: start times of blocking collections in progress (this scrape's,
    /// concurrent scrapes', or a hung one from long ago).
    in_flight: Vec<Arc<InFlight>>,
    /// Prefixes under which `_scrape_collector_{duration_seconds,success}` are emitted
    /// (the host exporter also emits node_exporter's `node_` pair).
    self_prefixes: Vec<String>,
    /// Per collector: whether its last scrape failed, so a failure is logged once per streak
    /// (and its recovery once), not on every scrape of a broken source.
    failing: Vec<AtomicBool>,
}

/// What a collector's result says about its failure streak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Streak {
    /// The first failure after success: logged as an error.
    Started,
    /// Failing again: logged at debug level only.
    Continues,
    /// The first success after failures: logged once.
    Ended,
    /// Still fine: nothing to log.
    Fine,
}

impl Streak {
    fn of(was_failing: bool, ok: bool) -> Streak {
        match (was_failing, ok) {
            (false, false) => Streak::Started,
            (true, false) => Streak::Continues,
            (true, true) => Streak::Ended,
            (false, true) => Streak::Fine,
        }
    }
}

impl CollectorRunner {
    /// A runner emitting its self metrics under each of `self_prefixes`.
    pub fn new(self_prefixes: Vec<String>) -> Self {
        Self {
            collectors: Vec::new(),
            in_flight: Vec::new(),
            self_prefixes,
            failing: Vec::new(),
        }
    }

    /// Registers an async collector.
    pub fn add(&mut self, collector: Arc<dyn Collector>) -> &mut Self {
        self.collectors.push(collector);
        self.in_flight.push(Arc::new(InFlight::default()));
        self.failing.push(AtomicBool::new(false));
        self
    }

    /// Registers a blocking collector.
    pub fn add_blocking<C: BlockingCollector>(&mut self, collector: C) -> &mut Self {
        self.add(Arc::new(Blocking(Arc::new(collector))))
    }

    /// Names of the registered collectors, in registration order.
    pub fn names(&self) -> Vec<String> {
        self.collectors
            .iter()
            .map(|c| c.name().to_string())
            .collect()
    }

    /// Runs every collector under `deadline` and returns all samples.
    ///
    /// Async collectors run concurrently. Blocking collectors run one after another on a single
    /// blocking thread: they are file reads of microseconds, and one thread hop per collector
    /// cost more CPU than the reads themselves. A blocking collector that never returns (a
    /// hung read) holds up only the blocking collectors after it; each is reported failed when
    /// the deadline passes, and the rest of the page is still served.
    pub async fn scrape(&self, deadline: ScrapeDeadline) -> MetricSet {
        let ctx = ScrapeContext { deadline };
        let started = Instant::now();
        let n = self.collectors.len();
        let mut outcomes: Vec<Option<(Result<MetricSet, CollectError>, f64)>> =
            (0..n).map(|_| None).collect();

        let blocking: Vec<(usize, Arc<dyn BlockingCollector>, Arc<InFlight>)> = self
            .collectors
            .iter()
            .zip(&self.in_flight)
            .enumerate()
            .filter_map(|(i, (c, f))| c.as_blocking().map(|b| (i, b, Arc::clone(f))))
            .collect();
        // A run older than a whole scrape budget is not slow, it is hung.
        let hung_after = deadline.remaining();
        // Results are handed over in one batch with one wake-up at the end: a channel send per
        // collector woke the scrape task ~20 times per scrape, which cost more than the reads.
        // On the deadline the scrape takes whatever is done and tells the thread to stop.
        let batch = Arc::new(BlockingBatch::default());
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let expected_blocking = blocking.len();
        if !blocking.is_empty() {
            let batch = Arc::clone(&batch);
            tokio::task::spawn_blocking(move || {
                for (i, c, in_flight) in blocking {
                    if batch.abandoned.load(Ordering::Relaxed) {
                        // The scrape gave up (deadline); do not keep reading for nobody.
                        return;
                    }
                    let t = Instant::now();
                    // A collector still stuck in an earlier scrape's read is skipped, so a hung
                    // read costs a bounded number of blocked threads, not one more per scrape.
                    // Concurrent scrapes (two Prometheus replicas) still run it side by side.
                    let r = if in_flight.hung(hung_after) {
                        Err(CollectError::Other(
                            "previous collection still running (a read is hung)".into(),
                        ))
                    } else {
                        in_flight.begin(t);
                        let mut out = MetricSet::new();
                        let r = c.collect(&mut out).map(|()| out);
                        in_flight.end(t);
                        r
                    };
                    batch.push((i, r, t.elapsed().as_secs_f64()));
                }
                let _ = done_tx.send(());
            });
        }
        let receive_blocking = async {
            if expected_blocking > 0 {
                let _ = deadline.run(done_rx).await;
            }
            batch.abandoned.store(true, Ordering::Relaxed);
            batch.take()
        };
        let runs = self
            .collectors
            .iter()
            .enumerate()
            .filter(|(_, c)| c.as_blocking().is_none())
            .map(|(i, c)| async move {
                let t = Instant::now();
                let result = match deadline.run(c.collect(ctx)).await {
                    Some(r) => r,
                    None => Err(CollectError::Timeout),
                };
                (i, result, t.elapsed().as_secs_f64())
            });
        let (async_results, blocking_results) =
            tokio::join!(futures_util::future::join_all(runs), receive_blocking);
        for (i, r, secs) in async_results.into_iter().chain(blocking_results) {
            outcomes[i] = Some((r, secs));
        }

        let mut sets = Vec::with_capacity(n);
        let mut summary = Vec::with_capacity(n);
        for ((c, outcome), failing) in self.collectors.iter().zip(outcomes).zip(&self.failing) {
            let (result, secs) = outcome
                .unwrap_or_else(|| (Err(CollectError::Timeout), started.elapsed().as_secs_f64()));
            let ok = result.is_ok();
            let streak = Streak::of(failing.swap(!ok, Ordering::Relaxed), ok);
            match result {
                Ok(set) => {
                    sets.push(set);
                    if streak == Streak::Ended {
                        tracing::info!(collector = c.name(), "collector recovered");
                    }
                }
                Err(e) if streak == Streak::Started => {
                    tracing::error!(collector = c.name(), error = %e, "collector failed");
                }
                Err(e) => {
                    tracing::debug!(collector = c.name(), error = %e, "collector still failing");
                }
            }
            summary.push((c.name(), ok, secs));
        }
        let mut out = MetricSet::new();
        out.merge_all(sets);
        for prefix in &self.self_prefixes {
            let fam = out.family(
                format!("{prefix}_scrape_collector_duration_seconds"),
                "Duration of a collector scrape.",
                MetricType::Gauge,
            );
            for (name, _, secs) in &summary {
                fam.sample(&[("collector", name)], *secs);
            }
            let fam = out.family(
                format!("{prefix}_scrape_collector_success"),
                "Whether a collector succeeded.",
                MetricType::Gauge,
            );
            for (name, ok, _) in &summary {
                fam.sample(&[("collector", name)], if *ok { 1.0 } else { 0.0 });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    struct Fixed;
    impl BlockingCollector for Fixed {
        fn name(&self) -> &str {
            "fixed"
        }
        fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
            out.gauge("fixed_value", "A fixed value.", 42.0);
            Ok(())
        }
    }

    struct Broken;
    impl BlockingCollector for Broken {
        fn name(&self) -> &str {
            "broken"
        }
        fn collect(&self, _out: &mut MetricSet) -> Result<(), CollectError> {
            Err(CollectError::parse("/proc/broken", "unexpected field"))
        }
    }

    struct Stuck;
    impl Collector for Stuck {
        fn name(&self) -> &str {
            "stuck"
        }
        fn collect(&self, _ctx: ScrapeContext) -> BoxFuture<'_, Result<MetricSet, CollectError>> {
            Box::pin(std::future::pending())
        }
    }

    struct Later;
    impl BlockingCollector for Later {
        fn name(&self) -> &str {
            "later"
        }
        fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
            out.gauge("later_value", "Registered after the hung one.", 1.0);
            Ok(())
        }
    }

    struct Hung;
    impl BlockingCollector for Hung {
        fn name(&self) -> &str {
            "hung"
        }
        fn collect(&self, _out: &mut MetricSet) -> Result<(), CollectError> {
            std::thread::sleep(Duration::from_millis(900));
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_hung_blocking_read_fails_only_itself_and_what_runs_after_it() {
        let mut runner = CollectorRunner::new(vec!["test".into()]);
        runner
            .add_blocking(Fixed)
            .add_blocking(Hung)
            .add_blocking(Broken)
            .add_blocking(Later);
        let started = std::time::Instant::now();
        let set = runner
            .scrape(ScrapeDeadline::after(Duration::from_millis(300)))
            .await;
        assert!(started.elapsed() < Duration::from_millis(1500));
        let ok = |c| set.find("test_scrape_collector_success", &[("collector", c)]);
        assert_eq!(ok("fixed"), Some(1.0));
        assert_eq!(ok("hung"), Some(0.0));
        assert_eq!(ok("broken"), Some(0.0));
        assert_eq!(ok("later"), Some(0.0), "held up behind the hung read");
        assert_eq!(set.find("fixed_value", &[]), Some(42.0));

        // The next scrape (an interval later) skips the still-hung collector, now older than a
        // whole scrape budget, and runs the ones after it.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let set = runner
            .scrape(ScrapeDeadline::after(Duration::from_millis(300)))
            .await;
        let ok = |c| set.find("test_scrape_collector_success", &[("collector", c)]);
        assert_eq!(ok("hung"), Some(0.0));
        assert_eq!(ok("fixed"), Some(1.0));
        assert_eq!(
            ok("later"),
            Some(1.0),
            "collectors after the hung one run again"
        );
        assert_eq!(set.find("later_value", &[]), Some(1.0));
    }

    struct Sluggish;
    impl BlockingCollector for Sluggish {
        fn name(&self) -> &str {
            "sluggish"
        }
        fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
            std::thread::sleep(Duration::from_millis(100));
            out.gauge("sluggish_value", "Takes a while.", 1.0);
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_scrapes_run_a_busy_collector_side_by_side() {
        let mut runner = CollectorRunner::new(vec!["test".into()]);
        runner.add_blocking(Sluggish);
        let deadline = || ScrapeDeadline::after(Duration::from_secs(5));
        let (a, b) = tokio::join!(runner.scrape(deadline()), runner.scrape(deadline()));
        for set in [a, b] {
            assert_eq!(set.find("sluggish_value", &[]), Some(1.0));
        }
    }

    #[tokio::test]
    async fn a_failing_or_stuck_collector_does_not_blank_the_scrape() {
        let mut runner = CollectorRunner::new(vec!["test".into()]);
        runner
            .add_blocking(Fixed)
            .add_blocking(Broken)
            .add(Arc::new(Stuck));
        let set = runner
            .scrape(ScrapeDeadline::after(Duration::from_millis(200)))
            .await;
        assert_eq!(set.find("fixed_value", &[]), Some(42.0));
        let ok = |c| set.find("test_scrape_collector_success", &[("collector", c)]);
        assert_eq!(ok("fixed"), Some(1.0));
        assert_eq!(ok("broken"), Some(0.0));
        assert_eq!(ok("stuck"), Some(0.0));
    }

    #[test]
    fn a_failure_is_logged_once_per_streak() {
        let seq = [true, false, false, false, true, true, false];
        let mut failing = false;
        let streaks: Vec<Streak> = seq
            .iter()
            .map(|&ok| {
                let s = Streak::of(failing, ok);
                failing = !ok;
                s
            })
            .collect();
        assert_eq!(
            streaks,
            [
                Streak::Fine,
                Streak::Started,
                Streak::Continues,
                Streak::Continues,
                Streak::Ended,
                Streak::Fine,
                Streak::Started
            ]
        );
    }
}
