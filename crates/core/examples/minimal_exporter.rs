//! A complete exporter on the kit: one gauge from a YAML config, reloaded on SIGHUP and
//! `POST /-/reload`. Run: `cargo run -p watchkeeper-core --example minimal_exporter --
//! --config.file=answer.yml` with `answer: 42` in answer.yml, then `curl localhost:10199/metrics`.

use clap::Parser;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use watchkeeper_core::cli::RuntimeShape;
use watchkeeper_core::config::{load_yaml, to_yaml, ConfigError};
use watchkeeper_core::exporter::ExporterSpec;
use watchkeeper_core::kit::{serve, ConfigFile, KitArgs, Live};
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// The configuration file: `answer: 42`.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    answer: f64,
}

impl ConfigFile for Answer {
    fn load(path: &Path, _previous: Option<&Self>) -> Result<Self, ConfigError> {
        load_yaml(path)
    }
    fn describe(&self) -> String {
        to_yaml(self)
    }
    fn summary(&self) -> String {
        format!("answer {}", self.answer)
    }
}

/// Reports the answer in force.
struct AnswerCollector(Arc<Live<Answer>>);

impl BlockingCollector for AnswerCollector {
    fn name(&self) -> &str {
        "answer"
    }
    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        out.family(
            "example_answer",
            "The configured answer.",
            MetricType::Gauge,
        )
        .sample(&[], self.0.get().answer);
        Ok(())
    }
}

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    kit: KitArgs,
}

const SPEC: ExporterSpec = ExporterSpec {
    name: "example",
    binary: "minimal-exporter",
    default_port: 10199,
    description: "An example exporter on the Watchkeeper kit.",
};

fn main() -> ExitCode {
    serve(
        SPEC,
        RuntimeShape::default(),
        Args::parse().kit,
        |live, exporter| Ok(exporter.blocking_collector(AnswerCollector(Arc::clone(live)))),
    )
}
