//! Concurrent scrapes share one collection.
//!
//! Two Prometheus replicas, a federation job and a curl asking for `/metrics` at the same moment
//! would otherwise each read every `/proc` file, query every database and encode and gzip the
//! page. A scrape that arrives while a collection is running joins it instead, under two
//! conditions that keep its guarantees intact: the running collection was given at least the
//! budget the newcomer would have had (so no collector is cut short on its behalf), and it ends
//! no later than the newcomer's own deadline (so the newcomer is never answered late). Otherwise
//! the newcomer starts its own collection, which later scrapes may join in turn.
//!
//! Each encoding of a shared page (format x gzip) is produced once and handed out as cheap
//! reference-counted bytes.

use crate::deadline::ScrapeDeadline;
use crate::exposition::{encode, gzip, Format};
use crate::metrics::MetricSet;
use bytes::Bytes;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::watch;

/// Hands concurrent scrapes one shared collection (see the module documentation).
#[derive(Default)]
pub struct ScrapeCoalescer {
    /// Shared with the collection task, which retires itself when done.
    running: Arc<Mutex<Option<Arc<Collection>>>>,
}

/// One collection in progress.
struct Collection {
    budget: Duration,
    deadline: ScrapeDeadline,
    page: watch::Receiver<Option<Arc<CollectedPage>>>,
}

/// The samples of one collection and, once asked for, their encodings.
pub struct CollectedPage {
    set: MetricSet,
    /// Indexed by [`Self::slot`]: text, OpenMetrics, each plain and gzipped.
    bodies: [OnceLock<Bytes>; 4],
}

impl CollectedPage {
    /// Wraps the samples of one finished collection.
    pub fn new(set: MetricSet) -> Self {
        Self {
            set,
            bodies: Default::default(),
        }
    }

    /// The samples themselves.
    pub fn set(&self) -> &MetricSet {
        &self.set
    }

    /// The page in `format`, gzipped if `gzipped` (falling back to plain if gzip fails; the
    /// returned flag says which one it is). Encoded on the first request only.
    pub fn body(&self, format: Format, gzipped: bool) -> (Bytes, bool) {
        let plain = || {
            self.bodies[Self::slot(format, false)]
                .get_or_init(|| Bytes::from(encode(&self.set, format)))
                .clone()
        };
        if !gzipped {
            return (plain(), false);
        }
        let slot = &self.bodies[Self::slot(format, true)];
        if let Some(z) = slot.get() {
            return (z.clone(), true);
        }
        match gzip(&plain()) {
            Ok(z) => (slot.get_or_init(|| Bytes::from(z)).clone(), true),
            Err(_) => (plain(), false),
        }
    }

    fn slot(format: Format, gzipped: bool) -> usize {
        let f = match format {
            Format::Text => 0,
            Format::OpenMetrics => 2,
        };
        f + usize::from(gzipped)
    }
}

impl ScrapeCoalescer {
    /// A coalescer with nothing running.
    pub fn new() -> Self {
        Self::default()
    }

    /// The page for a scrape with `budget`: from a running collection this scrape may join, or
    /// from a new one made by `collect`, which must finish by the deadline it is given. `None`
    /// when the collection task died without a page (a collector panicked).
    pub async fn page<F, Fut>(&self, budget: Duration, collect: F) -> Option<Arc<CollectedPage>>
    where
        F: FnOnce(ScrapeDeadline) -> Fut,
        Fut: Future<Output = MetricSet> + Send + 'static,
    {
        let deadline = ScrapeDeadline::after(budget);
        let mut page = self.join_or_start(budget, deadline, collect);
        // No timeout of our own: a collection ends at its deadline by construction (collectors
        // run under it), and a joined collection's deadline is no later than this scrape's.
        // Waiting on a timer here would race the page published right at the deadline.
        let ready = page.wait_for(Option::is_some).await;
        ready.ok().and_then(|p| p.clone())
    }

    fn join_or_start<F, Fut>(
        &self,
        budget: Duration,
        deadline: ScrapeDeadline,
        collect: F,
    ) -> watch::Receiver<Option<Arc<CollectedPage>>>
    where
        F: FnOnce(ScrapeDeadline) -> Fut,
        Fut: Future<Output = MetricSet> + Send + 'static,
    {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = running.as_ref() {
            // A sender gone without a page means the task died: start afresh.
            let alive = c.page.has_changed().is_ok();
            if alive && c.budget >= budget && c.deadline <= deadline {
                return c.page.clone();
            }
        }
        let (tx, rx) = watch::channel(None);
        let this = Arc::new(Collection {
            budget,
            deadline,
            page: rx.clone(),
        });
        *running = Some(Arc::clone(&this));
        drop(running);
        let work = collect(deadline);
        let slot = Arc::clone(&self.running);
        // Its own task: the collection finishes for the scrapes that joined it even if the
        // client that started it hangs up.
        tokio::spawn(async move {
            let page = Arc::new(CollectedPage::new(work.await));
            // Retire the collection before publishing it, so no scrape joins a finished one.
            retire(&slot, &this);
            let _ = tx.send(Some(page));
        });
        rx
    }
}

