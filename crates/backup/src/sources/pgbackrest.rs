//! `pgbackrest`: `pgbackrest info --output=json`. With several stanzas a job is only as fresh
//! as its stalest stanza: the last success is the oldest of the stanzas' newest good backups,
//! the size the sum of their repository sizes, the artefact count all backups.

use super::{Failure, Reason, Report};
use crate::command::{self, Spec};
use crate::config::PgbackrestConfig;
use serde::Deserialize;
use std::ffi::OsString;
use std::time::Duration;

/// pgBackRest stanzas.
pub struct Pgbackrest {
    config: PgbackrestConfig,
    timeout: Duration,
}

#[derive(Deserialize)]
struct Stanza {
    name: String,
    #[serde(default)]
    backup: Vec<Backup>,
    status: StanzaStatus,
}

#[derive(Deserialize)]
struct StanzaStatus {
    code: i64,
    message: String,
}

#[derive(Deserialize)]
struct Backup {
    timestamp: Stamps,
    info: BackupInfo,
    #[serde(default)]
    error: Option<bool>,
}

#[derive(Deserialize)]
struct Stamps {
    start: f64,
    stop: f64,
}

#[derive(Deserialize)]
struct BackupInfo {
    repository: RepoSize,
}

#[derive(Deserialize)]
struct RepoSize {
    size: u64,
}

/// pgBackRest's stanza status code for "no valid backups" (the stanza exists, it is empty).
const NO_VALID_BACKUPS: i64 = 2;

impl Pgbackrest {
    /// A source for `config`, the command bounded by `timeout`.
    pub fn new(config: PgbackrestConfig, timeout: Duration) -> Self {
        Self { config, timeout }
    }

    /// Reads the stanzas.
    pub fn refresh(&self) -> Report {
        match self.read() {
            Ok(r) => r,
            Err(f) => Report::failed(f),
        }
    }

    fn read(&self) -> Result<Report, Failure> {
        let mut argv: Vec<OsString> = vec![self.config.binary.clone().into()];
        if let Some(c) = &self.config.config {
            let mut flag = OsString::from("--config=");
            flag.push(c);
            argv.push(flag);
        }
        if let [only] = self.config.stanzas.as_slice() {
            argv.push(format!("--stanza={only}").into());
        }
        argv.extend(["--output=json", "info"].map(OsString::from));
        let f = command::run(Spec {
            argv,
            timeout: self.timeout,
            stdout_limit: 64 << 20,
            ..Spec::default()
        })
        .map_err(|e| Failure::command(&e))?;
        if !f.status.success() {
            return Err(Failure::exited("pgbackrest info", &f));
        }
        let stanzas: Vec<Stanza> = serde_json::from_slice(&f.stdout)
            .map_err(|e| Failure::new(Reason::Parse, format!("pgbackrest info output: {e}")))?;
        summarise(&stanzas, &self.config.stanzas)
    }
}

