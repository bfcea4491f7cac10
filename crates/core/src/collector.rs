//! Collectors and the runner that executes them for one scrape.
//!
//! Every collector runs concurrently under the scrape deadline. A collector that fails or runs
//! out of time reports `success 0` and contributes nothing else; the rest of the page is served.

use crate::deadline::ScrapeDeadline;
use crate::metrics::{MetricSet, MetricType};
use std::future::Future;
use std::pin::Pin;
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
}

/// Runs a fixed list of collectors for each scrape and adds the per-collector self metrics.
pub struct CollectorRunner {
    collectors: Vec<Arc<dyn Collector>>,
    /// Prefixes under which `_scrape_collector_{duration_seconds,success}` are emitted
    /// (the host exporter also emits node_exporter's `node_` pair).
    self_prefixes: Vec<String>,
}

impl CollectorRunner {
    /// A runner emitting its self metrics under each of `self_prefixes`.
    pub fn new(self_prefixes: Vec<String>) -> Self {
        Self {
            collectors: Vec::new(),
            self_prefixes,
        }
    }

    /// Registers an async collector.
    pub fn add(&mut self, collector: Arc<dyn Collector>) -> &mut Self {
        self.collectors.push(collector);
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

    /// Runs every collector concurrently under `deadline` and returns all samples.
    pub async fn scrape(&self, deadline: ScrapeDeadline) -> MetricSet {
        let ctx = ScrapeContext { deadline };
        let runs = self.collectors.iter().map(|c| {
            let c = Arc::clone(c);
            async move {
                let started = Instant::now();
                let result = match deadline.run(c.collect(ctx)).await {
                    Some(r) => r,
                    None => Err(CollectError::Timeout),
                };
                (c, result, started.elapsed())
            }
        });
        let results = futures_util::future::join_all(runs).await;

        let mut out = MetricSet::new();
        let mut outcomes = Vec::with_capacity(results.len());
        for (c, result, elapsed) in results {
            let ok = match result {
                Ok(set) => {
                    out.merge(set);
                    true
                }
                Err(e) => {
                    tracing::error!(collector = c.name(), error = %e, "collector failed");
                    false
                }
            };
            outcomes.push((c.name().to_string(), ok, elapsed.as_secs_f64()));
        }
        for prefix in &self.self_prefixes {
            let fam = out.family(
                format!("{prefix}_scrape_collector_duration_seconds"),
                "Duration of a collector scrape.",
                MetricType::Gauge,
            );
            for (name, _, secs) in &outcomes {
                fam.sample(&[("collector", name)], *secs);
            }
            let fam = out.family(
                format!("{prefix}_scrape_collector_success"),
                "Whether a collector succeeded.",
                MetricType::Gauge,
            );
            for (name, ok, _) in &outcomes {
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
}