/// Clears the running slot if it still holds `done` (a later collection may have replaced it).
fn retire(running: &Mutex<Option<Arc<Collection>>>, done: &Arc<Collection>) {
    let mut running = running.lock().unwrap_or_else(|p| p.into_inner());
    if running.as_ref().is_some_and(|c| Arc::ptr_eq(c, done)) {
        *running = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A collection that takes `ms` and counts how often it ran.
    fn counted(
        runs: &Arc<AtomicUsize>,
        ms: u64,
    ) -> impl FnOnce(ScrapeDeadline) -> std::pin::Pin<Box<dyn Future<Output = MetricSet> + Send>>
    {
        let runs = Arc::clone(runs);
        move |_deadline| {
            Box::pin(async move {
                let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(Duration::from_millis(ms)).await;
                let mut set = MetricSet::new();
                set.gauge("collection_number", "Which collection this is.", n as f64);
                set
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_scrapes_with_the_same_budget_share_one_collection() {
        let coalescer = Arc::new(ScrapeCoalescer::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let budget = Duration::from_secs(5);
        let mut scrapes = Vec::new();
        for _ in 0..8 {
            let (c, r) = (Arc::clone(&coalescer), Arc::clone(&runs));
            scrapes.push(tokio::spawn(async move {
                c.page(budget, counted(&r, 50)).await.unwrap()
            }));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let pages: Vec<_> = futures_util::future::join_all(scrapes)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(pages.iter().all(|p| Arc::ptr_eq(p, &pages[0])));
        let (a, _) = pages[0].body(Format::Text, false);
        let (b, _) = pages[7].body(Format::Text, false);
        assert_eq!(a.as_ptr(), b.as_ptr(), "encoded once, shared");
    }

    #[tokio::test(start_paused = true)]
    async fn a_scrape_after_the_collection_finished_collects_afresh() {
        let coalescer = ScrapeCoalescer::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let budget = Duration::from_secs(5);
        let first = coalescer.page(budget, counted(&runs, 10)).await.unwrap();
        let second = coalescer.page(budget, counted(&runs, 10)).await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        let (a, _) = first.body(Format::Text, false);
        let (b, _) = second.body(Format::Text, false);
        assert!(std::str::from_utf8(&a)
            .unwrap()
            .contains("collection_number 1"));
        assert!(std::str::from_utf8(&b)
            .unwrap()
            .contains("collection_number 2"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_scrape_with_a_longer_budget_does_not_join_a_shorter_collection() {
        let coalescer = Arc::new(ScrapeCoalescer::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let (c, r) = (Arc::clone(&coalescer), Arc::clone(&runs));
        let short =
            tokio::spawn(async move { c.page(Duration::from_secs(1), counted(&r, 100)).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let long = coalescer
            .page(Duration::from_secs(10), counted(&runs, 100))
            .await;
        assert!(short.await.unwrap().is_some() && long.is_some());
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_scrape_with_a_shorter_budget_does_not_wait_past_its_deadline() {
        let coalescer = Arc::new(ScrapeCoalescer::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let (c, r) = (Arc::clone(&coalescer), Arc::clone(&runs));
        let slow =
            tokio::spawn(async move { c.page(Duration::from_secs(10), counted(&r, 3_000)).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let started = tokio::time::Instant::now();
        // Ends before the running collection would: collects on its own and is answered in time.
        let quick = coalescer
            .page(Duration::from_secs(1), counted(&runs, 20))
            .await;
        assert!(quick.is_some());
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert!(slow.await.unwrap().is_some());
    }

    #[tokio::test]
    async fn gzipped_body_decompresses_to_the_plain_one() {
        use std::io::Read as _;
        let mut set = MetricSet::new();
        set.gauge("some_gauge", "A gauge.", 1.5);
        let page = CollectedPage::new(set);
        let (plain, plain_gz) = page.body(Format::OpenMetrics, false);
        let (z, gz) = page.body(Format::OpenMetrics, true);
        assert!(!plain_gz && gz);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&z[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, plain);
    }
}
