//! The exporter's YAML configuration: named targets, their credentials and custom queries.
//!
//! Passwords are never written in the file: a target names a `password_file` or a
//! `password_env` variable, read when the configuration is loaded (and again on every reload),
//! so a rotated secret is picked up by `POST /-/reload`.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use watchkeeper_core::config::position::{
    error_at, key_path, load_validated, parse_validated, KeyPath,
};
use watchkeeper_core::config::{ConfigError, PromDuration, Secret};
use watchkeeper_core::tls_client::TlsClientOptions;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The databases to watch, each scraped on `/metrics` and reachable by name on `/probe`.
    #[serde(default)]
    pub targets: Vec<TargetConfig>,
}

/// The database engine of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// PostgreSQL (metric prefix `pg_`).
    Postgres,
    /// MySQL or MariaDB (metric prefix `mysql_`).
    Mysql,
    /// Redis (metric prefix `redis_`).
    Redis,
}

impl Kind {
    /// The metric prefix of the exporter this engine replaces.
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Postgres => "pg",
            Kind::Mysql => "mysql",
            Kind::Redis => "redis",
        }
    }

    /// The server's well-known port.
    pub fn default_port(self) -> u16 {
        match self {
            Kind::Postgres => 5432,
            Kind::Mysql => 3306,
            Kind::Redis => 6379,
        }
    }
}

/// One database server to watch.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// The target's name: the `target` label value and the `/probe?target=` key.
    pub name: String,
    /// The engine.
    pub kind: Kind,
    /// Host name or IP address of the server.
    #[serde(default = "default_host")]
    pub host: String,
    /// TCP port; the engine's default when absent.
    #[serde(
        default,
        deserialize_with = "de_port",
        skip_serializing_if = "Option::is_none"
    )]
    pub port: Option<u16>,
    /// User to log in as (PostgreSQL default `postgres`, MySQL default `root`, Redis: ACL user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Database to connect to (PostgreSQL default `postgres`; Redis: the database number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// File holding the password (one trailing newline is ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Environment variable holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// TLS settings; when present the connection must use TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsClientOptions>,
    /// Maximum number of connections held open to this target.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// Longest time to spend opening one connection (further capped by the scrape deadline).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: PromDuration,
    /// A reused connection older than this is closed and reopened, so revoked credentials show
    /// up as `up 0` within this time even though the old session still works.
    #[serde(default = "default_max_connection_age")]
    pub max_connection_age: PromDuration,
    /// Extra queries whose rows become samples.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_queries: Vec<CustomQueryConfig>,
    /// Optional collectors to turn on (off by default), named as the Go exporters' `--collect.*`
    /// flags: MySQL `info_schema.processlist`, `info_schema.tables`,
    /// `perf_schema.eventsstatements`, `perf_schema.tableiowaits`; PostgreSQL
    /// `stat_statements`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub collect: Vec<String>,
    /// Redis: keys (or `SCAN` patterns) whose length, and numeric value, are exported as
    /// redis_exporter's `-check-keys` does; at most [`MAX_CHECKED_KEYS`] keys in all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub check_keys: Vec<String>,
}

/// The optional collectors each engine offers (`collect:`).
pub fn optional_collectors(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Mysql => &[
            "info_schema.processlist",
            "info_schema.tables",
            "perf_schema.eventsstatements",
            "perf_schema.tableiowaits",
        ],
        Kind::Postgres => &["stat_statements"],
        Kind::Redis => &[],
    }
}

/// The most keys `check_keys` reports per scrape, whatever the patterns match.
pub const MAX_CHECKED_KEYS: usize = 1000;

/// The most patterns `check_keys` may list.
pub const MAX_CHECK_KEY_PATTERNS: usize = 32;

/// A query whose result rows become samples.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomQueryConfig {
    /// Metric name prefix: each value column `c` becomes the gauge `<name>_<c>`.
    pub name: String,
    /// Help text of the resulting metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// The SQL text; for Redis targets a Lua script run with `EVAL` (see the crate README).
    pub query: String,
    /// Columns whose (text) values become labels.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Columns whose numeric values become samples.
    pub values: Vec<String>,
    /// At most this many rows are turned into samples; the rest are ignored with a warning.
    #[serde(default = "default_row_limit")]
    pub row_limit: usize,
    /// Longest time the query may run (further capped by the scrape deadline).
    #[serde(default = "default_query_timeout")]
    pub timeout: PromDuration,
}

fn de_port<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    let n = u64::deserialize(d)?;
    match u16::try_from(n) {
        Ok(p) if p > 0 => Ok(Some(p)),
        _ => Err(serde::de::Error::custom(format!(
            "port {n} is out of range 1..=65535"
        ))),
    }
}

fn default_host() -> String {
    "127.0.0.1".into()
}
fn default_pool_size() -> usize {
    1
}
fn default_connect_timeout() -> PromDuration {
    PromDuration(Duration::from_secs(5))
}
fn default_max_connection_age() -> PromDuration {
    PromDuration(Duration::from_secs(300))
}
fn default_row_limit() -> usize {
    100
}
fn default_query_timeout() -> PromDuration {
    PromDuration(Duration::from_secs(5))
}

