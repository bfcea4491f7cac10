//! Recent probes with their debug logs: a bounded ring buffer shown on the landing page, each
//! entry's log served at `/logs?id=N` (as blackbox_exporter's "Recent Probes" table).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};
use watchkeeper_core::page::{html_escape, Page, PageResponse};

/// One finished probe.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Increasing id, the `id` of `/logs?id=`.
    pub id: u64,
    /// When it finished, Unix seconds.
    pub at: u64,
    /// Module name.
    pub module: String,
    /// Target, with any URL credentials removed.
    pub target: String,
    /// Whether it succeeded.
    pub success: bool,
    /// Failure reason label, if it failed.
    pub reason: Option<&'static str>,
    /// Duration in seconds.
    pub duration: f64,
    /// The debug page: log followed by metrics.
    pub debug: String,
}

/// The ring buffer.
#[derive(Debug)]
pub struct History {
    limit: usize,
    inner: Mutex<(u64, VecDeque<Entry>)>,
}

impl History {
    /// A history keeping the last `limit` probes (0 keeps none).
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            inner: Mutex::new((0, VecDeque::with_capacity(limit.min(1024)))),
        }
    }

    /// Records a probe; returns its id.
    pub fn add(
        &self,
        module: &str,
        target: &str,
        success: bool,
        reason: Option<&'static str>,
        duration: f64,
        debug: String,
    ) -> u64 {
        let Ok(mut g) = self.inner.lock() else {
            return 0;
        };
        g.0 += 1;
        let id = g.0;
        if self.limit == 0 {
            return id;
        }
        while g.1.len() >= self.limit {
            g.1.pop_front();
        }
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        g.1.push_back(Entry {
            id,
            at,
            module: module.to_string(),
            target: redact_target(target),
            success,
            reason,
            duration,
            debug,
        });
        id
    }

    /// A copy of the entries, newest first.
    pub fn entries(&self) -> Vec<Entry> {
        self.inner
            .lock()
            .map(|g| g.1.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    /// One entry by id.
    pub fn get(&self, id: u64) -> Option<Entry> {
        self.inner
            .lock()
            .ok()
            .and_then(|g| g.1.iter().find(|e| e.id == id).cloned())
    }

    /// The newest entry for a module and target.
    pub fn latest(&self, module: &str, target: &str) -> Option<Entry> {
        let target = redact_target(target);
        self.inner.lock().ok().and_then(|g| {
            g.1.iter()
                .rev()
                .find(|e| e.module == module && e.target == target)
                .cloned()
        })
    }

    /// The landing-page section: a table of recent probes.
    pub fn landing_html(&self) -> String {
        let mut out = String::from("<h2>Recent Probes</h2>\n<table border=\"1\" cellpadding=\"3\">\n<tr><th>Module</th><th>Target</th><th>Result</th><th>Reason</th><th>Duration</th><th>Finished</th><th>Debug</th></tr>\n");
        for e in self.entries() {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3}s</td><td>{}</td><td><a href=\"logs?id={}\">Logs</a></td></tr>\n",
                html_escape(&e.module),
                html_escape(&e.target),
                if e.success { "<span style=\"color:green\">Success</span>" } else { "<strong style=\"color:red\">Failure</strong>" },
                e.reason.unwrap_or(""),
                e.duration,
                utc(e.at),
                e.id
            ));
        }
        out.push_str("</table>\n");
        out
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` for Unix seconds (civil-from-days, proleptic Gregorian).
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Removes `user:password@` from URL-shaped targets, so credentials never reach a page.
pub fn redact_target(target: &str) -> String {
    let Some(scheme_end) = target.find("://") else {
        return target.to_string();
    };
    let rest = &target[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}{}", &target[..scheme_end + 3], &rest[at + 1..]),
        None => target.to_string(),
    }
}

/// `/logs?id=N` (or `/logs?module=M&target=T` for the newest of that pair).
pub struct LogsPage(pub std::sync::Arc<History>);

impl Page for LogsPage {
    fn render(&self, query: &str) -> PageResponse {
        let params = watchkeeper_core::probe::ProbeQuery::parse_params(query);
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let entry = match get("id") {
            Some(id) => match id.parse::<u64>() {
                Ok(id) => self.0.get(id),
                Err(_) => return PageResponse::text(400, format!("id {id:?} is not a number\n")),
            },
            None => match (get("module"), get("target")) {
                (Some(m), Some(t)) => self.0.latest(m, t),
                _ => return PageResponse::text(400, "give id=N, or module and target\n".into()),
            },
        };
        match entry {
            Some(e) => PageResponse::text(200, e.debug),
            None => PageResponse::text(
                404,
                "Probe not found (it may have rotated out of --history.limit)\n".into(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_newest_first() {
        let h = History::new(2);
        for i in 0..3 {
            h.add("m", &format!("t{i}"), true, None, 0.1, format!("log {i}"));
        }
        let e = h.entries();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].target, "t2");
        assert!(h.get(1).is_none());
        assert_eq!(h.get(3).map(|e| e.debug), Some("log 2".into()));
    }

    #[test]
    fn utc_timestamps() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(784_111_777), "1994-11-06 08:49:37 UTC");
        assert_eq!(utc(1_709_210_096), "2024-02-29 12:34:56 UTC");
    }

    #[test]
    fn credentials_are_removed() {
        assert_eq!(redact_target("https://u:secret@h/x?a=b"), "https://h/x?a=b");
        assert_eq!(redact_target("h:443"), "h:443");
        assert_eq!(redact_target("http://h/p@x"), "http://h/p@x");
    }

    #[test]
    fn logs_page_answers_by_id_and_rejects_garbage() {
        let h = std::sync::Arc::new(History::new(5));
        let id = h.add("m", "t", false, Some("timeout"), 1.0, "the log".into());
        let page = LogsPage(h);
        assert_eq!(page.render(&format!("id={id}")).body, "the log");
        assert_eq!(page.render("id=x").status, 400);
        assert_eq!(page.render("id=999").status, 404);
        assert_eq!(page.render("module=m&target=t").status, 200);
    }
}
