//! `rate_limit`: a token bucket in front of every request.

use std::sync::Mutex;

/// A token bucket: `burst` requests at once, one more earned per `interval`.
#[derive(Debug)]
pub struct RateLimiter {
    burst: f64,
    per_second: f64,
    state: Mutex<(f64, std::time::Instant)>,
}

impl RateLimiter {
    /// A full bucket.
    pub fn new(burst: u32, interval: std::time::Duration) -> Self {
        Self {
            burst: f64::from(burst),
            per_second: 1.0 / interval.as_secs_f64(),
            state: Mutex::new((f64::from(burst), std::time::Instant::now())),
        }
    }

    /// Takes one token if there is one.
    pub fn allow(&self) -> bool {
        let Ok(mut st) = self.state.lock() else {
            return true;
        };
        let now = std::time::Instant::now();
        let earned = now.duration_since(st.1).as_secs_f64() * self.per_second;
        st.0 = (st.0 + earned).min(self.burst);
        st.1 = now;
        if st.0 >= 1.0 {
            st.0 -= 1.0;
            true
        } else {
            false
        }
    }
}
