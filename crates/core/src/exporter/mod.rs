//! The exporter builder and its HTTP server.
//!
//! An exporter binary describes itself with an [`ExporterSpec`], adds its collectors or its
//! prober, and calls [`Exporter::bind`]. Everything else — routes, auth, TLS, the concurrency
//! gate, deadlines, encoding, reload and shutdown — is shared here.

use crate::cli::WebArgs;
use crate::coalesce::ScrapeCoalescer;
use crate::collector::{BlockingCollector, BoxFuture, Collector, CollectorRunner};
use crate::config::{ConfigError, Reloadable};
use crate::deadline::ScrapeDeadline;
use crate::deadline::ScrapeTimeout;
use crate::listen::ListenAddress;
use crate::metrics::MetricSet;
use crate::page::{Page, PageResponse};
use crate::probe::ProbeHandler;
use crate::self_metrics::{add_build_info, add_process_metrics, add_reload_status, ReloadStatus};
use crate::web_config::{WebConfigError, WebSecurity};
use bytes::Bytes;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{watch, Semaphore};

mod connection;
mod landing;
mod routes;

use connection::{accept_loop, signal_loop};

/// Who an exporter is.
#[derive(Debug, Clone, Copy)]
pub struct ExporterSpec {
    /// Short name: `host`; self metrics are prefixed `watchkeeper_<name>_`.
    pub name: &'static str,
    /// Binary name, shown on the landing page.
    pub binary: &'static str,
    /// Port used when no `--web.listen-address` is given.
    pub default_port: u16,
    /// One line describing the exporter.
    pub description: &'static str,
}

impl ExporterSpec {
    /// The prefix of the exporter's own metrics: `watchkeeper_<name>`.
    pub fn metric_prefix(&self) -> String {
        format!("watchkeeper_{}", self.name)
    }
}

/// A POST route (a webhook, an acknowledge button). Like every route it sits behind the web
/// config's authentication; the body is read by the server up to the route's limit, and a
/// longer one is answered with 413 before the handler runs.
pub trait PostHandler: Send + Sync + 'static {
    /// Handles one request: its query string (without `?`) and its whole body.
    fn post(&self, query: &str, body: Bytes) -> BoxFuture<'_, PageResponse>;
}

/// One registered POST route.
struct PostRoute {
    path: &'static str,
    max_body: usize,
    handler: Arc<dyn PostHandler>,
}

