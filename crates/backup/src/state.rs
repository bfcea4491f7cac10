//! The state directory: one `<job>.run.json` per job written by the `run` wrapper, and one
//! `<job>.verify.json` written by the exporter's verify scheduler.
//!
//! Every write is atomic and durable: a temporary file in the same directory is written and
//! fsynced, renamed over the old file, and the directory is fsynced. A full disk or a read-only
//! directory makes the write fail and leaves the previous file exactly as it was.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Why state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid state JSON.
    #[error("{path}: corrupt state file: {detail}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        detail: String,
    },
}

/// Seconds since the Unix epoch, now.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// What the `run` wrapper has recorded for one job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunState {
    /// Completed runs that exited 0.
    pub runs_success: u64,
    /// Completed runs that exited non-zero or were killed.
    pub runs_failure: u64,
    /// Start of the last attempt (Unix seconds).
    pub last_start: Option<f64>,
    /// End of the last completed attempt.
    pub last_end: Option<f64>,
    /// Exit status of the last completed attempt (128 + signal when killed).
    pub last_exit_code: Option<i32>,
    /// Duration of the last completed attempt.
    pub last_duration_seconds: Option<f64>,
    /// End of the last successful attempt.
    pub last_success_end: Option<f64>,
    /// Size reported for the last successful attempt (`--size-path`).
    pub last_size_bytes: Option<u64>,
    /// Whether an attempt is in progress (its start is recorded, its end not yet).
    pub running: bool,
}

/// What the verify scheduler has recorded for one job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VerifyState {
    /// Runs that exited 0.
    pub runs_success: u64,
    /// Runs that exited non-zero or could not start.
    pub runs_failure: u64,
    /// Runs killed at their timeout.
    pub runs_timeout: u64,
    /// Start of the last run.
    pub last_start: Option<f64>,
    /// End of the last run.
    pub last_end: Option<f64>,
    /// Whether the last run succeeded.
    pub last_success: Option<bool>,
    /// End of the last successful run.
    pub last_success_end: Option<f64>,
    /// Duration of the last run.
    pub last_duration_seconds: Option<f64>,
}

/// `<dir>/<job>.run.json`.
pub fn run_path(dir: &Path, job: &str) -> PathBuf {
    dir.join(format!("{job}.run.json"))
}

/// `<dir>/<job>.verify.json`.
pub fn verify_path(dir: &Path, job: &str) -> PathBuf {
    dir.join(format!("{job}.verify.json"))
}

/// Reads a state file; a missing file is the default (nothing recorded yet).
pub fn read<T: Default + serde::de::DeserializeOwned>(path: &Path) -> Result<T, StateError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(T::default()),
        Err(source) => {
            return Err(StateError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    serde_json::from_slice(&bytes).map_err(|e| StateError::Corrupt {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

/// Writes `value` to `path` atomically and durably (temp file, fsync, rename, fsync dir).
pub fn write<T: Serialize>(path: &Path, value: &T) -> Result<(), StateError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| StateError::Io { path: p, source }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| StateError::Corrupt {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    bytes.push(b'\n');
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(&bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io(path))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// An exclusive lock on `<dir>/<job>.lock`, held while the wrapper updates a job's state, so
/// two runs of the same job never lose each other's counts.
pub struct JobLock(#[allow(dead_code)] std::fs::File);

impl JobLock {
    /// Waits for the lock (`None` when the lock file cannot be created, e.g. read-only dir).
    pub fn acquire(dir: &Path, job: &str) -> Result<JobLock, StateError> {
        let path = dir.join(format!("{job}.lock"));
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| StateError::Io {
                path: path.clone(),
                source,
            })?;
        rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive).map_err(|e| {
            StateError::Io {
                path,
                source: e.into(),
            }
        })?;
        Ok(JobLock(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_missing_is_default() {
        let dir = tempfile::tempdir().unwrap();
        let p = run_path(dir.path(), "a");
        assert_eq!(read::<RunState>(&p).unwrap(), RunState::default());
        let s = RunState {
            runs_success: 3,
            last_exit_code: Some(0),
            ..RunState::default()
        };
        write(&p, &s).unwrap();
        assert_eq!(read::<RunState>(&p).unwrap(), s);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp file left behind");
    }

    #[test]
    fn a_corrupt_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = run_path(dir.path(), "a");
        std::fs::write(&p, "{not json").unwrap();
        assert!(matches!(
            read::<RunState>(&p),
            Err(StateError::Corrupt { .. })
        ));
    }
}
