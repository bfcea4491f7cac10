//! The restore-test scheduler: each job's `verify` command runs every `every`, bounded by its
//! `timeout` (the command's whole process group is killed at it). Results are kept in memory
//! for the scrape and persisted to `<state_dir>/<job>.verify.json`, whose `last_start` decides
//! the next run, so a restart does not run the test again before it is due.

use crate::command::{self, CommandError, Spec};
use crate::config::VerifyConfig;
use crate::state::{self, VerifyState};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the job's source currently knows, for the restore test: `None` until the source has
/// been read once (the first test waits for it), then the newest artefact, if any.
pub type SourceView = Arc<dyn Fn() -> Option<Option<PathBuf>> + Send + Sync>;

/// A running schedule for one job. Dropping it stops the schedule.
pub struct Scheduler {
    config: VerifyConfig,
    state: Arc<Mutex<VerifyState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Scheduler {
    /// Starts the schedule of `job` (must run inside the tokio runtime). The command gets
    /// `env` on top of the exporter's environment.
    pub fn spawn(
        job: String,
        config: VerifyConfig,
        env: Vec<(OsString, OsString)>,
        path: PathBuf,
        source: Option<SourceView>,
    ) -> Self {
        let initial = match state::read::<VerifyState>(&path) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(job = %job, error = %e, "cannot read the verify state; starting afresh");
                VerifyState::default()
            }
        };
        let state = Arc::new(Mutex::new(initial));
        let task = tokio::spawn(run_schedule(
            job,
            config.clone(),
            env,
            path,
            Arc::clone(&state),
            source,
        ));
        Self {
            config,
            state,
            task,
        }
    }

    /// The configuration this schedule runs.
    pub fn config(&self) -> &VerifyConfig {
        &self.config
    }

    /// The results so far.
    pub fn state(&self) -> VerifyState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn save(job: &str, path: &std::path::Path, s: &VerifyState) {
    if let Err(e) = state::write(path, s) {
        tracing::warn!(job = %job, error = %e, "cannot persist the verify state (kept in memory)");
    }
}

async fn run_schedule(
    job: String,
    config: VerifyConfig,
    env: Vec<(OsString, OsString)>,
    path: PathBuf,
    shared: Arc<Mutex<VerifyState>>,
    source: Option<SourceView>,
) {
    let every = config.every.get().as_secs_f64();
    loop {
        let last = shared.lock().unwrap_or_else(|p| p.into_inner()).last_start;
        let wait = last.map_or(0.0, |t| t + every - state::now());
        if wait > 0.0 {
            // Re-evaluated after at most an hour, so a changed wall clock is followed.
            tokio::time::sleep(Duration::from_secs_f64(wait.min(3600.0))).await;
            continue;
        }
        // The first read of the source tells the test which artefact is newest (bounded wait:
        // a source that never answers does not block the test for more than a minute).
        let mut artifact = None;
        if let Some(view) = &source {
            for _ in 0..300 {
                if let Some(newest) = view() {
                    artifact = newest;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        let mut env = env.clone();
        env.push(("WATCHKEEPER_BACKUP_JOB".into(), job.clone().into()));
        if let Some(a) = artifact {
            env.push(("WATCHKEEPER_BACKUP_ARTIFACT".into(), a.into()));
        }
        let started = state::now();
        let snapshot = {
            let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
            s.last_start = Some(started);
            s.clone()
        };
        save(&job, &path, &snapshot);
        tracing::info!(job = %job, "verify started");
        let spec = Spec {
            argv: config.command.iter().map(OsString::from).collect(),
            env,
            timeout: config.timeout.get(),
            stdout_limit: 64 * 1024,
            ..Spec::default()
        };
        let result = tokio::task::spawn_blocking(move || command::run(spec)).await;
        let ended = state::now();
        let snapshot = {
            let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
            s.last_end = Some(ended);
            s.last_duration_seconds = Some(ended - started);
            let ok = match &result {
                Ok(Ok(f)) if f.status.success() => {
                    s.runs_success += 1;
                    s.last_success_end = Some(ended);
                    tracing::info!(job = %job, duration_seconds = ended - started, "verify succeeded");
                    true
                }
                Ok(Ok(f)) => {
                    s.runs_failure += 1;
                    tracing::warn!(job = %job, exit_code = command::exit_code(&f.status), stderr = %f.stderr_summary(), "verify failed");
                    false
                }
                Ok(Err(e @ CommandError::Timeout { .. })) => {
                    s.runs_timeout += 1;
                    tracing::warn!(job = %job, error = %e, "verify timed out; its process group was killed");
                    false
                }
                Ok(Err(e)) => {
                    s.runs_failure += 1;
                    tracing::warn!(job = %job, error = %e, "verify could not run");
                    false
                }
                Err(e) => {
                    s.runs_failure += 1;
                    tracing::warn!(job = %job, error = %e, "verify task failed");
                    false
                }
            };
            s.last_success = Some(ok);
            s.clone()
        };
        save(&job, &path, &snapshot);
    }
}
