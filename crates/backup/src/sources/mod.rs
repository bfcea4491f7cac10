//! The sources of a job's backup facts. Each reads its tool or files in the background (see
//! [`crate::app`]) and produces a [`Report`]; a failure is a [`Failure`] with a bounded
//! [`Reason`] (a metric label) and a message for the log, never containing a secret.

pub mod borg;
pub mod files;
pub mod pgbackrest;
pub mod restic;
pub mod status;

use crate::command::{CommandError, Finished};
use crate::config::{JobConfig, SourceKind};
use std::path::Path;

/// Why a source could not be read: the `reason` label of `backup_source_error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A file or directory could not be read.
    Io,
    /// The glob matched no artefact.
    NoMatch,
    /// Output or a file could not be understood.
    Parse,
    /// Wrong password or passphrase, or none given.
    Auth,
    /// A command ran past its timeout and was killed.
    Timeout,
    /// A command could not be started.
    Spawn,
    /// A command exited non-zero for another reason.
    CommandFailed,
    /// The repository, stanza or file does not exist.
    NotFound,
}

impl Reason {
    /// Every reason, for initialising the label set.
    pub const ALL: [Reason; 8] = [
        Reason::Io,
        Reason::NoMatch,
        Reason::Parse,
        Reason::Auth,
        Reason::Timeout,
        Reason::Spawn,
        Reason::CommandFailed,
        Reason::NotFound,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Io => "io",
            Reason::NoMatch => "no_match",
            Reason::Parse => "parse",
            Reason::Auth => "auth",
            Reason::Timeout => "timeout",
            Reason::Spawn => "spawn",
            Reason::CommandFailed => "command_failed",
            Reason::NotFound => "not_found",
        }
    }
}

/// A source that could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// The bounded reason.
    pub reason: Reason,
    /// What happened, for the log.
    pub message: String,
}

impl Failure {
    /// A failure with `reason`.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }

    /// A command that did not finish.
    pub fn command(e: &CommandError) -> Self {
        let reason = match e {
            CommandError::Timeout { .. } => Reason::Timeout,
            CommandError::Spawn { .. } => Reason::Spawn,
            CommandError::Wait { .. } | CommandError::SecretPipe { .. } => Reason::Io,
        };
        Self::new(reason, e.to_string())
    }

    /// A command that finished with a non-zero status: the reason from its standard error.
    pub fn exited(what: &str, f: &Finished) -> Self {
        let err = f.stderr_summary();
        let lower = String::from_utf8_lossy(&f.stderr).to_lowercase();
        let reason = if lower.contains("wrong password")
            || lower.contains("passphrase supplied")
            || lower.contains("no key found")
            || lower.contains("passphrase is incorrect")
            || lower.contains("password is required")
            || lower.contains("enter passphrase")
            || lower.contains("enter password")
        {
            Reason::Auth
        } else if lower.contains("does not exist")
            || lower.contains("no such file")
            || lower.contains("is not a valid repository")
            || lower.contains("unable to open config file")
        {
            Reason::NotFound
        } else {
            Reason::CommandFailed
        };
        Self::new(
            reason,
            format!(
                "{what} exited with status {}: {err}",
                crate::command::exit_code(&f.status)
            ),
        )
    }
}

/// What one refresh of a source found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Why the source could not be read (the other fields are then empty).
    pub failure: Option<Failure>,
    /// When the newest good backup finished (Unix seconds).
    pub last_success: Option<f64>,
    /// When the newest backup attempt the source knows of finished.
    pub last_attempt: Option<f64>,
    /// Whether that attempt succeeded.
    pub last_attempt_ok: Option<bool>,
    /// How long that attempt took.
    pub last_duration: Option<f64>,
    /// The size of the newest backup, bytes.
    pub last_size: Option<u64>,
    /// Number of artefacts, snapshots, archives or backups.
    pub artifacts: Option<u64>,
    /// Total bytes of all artefacts (files source).
    pub total_bytes: Option<u64>,
    /// Integrity of the newest artefact, when checked.
    pub integrity_ok: Option<bool>,
    /// How long the refresh took, seconds.
    pub refresh_seconds: f64,
    /// The newest artefact (files source), handed to the job's restore test as
    /// `WATCHKEEPER_BACKUP_ARTIFACT`.
    pub newest_artifact: Option<std::path::PathBuf>,
}

impl Report {
    /// A report of a source that could not be read.
    pub fn failed(f: Failure) -> Self {
        Self {
            failure: Some(f),
            ..Self::default()
        }
    }
}

/// A job's source, ready to be refreshed.
pub enum Source {
    /// A glob of artefacts.
    Files(files::Files),
    /// A status file.
    Status(status::Status),
    /// A restic repository.
    Restic(restic::Restic),
    /// A borg repository.
    Borg(borg::Borg),
    /// pgBackRest stanzas.
    Pgbackrest(pgbackrest::Pgbackrest),
}

impl Source {
    /// The source of `job` (`None` for a wrapper-only job). `state_dir` holds tool caches.
    pub fn for_job(job: &JobConfig, state_dir: &Path) -> Option<Source> {
        let timeout = job.timeout.get();
        Some(match job.source_kind() {
            SourceKind::Wrapper => return None,
            SourceKind::Files => Source::Files(files::Files::new(
                job.files.clone().unwrap_or_default(),
                job.min_size.map(|s| s.0),
                job.checksum,
            )),
            SourceKind::Status => Source::Status(status::Status::new(
                job.status.clone().unwrap_or_default(),
                job.name.clone(),
            )),
            SourceKind::Restic => Source::Restic(restic::Restic::new(job.restic.clone()?, timeout)),
            SourceKind::Borg => Source::Borg(borg::Borg::new(
                job.borg.clone()?,
                timeout,
                state_dir.join("borg"),
            )),
            SourceKind::Pgbackrest => Source::Pgbackrest(pgbackrest::Pgbackrest::new(
                job.pgbackrest.clone()?,
                timeout,
            )),
        })
    }

    /// Reads the source once (blocking; every command bounded by the job's timeout).
    pub fn refresh(&self) -> Report {
        let started = std::time::Instant::now();
        let mut r = match self {
            Source::Files(s) => s.refresh(),
            Source::Status(s) => s.refresh(),
            Source::Restic(s) => s.refresh(),
            Source::Borg(s) => s.refresh(),
            Source::Pgbackrest(s) => s.refresh(),
        };
        r.refresh_seconds = started.elapsed().as_secs_f64();
        r
    }

    /// Environment a verify command of this job gets, so `[restic, check]` or
    /// `[borg, check]` needs no repository or password repeated.
    pub fn verify_env(&self) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
        match self {
            Source::Restic(s) => s.env(),
            Source::Borg(s) => s.verify_env(),
            _ => Vec::new(),
        }
    }

    /// The worst-case duration of one refresh (for the background task's own timeout).
    pub fn worst_case(&self, timeout: std::time::Duration) -> std::time::Duration {
        match self {
            Source::Files(_) | Source::Status(_) => timeout,
            _ => timeout * 2 + std::time::Duration::from_secs(5),
        }
    }
}
