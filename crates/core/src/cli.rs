//! Command-line conventions shared by every exporter, and the `main` wrapper that maps errors to
//! exit codes (0 ok, 1 runtime failure, 2 usage or configuration error).

use crate::config::PromDuration;
use crate::logging::{self, LogFormat, LogLevel};
use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The web flags of the Prometheus exporter toolkit.
#[derive(Debug, Clone, clap::Args)]
pub struct WebArgs {
    /// Address to listen on, repeatable (`:10150`, `127.0.0.1:10150`, `[::1]:10150`).
    /// Default: every interface on the exporter's own port.
    #[arg(long = "web.listen-address", value_name = "ADDRESS")]
    pub listen_addresses: Vec<String>,

    /// Path under which to expose metrics.
    #[arg(
        long = "web.telemetry-path",
        value_name = "PATH",
        default_value = "/metrics"
    )]
    pub telemetry_path: String,

    /// Path to a web configuration file (exporter-toolkit format: TLS and basic auth).
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,

    /// Maximum number of concurrent scrapes or probes; beyond it requests get 503.
    #[arg(long = "web.max-requests", value_name = "N", default_value_t = 40)]
    pub max_requests: usize,

    /// Subtracted from Prometheus' scrape timeout to leave room for encoding and the network.
    #[arg(
        long = "scrape.timeout-offset",
        alias = "timeout-offset",
        value_name = "DURATION",
        default_value = "500ms"
    )]
    pub timeout_offset: PromDuration,

    /// Serve only the classic text format 0.0.4, even to scrapers that ask for OpenMetrics
    /// (node_exporter's behaviour; for consumers whose OpenMetrics parser is strict).
    #[arg(long = "web.disable-openmetrics")]
    pub disable_openmetrics: bool,

    /// The longest a scrape may take, and the budget when the scraper sends no timeout.
    #[arg(
        long = "scrape.timeout",
        value_name = "DURATION",
        default_value = "10s"
    )]
    pub scrape_timeout: PromDuration,
}

impl WebArgs {
    /// Defaults as if no flag were given (for tests and embedding).
    pub fn loopback_ephemeral() -> Self {
        Self {
            listen_addresses: vec!["127.0.0.1:0".into()],
            telemetry_path: "/metrics".into(),
            web_config_file: None,
            max_requests: 40,
            timeout_offset: PromDuration(Duration::from_millis(500)),
            disable_openmetrics: false,
            scrape_timeout: PromDuration(Duration::from_secs(10)),
        }
    }
}

/// Logging flags.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", value_enum, default_value_t = LogLevel::Info)]
    pub level: LogLevel,

    /// Output format of log messages.
    #[arg(long = "log.format", value_enum, default_value_t = LogFormat::Logfmt)]
    pub format: LogFormat,
}

/// How `main` ends when something went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ExitError {
    /// A bad flag or configuration: exit code 2.
    #[error("{0}")]
    Usage(String),
    /// A failure at run time (cannot bind, I/O): exit code 1.
    #[error("{0}")]
    Runtime(String),
}

impl ExitError {
    /// The process exit code for this error.
    pub fn code(&self) -> u8 {
        match self {
            ExitError::Usage(_) => 2,
            ExitError::Runtime(_) => 1,
        }
    }
}

/// How many threads the exporter's runtime may use.
///
/// Every thread costs resident memory (its stack and, under glibc, its own malloc arena of
/// several hundred KiB once it has allocated), so an exporter keeps few of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeShape {
    /// Where async tasks (serving HTTP, awaiting collectors, encoding) run.
    pub workers: AsyncWorkers,
    /// Cap on the blocking pool (file reads of blocking collectors, bcrypt, reloads).
    pub max_blocking_threads: usize,
}

/// The async worker threads of an exporter's runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsyncWorkers {
    /// One worker thread per CPU (tokio's multi-thread default).
    PerCpu,
    /// A fixed number of worker threads (tokio's multi-thread scheduler).
    Threads(usize),
    /// The main thread only (tokio's current-thread scheduler): for an exporter whose async work
    /// is light, because its slow work runs on the blocking pool and concurrent scrapes share
    /// one collection. No work-stealing, no cross-thread wake-ups, no worker stacks or arenas.
    MainThread,
}

impl Default for RuntimeShape {
    fn default() -> Self {
        Self {
            workers: AsyncWorkers::PerCpu,
            max_blocking_threads: 8,
        }
    }
}

/// Runs an exporter's async main: sets up logging and the tokio runtime, prints an error as one
/// line on stderr and turns it into the exit code.
pub fn run_main<F>(log: &LogArgs, main: F) -> ExitCode
where
    F: Future<Output = Result<(), ExitError>>,
{
    run_main_with(log, RuntimeShape::default(), main)
}

/// [`run_main`] with an explicit runtime shape.
pub fn run_main_with<F>(log: &LogArgs, shape: RuntimeShape, main: F) -> ExitCode
where
    F: Future<Output = Result<(), ExitError>>,
{
    logging::init(log.level, log.format);
    crate::malloc_arenas::cap();
    let mut builder = match shape.workers {
        AsyncWorkers::MainThread => tokio::runtime::Builder::new_current_thread(),
        AsyncWorkers::PerCpu => tokio::runtime::Builder::new_multi_thread(),
        AsyncWorkers::Threads(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n.max(1));
            b
        }
    };
    let runtime = match builder
        .max_blocking_threads(shape.max_blocking_threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(main) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.code())
        }
    }
}

/// The version string for `--version`: version, git revision and compiler.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision ",
    env!("WATCHKEEPER_REVISION"),
    ", ",
    env!("WATCHKEEPER_RUSTC_VERSION"),
    ")"
);
