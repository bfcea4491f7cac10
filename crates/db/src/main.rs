//! `watchkeeper-db`: the database health exporter binary.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use watchkeeper_core::cli::{
    run_main_with, ExitError, LogArgs, RuntimeShape, WebArgs, LONG_VERSION,
};
use watchkeeper_core::exporter::Exporter;
use watchkeeper_core::CollectorRunner;
use watchkeeper_db::app::App;

/// Prometheus exporter for PostgreSQL, MySQL/MariaDB and Redis health.
#[derive(Debug, Parser)]
#[command(name = "watchkeeper-db", version = LONG_VERSION)]
struct Args {
    /// The targets file (YAML).
    #[arg(
        long = "config.file",
        value_name = "FILE",
        default_value = "watchkeeper-db.yml"
    )]
    config_file: PathBuf,

    /// Validate the configuration file and exit (0 valid, 2 invalid).
    #[arg(long = "config.check")]
    config_check: bool,

    #[command(flatten)]
    web: WebArgs,

    #[command(flatten)]
    log: LogArgs,
}

/// Async work on the main thread: every query is I/O the drivers await, so one thread serves
/// any number of targets concurrently, and concurrent scrapes share one collection. A
/// multi-thread scheduler added worker stacks, malloc arenas and cross-thread wake-ups to every
/// scrape (RSS and tail latency, measured with `scripts/bench-db.sh`, docs/benchmarks.md).
const RUNTIME: RuntimeShape = RuntimeShape {
    max_blocking_threads: 4,
};

fn main() -> ExitCode {
    let args = Args::parse();
    run_main_with(&args.log, RUNTIME, async move {
        let app = App::load(&args.config_file).map_err(ExitError::Usage)?;
        if args.config_check {
            println!(
                "{}: OK ({} targets)",
                args.config_file.display(),
                app.targets().len()
            );
            return Ok(());
        }
        let mut runner =
            CollectorRunner::new(vec![format!("watchkeeper_{}", watchkeeper_db::SPEC.name)]);
        runner.add(app.collector());
        let landing = Arc::clone(&app);
        let running = Exporter::new(watchkeeper_db::SPEC)
            .collectors(runner)
            .prober(app.prober())
            .reloadable(Arc::clone(&app) as Arc<dyn watchkeeper_core::config::Reloadable>)
            .landing_section(Arc::new(move || landing.landing_html()))
            .bind(&args.web)
            .await?;
        running.wait().await;
        Ok(())
    })
}
