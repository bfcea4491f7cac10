//! The running exporter: for every job of the configuration in force, its source refreshed in
//! the background and its verify schedule. It follows reloads: a job whose source settings are
//! unchanged keeps its background task and cached report, and a job whose verify settings are
//! unchanged keeps its schedule (a reload never re-runs restic or a restore test).

use crate::config::{Config, JobConfig};
use crate::sources::{Report, Source};
use crate::verify::Scheduler;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use watchkeeper_core::config::ConfigError;
use watchkeeper_core::kit::{ConfigFile, Live};
use watchkeeper_core::refresh::Refreshed;

impl ConfigFile for Config {
    fn load(path: &std::path::Path, _previous: Option<&Self>) -> Result<Self, ConfigError> {
        Config::load(path)
    }

    fn describe(&self) -> String {
        watchkeeper_core::config::to_yaml(self)
    }

    fn summary(&self) -> String {
        let verify = self.jobs.iter().filter(|j| j.verify.is_some()).count();
        format!("{} jobs, {verify} with a restore test", self.jobs.len())
    }
}

/// A job's source with its background refresh.
pub struct SourceHandle {
    key: String,
    /// The last report (kept through failures: timestamps stay, `failure` is set).
    pub refreshed: Refreshed<Report>,
}

/// One job as it runs.
pub struct Job {
    /// Its configuration.
    pub config: JobConfig,
    /// Its source (`None` for a job watched through the `run` wrapper alone).
    pub source: Option<Arc<SourceHandle>>,
    /// Its restore-test schedule.
    pub verify: Option<Arc<Scheduler>>,
    verify_key: String,
}

/// Every job of one configuration.
pub struct Jobs {
    /// Where the wrapper's state files are.
    pub state_dir: PathBuf,
    /// The jobs, in configuration order.
    pub jobs: Vec<Job>,
}

/// The jobs in force, replaced on every successful reload.
pub struct Runtime {
    current: RwLock<Arc<Jobs>>,
}

fn source_key(job: &JobConfig, state_dir: &std::path::Path) -> String {
    serde_json::json!({
        "files": job.files, "checksum": job.checksum, "restic": job.restic, "borg": job.borg,
        "pgbackrest": job.pgbackrest, "status": job.status, "min_size": job.min_size,
        "refresh": job.refresh_interval().as_secs_f64(), "timeout": job.timeout.get().as_secs_f64(),
        "state_dir": state_dir,
    })
    .to_string()
}

fn start_source(
    job: &JobConfig,
    state_dir: &std::path::Path,
    key: String,
) -> Option<Arc<SourceHandle>> {
    let source = Source::for_job(job, state_dir)?;
    let name = job.name.clone();
    let kind = job.source_kind().as_str();
    let worst = source.worst_case(job.timeout.get());
    let last_good: Mutex<Option<Report>> = Mutex::new(None);
    let refreshed = Refreshed::spawn(job.refresh_interval(), worst, move || {
        let report = source.refresh();
        let mut good = last_good.lock().unwrap_or_else(|p| p.into_inner());
        match &report.failure {
            None => {
                tracing::debug!(job = %name, source = kind, seconds = report.refresh_seconds, "source refreshed");
                *good = Some(report.clone());
                Ok(report)
            }
            Some(f) => {
                tracing::warn!(job = %name, source = kind, reason = f.reason.as_str(), error = %f.message, "backup source unavailable; keeping its last good values");
                Ok(match good.as_ref() {
                    Some(g) => Report {
                        failure: report.failure.clone(),
                        refresh_seconds: report.refresh_seconds,
                        ..g.clone()
                    },
                    None => report,
                })
            }
        }
    });
    Some(Arc::new(SourceHandle { key, refreshed }))
}

fn build(config: &Config, old: Option<&Jobs>) -> Jobs {
    let find_old = |name: &str| old.and_then(|o| o.jobs.iter().find(|j| j.config.name == name));
    let jobs = config
        .jobs
        .iter()
        .map(|jc| {
            let previous = find_old(&jc.name);
            let key = source_key(jc, &config.state_dir);
            let source = match previous.and_then(|p| p.source.as_ref()) {
                Some(s) if s.key == key => Some(Arc::clone(s)),
                _ => start_source(jc, &config.state_dir, key.clone()),
            };
            let verify_key = format!("{key}{:?}", jc.verify);
            let verify = match previous {
                Some(p) if p.verify_key == verify_key && p.verify.is_some() => p.verify.clone(),
                _ => jc.verify.as_ref().map(|v| {
                    let env = Source::for_job(jc, &config.state_dir)
                        .map(|s| s.verify_env())
                        .unwrap_or_default();
                    let view = source.as_ref().map(|s| {
                        let s = Arc::clone(s);
                        Arc::new(move || {
                            let snap = s.refreshed.snapshot();
                            snap.updated?;
                            Some(snap.value.and_then(|r| r.newest_artifact.clone()))
                        }) as crate::verify::SourceView
                    });
                    Arc::new(Scheduler::spawn(
                        jc.name.clone(),
                        v.clone(),
                        env,
                        crate::state::verify_path(&config.state_dir, &jc.name),
                        view,
                    ))
                }),
            };
            Job {
                config: jc.clone(),
                source,
                verify,
                verify_key,
            }
        })
        .collect();
    Jobs {
        state_dir: config.state_dir.clone(),
        jobs,
    }
}

impl Runtime {
    /// Starts every job of the configuration in force and follows reloads (inside the runtime).
    pub fn start(live: &Arc<Live<Config>>) -> Arc<Runtime> {
        if let Err(e) = std::fs::create_dir_all(&live.get().state_dir) {
            tracing::warn!(error = %e, "cannot create the state directory");
        }
        let rt = Arc::new(Runtime {
            current: RwLock::new(Arc::new(build(&live.get(), None))),
        });
        let mut rx = live.subscribe();
        let weak = Arc::downgrade(&rt);
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let config = Arc::clone(&rx.borrow_and_update());
                let Some(rt) = weak.upgrade() else { break };
                let old = rt.jobs();
                let next = Arc::new(build(&config, Some(&old)));
                *rt.current.write().unwrap_or_else(|p| p.into_inner()) = next;
                tracing::info!(jobs = config.jobs.len(), "backup jobs reloaded");
            }
        });
        rt
    }

    /// A short HTML section for the landing page: each job, its source and objective.
    pub fn landing_html(&self) -> String {
        use watchkeeper_core::page::html_escape;
        let mut html = String::from("<h2>Backup jobs</h2><ul>");
        for j in &self.jobs().jobs {
            html.push_str(&format!(
                "<li>{} ({}; max_age {}{})</li>",
                html_escape(&j.config.name),
                j.config.source_kind().as_str(),
                j.config.max_age,
                if j.verify.is_some() {
                    "; restore test"
                } else {
                    ""
                }
            ));
        }
        html.push_str("</ul>");
        html
    }

    /// The jobs in force.
    pub fn jobs(&self) -> Arc<Jobs> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }
}
