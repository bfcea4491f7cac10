//! `watchkeeper-host`: the host exporter binary. Flags are parsed and validated by
//! [`watchkeeper_host::cli`]; this file only wires the result into the core server.

use std::process::ExitCode;
use watchkeeper_core::cli::ExitError;
use watchkeeper_core::exporter::Exporter;
use watchkeeper_core::CollectorRunner;
use watchkeeper_host::cli::{self, CliExit, SPEC};

/// Async worker threads: serving HTTP and awaiting collectors needs little parallelism, and
/// each thread costs memory on a many-core host.
const WORKER_THREADS: usize = 2;

/// Cap on the threads the blocking collectors run on. Measured with 16 concurrent scrapes of
/// 20 collectors: tokio's default cap (512) let the process grow to ~140 threads and ~29 MiB
/// RSS; 8 threads keep it near 14 MiB with the same CPU per scrape and a lower p99. A collector
/// blocked in the kernel holds one of these until it returns; the filesystem collector, the one
/// that talks to possibly dead network mounts, never blocks on them (see its module docs).
const MAX_BLOCKING_THREADS: usize = 8;

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
    // core's run_main, with the runtime sized for an exporter (see the constants above).
    watchkeeper_core::logging::init(config.log.level, config.log.format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.code())
        }
    }
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
