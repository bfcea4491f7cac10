//! Configuration files: YAML into typed structs, with errors that name file, line and column.
//!
//! Also the small value types every exporter's config shares: [`Secret`] (never printed) and
//! [`PromDuration`] (Prometheus duration syntax), and the [`Reloadable`] hook the server calls on
//! SIGHUP and `POST /-/reload`.

pub mod position;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a configuration file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid YAML, or does not match the expected shape.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: u64,
        /// 1-based column (0 when unknown).
        column: u64,
        /// What is wrong, naming the field.
        message: String,
    },
    /// The file parsed but a value is not acceptable (checked after parsing).
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the field.
        message: String,
    },
}

/// Reads and parses a YAML file into `T`.
pub fn load_yaml<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_yaml(&text, path)
}

/// Parses YAML text into `T`; `path` is only used in error messages.
pub fn parse_yaml<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T, ConfigError> {
    // An empty file is an empty mapping, so a config whose fields all have defaults loads.
    let text = if text.trim().is_empty() { "{}" } else { text };
    serde_saphyr::from_str::<T>(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        ConfigError::Parse {
            path: path.to_path_buf(),
            line,
            column,
            message: one_line_message(&e),
        }
    })
}

/// serde-saphyr renders a source snippet under its message; a log line wants only the message.
fn one_line_message(e: &serde_saphyr::Error) -> String {
    let rendered = e.without_snippet().to_string();
    let first = rendered
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("invalid configuration");
    // Drop a trailing " at line X, column Y" the library may add: we print the position first.
    match first.find(" at line ") {
        Some(i) => first[..i].to_string(),
        None => first.to_string(),
    }
}

/// A secret value (password, token). Its `Debug`, `Display` and `Serialize` print
/// `<redacted>`, so it can sit in a config struct that is logged or shown on the landing page.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that sends it (an auth header, a login).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Reads a secret from a file, trimming one trailing newline (as `*_file` fields do).
    pub fn from_file(path: &Path) -> std::io::Result<Self> {
        let mut s = std::fs::read_to_string(path)?;
        if s.ends_with('\n') {
            s.pop();
            if s.ends_with('\r') {
                s.pop();
            }
        }
        Ok(Self(s))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// Why a duration did not parse; the message quotes the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {why}")]
pub struct DurationError {
    /// The text as given (trimmed).
    pub input: String,
    /// What is wrong with it.
    pub why: String,
}

/// A duration written as Prometheus writes them: `30s`, `5m`, `1h30m`, `26h`, `500ms`, `2d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct PromDuration(pub Duration);

impl PromDuration {
    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }

    /// Parses Prometheus duration syntax.
    pub fn parse(s: &str) -> Result<Self, DurationError> {
        let bad = |why: String| DurationError {
            input: s.trim().to_string(),
            why,
        };
        let s = s.trim();
        if s == "0" {
            return Ok(Self(Duration::ZERO));
        }
        if s.is_empty() {
            return Err(bad("empty".into()));
        }
        let units: [(&str, u64); 8] = [
            ("ms", 1),
            ("s", 1_000),
            ("m", 60_000),
            ("h", 3_600_000),
            ("d", 86_400_000),
            ("w", 604_800_000),
            ("y", 31_536_000_000),
            ("", 0),
        ];
        let mut total_ms: u64 = 0;
        let mut rest = s;
        let mut last_rank = usize::MAX;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad(format!("expected a number at {rest:?}")));
            }
            let n: u64 = rest[..digits]
                .parse()
                .map_err(|_| bad("number too large".into()))?;
            rest = &rest[digits..];
            // Longest unit first so "ms" is not read as "m".
            let Some((rank, (unit, ms))) = units
                .iter()
                .enumerate()
                .filter(|(_, (u, _))| !u.is_empty() && rest.starts_with(u))
                .max_by_key(|(_, (u, _))| u.len())
            else {
                return Err(bad(
                    "missing or unknown unit (use ms, s, m, h, d, w, y)".into()
                ));
            };
            // Prometheus requires units from largest to smallest, each at most once.
            let order = [6usize, 5, 4, 3, 2, 1, 0];
            let pos = order.iter().position(|&r| r == rank).unwrap_or(0);
            if last_rank != usize::MAX && pos <= last_rank {
                return Err(bad("units out of order".into()));
            }
            last_rank = pos;
            rest = &rest[unit.len()..];
            total_ms = n
                .checked_mul(*ms)
                .and_then(|v| total_ms.checked_add(v))
                .ok_or_else(|| bad("too large".into()))?;
        }
        Ok(Self(Duration::from_millis(total_ms)))
    }
}

impl fmt::Display for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        let mut rest = ms;
        for (unit, size) in [("h", 3_600_000u128), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for PromDuration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, DurationError> {
        Self::parse(s)
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for PromDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// Something the server reloads on SIGHUP and `POST /-/reload`.
pub trait Reloadable: Send + Sync + 'static {
    /// Re-reads the configuration. On error the previous configuration stays in force and the
    /// error (naming file, line and field) is logged and returned to the caller.
    fn reload(&self) -> Result<(), ConfigError>;

    /// The configuration in force, as YAML with secrets redacted (shown on the landing page).
    fn describe(&self) -> String;
}

/// Renders a config struct as YAML for the landing page (secrets are `<redacted>` by type).
pub fn to_yaml<T: Serialize>(value: &T) -> String {
    serde_saphyr::to_string(value).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        #[serde(default)]
        timeout: Option<PromDuration>,
        #[serde(default)]
        password: Option<Secret>,
    }

    #[test]
    fn durations_parse_like_prometheus() {
        let ok = |s: &str| PromDuration::parse(s).unwrap().0;
        assert_eq!(ok("30s"), Duration::from_secs(30));
        assert_eq!(ok("5m"), Duration::from_secs(300));
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        assert_eq!(ok("26h"), Duration::from_secs(26 * 3600));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("1m500ms"), Duration::from_millis(60_500));
        assert_eq!(ok("0"), Duration::ZERO);
        for bad in ["", "5", "s", "5x", "1.5s", "30s5m", "5m5m", "-1s"] {
            assert!(PromDuration::parse(bad).is_err(), "{bad} should fail");
        }
        assert_eq!(PromDuration(Duration::from_secs(5400)).to_string(), "1h30m");
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let err = parse_yaml::<Sample>("name: x\ntimeuot: 5s\n", Path::new("/etc/x.yml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("/etc/x.yml:2:1: "), "{err}");
        assert!(err.contains("timeuot"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn bad_duration_names_position() {
        let err = parse_yaml::<Sample>("name: x\ntimeout: 5 minutes\n", Path::new("c.yml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.yml:2:"), "{err}");
        assert!(err.contains("invalid duration"), "{err}");
    }

    #[test]
    fn secrets_never_print() {
        let s: Sample = parse_yaml("name: x\npassword: hunter2\n", Path::new("c.yml")).unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"));
        assert_eq!(s.password.as_ref().map(Secret::expose), Some("hunter2"));
        assert_eq!(to_yaml(&Secret::new("hunter2")).trim(), "<redacted>");
    }
}
