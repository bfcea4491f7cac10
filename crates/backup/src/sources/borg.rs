//! `borg`: `borg list --json` (archive count) and `borg info --json --last 1` (end time,
//! duration and original size of the newest archive). The passphrase is handed over a pipe
//! (`BORG_PASSPHRASE_FD`) or through `BORG_PASSCOMMAND`; borg runs with `TZ=UTC` so its naive
//! timestamps are UTC, with `--bypass-lock` (read-only access), and with its cache and
//! security files under `<state_dir>/borg`.

use super::{Failure, Reason, Report};
use crate::command::{self, Spec};
use crate::config::BorgConfig;
use serde::Deserialize;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;
use watchkeeper_core::config::Secret;

/// A borg repository.
pub struct Borg {
    config: BorgConfig,
    timeout: Duration,
    base_dir: PathBuf,
}

#[derive(Deserialize)]
struct List {
    archives: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Info {
    archives: Vec<ArchiveInfo>,
}

#[derive(Deserialize)]
struct ArchiveInfo {
    start: String,
    end: String,
    duration: f64,
    stats: ArchiveStats,
}

#[derive(Deserialize)]
struct ArchiveStats {
    original_size: u64,
}

impl Borg {
    /// A source for `config`; borg keeps its cache under `base_dir`.
    pub fn new(config: BorgConfig, timeout: Duration, base_dir: PathBuf) -> Self {
        Self {
            config,
            timeout,
            base_dir,
        }
    }

    fn base_env(&self) -> Vec<(OsString, OsString)> {
        vec![
            ("TZ".into(), "UTC".into()),
            ("BORG_BASE_DIR".into(), self.base_dir.clone().into()),
            ("BORG_RELOCATED_REPO_ACCESS_IS_OK".into(), "yes".into()),
            (
                "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK".into(),
                "yes".into(),
            ),
            ("BORG_EXIT_CODES".into(), "legacy".into()),
        ]
    }

    /// Variables for a verify command of this job (`BORG_REPO` and the passphrase command).
    pub fn verify_env(&self) -> Vec<(OsString, OsString)> {
        let mut env = self.base_env();
        env.push(("BORG_REPO".into(), self.config.repository.clone().into()));
        if let Some(c) = &self.config.passcommand {
            env.push(("BORG_PASSCOMMAND".into(), c.into()));
        }
        if let Some(f) = &self.config.passphrase_file {
            // borg splits the command like a shell would; quote the path.
            let quoted = format!("cat '{}'", f.display().to_string().replace('\'', "'\\''"));
            env.push(("BORG_PASSCOMMAND".into(), quoted.into()));
        }
        env
    }

    fn run(&self, args: &[&str]) -> Result<Vec<u8>, Failure> {
        let mut env = self.base_env();
        let mut pass_secret = None;
        if let Some(f) = &self.config.passphrase_file {
            let secret = Secret::from_file(f).map_err(|e| {
                Failure::new(Reason::Io, format!("passphrase_file {}: {e}", f.display()))
            })?;
            pass_secret = Some(("BORG_PASSPHRASE_FD".into(), secret));
        }
        if let Some(c) = &self.config.passcommand {
            env.push(("BORG_PASSCOMMAND".into(), c.into()));
        }
        let mut argv: Vec<OsString> = vec![self.config.binary.clone().into()];
        argv.extend(args.iter().map(OsString::from));
        argv.extend(["--json", "--bypass-lock"].map(OsString::from));
        argv.push(self.config.repository.clone().into());
        let f = command::run(Spec {
            argv,
            env,
            env_remove: [
                "BORG_PASSPHRASE",
                "BORG_PASSPHRASE_FD",
                "BORG_PASSCOMMAND",
                "BORG_REPO",
            ]
            .map(OsString::from)
            .to_vec(),
            timeout: self.timeout,
            stdout_limit: 256 << 20,
            pass_secret,
            ..Spec::default()
        })
        .map_err(|e| Failure::command(&e))?;
        if !f.status.success() {
            return Err(Failure::exited(&format!("borg {}", args.join(" ")), &f));
        }
        Ok(f.stdout)
    }

    /// Lists the archives and describes the newest.
    pub fn refresh(&self) -> Report {
        match self.read() {
            Ok(r) => r,
            Err(f) => Report::failed(f),
        }
    }

    fn read(&self) -> Result<Report, Failure> {
        let _ = std::fs::create_dir_all(&self.base_dir);
        let out = self.run(&["list"])?;
        let list: List = serde_json::from_slice(&out)
            .map_err(|e| Failure::new(Reason::Parse, format!("borg list output: {e}")))?;
        let mut report = Report {
            artifacts: Some(list.archives.len() as u64),
            ..Report::default()
        };
        if list.archives.is_empty() {
            return Ok(report);
        }
        let out = self.run(&["info", "--last", "1"])?;
        let info: Info = serde_json::from_slice(&out)
            .map_err(|e| Failure::new(Reason::Parse, format!("borg info output: {e}")))?;
        let a = info
            .archives
            .first()
            .ok_or_else(|| Failure::new(Reason::Parse, "borg info listed no archive"))?;
        let end = crate::timefmt::parse_timestamp(&a.end)
            .or_else(|| crate::timefmt::parse_timestamp(&a.start))
            .ok_or_else(|| Failure::new(Reason::Parse, format!("borg archive time {:?}", a.end)))?;
        report.last_success = Some(end);
        report.last_attempt = Some(end);
        report.last_attempt_ok = Some(true);
        // A negative duration (a broken clock during the backup) is no figure at all.
        report.last_duration = Some(a.duration).filter(|d| d.is_finite() && *d >= 0.0);
        report.last_size = Some(a.stats.original_size);
        Ok(report)
    }
}
