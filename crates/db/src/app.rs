//! The running configuration: targets built from the config file, the `/metrics` collector that
//! scrapes them all, the `/probe` handler that scrapes one, and reloading.

use crate::config::{Config, Kind, Resolved};
use crate::target::{Target, TargetHandle};
use std::path::Path;
use std::sync::Arc;
use watchkeeper_core::config::ConfigError;
use watchkeeper_core::kit::{ConfigFile, Live};
use watchkeeper_core::metrics::MetricSet;
use watchkeeper_core::probe::{ProbeHandler, ProbeLog, ProbeQuery, ProbeRejection, ProbeReport};
use watchkeeper_core::{BoxFuture, CollectError, Collector, ScrapeContext};

type Targets = Arc<Vec<Arc<dyn TargetHandle>>>;

/// The exporter's state: the config in force and the targets built from it, swapped together on
/// a reload by the kit's [`Live`] holder.
pub type App = Live<Loaded>;

/// One loaded configuration and its targets.
pub struct Loaded {
    config: Config,
    targets: Targets,
}

/// Builds the engine-specific target for `r`, reusing `old` when its settings are unchanged
/// (so a reload keeps open connections to targets it did not touch). Targets with TLS are
/// always rebuilt: a reload is how rotated certificate files at the same paths are picked up.
fn build_target(
    r: Resolved,
    old: &[Arc<dyn TargetHandle>],
) -> Result<Arc<dyn TargetHandle>, String> {
    if r.config.tls.is_none() {
        if let Some(same) = old.iter().find(|t| *t.resolved() == r) {
            return Ok(Arc::clone(same));
        }
    }
    let tls = match &r.config.tls {
        Some(opts) => Some(
            opts.build()
                .map_err(|e| format!("target {}: tls: {e}", r.config.name))?,
        ),
        None => None,
    };
    Ok(match r.config.kind {
        Kind::Postgres => Arc::new(Target::new(crate::postgres::Postgres::new(&r, tls), r)),
        Kind::Mysql => Arc::new(Target::new(crate::mysql::Mysql::new(&r), r)),
        Kind::Redis => Arc::new(Target::new(crate::redis::Redis::new(&r)?, r)),
    })
}

impl ConfigFile for Loaded {
    /// Loads the config file and builds every target (no connection is opened yet); on a
    /// reload, unchanged targets keep their connections.
    fn load(path: &Path, previous: Option<&Self>) -> Result<Self, ConfigError> {
        let config = Config::load(path)?;
        let old = previous.map_or(&[][..], |p| &p.targets[..]);
        let targets = config
            .resolve(path)?
            .into_iter()
            .map(|r| build_target(r, old))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|message| ConfigError::Invalid {
                path: path.to_path_buf(),
                message,
            })?;
        Ok(Loaded {
            config,
            targets: Arc::new(targets),
        })
    }

    fn describe(&self) -> String {
        watchkeeper_core::config::to_yaml(&self.config)
    }

    fn summary(&self) -> String {
        format!("{} targets", self.targets.len())
    }
}

impl Loaded {
    /// The targets in force.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// The target called `name`.
    pub fn find(&self, name: &str) -> Option<Arc<dyn TargetHandle>> {
        self.targets.iter().find(|t| t.name() == name).cloned()
    }
}

/// The `/metrics` collector scraping every target concurrently.
pub fn collector(app: &Arc<App>) -> Arc<dyn Collector> {
    Arc::new(AllTargets(Arc::clone(app)))
}

/// The `/probe?target=NAME` handler.
pub fn prober(app: &Arc<App>) -> Arc<dyn ProbeHandler> {
    Arc::new(Prober(Arc::clone(app)))
}

/// A short HTML section for the landing page: the target names and engines.
pub fn landing_html(app: &App) -> String {
    let mut html = String::from("<h2>Targets</h2><ul>");
    for t in app.get().targets.iter() {
        let name = watchkeeper_core::page::html_escape(t.name());
        html.push_str(&format!(
            "<li><a href=\"/probe?target={name}\">{name}</a> ({})</li>",
            t.kind().prefix()
        ));
    }
    html.push_str("</ul>");
    html
}

/// Scrapes every target at once. Each target answers before the deadline on its own (with
/// `<prefix>_up 0` when it cannot), so one dead database never blanks the others.
struct AllTargets(Arc<App>);

impl Collector for AllTargets {
    fn name(&self) -> &str {
        "targets"
    }

    fn collect(&self, ctx: ScrapeContext) -> BoxFuture<'_, Result<MetricSet, CollectError>> {
        Box::pin(async move {
            let targets = Arc::clone(&self.0.get().targets);
            let runs = targets.iter().map(|t| async move {
                let started = std::time::Instant::now();
                let set = t.scrape(ctx.deadline).await;
                (t.name(), set, started.elapsed().as_secs_f64())
            });
            let results = futures_util::future::join_all(runs).await;
            let mut out = MetricSet::new();
            let mut durations = Vec::with_capacity(results.len());
            for (name, set, secs) in results {
                out.merge(set);
                durations.push((name, secs));
            }
            let fam = out.family(
                "watchkeeper_db_target_scrape_duration_seconds",
                "How long scraping each target took in this scrape.",
                watchkeeper_core::MetricType::Gauge,
            );
            for (name, secs) in durations {
                fam.sample(&[("target", name)], secs);
            }
            Ok(out)
        })
    }
}

struct Prober(Arc<App>);

impl ProbeHandler for Prober {
    fn probe(&self, q: ProbeQuery) -> BoxFuture<'_, Result<ProbeReport, ProbeRejection>> {
        Box::pin(async move {
            let name = q.get("target").ok_or_else(|| {
                ProbeRejection(
                    "missing parameter \"target\" (a target name from the config file)".into(),
                )
            })?;
            let Some(target) = self.0.get().find(name) else {
                // Only names are accepted: a DSN in a URL would leak credentials into logs.
                let shown: String = name.chars().take(64).collect();
                return Err(ProbeRejection(format!("unknown target {shown:?}")));
            };
            let budget = q.budget(None);
            let deadline = q.deadline(None);
            let mut log = ProbeLog::new();
            log.info(format!(
                "scraping target {} ({}) with a budget of {:.3}s",
                target.name(),
                target.kind().prefix(),
                budget.as_secs_f64()
            ));
            let metrics = target.scrape(deadline).await;
            let up = format!("{}_up", target.kind().prefix());
            let success = metrics.find(&up, &[]) == Some(1.0);
            if success {
                log.info(format!("{up} 1"));
            } else {
                let reason = target.last_error().unwrap_or_else(|| "unknown".into());
                log.error(format!("{up} 0: {reason}"));
            }
            Ok(ProbeReport {
                metrics,
                log,
                success,
            })
        })
    }
}
