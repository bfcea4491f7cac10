//! What every database engine provides, and the sample writer they share.
//!
//! An engine knows how to open a connection, run its health query, run its built-in collectors
//! and run an arbitrary query for custom metrics. Connection reuse, deadlines and the `up`
//! metric are the same for every engine and live in [`crate::target`].

use std::borrow::Cow;
use std::collections::HashMap;
use watchkeeper_core::metrics::{Family, LabelSet, MetricSet, MetricType};
use watchkeeper_core::{BoxFuture, ScrapeDeadline};

/// Why an engine operation failed. Messages never contain the password (the target also scrubs
/// them before logging, as a second line of defence).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The operation ran past the scrape deadline (the connection's state is unknown).
    #[error("deadline exceeded")]
    Timeout,
    /// The server could not be reached or the session could not be set up.
    #[error("connect: {0}")]
    Connect(String),
    /// The server rejected the credentials.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// A query failed but the connection is still usable (missing privilege, missing view).
    #[error("query: {0}")]
    Query(String),
    /// The connection broke while in use.
    #[error("connection lost: {0}")]
    Broken(String),
}

impl DbError {
    /// Whether the connection that produced this error must be thrown away.
    pub fn poisons_connection(&self) -> bool {
        !matches!(self, DbError::Query(_))
    }
}

/// Runs `fut` under `deadline`, mapping expiry to [`DbError::Timeout`].
pub async fn within<T>(
    deadline: ScrapeDeadline,
    fut: impl std::future::Future<Output = Result<T, DbError>>,
) -> Result<T, DbError> {
    deadline.run(fut).await.unwrap_or(Err(DbError::Timeout))
}

/// A value read from a result column, for custom queries.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// SQL NULL.
    Null,
    /// A number.
    Number(f64),
    /// Anything else, as text.
    Text(String),
}

impl Cell {
    /// The cell as a label value.
    pub fn as_label(&self) -> String {
        match self {
            Cell::Null => String::new(),
            Cell::Number(n) => {
                let mut s = String::new();
                watchkeeper_core::metrics::write_value(&mut s, *n);
                s
            }
            Cell::Text(t) => t.clone(),
        }
    }

    /// The cell as a sample value (text that parses as a number counts; booleans are 0/1).
    pub fn as_value(&self) -> Option<f64> {
        match self {
            Cell::Null => None,
            Cell::Number(n) => Some(*n),
            Cell::Text(t) => match t.as_str() {
                "t" | "true" | "Yes" | "YES" | "ON" => Some(1.0),
                "f" | "false" | "No" | "NO" | "OFF" => Some(0.0),
                other => other.trim().parse().ok(),
            },
        }
    }
}

/// A result row: column names and their cells, in order.
pub type Row = Vec<(String, Cell)>;

/// The outcome of one built-in collector of an engine (`<prefix>_scrape_collector_success`).
pub type CollectorOutcome = (&'static str, Result<(), DbError>);

/// One database engine.
pub trait Engine: Send + Sync + 'static {
    /// An open connection.
    type Conn: Send + 'static;

    /// The metric prefix (`pg`, `mysql`, `redis`).
    fn prefix(&self) -> &'static str;

    /// Opens and authenticates a connection. The caller bounds the time.
    fn connect(&self) -> BoxFuture<'_, Result<Self::Conn, DbError>>;

    /// Runs the trivial round trip whose duration is `<prefix>_health_query_duration_seconds`.
    fn health<'a>(&'a self, conn: &'a mut Self::Conn) -> BoxFuture<'a, Result<(), DbError>>;

    /// Runs the built-in collectors, each under `deadline`, writing into `out`.
    fn collect<'a>(
        &'a self,
        conn: &'a mut Self::Conn,
        deadline: ScrapeDeadline,
        out: &'a mut Out,
    ) -> BoxFuture<'a, Vec<CollectorOutcome>>;

    /// Runs `sql` and returns at most `limit` rows (and whether more were available).
    fn query<'a>(
        &'a self,
        conn: &'a mut Self::Conn,
        sql: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<(Vec<Row>, bool), DbError>>;
}

