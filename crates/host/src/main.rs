//! `watchkeeper-host`: the host exporter binary. Flags are parsed and validated by
//! [`watchkeeper_host::cli`]; this file only wires the result into the core server.

use std::process::ExitCode;
use watchkeeper_core::cli::{run_main_with, ExitError, RuntimeShape};
use watchkeeper_core::exporter::Exporter;
use watchkeeper_core::CollectorRunner;
use watchkeeper_host::cli::{self, CliExit, SPEC};

/// Sized for an exporter. Async work (HTTP, awaiting the collectors, encoding the page once per
/// collection) runs on the main thread: concurrent scrapes share one collection, so there is
/// little to parallelise, and a multi-thread scheduler cost CPU in cross-thread wake-ups and
/// memory in worker stacks and malloc arenas (measured with `scripts/bench-host.sh`, see
/// docs/benchmarks.md). Four blocking threads: the blocking collectors of one collection run
/// batched on one thread; tokio's default cap (512) let 16 concurrent scrapes grow the process
/// to ~140 threads and ~29 MiB RSS. A collector blocked in the kernel holds one thread until
/// core's runner skips it as hung; the filesystem collector never blocks on a dead mount (see
/// its module docs).
const RUNTIME: RuntimeShape = RuntimeShape {
    max_blocking_threads: 4,
};

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
    let log = config.log.clone();
    run_main_with(&log, RUNTIME, serve(config))
}

async fn serve(config: cli::HostConfig) -> Result<(), ExitError> {
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
}
