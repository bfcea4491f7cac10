//! `watchkeeper-tls`: certificate expiry from TLS endpoints and certificate files.

use clap::Parser;
use std::process::ExitCode;
use std::sync::Arc;
use watchkeeper_core::cli::{RuntimeShape, LONG_VERSION};
use watchkeeper_core::kit::{serve, KitArgs};
use watchkeeper_tls::app::{landing, EndpointsCollector, FilesCollector, Prober, TlsConfig};

/// TLS certificate expiry exporter: endpoints and certificate files.
#[derive(Debug, Parser)]
#[command(name = "watchkeeper-tls", version = LONG_VERSION)]
struct Args {
    #[command(flatten)]
    kit: KitArgs,
}

/// One async thread: endpoint probes are I/O; file scans run on the blocking pool.
const RUNTIME: RuntimeShape = RuntimeShape {
    max_blocking_threads: 4,
};

fn main() -> ExitCode {
    let args = Args::parse();
    serve::<TlsConfig, _>(
        watchkeeper_tls::SPEC,
        RUNTIME,
        args.kit,
        |live, exporter| {
            let page = Arc::clone(live);
            Ok(exporter
                .blocking_collector(FilesCollector(Arc::clone(live)))
                .collector(Arc::new(EndpointsCollector(Arc::clone(live))))
                .prober(Arc::new(Prober(Arc::clone(live))))
                .landing_section(Arc::new(move || landing(&page))))
        },
    )
}
