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

/// The threads of an exporter's runtime.
///
/// Async work (serving HTTP, awaiting collectors and probes, encoding) always runs on the main
/// thread, on tokio's current-thread scheduler: an exporter's async work is I/O it awaits, and
/// concurrent scrapes share one collection, so more async threads only added stacks, malloc
/// arenas and cross-thread wake-ups (measured per exporter, docs/benchmarks.md). Not linking
/// tokio's multi-thread scheduler also keeps `libm` out of the process. Blocking and CPU-heavy
/// work goes to the blocking pool this caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeShape {
    /// Cap on the blocking pool (file reads of blocking collectors, bcrypt, reloads).
    pub max_blocking_threads: usize,
}

impl Default for RuntimeShape {
    fn default() -> Self {
        Self {
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
    let runtime = match tokio::runtime::Builder::new_current_thread()
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
