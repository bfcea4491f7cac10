//! The exporter builder and its HTTP server.
//!
//! An exporter binary describes itself with an [`ExporterSpec`], adds its collectors or its
//! prober, and calls [`Exporter::bind`]. Everything else — routes, auth, TLS, the concurrency
//! gate, deadlines, encoding, reload and shutdown — is shared here.

use crate::cli::WebArgs;
use crate::coalesce::{CollectedPage, ScrapeCoalescer};
use crate::collector::{BlockingCollector, BoxFuture, Collector, CollectorRunner};
use crate::config::{ConfigError, Reloadable};
use crate::deadline::ScrapeDeadline;
use crate::deadline::{ScrapeTimeout, SCRAPE_TIMEOUT_HEADER};
use crate::exposition::{accepts_gzip, Format};
use crate::listen::ListenAddress;
use crate::metrics::MetricSet;
use crate::page::{html_escape, Page, PageResponse};
use crate::probe::{ProbeHandler, ProbeQuery};
use crate::self_metrics::{add_build_info, add_process_metrics, add_reload_status, ReloadStatus};
use crate::web_config::{AuthCheck, Credentials, WebConfigError, WebSecurity};
use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

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
        }
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
                .map_err(ServeError::Usage)?
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
        // Start-up is over: what it alone used need not stay resident.
        let released = crate::code_pages::release_startup_pages();
        tracing::debug!(
            mappings = released.mappings,
            bytes = released.bytes,
            "Released start-up pages of the executable"
        );
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

async fn signal_loop(state: Arc<ServerState>, shutdown: watch::Sender<bool>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot install signal handlers; SIGHUP reload disabled");
        return;
    };
    let mut stop_rx = shutdown.subscribe();
    loop {
        tokio::select! {
            _ = hup.recv() => {
                let s = Arc::clone(&state);
                // Reloading reads files; keep it off the async workers.
                let _ = tokio::task::spawn_blocking(move || s.reload()).await;
            }
            _ = term.recv() => { let _ = shutdown.send(true); return; }
            _ = int.recv() => { let _ = shutdown.send(true); return; }
            _ = stopped(&mut stop_rx) => return,
        }
    }
}

/// Resolves once shutdown was requested (the watch guard is dropped inside, keeping callers `Send`).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<ServerState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                match accepted {
                    Ok((stream, peer)) => {
                        let Ok(permit) = Arc::clone(&state.connections).try_acquire_owned() else {
                            tracing::warn!(peer = %peer, "too many open connections; closing a new one");
                            continue;
                        };
                        let _ = stream.set_nodelay(true);
                        let st = Arc::clone(&state);
                        let sd = shutdown.clone();
                        conns.spawn(async move {
                            serve_connection(stream, peer, st, sd).await;
                            drop(permit);
                        });
                    }
                    Err(e) => {
                        // Out of file descriptors and similar: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = stopped(&mut shutdown) => break,
        }
    }
    // Stop accepting at once; open connections drain below.
    drop(listener);
    while conns.join_next().await.is_some() {}
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    state: Arc<ServerState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let security = state.security();
    match &security.tls {
        None => {
            let svc = service(Arc::clone(&state));
            let builder = connection_builder(false);
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            drive(conn, &mut shutdown).await;
        }
        Some(tls) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(tls));
            let tls_stream = match tokio::time::timeout(
                Duration::from_secs(10),
                acceptor.accept(stream),
            )
            .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(peer = %peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(peer = %peer, "TLS handshake timed out");
                    return;
                }
            };
            if !security.client_allowed_sans.is_empty() {
                let allowed = tls_stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .is_some_and(|leaf| {
                        crate::certificate::has_any_san(
                            leaf.as_ref(),
                            &security.client_allowed_sans,
                        )
                    });
                if !allowed {
                    tracing::info!(peer = %peer, "client certificate SAN not in client_allowed_sans");
                    return;
                }
            }
            // HTTP/2 only when TLS negotiated it by ALPN, which the web config offers only with
            // `http2` enabled; an h2 preface on an HTTP/1.1 connection is refused.
            let h2 = tls_stream.get_ref().1.alpn_protocol() == Some(b"h2");
            let svc = service(Arc::clone(&state));
            let builder = connection_builder(h2);
            let conn = builder.serve_connection(TokioIo::new(tls_stream), svc);
            drive(conn, &mut shutdown).await;
        }
    }
}

