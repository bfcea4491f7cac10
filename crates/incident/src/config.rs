//! The configuration file: which Alertmanagers to follow, which alerts are incidents, the
//! response targets, where incidents are stored and for how long.
//!
//! Every value is checked while parsing, so an error names the file, line and column.

use crate::matcher::MatchValue;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use watchkeeper_core::config::{parse_yaml, ConfigError, PromDuration, Secret};
use watchkeeper_core::tls_client::TlsClientOptions;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Base URLs of the Alertmanagers to follow (one HA cluster: alerts are deduplicated by
    /// fingerprint).
    #[serde(default = "default_alertmanagers")]
    pub alertmanagers: Vec<AlertmanagerUrl>,
    /// How often each Alertmanager's alerts and silences are read.
    #[serde(default = "default_poll_interval", deserialize_with = "de_positive")]
    pub poll_interval: PromDuration,
    /// The longest one request to an Alertmanager may take.
    #[serde(default = "default_timeout", deserialize_with = "de_positive")]
    pub timeout: PromDuration,
    /// Which alerts are incidents.
    #[serde(default)]
    pub incidents: IncidentsConfig,
    /// The response targets (exported as `incident_target_seconds`).
    #[serde(default)]
    pub targets: Targets,
    /// The SQLite database file (`--storage.path` overrides it).
    #[serde(default = "default_storage")]
    pub storage: PathBuf,
    /// How long resolved incidents are kept.
    #[serde(default = "default_retention", deserialize_with = "de_positive")]
    pub retention: PromDuration,
    /// The `alertname` of the always-firing alert that proves the alerting pipeline works
    /// (empty: not watched).
    #[serde(default = "default_watchdog")]
    pub watchdog: String,
    /// How to reach the Alertmanagers when they require authentication or a private CA.
    #[serde(default, skip_serializing_if = "HttpConfig::is_empty")]
    pub http_config: HttpConfig,
    /// The secrets and TLS settings of `http_config`, read when the file is loaded.
    #[serde(skip)]
    pub credentials: Credentials,
}

/// Client settings for the Alertmanager API (a subset of Prometheus' `http_config`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// HTTP basic authentication; the password is read from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// A file holding a bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<PathBuf>,
    /// TLS settings (CA, client certificate, server name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsClientOptions>,
}

impl HttpConfig {
    fn is_empty(&self) -> bool {
        self.basic_auth.is_none() && self.bearer_token_file.is_none() && self.tls_config.is_none()
    }
}

/// Basic authentication settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// The user name.
    pub username: String,
    /// A file holding the password (one trailing newline is ignored).
    pub password_file: PathBuf,
}

/// What `http_config` resolves to.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// User name and password.
    pub basic: Option<(String, Secret)>,
    /// Bearer token.
    pub bearer: Option<Secret>,
    /// A rustls configuration, when `tls_config` is given.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// Which alerts are incidents.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentsConfig {
    /// Label matchers that must all match (default `severity: critical`).
    #[serde(rename = "match", default = "default_match")]
    pub matchers: BTreeMap<LabelName, MatchValue>,
}

impl Default for IncidentsConfig {
    fn default() -> Self {
        Self {
            matchers: default_match(),
        }
    }
}

/// Response targets.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Time to acknowledge.
    #[serde(default = "default_ack_target", deserialize_with = "de_positive")]
    pub acknowledge: PromDuration,
    /// Time to resolve.
    #[serde(default = "default_resolve_target", deserialize_with = "de_positive")]
    pub resolve: PromDuration,
}

impl Default for Targets {
    fn default() -> Self {
        Self {
            acknowledge: default_ack_target(),
            resolve: default_resolve_target(),
        }
    }
}

/// A Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct LabelName(pub String);

impl<'de> Deserialize<'de> for LabelName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let mut chars = s.chars();
        let ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if ok {
            Ok(Self(s))
        } else {
            Err(serde::de::Error::custom(format!(
                "{s:?} is not a valid label name"
            )))
        }
    }
}

/// An Alertmanager base URL: `http` or `https`, no credentials, no query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertmanagerUrl(pub url::Url);

impl AlertmanagerUrl {
    /// Parses and checks a base URL.
    pub fn parse(s: &str) -> Result<Self, String> {
        let u = url::Url::parse(s).map_err(|e| format!("invalid Alertmanager URL {s:?}: {e}"))?;
        if !matches!(u.scheme(), "http" | "https") {
            return Err(format!("Alertmanager URL {s:?} must use http or https"));
        }
        if !u.username().is_empty() || u.password().is_some() {
            // Shown without the URL: it holds a secret.
            return Err("an Alertmanager URL must not contain credentials".into());
        }
        if u.query().is_some() || u.fragment().is_some() {
            return Err(format!(
                "Alertmanager URL {s:?} must not have a query or fragment"
            ));
        }
        Ok(Self(u))
    }

