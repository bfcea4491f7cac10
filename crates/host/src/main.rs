//! `watchkeeper-host`: the host exporter binary. Flags are parsed and validated by
//! [`watchkeeper_host::cli`]; this file only wires the result into the core server.

use std::process::ExitCode;
use watchkeeper_core::cli::{run_main, ExitError};
use watchkeeper_core::exporter::Exporter;
use watchkeeper_core::CollectorRunner;
use watchkeeper_host::cli::{self, CliExit, SPEC};

fn main() -> ExitCode {
    let config = match cli::parse(std::env::args_os()) {
        Ok(c) => c,
        Err(CliExit::Print(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(CliExit::Usage(msg)) => {
            eprintln!("error: {msg}");
            return ExitCode::from(2);
        }
    };
    run_main(&config.log, async move {
        // node_exporter's `node_scrape_collector_*` pair keeps its dashboards working; ours sits beside it.
        let mut runner =
            CollectorRunner::new(vec!["node".into(), format!("watchkeeper_{}", SPEC.name)]);
        for def in &config.enabled {
            let collector = (def.build)(&config.options)
                .map_err(|e| ExitError::Usage(format!("collector {}: {e}", def.name)))?;
            runner.add(collector);
        }
        tracing::info!(collectors = ?runner.names(), "enabled collectors");
        let running = Exporter::new(SPEC)
            .collectors(runner)
            .bind(&config.web)
            .await?;
        running.wait().await;
        Ok(())
    })
}
