//! The running configuration: targets built from the config file, the `/metrics` collector that
//! scrapes them all, the `/probe` handler that scrapes one, and reloading.

use crate::config::{Config, Kind, Resolved};
use crate::target::{Target, TargetHandle};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use watchkeeper_core::config::{ConfigError, Reloadable};
use watchkeeper_core::metrics::MetricSet;
use watchkeeper_core::probe::{ProbeHandler, ProbeLog, ProbeQuery, ProbeRejection, ProbeReport};
use watchkeeper_core::{BoxFuture, CollectError, Collector, ScrapeContext, ScrapeDeadline};

type Targets = Arc<Vec<Arc<dyn TargetHandle>>>;

/// The exporter's state: the config file and the targets built from it.
pub struct App {
    path: PathBuf,
    config: RwLock<Config>,
    targets: RwLock<Targets>,
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

fn build_all(
    config: &Config,
    path: &Path,
    old: &[Arc<dyn TargetHandle>],
) -> Result<Targets, String> {
    let resolved = config.resolve(path).map_err(|e| e.to_string())?;
    let built = resolved
        .into_iter()
        .map(|r| build_target(r, old))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(built))
}

impl App {
    /// Loads the config file and builds every target (no connection is opened yet).
    pub fn load(path: &Path) -> Result<Arc<App>, String> {
        let config = Config::load(path).map_err(|e: ConfigError| e.to_string())?;
        let targets = build_all(&config, path, &[])?;
        Ok(Arc::new(App {
            path: path.to_path_buf(),
            config: RwLock::new(config),
            targets: RwLock::new(targets),
        }))
    }

    /// The targets in force.
    pub fn targets(&self) -> Targets {
        Arc::clone(&self.targets.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The target called `name`.
    pub fn find(&self, name: &str) -> Option<Arc<dyn TargetHandle>> {
        self.targets().iter().find(|t| t.name() == name).cloned()
    }

    /// The `/metrics` collector scraping every target concurrently.
    pub fn collector(self: &Arc<Self>) -> Arc<dyn Collector> {
        Arc::new(AllTargets(Arc::clone(self)))
    }

    /// The `/probe?target=NAME` handler.
    pub fn prober(self: &Arc<Self>) -> Arc<dyn ProbeHandler> {
        Arc::new(Prober(Arc::clone(self)))
    }

    /// A short HTML section for the landing page: the target names and engines.
    pub fn landing_html(&self) -> String {
        let mut html = String::from("<h2>Targets</h2><ul>");
        for t in self.targets().iter() {
            let name = watchkeeper_core::page::html_escape(t.name());
            html.push_str(&format!(
                "<li><a href=\"/probe?target={name}\">{name}</a> ({})</li>",
                t.kind().prefix()
            ));
        }
        html.push_str("</ul>");
        html
    }
}

impl Reloadable for App {
    fn reload(&self) -> Result<(), String> {
        let config = Config::load(&self.path).map_err(|e| e.to_string())?;
        let old = self.targets();
        let targets = build_all(&config, &self.path, &old)?;
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config;
        *self.targets.write().unwrap_or_else(|p| p.into_inner()) = targets;
        Ok(())
    }

    fn describe(&self) -> String {
        watchkeeper_core::config::to_yaml(&*self.config.read().unwrap_or_else(|p| p.into_inner()))
    }
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
            let targets = self.0.targets();
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
            let Some(target) = self.0.find(name) else {
                // Only names are accepted: a DSN in a URL would leak credentials into logs.
                let shown: String = name.chars().take(64).collect();
                return Err(ProbeRejection(format!("unknown target {shown:?}")));
            };
            let budget = q.scrape_timeout.budget(q.timeout_header.as_deref(), None);
            let deadline = ScrapeDeadline::after(budget.max(Duration::from_millis(1)));
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
