//! The `/metrics` samples of every job: the wrapper's state file (read at scrape time, it is a
//! few hundred bytes), the source's cached report and the verify schedule's results. Nothing
//! here waits on a backup tool.

use crate::app::{Job, Runtime};
use crate::sources::Reason;
use crate::state::{self, RunState, StateError};
use std::sync::Arc;
use std::time::UNIX_EPOCH;
use watchkeeper_core::metrics::{MetricSet, MetricType};
use watchkeeper_core::{BlockingCollector, CollectError};

/// The collector of every job's samples.
pub struct JobsCollector(pub Arc<Runtime>);

impl BlockingCollector for JobsCollector {
    fn name(&self) -> &str {
        "jobs"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let jobs = self.0.jobs();
        for job in &jobs.jobs {
            let run = state::read::<RunState>(&state::run_path(&jobs.state_dir, &job.config.name));
            job_samples(out, job, run);
        }
        Ok(())
    }
}

fn gauge(out: &mut MetricSet, name: &'static str, help: &'static str, job: &str, v: Option<f64>) {
    let fam = out.family(name, help, MetricType::Gauge);
    if let Some(v) = v {
        fam.sample(&[("job", job)], v);
    }
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn bool01(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// The samples of one job.
pub fn job_samples(out: &mut MetricSet, job: &Job, run: Result<RunState, StateError>) {
    let name = job.config.name.as_str();
    let (run, run_error) = match run {
        Ok(r) => (r, None),
        Err(e) => {
            let reason = match e {
                StateError::Corrupt { .. } => Reason::Parse,
                StateError::Io { .. } => Reason::Io,
            };
            tracing::warn!(job = %name, error = %e, "cannot read the run wrapper's state");
            (RunState::default(), Some(reason))
        }
    };
    let snap = job.source.as_ref().map(|s| s.refreshed.snapshot());
    let report = snap.as_ref().and_then(|s| s.value.as_deref());
    let refresh_failed = snap.as_ref().and_then(|s| s.last_error.as_ref()).is_some();

    // The latest completed attempt decides backup_last_success and the duration. With a
    // source, what the source holds is the proof: a wrapper run that exited 0 but left an
    // artefact below min_size is a failure, and only the source's successes count.
    let wrapper_attempt = run
        .last_end
        .map(|t| (t, run.last_exit_code == Some(0), run.last_duration_seconds));
    let source_attempt = report.and_then(|r| {
        r.last_attempt
            .zip(r.last_attempt_ok)
            .map(|(t, ok)| (t, ok, r.last_duration))
    });
    let latest = match (wrapper_attempt, source_attempt) {
        (Some(w), Some(s)) if s.0 > w.0 => Some(s),
        (Some(w), Some(s)) => Some((w.0, w.1 && s.1, w.2)),
        (w, s) => w.or(s),
    };
    let last_success = if job.source.is_some() {
        report.and_then(|r| r.last_success)
    } else {
        run.last_success_end
    };

    gauge(
        out,
        "backup_last_success_timestamp_seconds",
        "When the last successful backup finished (Unix seconds).",
        name,
        last_success,
    );
    gauge(
        out,
        "backup_last_attempt_timestamp_seconds",
        "When the last backup attempt started (run wrapper) or finished (source), Unix seconds.",
        name,
        max_opt(run.last_start, report.and_then(|r| r.last_attempt)),
    );
    gauge(
        out,
        "backup_last_success",
        "Whether the latest completed backup attempt succeeded (1) or failed (0).",
        name,
        latest.map(|(_, ok, _)| bool01(ok)),
    );
    gauge(
        out,
        "backup_last_duration_seconds",
        "How long the latest completed backup attempt took.",
        name,
        latest.and_then(|(_, _, d)| d),
    );
    gauge(out, "backup_last_size_bytes", "Size of the newest backup (artefact, snapshot restore size, archive original size, or pgBackRest repository size).", name,
        report.and_then(|r| r.last_size).or(run.last_size_bytes).map(|n| n as f64));
    gauge(
        out,
        "backup_artifacts",
        "Number of backup artefacts, snapshots, archives or backups the source holds.",
        name,
        report.and_then(|r| r.artifacts).map(|n| n as f64),
    );
    gauge(
        out,
        "backup_artifacts_size_bytes",
        "Total size of all artefacts matched by a files source.",
        name,
        report.and_then(|r| r.total_bytes).map(|n| n as f64),
    );
    gauge(
        out,
        "backup_integrity_ok",
        "Whether the newest artefact matches its checksum sidecar (1) or not (0).",
        name,
        report.and_then(|r| r.integrity_ok).map(bool01),
    );
    gauge(
        out,
        "backup_max_age_seconds",
        "The job's objective: a successful backup must be at most this old.",
        name,
        Some(job.config.max_age.get().as_secs_f64()),
    );
    gauge(
        out,
        "backup_min_size_bytes",
        "The job's configured minimum backup size.",
        name,
        job.config.min_size.map(|s| s.0 as f64),
    );
    gauge(
        out,
        "backup_running",
        "Whether the run wrapper has an attempt of this job in progress.",
        name,
        Some(bool01(run.running)),
    );

    let runs = out.family(
        "backup_runs_total",
        "Backup attempts run through the wrapper, by result.",
        MetricType::Counter,
    );
    runs.sample(
        &[("job", name), ("result", "success")],
        run.runs_success as f64,
    );
    runs.sample(
        &[("job", name), ("result", "failure")],
        run.runs_failure as f64,
    );

    // Source health: the wrapper's state file, then the source's last refresh.
    let reason = run_error.or_else(|| {
        if refresh_failed {
            Some(Reason::Timeout)
        } else {
            report.and_then(|r| r.failure.as_ref()).map(|f| f.reason)
        }
    });
    let refreshed_once = snap.as_ref().is_none_or(|s| s.updated.is_some());
    gauge(out, "backup_source_up", "Whether the job's source (and the wrapper's state file) could be read at the last refresh.", name,
        refreshed_once.then(|| bool01(reason.is_none())));
    let errors = out.family(
        "backup_source_error",
        "Why the job's source could not be read (1 for the current reason).",
        MetricType::Gauge,
    );
    for r in Reason::ALL {
        errors.sample(
            &[("job", name), ("reason", r.as_str())],
            bool01(reason == Some(r)),
        );
    }
    let updated = snap
        .as_ref()
        .and_then(|s| s.updated)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok());
    gauge(
        out,
        "backup_source_refresh_timestamp_seconds",
        "When the job's source was last read in the background (Unix seconds).",
        name,
        updated.map(|d| d.as_secs_f64()),
    );
    gauge(
        out,
        "backup_source_refresh_duration_seconds",
        "How long the last background read of the job's source took.",
        name,
        report.map(|r| r.refresh_seconds),
    );

    let Some(verify) = &job.verify else { return };
    let v = verify.state();
    gauge(
        out,
        "backup_verify_last_success",
        "Whether the last restore test succeeded (1) or failed or timed out (0).",
        name,
        v.last_success.map(bool01),
    );
    gauge(
        out,
        "backup_verify_last_success_timestamp_seconds",
        "When the last successful restore test finished (Unix seconds).",
        name,
        v.last_success_end,
    );
    gauge(
        out,
        "backup_verify_last_run_timestamp_seconds",
        "When the last restore test finished (Unix seconds).",
        name,
        v.last_end,
    );
    gauge(
        out,
        "backup_verify_last_duration_seconds",
        "How long the last restore test took.",
        name,
        v.last_duration_seconds,
    );
    gauge(
        out,
        "backup_verify_every_seconds",
        "How often the restore test is scheduled.",
        name,
        Some(verify.config().every.get().as_secs_f64()),
    );
    let runs = out.family(
        "backup_verify_runs_total",
        "Restore tests run, by result.",
        MetricType::Counter,
    );
    runs.sample(
        &[("job", name), ("result", "success")],
        v.runs_success as f64,
    );
    runs.sample(
        &[("job", name), ("result", "failure")],
        v.runs_failure as f64,
    );
    runs.sample(
        &[("job", name), ("result", "timeout")],
        v.runs_timeout as f64,
    );
}