/// The HTTP server for one connection: HTTP/1.1, or HTTP/2 when `h2` (negotiated by TLS
/// ALPN). As with the exporter-toolkit, plaintext connections never speak HTTP/2 (no h2c):
/// `http_server_config.http2` is documented as TLS-only, and a proxy or scanner that sends an
/// h2 preface to a plaintext port gets an HTTP/1.1 error instead of a second protocol.
fn connection_builder(h2: bool) -> hyper_util::server::conn::auto::Builder<TokioExecutor> {
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    if h2 {
        builder = builder.http2_only();
        builder
            .http2()
            .timer(hyper_util::rt::TokioTimer::new())
            .keep_alive_interval(Some(Duration::from_secs(30)))
            .keep_alive_timeout(Duration::from_secs(20));
    } else {
        builder = builder.http1_only();
        // Without a timer hyper drops its header-read timeout: a client could hold a
        // connection open forever without sending a request.
        builder
            .http1()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30));
    }
    builder
}

async fn drive<C>(conn: C, shutdown: &mut watch::Receiver<bool>)
where
    C: std::future::Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>>
        + GracefulConn,
{
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stopped(shutdown) => {
            conn.as_mut().graceful();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
        }
    }
}

/// The one method we need from hyper-util's auto connection, named so `drive` stays generic.
trait GracefulConn {
    fn graceful(self: std::pin::Pin<&mut Self>);
}