/// Writes samples for one target: every sample gets the `target` label first.
///
/// Families are found by a hash of their name, so an engine may write many hundreds of them
/// (every `SHOW GLOBAL STATUS` row) without a quadratic search.
#[derive(Debug)]
pub struct Out {
    families: Vec<Family>,
    index: HashMap<Box<str>, usize>,
    target: String,
}

impl Out {
    /// An empty writer for the target named `target`.
    pub fn new(target: &str) -> Self {
        Self {
            families: Vec::new(),
            index: HashMap::new(),
            target: target.to_string(),
        }
    }

    /// The target name.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Whether a family named `name` has been written.
    pub fn has(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// The family named `name`, created with `help` and `kind` if new (an existing family keeps
    /// its first help and type).
    fn family(
        &mut self,
        name: Cow<'static, str>,
        help: Cow<'static, str>,
        kind: MetricType,
    ) -> &mut Family {
        let i = match self.index.get(name.as_ref()) {
            Some(&i) => i,
            None => {
                let i = self.families.len();
                self.index.insert(name.as_ref().into(), i);
                self.families.push(Family {
                    name,
                    help,
                    kind,
                    samples: Vec::new(),
                });
                i
            }
        };
        &mut self.families[i]
    }

    /// Adds one sample of `name` with `labels` (after `target`).
    pub fn add(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        kind: MetricType,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        let mut all: Vec<(&str, &str)> = Vec::with_capacity(labels.len() + 1);
        all.push(("target", &self.target));
        all.extend_from_slice(labels);
        let mut rendered = LabelSet::new();
        for (k, v) in all {
            rendered.push(k, v);
        }
        self.family(name.into(), help.into(), kind)
            .sample_rendered(&rendered, value);
    }

    /// Adds one sample of `name` + `suffix` (the `_sum` / `_count` parts of a summary).
    pub fn add_with_suffix(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        kind: MetricType,
        suffix: &'static str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        let target = self.target.clone();
        let mut all: Vec<(&str, &str)> = Vec::with_capacity(labels.len() + 1);
        all.push(("target", &target));
        all.extend_from_slice(labels);
        self.family(name.into(), help.into(), kind)
            .sample_with_suffix(suffix, &all, value);
    }

    /// Adds a gauge sample.
    pub fn gauge(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        self.add(name, help, MetricType::Gauge, labels, value);
    }

    /// Adds a counter sample.
    pub fn counter(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        self.add(name, help, MetricType::Counter, labels, value);
    }

    /// Moves the samples of `other` (same target) into this writer.
    pub fn merge(&mut self, other: Out) {
        for f in other.families {
            let Family {
                name,
                help,
                kind,
                samples,
            } = f;
            self.family(name, help, kind).samples.extend(samples);
        }
    }

    /// The samples written so far.
    pub fn into_set(self) -> MetricSet {
        let mut set = MetricSet::new();
        set.merge_all(self.families.into_iter().map(|f| {
            let mut one = MetricSet::new();
            one.family(f.name, f.help, f.kind).samples = f.samples;
            one
        }));
        set
    }
}

/// An error and its sources on one line (`a: b: c`), for drivers whose top-level message
/// hides the cause ("error connecting to server").
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_become_values_and_labels() {
        assert_eq!(Cell::Text("42.5".into()).as_value(), Some(42.5));
        assert_eq!(Cell::Text("t".into()).as_value(), Some(1.0));
        assert_eq!(Cell::Text("Yes".into()).as_value(), Some(1.0));
        assert_eq!(Cell::Text("OFF".into()).as_value(), Some(0.0));
        assert_eq!(Cell::Text("mail".into()).as_value(), None);
        assert_eq!(Cell::Null.as_value(), None);
        assert_eq!(Cell::Number(3.0).as_label(), "3");
        assert_eq!(Cell::Null.as_label(), "");
    }

    #[test]
    fn every_sample_carries_the_target_label_first() {
        let mut out = Out::new("db1");
        out.gauge("x", "h", &[("datname", "app")], 1.0);
        let set = out.into_set();
        assert_eq!(
            set.families()[0].samples[0].labels,
            r#"target="db1",datname="app""#
        );
    }

    #[test]
    fn only_query_errors_keep_the_connection() {
        assert!(!DbError::Query("permission denied".into()).poisons_connection());
        assert!(DbError::Timeout.poisons_connection());
        assert!(DbError::Broken("reset".into()).poisons_connection());
    }
}
