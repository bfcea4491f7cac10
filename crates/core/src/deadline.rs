//! The scrape deadline: how long one scrape or probe may take.
//!
//! Prometheus tells us its scrape timeout in `X-Prometheus-Scrape-Timeout-Seconds`. We answer a
//! little before it (the offset leaves room for encoding and the network), and never later than
//! the exporter's own cap, so a scrape is never cancelled by Prometheus half-way.

use std::time::Duration;
use tokio::time::Instant;

/// The header Prometheus sets on every scrape.
pub const SCRAPE_TIMEOUT_HEADER: &str = "x-prometheus-scrape-timeout-seconds";

/// How the deadline of one request is derived.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScrapeTimeout {
    /// Subtracted from the scraper's timeout.
    pub offset: Duration,
    /// Used when the request carries no timeout header, and the upper bound otherwise.
    pub max: Duration,
}

impl Default for ScrapeTimeout {
    fn default() -> Self {
        Self {
            offset: Duration::from_millis(500),
            max: Duration::from_secs(10),
        }
    }
}

/// The instant by which one scrape must have its samples ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ScrapeDeadline(Instant);

impl ScrapeTimeout {
    /// The budget for a request, from the value of its timeout header (if any) and an optional
    /// further cap (a blackbox module's `timeout`).
    pub fn budget(&self, header: Option<&str>, cap: Option<Duration>) -> Duration {
        let mut budget = self.max;
        if let Some(secs) = header.and_then(|h| h.trim().parse::<f64>().ok()) {
            // try_from: a header such as `1e300` must not panic the exporter; it is simply
            // larger than the cap.
            if let Some(from_header) = Duration::try_from_secs_f64(secs)
                .ok()
                .filter(|d| !d.is_zero())
            {
                let with_offset = from_header.saturating_sub(self.offset);
                // An offset larger than the scraper's timeout would leave nothing; keep half.
                let usable = if with_offset.is_zero() {
                    from_header / 2
                } else {
                    with_offset
                };
                budget = budget.min(usable);
            }
        }
        if let Some(cap) = cap {
            if !cap.is_zero() {
                budget = budget.min(cap);
            }
        }
        budget
    }

    /// What is left of this timeout once `spent` of the request has gone (waiting for a bcrypt
    /// check, say): the scraper's clock started when it sent the request, not when we began
    /// collecting, so the time already spent comes off both the header's budget and the cap.
    pub fn less(&self, spent: Duration) -> ScrapeTimeout {
        ScrapeTimeout {
            offset: self.offset.saturating_add(spent),
            max: self.max.saturating_sub(spent),
        }
    }

    /// The deadline for a request starting now.
    pub fn deadline(&self, header: Option<&str>, cap: Option<Duration>) -> ScrapeDeadline {
        ScrapeDeadline::after(self.budget(header, cap))
    }
}

impl ScrapeDeadline {
    /// A deadline `budget` from now.
    pub fn after(budget: Duration) -> Self {
        let now = Instant::now();
        // A budget too large for the clock means "no practical deadline": a day is plenty.
        Self(
            now.checked_add(budget)
                .unwrap_or(now + Duration::from_secs(86_400)),
        )
    }

    /// The instant itself, for `tokio::time::timeout_at`.
    pub fn instant(&self) -> Instant {
        self.0
    }

    /// Time left before the deadline (zero once it has passed).
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Runs `fut` until the deadline; `None` if the deadline passed first.
    pub async fn run<F: std::future::Future>(&self, fut: F) -> Option<F::Output> {
        tokio::time::timeout_at(self.0, fut).await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_minus_offset_capped_by_max_and_module() {
        let t = ScrapeTimeout::default();
        assert_eq!(t.budget(None, None), Duration::from_secs(10));
        assert_eq!(t.budget(Some("5"), None), Duration::from_millis(4500));
        assert_eq!(t.budget(Some("60"), None), Duration::from_secs(10));
        assert_eq!(
            t.budget(Some("5"), Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(t.budget(Some("0.4"), None), Duration::from_millis(200));
        assert_eq!(t.budget(Some("garbage"), None), Duration::from_secs(10));
        assert_eq!(t.budget(Some("-1"), None), Duration::from_secs(10));
        assert_eq!(t.budget(Some("1e300"), None), Duration::from_secs(10));
        assert_eq!(t.budget(Some("NaN"), None), Duration::from_secs(10));
        assert_eq!(t.budget(Some("inf"), None), Duration::from_secs(10));
        let _ = ScrapeDeadline::after(Duration::MAX);
    }

    #[test]
    fn time_spent_before_collecting_comes_off_the_budget() {
        let t = ScrapeTimeout {
            offset: Duration::from_millis(500),
            max: Duration::from_secs(10),
        };
        let spent = Duration::from_millis(300);
        // Header 5 s: 4.5 s before, 4.2 s after 300 ms of authentication.
        assert_eq!(
            t.less(spent).budget(Some("5"), None),
            Duration::from_millis(4200)
        );
        // No header: the cap shrinks the same way.
        assert_eq!(
            t.less(spent).budget(None, None),
            Duration::from_millis(9700)
        );
        // A module cap is still an upper bound.
        assert_eq!(
            t.less(spent)
                .budget(Some("5"), Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        // Nothing spent: unchanged.
        assert_eq!(t.less(Duration::ZERO), t);
    }
}