/// The most connections one target may hold; more would defeat the point of a health exporter.
pub const MAX_POOL_SIZE: usize = 16;

/// A target with everything resolved: port, user, password read from its source.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The configuration as written.
    pub config: TargetConfig,
    /// The port to connect to.
    pub port: u16,
    /// The password, if the target has one.
    pub password: Option<Secret>,
}

impl PartialEq for Resolved {
    fn eq(&self, other: &Self) -> bool {
        // Serialized forms compare every field except the secret (redacted), so compare it apart.
        watchkeeper_core::config::to_yaml(&self.config)
            == watchkeeper_core::config::to_yaml(&other.config)
            && self.password.as_ref().map(Secret::expose)
                == other.password.as_ref().map(Secret::expose)
    }
}

impl Config {
    /// Loads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        load_validated(path, Config::validate)
    }

    /// Parses and validates `text`; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        parse_validated(text, path, Config::validate)
    }

    /// Semantic checks serde cannot express; the error names the offending key.
    fn validate(&self) -> Result<(), (KeyPath, String)> {
        for (i, t) in self.targets.iter().enumerate() {
            let field = |f: &str| key_path(&[&"targets", &i, &f]);
            let at = format!("targets[{i}]");
            if t.name.is_empty()
                || !t
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err((field("name"), format!(
                    "{at}.name: {:?} must be non-empty and use only letters, digits, '-', '_' and '.'",
                    t.name
                )));
            }
            if self.targets[..i].iter().any(|o| o.name == t.name) {
                return Err((
                    field("name"),
                    format!("{at}.name: duplicate target name {:?}", t.name),
                ));
            }
            let at = format!("targets[{i}] ({})", t.name);
            if t.host.is_empty() {
                return Err((field("host"), format!("{at}.host: must not be empty")));
            }
            if t.port == Some(0) {
                return Err((
                    field("port"),
                    format!("{at}.port: must be between 1 and 65535"),
                ));
            }
            if t.pool_size == 0 || t.pool_size > MAX_POOL_SIZE {
                return Err((
                    field("pool_size"),
                    format!(
                        "{at}.pool_size: {} is out of range 1..={MAX_POOL_SIZE}",
                        t.pool_size
                    ),
                ));
            }
            if t.connect_timeout.get().is_zero() {
                return Err((
                    field("connect_timeout"),
                    format!("{at}.connect_timeout: must be positive"),
                ));
            }
            if t.password_file.is_some() && t.password_env.is_some() {
                return Err((
                    field("password_env"),
                    format!("{at}: set only one of password_file and password_env"),
                ));
            }
            if t.kind == Kind::Redis {
                if let Some(db) = &t.database {
                    if db.parse::<u16>().is_err() {
                        return Err((
                            field("database"),
                            format!("{at}.database: a Redis database is a number, got {db:?}"),
                        ));
                    }
                }
            }
            let offered = optional_collectors(t.kind);
            for (j, c) in t.collect.iter().enumerate() {
                if !offered.contains(&c.as_str()) {
                    return Err((
                        key_path(&[&"targets", &i, &"collect", &j]),
                        format!(
                            "{at}.collect: unknown collector {c:?} for {}; available: {}",
                            t.kind.prefix(),
                            if offered.is_empty() {
                                "none".to_string()
                            } else {
                                offered.join(", ")
                            }
                        ),
                    ));
                }
            }
            if !t.check_keys.is_empty() && t.kind != Kind::Redis {
                return Err((
                    field("check_keys"),
                    format!("{at}.check_keys: only Redis targets have keys to check"),
                ));
            }
            if t.check_keys.len() > MAX_CHECK_KEY_PATTERNS {
                return Err((
                    field("check_keys"),
                    format!("{at}.check_keys: at most {MAX_CHECK_KEY_PATTERNS} patterns"),
                ));
            }
            if let Some(j) = t.check_keys.iter().position(|k| k.is_empty()) {
                return Err((
                    key_path(&[&"targets", &i, &"check_keys", &j]),
                    format!("{at}.check_keys: a pattern must not be empty"),
                ));
            }
            if let Some(tls) = &t.tls {
                if let Err(e) = tls.build() {
                    return Err((field("tls"), format!("{at}.tls: {e}")));
                }
            }
            for (j, q) in t.custom_queries.iter().enumerate() {
                let field = |f: &str| key_path(&[&"targets", &i, &"custom_queries", &j, &f]);
                let at = format!("{at}.custom_queries[{j}]");
                if !is_metric_name(&q.name) {
                    return Err((
                        field("name"),
                        format!("{at}.name: {:?} is not a valid metric name", q.name),
                    ));
                }
                if q.query.trim().is_empty() {
                    return Err((field("query"), format!("{at}.query: must not be empty")));
                }
                if q.values.is_empty() {
                    return Err((
                        field("values"),
                        format!("{at}.values: name at least one value column"),
                    ));
                }
                for (key, c) in q
                    .labels
                    .iter()
                    .map(|c| ("labels", c))
                    .chain(q.values.iter().map(|c| ("values", c)))
                {
                    if !is_label_name(c) {
                        return Err((
                            field(key),
                            format!(
                                "{at}.{key}: column {c:?} is not a valid label or metric name part"
                            ),
                        ));
                    }
                }
                if let Some(c) = q.labels.iter().find(|c| q.values.contains(c)) {
                    return Err((
                        field("labels"),
                        format!("{at}: column {c:?} is both a label and a value"),
                    ));
                }
                if q.labels.iter().any(|c| c == "target") {
                    return Err((
                        field("labels"),
                        format!("{at}.labels: \"target\" is reserved for the target name"),
                    ));
                }
                if q.row_limit == 0 {
                    return Err((
                        field("row_limit"),
                        format!("{at}.row_limit: must be at least 1"),
                    ));
                }
                if q.timeout.get().is_zero() {
                    return Err((field("timeout"), format!("{at}.timeout: must be positive")));
                }
            }
        }
        Ok(())
    }

    /// Resolves every target (reads password files and variables). `path` is the config file:
    /// relative password files are relative to it.
    pub fn resolve(&self, path: &Path) -> Result<Vec<Resolved>, ConfigError> {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        self.targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                resolve_target(i, t, path)
                    .map_err(|(at, message)| error_at(&text, path, &at, message))
            })
            .collect()
    }
}

