//! The loaded configuration (files compiled, CA bundles and client keys read), the `/metrics`
//! collectors that read it on every scrape, and the `/probe` handler.

use crate::config::{HostPort, RawConfig};
use crate::endpoint::{probe, Prepared};
use crate::files::{FileScanner, Source};
use crate::labels::{render, write_certs, Origin};
use crate::reason::ErrorCounters;
use crate::walk::Pattern;
use futures_util::stream::{self, StreamExt};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use watchkeeper_core::config::{load_yaml, to_yaml, ConfigError};
use watchkeeper_core::kit::{ConfigFile, Live};
use watchkeeper_core::metrics::{MetricSet, MetricType};
use watchkeeper_core::probe::{ProbeHandler, ProbeLog, ProbeQuery, ProbeRejection, ProbeReport};
use watchkeeper_core::{BlockingCollector, BoxFuture, CollectError, Collector, ScrapeContext};

/// One configured endpoint, ready to probe.
#[derive(Debug)]
pub struct EndpointTarget {
    /// Where.
    pub target: HostPort,
    /// The `target`/`source` label: the endpoint's `name`, or `target` as text.
    pub label: String,
    /// How.
    pub module: Prepared,
}

/// The configuration in force.
pub struct TlsConfig {
    raw: RawConfig,
    sources: Vec<Source>,
    endpoints: Vec<Arc<EndpointTarget>>,
    modules: BTreeMap<String, Arc<Prepared>>,
    default_module: Arc<Prepared>,
    scanner: Arc<FileScanner>,
    /// Failures of file sources (written by the files collector).
    file_errors: Arc<ErrorCounters>,
    /// Failures of endpoints (written by the endpoints collector).
    endpoint_errors: Arc<ErrorCounters>,
}

fn invalid(path: &Path, message: String) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_path_buf(),
        message,
    }
}

impl ConfigFile for TlsConfig {
    fn load(path: &Path, previous: Option<&Self>) -> Result<Self, ConfigError> {
        let raw: RawConfig = load_yaml(path)?;
        let default_timeout = raw.probe.timeout.get();
        let mut sources = Vec::new();
        for (i, f) in raw.files.iter().enumerate() {
            let pattern =
                Pattern::new(&f.path).map_err(|e| invalid(path, format!("files[{i}]: {e}")))?;
            sources.push(Source {
                pattern,
                password_file: f.password_file.clone(),
            });
        }
        let mut endpoints: Vec<Arc<EndpointTarget>> = Vec::new();
        for (i, e) in raw.endpoints.iter().enumerate() {
            let label = e.name.clone().unwrap_or_else(|| e.target.to_string());
            if label.is_empty() {
                return Err(invalid(path, format!("endpoints[{i}].name: empty")));
            }
            if let Some(j) = endpoints.iter().position(|o| o.label == label) {
                return Err(invalid(
                    path,
                    format!(
                        "endpoints[{i}]: {label:?} is already endpoints[{j}]; give one of them a distinct `name`"
                    ),
                ));
            }
            let module = Prepared::new(&e.module, default_timeout)
                .map_err(|err| invalid(path, format!("endpoints[{i}].{err}")))?;
            endpoints.push(Arc::new(EndpointTarget {
                label,
                target: e.target.clone(),
                module,
            }));
        }
        let mut modules = BTreeMap::new();
        for (name, m) in &raw.modules {
            let p = Prepared::new(m, default_timeout)
                .map_err(|err| invalid(path, format!("modules.{name}.{err}")))?;
            modules.insert(name.clone(), Arc::new(p));
        }
        let default_module = Arc::new(
            Prepared::new(&Default::default(), default_timeout)
                .map_err(|err| invalid(path, format!("default module: {err}")))?,
        );
        // The parse cache survives a reload unless the labels it rendered changed.
        let scanner = match previous {
            Some(p) if *p.scanner.options() == raw.labels => Arc::clone(&p.scanner),
            _ => Arc::new(FileScanner::new(raw.labels.clone())),
        };
        let file_errors = previous.map_or_else(Default::default, |p| Arc::clone(&p.file_errors));
        let endpoint_errors =
            previous.map_or_else(Default::default, |p| Arc::clone(&p.endpoint_errors));
        Ok(Self {
            raw,
            sources,
            endpoints,
            modules,
            default_module,
            scanner,
            file_errors,
            endpoint_errors,
        })
    }

    fn describe(&self) -> String {
        to_yaml(&self.raw)
    }

    fn summary(&self) -> String {
        format!(
            "{} file patterns, {} endpoints, {} modules",
            self.sources.len(),
            self.endpoints.len(),
            self.modules.len()
        )
    }
}

/// The `files` collector.
pub struct FilesCollector(pub Arc<Live<TlsConfig>>);

impl BlockingCollector for FilesCollector {
    fn name(&self) -> &str {
        "files"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let c = self.0.get();
        c.scanner.collect(&c.sources, &c.file_errors, out);
        write_error_counters(out, &c.file_errors, "file");
        Ok(())
    }
}

