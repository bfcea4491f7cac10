//! `watchkeeper-incident`: time to acknowledge and time to resolve, from Alertmanager.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use watchkeeper_core::cli::{RuntimeShape, LONG_VERSION};
use watchkeeper_core::kit::{serve, ConfigFile, KitArgs};
use watchkeeper_incident::config::Config;
use watchkeeper_incident::engine::Engine;
use watchkeeper_incident::{follower, handlers, metrics, page, SPEC};

/// Incident response exporter: time to acknowledge and resolve, from Alertmanager.
#[derive(Debug, Parser)]
#[command(name = "watchkeeper-incident", version = LONG_VERSION)]
struct Args {
    #[command(flatten)]
    kit: KitArgs,

    /// The SQLite database file (overrides the configuration's `storage`).
    #[arg(long = "storage.path", value_name = "FILE")]
    storage_path: Option<PathBuf>,
}

/// Async work (polling, serving) on the main thread; SQLite on the blocking pool.
const RUNTIME: RuntimeShape = RuntimeShape {
    max_blocking_threads: 4,
};

fn main() -> ExitCode {
    let args = Args::parse();
    // The database is opened (and its history read) before the runtime starts, so a damaged
    // file stops the exporter with a clear message (exit code 1) and no SQLite call ever runs
    // on the async thread. An invalid configuration is left to the kit (exit code 2).
    let mut opened = None;
    if !args.kit.config.check {
        let path = args.kit.config.path(&SPEC);
        if let Ok(config) = <Config as ConfigFile>::load(&path, None) {
            let storage = args.storage_path.clone().unwrap_or(config.storage.clone());
            match watchkeeper_incident::open_storage(&storage, &config) {
                Ok(s) => opened = Some(s),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
            }
        }
    }
    serve::<Config, _>(SPEC, RUNTIME, args.kit, move |live, exporter| {
        let Some((store, tracker)) = opened else {
            return Err(watchkeeper_core::cli::ExitError::Runtime(
                "the configuration changed while starting; start again".into(),
            ));
        };
        let config = live.get();
        let engine = Engine::new(tracker, store, config.targets);
        tokio::spawn(follower::run(Arc::clone(&engine), live.subscribe()));
        tokio::spawn(follower::retention(Arc::clone(&engine), live.subscribe()));
        Ok(exporter
            .collector(Arc::new(metrics::IncidentCollector(Arc::clone(&engine))))
            .route("/incidents", Arc::new(page::IncidentsPage(Arc::clone(&engine))))
            .post_route(
                "/webhook",
                handlers::MAX_WEBHOOK_BODY,
                Arc::new(handlers::Webhook(Arc::clone(&engine))),
            )
            .post_route(
                "/acknowledge",
                handlers::MAX_ACK_BODY,
                Arc::new(handlers::Acknowledge(Arc::clone(&engine))),
            )
            .landing_section(Arc::new(|| {
                "<h2>Incidents</h2><p><a href=\"/incidents\">Open and recent incidents</a>. POST Alertmanager webhooks to <code>/webhook</code>; acknowledge with <code>POST /acknowledge?fingerprint=…&amp;by=…&amp;comment=…</code>.</p>".to_string()
            })))
    })
}
