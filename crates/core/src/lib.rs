//! The exporter runtime every Watchkeeper exporter shares.
//!
//! A scrape flows from [`server`] through authentication ([`web_config`]) and the concurrency
//! gate to a [`collector::CollectorRunner`] (or a [`probe::ProbeHandler`] for multi-target
//! exporters) under a [`deadline::ScrapeDeadline`]; the resulting [`metrics::MetricSet`] is
//! encoded by [`exposition`]. Nothing here knows any particular exporter.

pub mod collector;
pub mod deadline;
pub mod exposition;
pub mod metrics;

pub use collector::{
    BlockingCollector, BoxFuture, CollectError, Collector, CollectorRunner, ScrapeContext,
};
pub use deadline::{ScrapeDeadline, ScrapeTimeout};
pub use metrics::{Family, LabelSet, MetricSet, MetricType};
pub mod base64;
pub mod certificate;
pub mod cli;
pub mod coalesce;
pub mod code_pages;
pub mod config;
pub mod exporter;
pub mod kit;
pub mod listen;
pub mod logging;
pub mod malloc_arenas;
pub mod page;
pub mod probe;
pub mod refresh;
pub mod self_metrics;
pub mod tls_client;
pub mod web_config;