fn write_error_counters(out: &mut MetricSet, errors: &ErrorCounters, kind: &str) {
    let f = out.family(
        "x509_source_errors_total",
        "Failed reads of a certificate source, by bounded reason.",
        MetricType::Counter,
    );
    for (source, reason, n) in errors.snapshot() {
        f.sample(
            &[
                ("source_kind", kind),
                ("source", &source),
                ("reason", reason.as_str()),
            ],
            n as f64,
        );
    }
}

/// The `endpoints` collector: every endpoint probed, at most `probe.concurrency` at once.
pub struct EndpointsCollector(pub Arc<Live<TlsConfig>>);

/// Time kept back from the scrape deadline to write the page.
const MARGIN: Duration = Duration::from_millis(50);

impl Collector for EndpointsCollector {
    fn name(&self) -> &str {
        "endpoints"
    }

    fn collect(&self, ctx: ScrapeContext) -> BoxFuture<'_, Result<MetricSet, CollectError>> {
        Box::pin(async move {
            let c = self.0.get();
            let concurrency = c.raw.probe.concurrency.0;
            let deadline = ctx.deadline;
            let outcomes: Vec<_> = stream::iter(c.endpoints.iter().cloned())
                .map(|e| async move {
                    let budget = deadline.remaining().saturating_sub(MARGIN);
                    let o = probe(&e.target, &e.module, budget).await;
                    (e, o)
                })
                .buffered(concurrency)
                .collect()
                .await;
            let mut out = MetricSet::new();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            let mut rendered = Vec::new();
            for (e, o) in &outcomes {
                crate::report::write(&mut out, Some(&e.label), o);
                if let Some((reason, detail)) = &o.failure {
                    c.endpoint_errors.record(&e.label, *reason, detail);
                }
                for (i, f) in o.chain.iter().enumerate() {
                    let origin = Origin {
                        kind: "endpoint",
                        source: &e.label,
                        embedded: None,
                    };
                    rendered.push(render(f, f.presented_position(i), origin, &c.raw.labels));
                }
            }
            write_certs(&mut out, rendered.iter(), now);
            let up = out.family(
                "x509_source_up",
                "1 if the certificate source (file or endpoint) was read, 0 if it failed (see x509_source_errors_total).",
                MetricType::Gauge,
            );
            for (e, o) in &outcomes {
                let v = if o.failure.is_none() { 1.0 } else { 0.0 };
                up.sample(&[("source_kind", "endpoint"), ("source", &e.label)], v);
            }
            write_error_counters(&mut out, &c.endpoint_errors, "endpoint");
            Ok(out)
        })
    }
}

/// `/probe?target=host:port&module=NAME`.
pub struct Prober(pub Arc<Live<TlsConfig>>);

impl ProbeHandler for Prober {
    fn probe(&self, q: ProbeQuery) -> BoxFuture<'_, Result<ProbeReport, ProbeRejection>> {
        Box::pin(async move {
            let c = self.0.get();
            let target = q
                .get("target")
                .ok_or_else(|| ProbeRejection("target parameter is missing".into()))?;
            let target = HostPort::parse(target).map_err(ProbeRejection)?;
            let module = match q.get("module") {
                None | Some("") => c
                    .modules
                    .get("default")
                    .cloned()
                    .unwrap_or_else(|| Arc::clone(&c.default_module)),
                Some(name) => c
                    .modules
                    .get(name)
                    .cloned()
                    .ok_or_else(|| ProbeRejection(format!("unknown module {name:?}")))?,
            };
            let deadline = q.deadline(Some(module.timeout));
            let mut log = ProbeLog::new();
            log.info(format!("probing {target}"));
            let o = probe(
                &target,
                &module,
                deadline.remaining().saturating_sub(MARGIN),
            )
            .await;
            if let Some((reason, detail)) = &o.failure {
                log.error(format!("{}: {detail}", reason.as_str()));
            }
            if let Some(v) = &o.verification {
                if let Some(e) = v.error {
                    log.error(format!("chain does not verify: {e}"));
                }
                if !v.hostname_ok {
                    log.error("certificate is not valid for the server name");
                }
            }
            let mut metrics = MetricSet::new();
            crate::report::write(&mut metrics, None, &o);
            Ok(ProbeReport {
                success: o.success(),
                metrics,
                log,
            })
        })
    }
}

/// The landing page section: what is configured.
pub fn landing(live: &Live<TlsConfig>) -> String {
    let c = live.get();
    let mut html = String::from("<h2>Certificate sources</h2><ul>");
    for s in &c.sources {
        html.push_str(&format!(
            "<li>files <code>{}</code></li>",
            watchkeeper_core::page::html_escape(s.pattern.text())
        ));
    }
    for e in &c.endpoints {
        let t = watchkeeper_core::page::html_escape(&e.label);
        html.push_str(&format!(
            "<li>endpoint <a href=\"/probe?target={t}\">{t}</a></li>"
        ));
    }
    html.push_str("</ul>");
    html
}