/// Why a reload was refused; the configuration in force stays.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The web config file is invalid.
    #[error(transparent)]
    WebConfig(#[from] WebConfigError),
    /// The new web config would switch TLS on or off, which needs a restart.
    #[error("{}: turning TLS on or off needs a restart", .0.display())]
    TlsSwitch(PathBuf),
    /// The exporter's own configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Extra HTML for the landing page.
pub type LandingSection = Arc<dyn Fn() -> String + Send + Sync>;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A flag or the web config is invalid (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// Binding failed (exit code 1).
    #[error("{0}")]
    Bind(String),
}

impl From<ServeError> for crate::cli::ExitError {
    fn from(e: ServeError) -> Self {
        match e {
            ServeError::Usage(m) => crate::cli::ExitError::Usage(m),
            ServeError::Bind(m) => crate::cli::ExitError::Runtime(m),
        }
    }
}

/// An exporter being assembled.
pub struct Exporter {
    spec: ExporterSpec,
    runner: Option<CollectorRunner>,
    prober: Option<Arc<dyn ProbeHandler>>,
    reloadable: Option<Arc<dyn Reloadable>>,
    routes: Vec<(&'static str, Arc<dyn Page>)>,
    post_routes: Vec<PostRoute>,
    landing: Vec<LandingSection>,
    release_startup_pages: bool,
}

impl Exporter {
    /// Starts describing an exporter.
    pub fn new(spec: ExporterSpec) -> Self {
        Self {
            spec,
            runner: None,
            prober: None,
            reloadable: None,
            routes: Vec::new(),
            post_routes: Vec::new(),
            landing: Vec::new(),
            release_startup_pages: true,
        }
    }

    /// Keeps the executable's start-up pages resident. By default, once listening, the server
    /// drops the resident pages of the executable's read-only mappings
    /// ([`crate::code_pages::release_startup_pages`]): a process-wide effect that an embedder
    /// running its own code beside the exporter may not want (the pages come back on use, at the
    /// cost of page faults).
    pub fn keep_startup_pages(mut self) -> Self {
        self.release_startup_pages = false;
        self
    }

    /// The collectors served on the telemetry path (for a runner built by hand, such as the
    /// host exporter's, which also emits node_exporter's self metrics).
    pub fn collectors(mut self, runner: CollectorRunner) -> Self {
        self.runner = Some(runner);
        self
    }

    /// The runner collectors are registered on, created for the spec on first use (its self
    /// metrics are `watchkeeper_<name>_scrape_collector_*{collector="<its name>"}`).
    fn runner_mut(&mut self) -> &mut CollectorRunner {
        let prefix = self.spec.metric_prefix();
        self.runner
            .get_or_insert_with(|| CollectorRunner::new(vec![prefix]))
    }

    /// Registers an async collector, labelled by its own name in the self metrics.
    pub fn collector(mut self, collector: Arc<dyn Collector>) -> Self {
        self.runner_mut().add(collector);
        self
    }

    /// Registers a blocking collector (file reads), run on the blocking pool.
    pub fn blocking_collector<C: BlockingCollector>(mut self, collector: C) -> Self {
        self.runner_mut().add_blocking(collector);
        self
    }

    /// The prober served on `/probe`.
    pub fn prober(mut self, prober: Arc<dyn ProbeHandler>) -> Self {
        self.prober = Some(prober);
        self
    }

    /// The configuration reloaded on SIGHUP and `POST /-/reload`.
    pub fn reloadable(mut self, r: Arc<dyn Reloadable>) -> Self {
        self.reloadable = Some(r);
        self
    }

    /// An extra GET page.
    pub fn route(mut self, path: &'static str, page: Arc<dyn Page>) -> Self {
        self.routes.push((path, page));
        self
    }

    /// A POST route whose body may be at most `max_body` bytes.
    pub fn post_route(
        mut self,
        path: &'static str,
        max_body: usize,
        handler: Arc<dyn PostHandler>,
    ) -> Self {
        self.post_routes.push(PostRoute {
            path,
            max_body,
            handler,
        });
        self
    }

    /// Extra HTML on the landing page.
    pub fn landing_section(mut self, section: LandingSection) -> Self {
        self.landing.push(section);
        self
    }

    /// Validates the web flags, binds every listen address and starts serving.
    pub async fn bind(self, web: &WebArgs) -> Result<RunningExporter, ServeError> {
        let security = match &web.web_config_file {
            Some(p) => WebSecurity::load(p).map_err(|e| ServeError::Usage(e.to_string()))?,
            None => WebSecurity::open(),
        };
        if !web.telemetry_path.starts_with('/') {
            return Err(ServeError::Usage(format!(
                "--web.telemetry-path {:?} must start with /",
                web.telemetry_path
            )));
        }
        let addresses = if web.listen_addresses.is_empty() {
            vec![ListenAddress::AllInterfaces(self.spec.default_port)]
        } else {
            web.listen_addresses
                .iter()
                .map(|a| ListenAddress::parse(a))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ServeError::Usage(e.to_string()))?
        };
        let mut listeners = Vec::new();
        for (raw, addr) in web
            .listen_addresses
            .iter()
            .map(String::as_str)
            .chain([""])
            .zip(&addresses)
        {
            let bound = addr.bind().await.map_err(|e| {
                let shown = if raw.is_empty() {
                    format!(":{}", self.spec.default_port)
                } else {
                    raw.to_string()
                };
                ServeError::Bind(format!("cannot listen on {shown}: {e}"))
            })?;
            listeners.extend(bound);
        }
        let local_addrs: Vec<SocketAddr> = listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect();

        let state = Arc::new(ServerState {
            prefix: self.spec.metric_prefix(),
            spec: self.spec,
            runner: self.runner,
            prober: self.prober,
            reloadable: self.reloadable,
            routes: self.routes,
            post_routes: self.post_routes,
            landing: self.landing,
            telemetry_path: web.telemetry_path.clone(),
            scrape_timeout: ScrapeTimeout {
                offset: web.timeout_offset.get(),
                max: web.scrape_timeout.get(),
            },
            openmetrics: !web.disable_openmetrics,
            gate: (web.max_requests > 0).then(|| Semaphore::new(web.max_requests)),
            security: RwLock::new(Arc::new(security)),
            web_config_file: web.web_config_file.clone(),
            reload_status: ReloadStatus::new(),
            bcrypt_gate: Semaphore::new(1),
            connections: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            reload_lock: std::sync::Mutex::new(()),
            coalescer: ScrapeCoalescer::new(),
        });

        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        for listener in listeners {
            tasks.spawn(accept_loop(
                listener,
                Arc::clone(&state),
                shutdown_rx.clone(),
            ));
        }
        for addr in &local_addrs {
            tracing::info!(address = %addr, tls = state.security().tls.is_some(), "Listening on");
        }
        tasks.spawn(signal_loop(Arc::clone(&state), shutdown_tx.clone()));
        if self.release_startup_pages {
            // Start-up is over: what it alone used need not stay resident.
            let released = crate::code_pages::release_startup_pages();
            tracing::debug!(
                mappings = released.mappings,
                bytes = released.bytes,
                "Released start-up pages of the executable"
            );
        }
        Ok(RunningExporter {
            local_addrs,
            shutdown: shutdown_tx,
            tasks,
            state,
        })
    }
}

/// A serving exporter.
pub struct RunningExporter {
    local_addrs: Vec<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
    state: Arc<ServerState>,
}

impl RunningExporter {
    /// The addresses actually bound (port 0 resolved).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Asks the server to stop accepting and drain.
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Reloads configuration as SIGHUP would.
    pub fn reload(&self) -> Result<(), ReloadError> {
        self.state.reload()
    }

    /// Serves until SIGTERM, SIGINT or [`shutdown`](Self::shutdown), then drains open
    /// connections for up to five seconds.
    pub async fn wait(mut self) {
        let mut rx = self.shutdown.subscribe();
        let _ = rx.wait_for(|stop| *stop).await;
        tracing::info!("Shutting down");
        let drain = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(5), drain)
            .await
            .is_err()
        {
            self.tasks.abort_all();
        }
    }
}

