//! `watchkeeper-blackbox`: the exporter binary (and the one-shot `probe` subcommand).

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use watchkeeper_blackbox::ssrf::SsrfGuard;
use watchkeeper_blackbox::{Blackbox, SPEC};
use watchkeeper_core::cli::{run_main_with, ExitError, LogArgs, RuntimeShape, WebArgs};
use watchkeeper_core::deadline::ScrapeTimeout;
use watchkeeper_core::exporter::Exporter;
use watchkeeper_core::probe::ProbeQuery;

#[derive(Debug, Parser)]
#[command(
    name = "watchkeeper-blackbox",
    version = watchkeeper_core::cli::LONG_VERSION,
    about = "Probes endpoints over HTTP, TCP, DNS, ICMP, gRPC, WebSocket and Unix sockets; a drop-in for blackbox_exporter."
)]
struct Cli {
    #[command(flatten)]
    web: WebArgs,
    #[command(flatten)]
    log: LogArgs,
    /// Blackbox configuration file.
    #[arg(
        long = "config.file",
        value_name = "FILE",
        default_value = "blackbox.yml"
    )]
    config_file: PathBuf,
    /// Check the configuration file and exit (0 valid, 2 invalid).
    #[arg(long = "config.check")]
    config_check: bool,
    /// How many recent probes (with their debug logs) the landing page keeps.
    #[arg(long = "history.limit", value_name = "N", default_value_t = 100)]
    history_limit: usize,
    /// Refuse to probe addresses in this CIDR (repeatable), e.g. 169.254.0.0/16.
    #[arg(long = "probe.deny-cidr", value_name = "CIDR")]
    deny_cidr: Vec<String>,
    /// Only probe addresses in these CIDRs (repeatable); deny entries still win.
    #[arg(long = "probe.allow-cidr", value_name = "CIDR")]
    allow_cidr: Vec<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one probe, print its debug log and metrics; exit 0 on success, 1 on failure.
    Probe {
        /// The module to use.
        #[arg(long, default_value = watchkeeper_blackbox::DEFAULT_MODULE)]
        module: String,
        /// Host header and TLS server name for http probes.
        #[arg(long)]
        hostname: Option<String>,
        /// The target, as the `target` parameter of /probe.
        target: String,
    },
}

/// Concurrent probes allowed when `--web.max-requests` is not given. Core's default (40) suits
/// `/metrics`; a blackbox exporter serves one request per target and scrape interval, and
/// blackbox_exporter has no cap at all, so 40 would turn a large fleet's probes into 503s.
const DEFAULT_MAX_PROBES: usize = 1024;

/// Async work on the main thread. A probe is I/O the prober awaits, so one thread keeps
/// thousands in flight; with a worker per CPU, each worker's malloc arena kept its own
/// high-water mark of concurrent probes' buffers, and every probe paid cross-thread wake-ups.
/// Measured with `scripts/bench-blackbox.sh` (docs/benchmarks.md).
const RUNTIME: RuntimeShape = RuntimeShape {
    max_blocking_threads: 4,
};

fn main() -> ExitCode {
    let matches = Cli::command().get_matches_from(blackbox_compatible_args(std::env::args()));
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if matches.value_source("max_requests") == Some(clap::parser::ValueSource::DefaultValue) {
        cli.web.max_requests = DEFAULT_MAX_PROBES;
    }
    let log = cli.log.clone();
    run_main_with(&log, RUNTIME, run(cli))
}

/// blackbox_exporter takes `--timeout-offset` in float seconds (`0.5`); core's flag takes a
/// Prometheus duration. Rewrite a bare number so existing unit files keep working.
fn blackbox_compatible_args(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending_value = false;
    for arg in args {
        if pending_value {
            out.push(seconds_to_duration(&arg));
            pending_value = false;
            continue;
        }
        if let Some(v) = arg.strip_prefix("--timeout-offset=") {
            out.push(format!("--timeout-offset={}", seconds_to_duration(v)));
        } else {
            pending_value = arg == "--timeout-offset";
            out.push(arg);
        }
    }
    out
}

fn seconds_to_duration(v: &str) -> String {
    match v.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => {
            format!("{}ms", (secs * 1000.0).round() as u64)
        }
        _ => v.to_string(),
    }
}

async fn run(cli: Cli) -> Result<(), ExitError> {
    let guard = SsrfGuard::new(&cli.allow_cidr, &cli.deny_cidr).map_err(ExitError::Usage)?;
    if guard.is_active() {
        tracing::info!(allow = ?cli.allow_cidr, deny = ?cli.deny_cidr, "SSRF guard active");
    }
    let blackbox = Blackbox::load(&cli.config_file, guard, cli.history_limit)
        .map_err(|e| ExitError::Usage(e.to_string()))?;
    if cli.config_check {
        println!(
            "{}: configuration is valid ({} modules)",
            cli.config_file.display(),
            blackbox.config().modules.len()
        );
        return Ok(());
    }
    if let Some(Command::Probe {
        module,
        hostname,
        target,
    }) = cli.command
    {
        let timing = ProbeQuery {
            params: Vec::new(),
            timeout_header: None,
            scrape_timeout: ScrapeTimeout {
                offset: cli.web.timeout_offset.get(),
                max: cli.web.scrape_timeout.get(),
            },
            spent: std::time::Duration::ZERO,
        };
        let report = blackbox
            .probe_once(&module, &target, hostname.as_deref(), &timing)
            .await
            .map_err(|e| ExitError::Usage(e.0))?;
        print!("{}", report.debug_text());
        return if report.success {
            Ok(())
        } else {
            Err(ExitError::Runtime(format!(
                "probe of {target} with module {module} failed"
            )))
        };
    }
    let blackbox = Arc::new(blackbox);
    let history = blackbox.history();
    let landing_history = Arc::clone(&history);
    let running = Exporter::new(SPEC)
        .prober(blackbox.clone())
        .reloadable(blackbox.live_config())
        .route(
            "/logs",
            Arc::new(watchkeeper_blackbox::history::LogsPage(history)),
        )
        .landing_section(Arc::new(move || landing_history.landing_html()))
        .bind(&cli.web)
        .await?;
    running.wait().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_requests_default_is_detectable() {
        let m = Cli::command().get_matches_from(["x"]);
        assert_eq!(
            m.value_source("max_requests"),
            Some(clap::parser::ValueSource::DefaultValue)
        );
        let m = Cli::command().get_matches_from(["x", "--web.max-requests=5"]);
        assert_eq!(
            m.value_source("max_requests"),
            Some(clap::parser::ValueSource::CommandLine)
        );
    }

    #[test]
    fn float_timeout_offset_is_rewritten() {
        let args = |v: &[&str]| blackbox_compatible_args(v.iter().map(|s| s.to_string()));
        assert_eq!(
            args(&["x", "--timeout-offset=0.5"]),
            vec!["x", "--timeout-offset=500ms"]
        );
        assert_eq!(
            args(&["x", "--timeout-offset", "1"]),
            vec!["x", "--timeout-offset", "1000ms"]
        );
        assert_eq!(
            args(&["x", "--timeout-offset=2s"]),
            vec!["x", "--timeout-offset=2s"]
        );
    }
}