impl<I, S, E> GracefulConn for hyper_util::server::conn::auto::Connection<'_, I, S, E>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<Full<Bytes>>>,
    S::Future: 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, Full<Bytes>>,
{
    fn graceful(self: std::pin::Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

fn service(
    state: Arc<ServerState>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl std::future::Future<Output = Result<Response<Full<Bytes>>, Infallible>>
                 + Send
                 + 'static,
> + Clone {
    hyper::service::service_fn(move |req| {
        let state = Arc::clone(&state);
        // Read per request, not per connection: after a reload that removes a user, a
        // keep-alive connection must not go on with the old credentials.
        let security = state.security();
        async move {
            let mut resp = handle(&state, &security, req).await;
            for (k, v) in &security.headers {
                resp.headers_mut().insert(k.clone(), v.clone());
            }
            Ok::<_, Infallible>(resp)
        }
    })
}

fn respond(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<Full<Bytes>> {
    let mut b: String = body.into();
    if !b.ends_with('\n') {
        b.push('\n');
    }
    respond(status, "text/plain; charset=utf-8", b)
}

async fn handle(
    state: &Arc<ServerState>,
    security: &Arc<WebSecurity>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    // The scraper's timeout was already running while a bcrypt check waited: that time comes
    // off the budget. Only that time: other requests' budgets stay identical, which is what
    // lets concurrent scrapes share one collection (see `coalesce`).
    let mut spent_on_auth = Duration::ZERO;
    if let Some(limiter) = &security.rate_limit {
        if !limiter.allow() {
            return text(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
        }
    }
    if let Some(auth) = &security.auth {
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok());
        let ok = match auth.check_fast(header) {
            AuthCheck::Decided(ok) => ok,
            AuthCheck::Pending(creds) => {
                let started = std::time::Instant::now();
                let ok = slow_auth(state, security, creds).await;
                spent_on_auth = started.elapsed();
                ok
            }
        };
        if !ok {
            let mut r = text(StatusCode::UNAUTHORIZED, "Unauthorized");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic"),
            );
            return r;
        }
    }

    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let method = req.method().clone();
    if path == "/-/reload" {
        if method != Method::POST && method != Method::PUT {
            return text(
                StatusCode::METHOD_NOT_ALLOWED,
                "This endpoint requires a POST request.",
            );
        }
        let s = Arc::clone(state);
        return match tokio::task::spawn_blocking(move || s.reload()).await {
            Ok(Ok(())) => text(StatusCode::OK, "OK"),
            Ok(Err(e)) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("failed to reload config: {e}"),
            ),
            Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "failed to reload config"),
        };
    }
    if let Some(route) = state.post_routes.iter().find(|r| r.path == path) {
        if method != Method::POST {
            let mut r = text(
                StatusCode::METHOD_NOT_ALLOWED,
                "This endpoint requires a POST request.",
            );
            r.headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
            return r;
        }
        return post(route, &query, req).await;
    }
    if method != Method::GET && method != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
        r.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    if path == state.telemetry_path {
        return metrics(state, &req, spent_on_auth).await;
    }
    match path.as_str() {
        "/-/healthy" => return text(StatusCode::OK, "Healthy"),
        "/-/ready" => return text(StatusCode::OK, "Ready"),
        "/" => return landing(state),
        "/probe" if state.prober.is_some() => {
            // A HEAD must not run a probe (it can be expensive and have side effects).
            if method == Method::HEAD {
                return respond(StatusCode::OK, Format::Text.content_type(), Bytes::new());
            }
            return probe(state, &req, &query, spent_on_auth).await;
        }
        _ => {}
    }
    if let Some((_, page)) = state.routes.iter().find(|(p, _)| *p == path) {
        let PageResponse {
            status,
            content_type,
            body,
        } = page.render(&query);
        return respond(
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            content_type,
            body,
        );
    }
    text(StatusCode::NOT_FOUND, "404 page not found")
}

/// Reads a POST body up to the route's limit (a slow sender is cut off by the same 30 s the
/// header read gets) and hands it to the route's handler.
async fn post(route: &PostRoute, query: &str, req: Request<Incoming>) -> Response<Full<Bytes>> {
    use http_body_util::BodyExt;
    let too_large = || text(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
    let declared = header_str(&req, "content-length").and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > route.max_body as u64) {
        return too_large();
    }
    let limited = http_body_util::Limited::new(req.into_body(), route.max_body);
    let body = match tokio::time::timeout(Duration::from_secs(30), limited.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
        Ok(Err(_)) => return text(StatusCode::BAD_REQUEST, "Cannot read the request body"),
        Err(_) => {
            return text(
                StatusCode::REQUEST_TIMEOUT,
                "Request body not received in time",
            )
        }
    };
    let PageResponse {
        status,
        content_type,
        body,
    } = route.handler.post(query, body).await;
    respond(
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        content_type,
        body,
    )
}

/// One bcrypt run, serialised and bounded in time, off the async workers.
async fn slow_auth(state: &ServerState, security: &Arc<WebSecurity>, creds: Credentials) -> bool {
    let attempt = async {
        let _permit = state.bcrypt_gate.acquire().await.ok()?;
        let sec = Arc::clone(security);
        tokio::task::spawn_blocking(move || sec.auth.as_ref().is_some_and(|a| a.check_slow(&creds)))
            .await
            .ok()
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(10), attempt).await,
        Ok(Some(true))
    )
}

fn header_str<'a>(req: &'a Request<Incoming>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn gate_closed() -> Response<Full<Bytes>> {
    text(
        StatusCode::SERVICE_UNAVAILABLE,
        "Limit of concurrent requests reached, try again later.",
    )
}

async fn metrics(
    state: &Arc<ServerState>,
    req: &Request<Incoming>,
    spent_on_auth: Duration,
) -> Response<Full<Bytes>> {
    let _permit = match &state.gate {
        Some(g) => match g.try_acquire() {
            Ok(p) => Some(p),
            Err(_) => return gate_closed(),
        },
        None => None,
    };
    let budget = state
        .scrape_timeout
        .less(spent_on_auth)
        .budget(header_str(req, SCRAPE_TIMEOUT_HEADER), None);
    let collecting = Arc::clone(state);
    let page = state
        .coalescer
        .page(budget, move |deadline| async move {
            collecting.collect(deadline).await
        })
        .await;
    let Some(page) = page else {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The collection ended without a page; see the exporter's log.",
        );
    };
    page_response(state, req, &page)
}