struct ServerState {
    spec: ExporterSpec,
    prefix: String,
    runner: Option<CollectorRunner>,
    prober: Option<Arc<dyn ProbeHandler>>,
    reloadable: Option<Arc<dyn Reloadable>>,
    routes: Vec<(&'static str, Arc<dyn Page>)>,
    post_routes: Vec<PostRoute>,
    landing: Vec<LandingSection>,
    telemetry_path: String,
    scrape_timeout: ScrapeTimeout,
    openmetrics: bool,
    gate: Option<Semaphore>,
    security: RwLock<Arc<WebSecurity>>,
    web_config_file: Option<PathBuf>,
    reload_status: ReloadStatus,
    /// One bcrypt verification at a time: a flood of wrong passwords costs one core.
    bcrypt_gate: Semaphore,
    /// Open connections; beyond the limit new ones are closed at once (idle-connection floods).
    connections: Arc<Semaphore>,
    /// SIGHUP and `POST /-/reload` must not interleave.
    reload_lock: std::sync::Mutex<()>,
    /// Concurrent `/metrics` requests share one collection.
    coalescer: ScrapeCoalescer,
}

/// Open connections one exporter accepts; far above any real scrape load.
const MAX_CONNECTIONS: usize = 1024;

impl ServerState {
    /// One collection: every collector, then the exporter's own metrics.
    async fn collect(&self, deadline: ScrapeDeadline) -> MetricSet {
        let mut set = match &self.runner {
            Some(r) => r.scrape(deadline).await,
            None => MetricSet::new(),
        };
        add_build_info(&self.prefix, &mut set);
        if self.reloadable.is_some() || self.web_config_file.is_some() {
            add_reload_status(&self.prefix, &self.reload_status, &mut set);
        }
        add_process_metrics(&mut set);
        set
    }

    fn security(&self) -> Arc<WebSecurity> {
        match self.security.read() {
            Ok(s) => Arc::clone(&s),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Reloads the web config and the exporter config. If either is invalid, neither changes.
    fn reload(&self) -> Result<(), ReloadError> {
        let _serial = self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
        let result = self.reload_both();
        self.reload_status.record(result.is_ok());
        match &result {
            Ok(()) => tracing::info!("Configuration reloaded"),
            Err(e) => {
                tracing::error!(error = %e, "Reload failed; keeping the previous configuration")
            }
        }
        result
    }

    fn reload_both(&self) -> Result<(), ReloadError> {
        let new_security = match &self.web_config_file {
            Some(path) => {
                let sec = WebSecurity::load(path)?;
                // The listeners were started as HTTP or HTTPS; a reload must not flip that
                // under clients and scrape configs (exporter-toolkit fixes it at start too).
                if sec.tls.is_some() != self.security().tls.is_some() {
                    return Err(ReloadError::TlsSwitch(path.clone()));
                }
                Some(sec)
            }
            None => None,
        };
        if let Some(r) = &self.reloadable {
            r.reload()?;
        }
        if let Some(sec) = new_security {
            match self.security.write() {
                Ok(mut slot) => *slot = Arc::new(sec),
                Err(poisoned) => *poisoned.into_inner() = Arc::new(sec),
            }
        }
        Ok(())
    }
}
