//! `watchkeeper-backup`: placeholder binary until the exporter lands.

use clap::Parser;
use std::process::ExitCode;
use watchkeeper_core::cli::{run_main, LogArgs, WebArgs, LONG_VERSION};
use watchkeeper_core::exporter::Exporter;

/// Backup status exporter: freshness, size, integrity and restore tests.
#[derive(Debug, Parser)]
#[command(name = "watchkeeper-backup", version = LONG_VERSION)]
struct Args {
    #[command(flatten)]
    web: WebArgs,

    #[command(flatten)]
    log: LogArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    run_main(&args.log, async move {
        let running = Exporter::new(watchkeeper_backup::SPEC).bind(&args.web).await?;
        running.wait().await;
        Ok(())
    })
}