/// The page in the format and encoding the request asks for.
fn page_response(
    state: &ServerState,
    req: &Request<Incoming>,
    page: &CollectedPage,
) -> Response<Full<Bytes>> {
    let format = match Format::negotiate(header_str(req, "accept")) {
        Format::OpenMetrics if !state.openmetrics => Format::Text,
        f => f,
    };
    let (body, gzipped) = page.body(format, accepts_gzip(header_str(req, "accept-encoding")));
    let mut r = respond(StatusCode::OK, format.content_type(), body);
    if gzipped {
        r.headers_mut().insert(
            header::CONTENT_ENCODING,
            header::HeaderValue::from_static("gzip"),
        );
    }
    r
}

async fn probe(
    state: &Arc<ServerState>,
    req: &Request<Incoming>,
    query: &str,
    spent_on_auth: Duration,
) -> Response<Full<Bytes>> {
    let Some(prober) = &state.prober else {
        return text(StatusCode::NOT_FOUND, "404 page not found");
    };
    let _permit = match &state.gate {
        Some(g) => match g.try_acquire() {
            Ok(p) => Some(p),
            Err(_) => return gate_closed(),
        },
        None => None,
    };
    let q = ProbeQuery {
        params: ProbeQuery::parse_params(query),
        timeout_header: header_str(req, SCRAPE_TIMEOUT_HEADER).map(str::to_string),
        scrape_timeout: state.scrape_timeout.less(spent_on_auth),
        spent: spent_on_auth,
    };
    let debug = q
        .get("debug")
        .is_some_and(|d| d.eq_ignore_ascii_case("true"));
    match prober.probe(q).await {
        Ok(report) if debug => text(StatusCode::OK, report.debug_text()),
        Ok(report) => page_response(state, req, &CollectedPage::new(report.metrics)),
        Err(rejection) => text(StatusCode::BAD_REQUEST, rejection.0),
    }
}

fn landing(state: &ServerState) -> Response<Full<Bytes>> {
    let spec = &state.spec;
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{bin}</title>\
         <style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}pre{{background:#f4f4f4;padding:1em;overflow:auto}}</style>\
         </head><body>\n<h1>{bin}</h1>\n<p>{desc}</p>\n<p>Version {ver} (revision {rev})</p>\n<ul>\n\
         <li><a href=\"{metrics}\">Metrics</a></li>\n<li><a href=\"/-/healthy\">Health</a></li>\n<li><a href=\"/-/ready\">Readiness</a></li>\n",
        bin = html_escape(spec.binary),
        desc = html_escape(spec.description),
        ver = env!("CARGO_PKG_VERSION"),
        rev = env!("WATCHKEEPER_REVISION"),
        metrics = html_escape(&state.telemetry_path),
    );
    if state.prober.is_some() {
        html.push_str("<li>Probe: <code>/probe?target=…&amp;module=…</code> (add <code>&amp;debug=true</code> for the probe's log)</li>\n");
    }
    for (path, _) in &state.routes {
        html.push_str(&format!(
            "<li><a href=\"{p}\">{p}</a></li>\n",
            p = html_escape(path)
        ));
    }
    html.push_str("</ul>\n");
    for section in &state.landing {
        html.push_str(&section());
    }
    if let Some(r) = &state.reloadable {
        html.push_str("<h2>Configuration</h2>\n<pre>");
        html.push_str(&html_escape(&r.describe()));
        html.push_str("</pre>\n");
    }
    html.push_str("</body></html>\n");
    respond(StatusCode::OK, "text/html; charset=utf-8", html)
}