fn resolve_target(i: usize, t: &TargetConfig, path: &Path) -> Result<Resolved, (KeyPath, String)> {
    let at = format!("targets[{i}] ({})", t.name);
    let password = if let Some(file) = &t.password_file {
        // A relative password file is relative to the config file, like Prometheus' *_file.
        let file = match path.parent() {
            Some(dir) if file.is_relative() => dir.join(file),
            _ => file.clone(),
        };
        match Secret::from_file(&file) {
            Ok(s) => Some(s),
            Err(e) => {
                return Err((
                    key_path(&[&"targets", &i, &"password_file"]),
                    format!("{at}.password_file: cannot read {}: {e}", file.display()),
                ))
            }
        }
    } else if let Some(var) = &t.password_env {
        match std::env::var(var) {
            Ok(v) => Some(Secret::new(v)),
            Err(_) => {
                return Err((
                    key_path(&[&"targets", &i, &"password_env"]),
                    format!("{at}.password_env: environment variable {var} is not set"),
                ))
            }
        }
    } else {
        None
    };
    Ok(Resolved {
        port: t.port.unwrap_or(t.kind.default_port()),
        config: t.clone(),
        password,
    })
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("db.yml")).map_err(|e| e.to_string())
    }

    #[test]
    fn optional_collectors_are_checked_per_engine() {
        let ok =
            parse("targets:\n  - name: m\n    kind: mysql\n    collect: [info_schema.tables]\n");
        assert_eq!(ok.unwrap().targets[0].collect, vec!["info_schema.tables"]);
        let e = parse("targets:\n  - name: m\n    kind: mysql\n    collect:\n      - info_schema.tables\n      - perf_schema.nope\n").unwrap_err();
        assert!(e.starts_with("db.yml:6:"), "{e}");
        assert!(e.contains("unknown collector \"perf_schema.nope\""), "{e}");
        let e = parse("targets:\n  - name: p\n    kind: postgres\n    check_keys: [\"a*\"]\n")
            .unwrap_err();
        assert!(e.contains("only Redis targets"), "{e}");
        let ok = parse(
            "targets:\n  - name: r\n    kind: redis\n    check_keys: [\"queue:*\", \"lock\"]\n",
        );
        assert_eq!(ok.unwrap().targets[0].check_keys.len(), 2);
    }

    #[test]
    fn minimal_targets_get_defaults() {
        let c = parse("targets:\n  - name: main\n    kind: postgres\n").unwrap();
        let r = c.resolve(Path::new("db.yml")).unwrap();
        assert_eq!(r[0].port, 5432);
        assert_eq!(r[0].config.pool_size, 1);
        assert_eq!(r[0].config.host, "127.0.0.1");
        assert!(r[0].password.is_none());
    }

    #[test]
    fn inline_password_is_rejected_with_position() {
        let err =
            parse("targets:\n  - name: main\n    kind: mysql\n    password: x\n").unwrap_err();
        assert!(err.starts_with("db.yml:4:5: "), "{err}");
        assert!(err.contains("password"), "{err}");
    }

    #[test]
    fn password_env_is_read_and_never_printed() {
        std::env::set_var("WATCHKEEPER_DB_UNIT_PW", "s3cr3t-unit");
        let c = parse(
            "targets:\n  - name: r\n    kind: redis\n    password_env: WATCHKEEPER_DB_UNIT_PW\n",
        )
        .unwrap();
        let r = c.resolve(Path::new("db.yml")).unwrap();
        assert_eq!(
            r[0].password.as_ref().map(Secret::expose),
            Some("s3cr3t-unit")
        );
        assert!(!format!("{r:?}").contains("s3cr3t-unit"));
    }
}