    /// The `instance` label value: the URL without a trailing slash.
    pub fn instance(&self) -> String {
        self.0.as_str().trim_end_matches('/').to_string()
    }

    /// The URL of an API path (`api/v2/alerts`) under this base.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}/{path}", self.instance())
    }
}

impl<'de> Deserialize<'de> for AlertmanagerUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for AlertmanagerUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

fn de_positive<'de, D: Deserializer<'de>>(d: D) -> Result<PromDuration, D::Error> {
    let v = PromDuration::deserialize(d)?;
    if v.get() < Duration::from_secs(1) {
        return Err(serde::de::Error::custom(format!(
            "duration {v} must be at least 1s"
        )));
    }
    Ok(v)
}

fn default_alertmanagers() -> Vec<AlertmanagerUrl> {
    // A literal that always parses; an empty list would only be reached if it did not.
    AlertmanagerUrl::parse("http://127.0.0.1:9093")
        .map(|u| vec![u])
        .unwrap_or_default()
}
fn default_poll_interval() -> PromDuration {
    PromDuration(Duration::from_secs(15))
}
fn default_timeout() -> PromDuration {
    PromDuration(Duration::from_secs(10))
}
fn default_match() -> BTreeMap<LabelName, MatchValue> {
    let mut m = BTreeMap::new();
    if let Ok(v) = MatchValue::parse("critical") {
        m.insert(LabelName("severity".into()), v);
    }
    m
}
fn default_ack_target() -> PromDuration {
    PromDuration(Duration::from_secs(15 * 60))
}
fn default_resolve_target() -> PromDuration {
    PromDuration(Duration::from_secs(2 * 3600))
}
fn default_storage() -> PathBuf {
    PathBuf::from("/var/lib/watchkeeper-incident/incidents.db")
}
fn default_retention() -> PromDuration {
    PromDuration(Duration::from_secs(400 * 86_400))
}
fn default_watchdog() -> String {
    "Watchdog".into()
}

