//! `watchkeeper-db`: the database health exporter binary.

use clap::Parser;
use std::process::ExitCode;
use std::sync::Arc;
use watchkeeper_core::cli::{RuntimeShape, LONG_VERSION};
use watchkeeper_core::kit::{serve, KitArgs};
use watchkeeper_db::app::{self, Loaded};

/// Prometheus exporter for PostgreSQL, MySQL/MariaDB and Redis health.
#[derive(Debug, Parser)]
#[command(name = "watchkeeper-db", version = LONG_VERSION)]
struct Args {
    #[command(flatten)]
    kit: KitArgs,
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
    serve::<Loaded, _>(watchkeeper_db::SPEC, RUNTIME, args.kit, |live, exporter| {
        let landing = Arc::clone(live);
        Ok(exporter
            .collector(app::collector(live))
            .prober(app::prober(live))
            .landing_section(Arc::new(move || app::landing_html(&landing))))
    })
}
