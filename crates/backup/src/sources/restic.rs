//! `restic`: `restic snapshots --json` (count, newest snapshot time) and `restic stats --json
//! latest` (restore size of the newest snapshot). The repository and password reach restic
//! through its environment (`RESTIC_REPOSITORY`, `RESTIC_PASSWORD_FILE` or
//! `RESTIC_PASSWORD_COMMAND`), never its command line.

use super::{Failure, Reason, Report};
use crate::command::{self, Spec};
use crate::config::ResticConfig;
use serde::Deserialize;
use std::ffi::OsString;
use std::time::Duration;

/// A restic repository.
pub struct Restic {
    config: ResticConfig,
    timeout: Duration,
}

#[derive(Deserialize)]
struct Snapshot {
    time: String,
}

#[derive(Deserialize)]
struct Stats {
    total_size: u64,
}

impl Restic {
    /// A source for `config`, each command bounded by `timeout`.
    pub fn new(config: ResticConfig, timeout: Duration) -> Self {
        Self { config, timeout }
    }

    /// The variables that point restic at the repository and its password.
    pub fn env(&self) -> Vec<(OsString, OsString)> {
        let mut env = vec![
            (
                "RESTIC_REPOSITORY".into(),
                self.config.repository.clone().into(),
            ),
            ("TZ".into(), "UTC".into()),
        ];
        if let Some(f) = &self.config.password_file {
            env.push(("RESTIC_PASSWORD_FILE".into(), f.clone().into()));
        }
        if let Some(c) = &self.config.password_command {
            env.push(("RESTIC_PASSWORD_COMMAND".into(), c.into()));
        }
        env
    }

    fn run(&self, args: &[&str]) -> Result<Vec<u8>, Failure> {
        let mut argv: Vec<OsString> = vec![self.config.binary.clone().into()];
        argv.extend(["--no-cache", "--no-lock", "--json"].map(OsString::from));
        argv.extend(args.iter().map(OsString::from));
        let f = command::run(Spec {
            argv,
            env: self.env(),
            env_remove: [
                "RESTIC_PASSWORD",
                "RESTIC_PASSWORD_FILE",
                "RESTIC_PASSWORD_COMMAND",
                "RESTIC_REPOSITORY_FILE",
            ]
            .map(OsString::from)
            .to_vec(),
            timeout: self.timeout,
            stdout_limit: 256 << 20,
            ..Spec::default()
        })
        .map_err(|e| Failure::command(&e))?;
        if !f.status.success() {
            return Err(Failure::exited(&format!("restic {}", args.join(" ")), &f));
        }
        Ok(f.stdout)
    }

    /// Lists the snapshots and sizes the newest.
    pub fn refresh(&self) -> Report {
        match self.read() {
            Ok(r) => r,
            Err(f) => Report::failed(f),
        }
    }

    fn read(&self) -> Result<Report, Failure> {
        let out = self.run(&["snapshots"])?;
        let snaps: Vec<Snapshot> = serde_json::from_slice(&out)
            .map_err(|e| Failure::new(Reason::Parse, format!("restic snapshots output: {e}")))?;
        let mut newest: Option<f64> = None;
        for s in &snaps {
            let t = crate::timefmt::parse_timestamp(&s.time).ok_or_else(|| {
                Failure::new(Reason::Parse, format!("restic snapshot time {:?}", s.time))
            })?;
            newest = Some(newest.map_or(t, |n| n.max(t)));
        }
        let mut report = Report {
            artifacts: Some(snaps.len() as u64),
            last_success: newest,
            last_attempt: newest,
            last_attempt_ok: newest.map(|_| true),
            ..Report::default()
        };
        if newest.is_some() {
            let out = self.run(&["stats", "latest"])?;
            let stats: Stats = serde_json::from_slice(&out)
                .map_err(|e| Failure::new(Reason::Parse, format!("restic stats output: {e}")))?;
            report.last_size = Some(stats.total_size);
        }
        Ok(report)
    }
}
