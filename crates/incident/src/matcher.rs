//! Label matchers: the configuration's `incidents.match` (`=`, `!=`, `=~`, `!~` written as a
//! value prefix) and Alertmanager's silence matchers, both matched against alert labels.

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// Alert labels, by name.
pub type Labels = BTreeMap<String, String>;

/// How a matcher compares the label value.
#[derive(Debug, Clone)]
pub enum Op {
    /// Equal to the text.
    Equal(String),
    /// Not equal to the text.
    NotEqual(String),
    /// The whole value matches the (anchored) regular expression.
    Regex(Regex),
    /// The whole value does not match the (anchored) regular expression.
    NotRegex(Regex),
}

/// One matcher value as written in the configuration: `critical` or `=critical` (equal),
/// `!=info`, `=~critical|page` (regular expression, anchored like Alertmanager's), `!~test.*`.
#[derive(Debug, Clone)]
pub struct MatchValue {
    written: String,
    op: Op,
}

/// Compiles `pattern` anchored at both ends, as Alertmanager and Prometheus do.
pub fn anchored(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{pattern})$"))
}

impl MatchValue {
    /// Parses a written matcher value.
    pub fn parse(written: &str) -> Result<Self, String> {
        let regex =
            |p: &str| anchored(p).map_err(|e| format!("invalid regular expression {p:?}: {e}"));
        let op = if let Some(p) = written.strip_prefix("=~") {
            Op::Regex(regex(p)?)
        } else if let Some(p) = written.strip_prefix("!~") {
            Op::NotRegex(regex(p)?)
        } else if let Some(v) = written.strip_prefix("!=") {
            Op::NotEqual(v.to_string())
        } else if let Some(v) = written.strip_prefix('=') {
            Op::Equal(v.to_string())
        } else {
            Op::Equal(written.to_string())
        };
        Ok(Self {
            written: written.to_string(),
            op,
        })
    }

    /// The values this matcher accepts when they can be listed: `critical` for `critical`,
    /// `critical`, `page` for `=~critical|page`; empty for anything else.
    pub fn literal_values(&self) -> Vec<String> {
        match &self.op {
            Op::Equal(v) if !v.is_empty() => vec![v.clone()],
            Op::Regex(_) => {
                let p = self.written.trim_start_matches("=~");
                let literal = |a: &str| {
                    !a.is_empty()
                        && a.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                };
                if p.split('|').all(literal) {
                    p.split('|').map(str::to_string).collect()
                } else {
                    Vec::new()
                }
            }
            _ => Vec::new(),
        }
    }

    /// Whether `value` (empty for a missing label) matches.
    pub fn matches(&self, value: &str) -> bool {
        match &self.op {
            Op::Equal(v) => value == v,
            Op::NotEqual(v) => value != v,
            Op::Regex(r) => r.is_match(value),
            Op::NotRegex(r) => !r.is_match(value),
        }
    }
}

impl<'de> Deserialize<'de> for MatchValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for MatchValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.written)
    }
}

/// Whether every `(label, matcher)` pair matches `labels` (a missing label reads as empty).
pub fn all_match(matchers: &BTreeMap<String, MatchValue>, labels: &Labels) -> bool {
    matchers
        .iter()
        .all(|(name, m)| m.matches(labels.get(name).map(String::as_str).unwrap_or("")))
}

/// A matcher of an Alertmanager silence (`/api/v2/silences`), already compiled.
#[derive(Debug, Clone)]
pub struct SilenceMatcher {
    /// The label name.
    pub name: String,
    /// The comparison.
    pub op: Op,
}

impl SilenceMatcher {
    /// Builds a matcher from the API's fields; `None` for a regular expression that does not
    /// compile (Alertmanager would have refused it, so such a silence matches nothing).
    pub fn new(name: &str, value: &str, is_regex: bool, is_equal: bool) -> Option<Self> {
        let op = match (is_regex, is_equal) {
            (false, true) => Op::Equal(value.to_string()),
            (false, false) => Op::NotEqual(value.to_string()),
            (true, true) => Op::Regex(anchored(value).ok()?),
            (true, false) => Op::NotRegex(anchored(value).ok()?),
        };
        Some(Self {
            name: name.to_string(),
            op,
        })
    }

    /// Whether this matcher accepts `labels`.
    pub fn matches(&self, labels: &Labels) -> bool {
        let v = labels.get(&self.name).map(String::as_str).unwrap_or("");
        match &self.op {
            Op::Equal(x) => v == x,
            Op::NotEqual(x) => v != x,
            Op::Regex(r) => r.is_match(v),
            Op::NotRegex(r) => !r.is_match(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn config_matchers_by_prefix() {
        let l = labels(&[("severity", "critical"), ("team", "db")]);
        let m = |s: &str| MatchValue::parse(s).unwrap();
        assert!(m("critical").matches("critical"));
        assert!(m("=critical").matches("critical"));
        assert!(!m("critical").matches("critical2"));
        assert!(m("=~crit.*|page").matches("critical"));
        assert!(!m("=~crit").matches("critical"), "anchored");
        assert!(m("!=info").matches("critical"));
        assert!(m("!~test.*").matches("prod"));
        let mut all = BTreeMap::new();
        all.insert("severity".to_string(), m("critical"));
        all.insert("team".to_string(), m("=~db|web"));
        assert!(all_match(&all, &l));
        all.insert("env".to_string(), m("prod"));
        assert!(!all_match(&all, &l), "a missing label reads as empty");
        assert!(MatchValue::parse("=~(").is_err());
        assert_eq!(m("critical").literal_values(), vec!["critical"]);
        assert_eq!(
            m("=~critical|page").literal_values(),
            vec!["critical", "page"]
        );
        assert!(m("=~crit.*").literal_values().is_empty());
        assert!(m("!=info").literal_values().is_empty());
    }

    #[test]
    fn silence_matchers_follow_alertmanager() {
        let l = labels(&[("alertname", "DiskFull"), ("instance", "db-1")]);
        assert!(SilenceMatcher::new("alertname", "DiskFull", false, true)
            .unwrap()
            .matches(&l));
        assert!(SilenceMatcher::new("instance", "db-.*", true, true)
            .unwrap()
            .matches(&l));
        assert!(!SilenceMatcher::new("instance", "db", true, true)
            .unwrap()
            .matches(&l));
        assert!(SilenceMatcher::new("instance", "web-1", false, false)
            .unwrap()
            .matches(&l));
        assert!(SilenceMatcher::new("x", "(", true, true).is_none());
    }
}