fn summarise(all: &[Stanza], wanted: &[String]) -> Result<Report, Failure> {
    let selected: Vec<&Stanza> = if wanted.is_empty() {
        all.iter().collect()
    } else {
        wanted
            .iter()
            .map(|w| {
                all.iter().find(|s| s.name == *w).ok_or_else(|| {
                    Failure::new(
                        Reason::NotFound,
                        format!("pgbackrest reports no stanza {w:?}"),
                    )
                })
            })
            .collect::<Result<_, _>>()?
    };
    if selected.is_empty() {
        return Err(Failure::new(
            Reason::NotFound,
            "pgbackrest reports no stanza",
        ));
    }
    let mut report = Report {
        artifacts: Some(0),
        last_size: Some(0),
        ..Report::default()
    };
    let mut oldest_success: Option<Option<f64>> = None;
    let mut latest_attempt: Option<(f64, bool, f64)> = None;
    for s in &selected {
        if s.status.code != 0 && s.status.code != NO_VALID_BACKUPS {
            let reason = if s.status.message.contains("missing stanza") {
                Reason::NotFound
            } else {
                Reason::CommandFailed
            };
            return Err(Failure::new(
                reason,
                format!(
                    "stanza {}: {} (code {})",
                    s.name, s.status.message, s.status.code
                ),
            ));
        }
        report.artifacts = report.artifacts.map(|n| n + s.backup.len() as u64);
        let good = s
            .backup
            .iter()
            .filter(|b| b.error != Some(true))
            .max_by(|a, b| a.timestamp.stop.total_cmp(&b.timestamp.stop));
        if let Some(g) = good {
            report.last_size = report.last_size.map(|n| n + g.info.repository.size);
        }
        let t = good.map(|g| g.timestamp.stop);
        oldest_success = Some(match oldest_success {
            None => t,
            Some(prev) => match (prev, t) {
                (Some(a), Some(b)) => Some(a.min(b)),
                _ => None,
            },
        });
        if let Some(last) = s
            .backup
            .iter()
            .max_by(|a, b| a.timestamp.stop.total_cmp(&b.timestamp.stop))
        {
            let entry = (
                last.timestamp.stop,
                last.error != Some(true),
                last.timestamp.stop - last.timestamp.start,
            );
            if latest_attempt.is_none_or(|(t, _, _)| entry.0 > t) {
                latest_attempt = Some(entry);
            }
        }
    }
    report.last_success = oldest_success.flatten();
    if let Some((t, ok, d)) = latest_attempt {
        report.last_attempt = Some(t);
        report.last_attempt_ok = Some(ok);
        // A stop before the start (a clock step during the backup, or a damaged info file)
        // is no duration at all.
        report.last_duration = Some(d).filter(|d| d.is_finite() && *d >= 0.0);
    }
    if report.last_success.is_none() {
        report.last_size = None;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = r#"[
      {"name":"main","status":{"code":0,"message":"ok"},"backup":[
        {"label":"a","type":"full","timestamp":{"start":100,"stop":160},"info":{"size":5000,"delta":5000,"repository":{"size":700,"delta":700}},"error":false},
        {"label":"b","type":"incr","timestamp":{"start":200,"stop":230},"info":{"size":5000,"delta":10,"repository":{"size":710,"delta":10}}}]},
      {"name":"other","status":{"code":0,"message":"ok"},"backup":[
        {"label":"c","type":"full","timestamp":{"start":50,"stop":90},"info":{"size":1,"delta":1,"repository":{"size":1,"delta":1}}}]},
      {"name":"empty","status":{"code":2,"message":"no valid backups"},"backup":[]}
    ]"#;

    #[test]
    fn stalest_selected_stanza_wins() {
        let all: Vec<Stanza> = serde_json::from_str(INFO).unwrap();
        let r = summarise(&all, &["main".into()]).unwrap();
        assert_eq!(r.last_success, Some(230.0));
        assert_eq!(r.last_size, Some(710));
        assert_eq!(r.artifacts, Some(2));
        assert_eq!(r.last_duration, Some(30.0));
        let r = summarise(&all, &["main".into(), "other".into()]).unwrap();
        assert_eq!(r.last_success, Some(90.0));
        let r = summarise(&all, &[]).unwrap();
        assert_eq!(r.last_success, None, "the empty stanza has no success");
        let e = summarise(&all, &["nope".into()]).unwrap_err();
        assert_eq!(e.reason, Reason::NotFound);
    }

    /// Found by `tests/fuzz_sources.rs`: a stop before the start exported a negative duration.
    #[test]
    fn regression_stop_before_start_has_no_duration() {
        let info = r#"[{"name":"main","status":{"code":0,"message":"ok"},"backup":[
            {"label":"a","type":"full","timestamp":{"start":500,"stop":100},"info":{"size":1,"delta":1,"repository":{"size":1,"delta":1}}}]}]"#;
        let all: Vec<Stanza> = serde_json::from_str(info).unwrap();
        let r = summarise(&all, &[]).unwrap();
        assert_eq!(r.last_attempt, Some(100.0));
        assert_eq!(r.last_duration, None);
    }
}
