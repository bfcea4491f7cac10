//! The Watchkeeper blackbox exporter: HTTP, TCP, DNS, ICMP, gRPC, WebSocket and Unix-socket probes behind
//! `/probe?target=…&module=…`, reading blackbox_exporter's `blackbox.yml` and emitting its
//! metric names.
//!
//! [`Blackbox`] is core's [`ProbeHandler`] (request validation, deadline, history); the config
//! file is a [`ConfigFile`] held by the kit's [`Live`] (reload, old config kept on error); each
//! prober lives in its own module and is registered in [`prober`].

pub mod config;
pub mod dns;
pub mod failure;
pub mod grpc;
pub mod history;
mod hop_limit;
pub mod http;
pub mod icmp;
pub mod oauth2;
pub mod prober;
pub mod proxy;
pub mod ssrf;
pub mod tcp;
pub mod tls;
pub mod tunnel;
pub mod unix;
pub mod websocket;

use crate::config::Config;
use crate::history::History;
use crate::ssrf::SsrfGuard;
use std::path::Path;
use std::sync::Arc;
use watchkeeper_core::config::ConfigError;
use watchkeeper_core::exporter::ExporterSpec;
use watchkeeper_core::kit::{ConfigFile, Live};
use watchkeeper_core::probe::{ProbeHandler, ProbeQuery, ProbeRejection, ProbeReport};
use watchkeeper_core::BoxFuture;

/// Who this exporter is.
pub const SPEC: ExporterSpec = ExporterSpec {
    name: "blackbox",
    binary: "watchkeeper-blackbox",
    default_port: 10151,
    description:
        "Probes endpoints over HTTP, TCP, DNS, ICMP, gRPC, WebSocket and Unix sockets (blackbox_exporter compatible).",
};

/// The module used when a request names none (as blackbox_exporter).
pub const DEFAULT_MODULE: &str = "http_2xx";

/// The probe endpoint's state: the config in force, the SSRF guard and the history.
pub struct Blackbox {
    config: Arc<Live<Config>>,
    guard: SsrfGuard,
    history: Arc<History>,
}

impl Blackbox {
    /// Loads the config file (warning about unsupported options) and builds the handler.
    pub fn load(path: &Path, guard: SsrfGuard, history_limit: usize) -> Result<Self, ConfigError> {
        Ok(Self {
            config: Live::load(path)?,
            guard,
            history: Arc::new(History::new(history_limit)),
        })
    }

    /// The config in force.
    pub fn config(&self) -> Arc<Config> {
        self.config.get()
    }

    /// The live config, registered with the server as what SIGHUP and `/-/reload` reload.
    pub fn live_config(&self) -> Arc<Live<Config>> {
        Arc::clone(&self.config)
    }

    /// The probe history.
    pub fn history(&self) -> Arc<History> {
        Arc::clone(&self.history)
    }

    /// Validates a request and runs the probe; shared by `/probe` and the `probe` subcommand.
    pub async fn probe_once(
        &self,
        module_name: &str,
        target: &str,
        hostname: Option<&str>,
        timing: &ProbeQuery,
    ) -> Result<ProbeReport, ProbeRejection> {
        let config = self.config();
        let Some(module) = config.modules.get(module_name) else {
            return Err(ProbeRejection(format!("Unknown module {module_name:?}")));
        };
        if target.is_empty() {
            return Err(ProbeRejection("Target parameter is missing".into()));
        }
        let prober = prober::validate(module_name, module, target).map_err(ProbeRejection)?;
        let budget = timing.budget(module.timeout());
        let outcome = prober::run(prober, module, target, hostname, budget, &self.guard).await;
        let report = ProbeReport {
            metrics: outcome.metrics,
            log: outcome.log,
            success: outcome.success,
        };
        self.history.add(
            module_name,
            target,
            outcome.success,
            outcome.failure.as_ref().map(|f| f.reason.as_str()),
            outcome.duration.as_secs_f64(),
            report.debug_text(),
        );
        Ok(report)
    }
}

fn warn_unsupported(config: &Config) {
    for line in config.unsupported() {
        tracing::warn!("{line}; probes with this module will be answered with HTTP 400");
    }
    for line in config.warnings() {
        tracing::warn!("{line}");
    }
}

impl ProbeHandler for Blackbox {
    fn probe(&self, q: ProbeQuery) -> BoxFuture<'_, Result<ProbeReport, ProbeRejection>> {
        Box::pin(async move {
            let module = q
                .get("module")
                .filter(|m| !m.is_empty())
                .unwrap_or(DEFAULT_MODULE)
                .to_string();
            let target = q.get("target").unwrap_or("").to_string();
            let hostname = q
                .get("hostname")
                .filter(|h| !h.is_empty())
                .map(str::to_string);
            self.probe_once(&module, &target, hostname.as_deref(), &q)
                .await
        })
    }
}

impl ConfigFile for Config {
    fn load(path: &Path, previous: Option<&Self>) -> Result<Self, ConfigError> {
        let config = Config::load(path)?;
        warn_unsupported(&config);
        if previous.is_some() {
            // Certificates and tokens at unchanged paths may have been renewed: a reload is
            // how they are picked up.
            tls::clear_cache();
            oauth2::clear_cache();
        }
        Ok(config)
    }

    fn describe(&self) -> String {
        watchkeeper_core::config::to_yaml(self)
    }

    fn summary(&self) -> String {
        format!("{} modules", self.modules.len())
    }
}
