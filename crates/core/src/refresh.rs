//! Background refresh of expensive sources (a backup repository listing, a certificate file
//! set, a kubeconfig): the value is recomputed on an interval off the scrape path, and scrapes
//! read the last result, so a slow source never slows or times out a scrape.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

/// The last computed value and when it was computed.
#[derive(Debug)]
pub struct Snapshot<T> {
    /// The value (the last successful one when `last_error` is set).
    pub value: Option<Arc<T>>,
    /// When the last attempt finished.
    pub updated: Option<SystemTime>,
    /// The last attempt's error, if it failed.
    pub last_error: Option<String>,
}

impl<T> Clone for Snapshot<T> {
    fn clone(&self) -> Self {
        Self {
            value: self.value.clone(),
            updated: self.updated,
            last_error: self.last_error.clone(),
        }
    }
}

/// A value kept fresh by a background task.
pub struct Refreshed<T> {
    slot: Arc<RwLock<Snapshot<T>>>,
    task: tokio::task::JoinHandle<()>,
}

impl<T: Send + Sync + 'static> Refreshed<T> {
    /// Spawns a task that runs `compute` now and then every `interval`, each run bounded by
    /// `timeout`. `compute` is blocking work and runs on the blocking pool.
    pub fn spawn<F>(interval: Duration, timeout: Duration, compute: F) -> Self
    where
        F: Fn() -> Result<T, String> + Send + Sync + 'static,
    {
        let slot = Arc::new(RwLock::new(Snapshot {
            value: None,
            updated: None,
            last_error: None,
        }));
        let compute = Arc::new(compute);
        let writer = Arc::clone(&slot);
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // Set while a computation runs, including one that outlived its timeout: a hung
            // source then costs one blocked thread, not one more per tick.
            let running = Arc::new(std::sync::atomic::AtomicBool::new(false));
            loop {
                ticker.tick().await;
                if running.swap(true, std::sync::atomic::Ordering::AcqRel) {
                    if let Ok(mut s) = writer.write() {
                        s.last_error = Some("previous refresh still running".into());
                    }
                    continue;
                }
                let c = Arc::clone(&compute);
                let done = Arc::clone(&running);
                let task = tokio::task::spawn_blocking(move || {
                    let r = c();
                    done.store(false, std::sync::atomic::Ordering::Release);
                    r
                });
                let result = match tokio::time::timeout(timeout, task).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => Err(format!("refresh task failed: {e}")),
                    Err(_) => Err(format!("refresh timed out after {timeout:?}")),
                };
                if let Ok(mut s) = writer.write() {
                    s.updated = Some(SystemTime::now());
                    match result {
                        Ok(v) => {
                            s.value = Some(Arc::new(v));
                            s.last_error = None;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "background refresh failed; keeping the last value");
                            s.last_error = Some(e);
                        }
                    }
                }
            }
        });
        Self { slot, task }
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Snapshot<T> {
        match self.slot.read() {
            Ok(s) => Snapshot::clone(&s),
            Err(p) => Snapshot::clone(&p.into_inner()),
        }
    }
}

impl<T> Drop for Refreshed<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn keeps_last_good_value_when_a_refresh_fails() {
        let runs = Arc::new(AtomicU32::new(0));
        let r = Arc::clone(&runs);
        let refreshed = Refreshed::spawn(
            Duration::from_millis(20),
            Duration::from_secs(1),
            move || {
                let n = r.fetch_add(1, Ordering::SeqCst);
                if n == 0 {
                    Ok(n)
                } else {
                    Err("source unavailable".to_string())
                }
            },
        );
        for _ in 0..100 {
            if runs.load(Ordering::SeqCst) >= 2 && refreshed.snapshot().last_error.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let snap = refreshed.snapshot();
        assert_eq!(snap.value.as_deref(), Some(&0));
        assert_eq!(snap.last_error.as_deref(), Some("source unavailable"));
    }
}
