//! `watchkeeper-backup run --job NAME -- CMD ARGS...`: runs a backup command and records the
//! attempt in `<state_dir>/<job>.run.json`, then exits with the command's status (128 + the
//! signal when it was killed).
//!
//! The start is recorded before the command runs and the outcome after, each as an atomic,
//! durable replacement of the state file under an exclusive lock on `<job>.lock` (so concurrent
//! runs never lose a count). If the state cannot be written (read-only directory, full disk)
//! the backup still runs, the failure is logged, and the previously recorded state is left
//! intact. SIGTERM, SIGINT, SIGHUP and SIGQUIT are passed on to the command, and the attempt is
//! recorded with the command's resulting status.

use crate::command::exit_code;
use crate::config::Config;
use crate::state::{self, JobLock, RunState, StateError};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The `run` subcommand's arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The job (a `name` in the configuration file) this run is an attempt of.
    #[arg(long)]
    pub job: String,

    /// A file or directory whose size (files under it, recursively) is recorded as the backup's
    /// size when the command succeeds.
    #[arg(long = "size-path", value_name = "PATH")]
    pub size_path: Option<PathBuf>,

    /// The backup command and its arguments (after `--`).
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// Exit status when the configuration or the arguments are wrong (the command did not run).
const USAGE: u8 = 2;

/// Runs the wrapper; returns the command's exit status.
pub fn main(config_path: &Path, args: RunArgs) -> ExitCode {
    let config = match Config::load(config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(USAGE);
        }
    };
    if config.job(&args.job).is_none() {
        eprintln!(
            "error: {}: no job named {:?} (jobs: {})",
            config_path.display(),
            args.job,
            config
                .jobs
                .iter()
                .map(|j| j.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return ExitCode::from(USAGE);
    }
    let dir = config.state_dir.clone();
    if let Err(e) = std::fs::create_dir_all(&dir) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot create the state directory");
    }
    let job = args.job.clone();
    let started = state::now();
    let before = update(&dir, &job, |s| {
        s.last_start = Some(started);
        s.running = true;
    });
    if let Err(e) = &before {
        tracing::error!(job = %job, error = %e, "cannot record the start of the attempt; running the backup anyway");
    }
    let code = match spawn_and_wait(&args.command) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(job = %job, error = %e, "cannot start the backup command");
            127
        }
    };
    let ended = state::now();
    let size = if code == 0 {
        args.size_path.as_deref().and_then(|p| match tree_size(p) {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!(job = %job, path = %p.display(), error = %e, "cannot measure the backup's size");
                None
            }
        })
    } else {
        None
    };
    let after = update(&dir, &job, |s| {
        s.running = false;
        s.last_end = Some(ended);
        s.last_exit_code = Some(code);
        s.last_duration_seconds = Some(ended - started);
        if code == 0 {
            s.runs_success += 1;
            s.last_success_end = Some(ended);
            if size.is_some() {
                s.last_size_bytes = size;
            }
        } else {
            s.runs_failure += 1;
        }
    });
    match after {
        Ok(()) => {
            tracing::info!(job = %job, exit_code = code, duration_seconds = ended - started, "attempt recorded")
        }
        Err(e) => {
            tracing::error!(job = %job, exit_code = code, error = %e, "cannot record the attempt; the state file keeps its previous content")
        }
    }
    ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1))
}

/// Read-modify-write of the job's state under its lock. A state file that cannot be read is
/// never overwritten (its counters would be lost); a corrupt one is set aside and restarted.
fn update(dir: &Path, job: &str, change: impl FnOnce(&mut RunState)) -> Result<(), StateError> {
    let _lock = match JobLock::acquire(dir, job) {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::debug!(job = %job, error = %e, "cannot lock the state file");
            None
        }
    };
    let path = state::run_path(dir, job);
    let mut s = match state::read::<RunState>(&path) {
        Ok(s) => s,
        Err(e @ StateError::Corrupt { .. }) => {
            let aside = path.with_extension(format!("corrupt-{}", state::now() as u64));
            tracing::error!(job = %job, error = %e, moved_to = %aside.display(), "corrupt state file set aside; counting again from zero");
            std::fs::rename(&path, &aside).map_err(|source| StateError::Io {
                path: path.clone(),
                source,
            })?;
            RunState::default()
        }
        Err(e) => return Err(e),
    };
    change(&mut s);
    state::write(&path, &s)
}

/// Total size of the regular files at `path` (a file, or a directory walked recursively,
/// without following symbolic links).
pub fn tree_size(path: &Path) -> std::io::Result<u64> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_file() {
        return Ok(meta.len());
    }
    if !meta.is_dir() {
        return Ok(0);
    }
    let mut total = 0u64;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let m = entry.metadata()?;
            if m.is_dir() {
                stack.push(entry.path());
            } else if m.is_file() {
                total = total.saturating_add(m.len());
            }
        }
    }
    Ok(total)
}

/// Why the command could not be run.
#[derive(Debug, thiserror::Error)]
pub enum WrapperError {
    /// The async runtime could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The program could not be started.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Installing the signal handlers or waiting failed.
    #[error("{0}")]
    Io(#[source] std::io::Error),
}

/// Runs `argv` with the signals above passed on; returns its shell-style exit status.
fn spawn_and_wait(argv: &[OsString]) -> Result<i32, WrapperError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(WrapperError::Runtime)?;
    rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let program = argv.first().cloned().unwrap_or_default();
        let mut child = tokio::process::Command::new(&program)
            .args(&argv[1..])
            .spawn()
            .map_err(|source| WrapperError::Spawn {
                program: program.to_string_lossy().into_owned(),
                source,
            })?;
        let pid = child
            .id()
            .and_then(|id| rustix::process::Pid::from_raw(id as i32));
        let mut term = signal(SignalKind::terminate()).map_err(WrapperError::Io)?;
        let mut int = signal(SignalKind::interrupt()).map_err(WrapperError::Io)?;
        let mut hup = signal(SignalKind::hangup()).map_err(WrapperError::Io)?;
        let mut quit = signal(SignalKind::quit()).map_err(WrapperError::Io)?;
        let forward = |sig: rustix::process::Signal| {
            if let Some(pid) = pid {
                let _ = rustix::process::kill_process(pid, sig);
            }
        };
        loop {
            tokio::select! {
                status = child.wait() => return status.map(|s| exit_code(&s)).map_err(WrapperError::Io),
                _ = term.recv() => forward(rustix::process::Signal::TERM),
                _ = int.recv() => forward(rustix::process::Signal::INT),
                _ = hup.recv() => forward(rustix::process::Signal::HUP),
                _ = quit.recv() => forward(rustix::process::Signal::QUIT),
            }
        }
    })
}