impl Config {
    /// Loads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates `text`; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = parse_yaml(text, path)?;
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        if config.alertmanagers.is_empty() {
            return Err(invalid(
                "alertmanagers: at least one URL is required".into(),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for am in &config.alertmanagers {
            if !seen.insert(am.instance()) {
                return Err(invalid(format!(
                    "alertmanagers: {:?} is listed twice",
                    am.instance()
                )));
            }
        }
        if config.timeout > config.poll_interval {
            return Err(invalid(format!(
                "timeout: {} must not exceed poll_interval {}",
                config.timeout, config.poll_interval
            )));
        }
        if config.storage.as_os_str().is_empty() {
            return Err(invalid("storage: a file path is required".into()));
        }
        let mut config = config;
        config.credentials = config.http_config.resolve(path).map_err(invalid)?;
        Ok(config)
    }

    /// The configuration as YAML (secrets are only ever in files, never shown).
    pub fn describe_yaml(&self) -> String {
        watchkeeper_core::config::to_yaml(self)
    }

    /// The incident matchers keyed by plain label name.
    pub fn matchers(&self) -> BTreeMap<String, MatchValue> {
        self.incidents
            .matchers
            .iter()
            .map(|(k, v)| (k.0.clone(), v.clone()))
            .collect()
    }

    /// Short summary for `--config.check`.
    pub fn summary(&self) -> String {
        format!(
            "{} alertmanager{}, {} matcher{}",
            self.alertmanagers.len(),
            if self.alertmanagers.len() == 1 {
                ""
            } else {
                "s"
            },
            self.incidents.matchers.len(),
            if self.incidents.matchers.len() == 1 {
                ""
            } else {
                "s"
            },
        )
    }
}

impl HttpConfig {
    /// Reads the secret files (relative paths are relative to the configuration file) and
    /// builds the TLS settings.
    fn resolve(&self, config_path: &Path) -> Result<Credentials, String> {
        let base = config_path.parent().unwrap_or(Path::new("."));
        let read = |field: &str, p: &Path| {
            let full = base.join(p);
            Secret::from_file(&full)
                .map_err(|e| format!("http_config.{field}: cannot read {}: {e}", p.display()))
        };
        if self.basic_auth.is_some() && self.bearer_token_file.is_some() {
            return Err("http_config: set only one of basic_auth and bearer_token_file".into());
        }
        let basic = match &self.basic_auth {
            Some(b) => Some((
                b.username.clone(),
                read("basic_auth.password_file", &b.password_file)?,
            )),
            None => None,
        };
        let bearer = match &self.bearer_token_file {
            Some(p) => Some(read("bearer_token_file", p)?),
            None => None,
        };
        let tls = match &self.tls_config {
            Some(t) => {
                let mut t = t.clone();
                for f in [&mut t.ca_file, &mut t.cert_file, &mut t.key_file]
                    .into_iter()
                    .flatten()
                {
                    *f = base.join(&*f);
                }
                Some(
                    t.build()
                        .map_err(|e| format!("http_config.tls_config: {e}"))?,
                )
            }
            None => None,
        };
        Ok(Credentials { basic, bearer, tls })
    }
}

impl watchkeeper_core::kit::ConfigFile for Config {
    fn load(path: &Path, _previous: Option<&Self>) -> Result<Self, ConfigError> {
        Config::load(path)
    }

    fn describe(&self) -> String {
        self.describe_yaml()
    }

    fn summary(&self) -> String {
        Config::summary(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("i.yml")).map_err(|e| e.to_string())
    }

    #[test]
    fn the_issue_example_parses() {
        let c = parse(
            "alertmanagers: [http://127.0.0.1:9093]\npoll_interval: 15s\nincidents:\n  match: {severity: critical, team: \"=~db|web\"}\ntargets: {acknowledge: 15m, resolve: 2h}\nstorage: /var/lib/watchkeeper-incident/incidents.db\nretention: 400d\n",
        )
        .unwrap();
        assert_eq!(c.targets.acknowledge.get(), Duration::from_secs(900));
        assert_eq!(c.retention.get(), Duration::from_secs(400 * 86400));
        assert_eq!(c.alertmanagers[0].instance(), "http://127.0.0.1:9093");
        assert_eq!(c.matchers().len(), 2);
        assert_eq!(c.summary(), "1 alertmanager, 2 matchers");
    }

    #[test]
    fn defaults_apply_to_an_empty_file() {
        let c = parse("").unwrap();
        assert_eq!(c.poll_interval.get(), Duration::from_secs(15));
        assert!(c.matchers()["severity"].matches("critical"));
        assert_eq!(c.watchdog, "Watchdog");
    }

    #[test]
    fn http_config_reads_secret_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "hunter2\n").unwrap();
        let path = dir.path().join("i.yml");
        let c = Config::parse(
            "http_config:\n  basic_auth: {username: watch, password_file: pw}\n",
            &path,
        )
        .unwrap();
        let (user, pw) = c.credentials.basic.clone().unwrap();
        assert_eq!((user.as_str(), pw.expose()), ("watch", "hunter2"));
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!c.describe_yaml().contains("hunter2"));
        let e = Config::parse("http_config:\n  bearer_token_file: nope\n", &path)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("http_config.bearer_token_file: cannot read nope"),
            "{e}"
        );
        let e = Config::parse("http_config:\n  basic_auth: {username: a, password_file: pw}\n  bearer_token_file: pw\n", &path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("only one"), "{e}");
        let e = Config::parse(
            "http_config:\n  tls_config: {ca_file: missing.pem}\n",
            &path,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("http_config.tls_config"), "{e}");
    }

    #[test]
    fn errors_name_line_and_field() {
        let e = parse("alertmanagers: [http://a:9093]\npol_interval: 15s\n").unwrap_err();
        assert!(
            e.starts_with("i.yml:2:1: unknown field `pol_interval`"),
            "{e}"
        );
        let e = parse("incidents:\n  match: {severity: \"=~(\"}\n").unwrap_err();
        assert!(e.starts_with("i.yml:2:"), "{e}");
        assert!(e.contains("invalid regular expression"), "{e}");
        let e = parse("targets: {acknowledge: 0s}\n").unwrap_err();
        assert!(e.starts_with("i.yml:1:"), "{e}");
        let e = parse("alertmanagers: [\"http://u:hunter2@a:9093\"]\n").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        assert!(e.starts_with("i.yml:1:"), "{e}");
        let e = parse("incidents:\n  match: {\"1x\": a}\n").unwrap_err();
        assert!(e.contains("not a valid label name"), "{e}");
        let e = parse("alertmanagers: []\n").unwrap_err();
        assert!(e.contains("at least one"), "{e}");
    }
}
