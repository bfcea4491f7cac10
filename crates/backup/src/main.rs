//! `watchkeeper-backup`: the backup status exporter, and (`run`) the wrapper that records a
//! backup command's attempts.

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use watchkeeper_backup::app::Runtime;
use watchkeeper_backup::collect::JobsCollector;
use watchkeeper_backup::config::Config;
use watchkeeper_backup::wrapper::{self, RunArgs};
use watchkeeper_core::cli::{RuntimeShape, LONG_VERSION};
use watchkeeper_core::kit::{serve, KitArgs};

/// Backup status exporter: freshness, size, integrity and restore tests.
#[derive(Debug, Parser)]
#[command(name = "watchkeeper-backup", version = LONG_VERSION)]
struct Args {
    #[command(flatten)]
    kit: KitArgs,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a backup command and record the attempt in the state directory:
    /// `watchkeeper-backup --config.file=F run --job NAME -- CMD ARGS...`.
    Run(RunArgs),
}

/// Scrapes read cached reports and small state files; the blocking pool runs the background
/// refreshes (one per job at a time) and restore tests.
const RUNTIME: RuntimeShape = RuntimeShape {
    max_blocking_threads: 16,
};

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Run(run)) = args.command {
        watchkeeper_core::logging::init(args.kit.log.level, args.kit.log.format);
        let path = args.kit.config.path(&watchkeeper_backup::SPEC);
        return wrapper::main(&path, run);
    }
    serve::<Config, _>(
        watchkeeper_backup::SPEC,
        RUNTIME,
        args.kit,
        |live, exporter| {
            let runtime = Runtime::start(live);
            let landing = std::sync::Arc::clone(&runtime);
            Ok(exporter
                .landing_section(std::sync::Arc::new(move || landing.landing_html()))
                .blocking_collector(JobsCollector(runtime)))
        },
    )
}
