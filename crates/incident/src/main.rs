//! `watchkeeper-incident`: placeholder binary until the exporter lands.

use clap::Parser;
use std::process::ExitCode;
use watchkeeper_core::cli::{run_main, LogArgs, WebArgs, LONG_VERSION};
use watchkeeper_core::exporter::Exporter;

/// Incident response exporter: time to acknowledge and resolve, from Alertmanager.
#[derive(Debug, Parser)]
#[command(name = "watchkeeper-incident", version = LONG_VERSION)]
struct Args {
    #[command(flatten)]
    web: WebArgs,

    #[command(flatten)]
    log: LogArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    run_main(&args.log, async move {
        let running = Exporter::new(watchkeeper_incident::SPEC)
            .bind(&args.web)
            .await?;
        running.wait().await;
        Ok(())
    })
}
