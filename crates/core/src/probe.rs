//! Multi-target probes: `/probe?target=…&module=…`.
//!
//! The same flow as a scrape, with one prober in place of the collectors and a fresh sample set
//! per request. The exporter decides what the parameters mean; core parses the query, applies the
//! concurrency gate, and renders `debug=true`.

use crate::collector::BoxFuture;
use crate::deadline::{ScrapeDeadline, ScrapeTimeout};
use crate::exposition::{encode, Format};
use crate::metrics::MetricSet;
use std::fmt::Write as _;
use std::time::Instant;

/// The query of one `/probe` request.
#[derive(Debug, Clone)]
pub struct ProbeQuery {
    /// Decoded query parameters, in order.
    pub params: Vec<(String, String)>,
    /// The value of `X-Prometheus-Scrape-Timeout-Seconds`, if sent.
    pub timeout_header: Option<String>,
    /// How the deadline is derived (offset and cap from the flags), with the time already spent
    /// on this request (authentication) taken off.
    pub scrape_timeout: ScrapeTimeout,
    /// Time already spent on this request before the prober runs (waiting for authentication).
    pub spent: std::time::Duration,
}

impl ProbeQuery {
    /// The probe's time budget, computed in one place for every prober: the scraper's timeout
    /// header minus the offset, capped by `--scrape.timeout` or, when the module sets one, by the
    /// module's timeout instead (as blackbox_exporter does); the time already spent on the
    /// request comes off either way.
    pub fn budget(&self, module_timeout: Option<std::time::Duration>) -> std::time::Duration {
        let t = ScrapeTimeout {
            offset: self.scrape_timeout.offset,
            max: module_timeout
                .filter(|m| !m.is_zero())
                .map_or(self.scrape_timeout.max, |m| m.saturating_sub(self.spent)),
        };
        t.budget(self.timeout_header.as_deref(), None)
            .max(std::time::Duration::from_millis(1))
    }

    /// The probe's deadline (see [`ProbeQuery::budget`]): probers receive it and never
    /// recompute it.
    pub fn deadline(&self, module_timeout: Option<std::time::Duration>) -> ScrapeDeadline {
        ScrapeDeadline::after(self.budget(module_timeout))
    }
    /// The first value of a parameter.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Parses a raw query string (`a=b&c=d`, percent-encoded, `+` as space).
    pub fn parse_params(query: &str) -> Vec<(String, String)> {
        query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect()
    }
}

/// Decodes `%XX` escapes and `+`; invalid escapes are kept literally.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                // Both must be hex digits: from_str_radix alone would accept "+1".
                let hex = Some(&bytes[i + 1..i + 3])
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The debug log of one probe, returned by `debug=true` and kept in probe history.
#[derive(Debug, Clone)]
pub struct ProbeLog {
    started: Instant,
    text: String,
}

impl Default for ProbeLog {
    fn default() -> Self {
        Self::new()
    }
}

impl ProbeLog {
    /// An empty log whose timestamps count from now.
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            text: String::new(),
        }
    }

    fn push(&mut self, level: &str, msg: &dyn std::fmt::Display) {
        let _ = writeln!(
            self.text,
            "+{:.6}s level={level} msg=\"{msg}\"",
            self.started.elapsed().as_secs_f64()
        );
    }

    /// Records a step.
    pub fn info(&mut self, msg: impl std::fmt::Display) {
        self.push("info", &msg);
    }

    /// Records a failure.
    pub fn error(&mut self, msg: impl std::fmt::Display) {
        self.push("error", &msg);
    }

    /// The log text, one line per entry.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// What one probe produced.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    /// The samples (including `probe_success`).
    pub metrics: MetricSet,
    /// The probe's log.
    pub log: ProbeLog,
    /// Whether the probe succeeded.
    pub success: bool,
}

impl ProbeReport {
    /// The `debug=true` page: the log, then the metrics the probe would have returned.
    pub fn debug_text(&self) -> String {
        format!(
            "Logs for the probe:\n{}\n\nMetrics that would have been returned:\n{}",
            self.log.text(),
            encode(&self.metrics, Format::Text)
        )
    }
}

/// A request the prober refuses before probing (bad target, unknown module): HTTP 400 with this
/// one-line reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProbeRejection(pub String);

/// The exporter's side of `/probe`.
pub trait ProbeHandler: Send + Sync + 'static {
    /// Validates the query and runs one probe under the deadline derived from
    /// `q.scrape_timeout` and `q.timeout_header` (and any cap of its own, such as a module's
    /// timeout). A failing target is a report with `success == false`, not an error.
    fn probe(&self, q: ProbeQuery) -> BoxFuture<'_, Result<ProbeReport, ProbeRejection>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn query(header: Option<&str>, spent_ms: u64) -> ProbeQuery {
        let spent = Duration::from_millis(spent_ms);
        ProbeQuery {
            params: Vec::new(),
            timeout_header: header.map(str::to_string),
            scrape_timeout: ScrapeTimeout {
                offset: Duration::from_millis(500),
                max: Duration::from_secs(10),
            }
            .less(spent),
            spent,
        }
    }

    #[test]
    fn one_budget_for_header_module_timeout_and_auth_time() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        // Header minus offset; the module timeout caps it.
        assert_eq!(query(Some("5"), 0).budget(None), ms(4500));
        assert_eq!(query(Some("5"), 0).budget(Some(s(2))), s(2));
        // Without a header the module's timeout decides, even above --scrape.timeout.
        assert_eq!(query(None, 0).budget(Some(s(15))), s(15));
        assert_eq!(query(Some("20"), 0).budget(Some(s(15))), s(15));
        assert_eq!(query(None, 0).budget(None), s(10));
        // Time spent on authentication comes off every path, module timeout included.
        assert_eq!(query(Some("5"), 300).budget(None), ms(4200));
        assert_eq!(query(None, 300).budget(Some(s(2))), ms(1700));
        assert_eq!(query(None, 300).budget(None), ms(9700));
        // Never zero: a probe always gets to start.
        assert_eq!(query(None, 3000).budget(Some(s(2))), ms(1));
    }

    #[test]
    fn query_parsing_decodes_escapes() {
        let p = ProbeQuery::parse_params(
            "target=http%3A%2F%2Fa.b%2Fx%3Fy%3D1&module=http_2xx&debug=true&x=a+b&bad=%zz&end=%4&plus=%+1",
        );
        assert_eq!(p[0], ("target".into(), "http://a.b/x?y=1".into()));
        assert_eq!(p[1], ("module".into(), "http_2xx".into()));
        assert_eq!(p[3], ("x".into(), "a b".into()));
        assert_eq!(p[4], ("bad".into(), "%zz".into()));
        assert_eq!(p[5], ("end".into(), "%4".into()));
        assert_eq!(p[6], ("plus".into(), "% 1".into()), "not byte 0x01");
    }
}
