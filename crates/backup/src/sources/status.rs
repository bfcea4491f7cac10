//! `status`: a small JSON file any backup script can write (see docs/backup.md):
//!
//! ```json
//! {"job": "nightly-db", "started": "2026-12-01T02:00:00Z", "finished": "2026-12-01T02:14:09Z",
//!  "success": true, "bytes": 123456789}
//! ```
//! `started` and `finished` are RFC 3339 strings or Unix seconds; `job` (optional) must match
//! the job's name; `bytes` and `last_success` (when the last attempt failed: the end of the last
//! good one) are optional.

use super::{Failure, Reason, Report};
use serde::Deserialize;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;

/// A status file.
pub struct Status {
    path: PathBuf,
    job: String,
    /// The newest success seen since start, for when the file only holds a failed attempt.
    seen_success: Mutex<Option<f64>>,
}

/// A time as a number of Unix seconds or an RFC 3339 string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Time {
    Secs(f64),
    Text(String),
}

impl Time {
    fn secs(&self, field: &str) -> Result<f64, Failure> {
        match self {
            Time::Secs(s) if s.is_finite() && *s >= 0.0 => Ok(*s),
            Time::Secs(_) => Err(Failure::new(
                Reason::Parse,
                format!("{field}: not a valid time"),
            )),
            Time::Text(t) => crate::timefmt::parse_timestamp(t).ok_or_else(|| {
                Failure::new(Reason::Parse, format!("{field}: not an RFC 3339 time"))
            }),
        }
    }
}

/// The documented file format.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusFile {
    #[serde(default)]
    job: Option<String>,
    started: Time,
    #[serde(default)]
    finished: Option<Time>,
    success: bool,
    #[serde(default)]
    bytes: Option<u64>,
    #[serde(default)]
    last_success: Option<Time>,
}

impl Status {
    /// A source reading `path` for job `job`.
    pub fn new(path: PathBuf, job: String) -> Self {
        Self {
            path,
            job,
            seen_success: Mutex::new(None),
        }
    }

    /// Reads the file.
    pub fn refresh(&self) -> Report {
        match self.read() {
            Ok(r) => r,
            Err(f) => Report::failed(Failure::new(
                f.reason,
                format!("{}: {}", self.path.display(), f.message),
            )),
        }
    }

    fn read(&self) -> Result<Report, Failure> {
        let mut text = Vec::new();
        let file = std::fs::File::open(&self.path).map_err(|e| {
            let reason = if e.kind() == std::io::ErrorKind::NotFound {
                Reason::NotFound
            } else {
                Reason::Io
            };
            Failure::new(reason, e.to_string())
        })?;
        file.take(1 << 20)
            .read_to_end(&mut text)
            .map_err(|e| Failure::new(Reason::Io, e.to_string()))?;
        let s: StatusFile = serde_json::from_slice(&text)
            .map_err(|e| Failure::new(Reason::Parse, format!("invalid status file: {e}")))?;
        if let Some(job) = &s.job {
            if *job != self.job {
                return Err(Failure::new(
                    Reason::Parse,
                    format!("the file is for job {job:?}, not {:?}", self.job),
                ));
            }
        }
        let started = s.started.secs("started")?;
        let finished = s
            .finished
            .as_ref()
            .map(|t| t.secs("finished"))
            .transpose()?;
        let stated_success = s
            .last_success
            .as_ref()
            .map(|t| t.secs("last_success"))
            .transpose()?;
        let end = finished.unwrap_or(started);
        let mut seen = self.seen_success.lock().unwrap_or_else(|p| p.into_inner());
        if s.success && finished.is_some() {
            *seen = Some(seen.map_or(end, |t| t.max(end)));
        }
        if let Some(t) = stated_success {
            *seen = Some(seen.map_or(t, |s| s.max(t)));
        }
        Ok(Report {
            last_success: *seen,
            last_attempt: Some(end),
            // An attempt without `finished` is still running: no verdict yet.
            last_attempt_ok: finished.map(|_| s.success),
            last_duration: finished.map(|f| (f - started).max(0.0)),
            last_size: s.bytes,
            ..Report::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_format() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        std::fs::write(&p, r#"{"job":"j","started":"2024-02-29T12:00:00Z","finished":1709208060,"success":true,"bytes":42}"#).unwrap();
        let s = Status::new(p.clone(), "j".into());
        let r = s.refresh();
        assert_eq!(r.failure, None);
        assert_eq!(r.last_success, Some(1_709_208_060.0));
        assert_eq!(r.last_duration, Some(60.0));
        assert_eq!(r.last_size, Some(42));
        std::fs::write(
            &p,
            r#"{"started":1709300000,"finished":1709300100,"success":false}"#,
        )
        .unwrap();
        let r = s.refresh();
        assert_eq!(r.last_attempt_ok, Some(false));
        assert_eq!(
            r.last_success,
            Some(1_709_208_060.0),
            "the earlier success is kept"
        );
        std::fs::write(&p, "{\"started\": tru").unwrap();
        assert_eq!(s.refresh().failure.unwrap().reason, Reason::Parse);
    }
}
