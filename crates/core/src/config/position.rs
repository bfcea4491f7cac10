//! Positions of keys in YAML text, so that errors found after parsing (duplicate names,
//! cross-field rules, unreadable secret files) point at the offending value the way parse errors
//! do: `file:line:column: message`. A leaf: it knows YAML and [`ConfigError`], nothing else.

use super::{parse_yaml, ConfigError};
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::path::Path;

/// The keys (and sequence indexes, as decimal strings) leading to a value.
pub type KeyPath = Vec<String>;

/// Builds a key path from mixed parts: `key_path(&[&"targets", &3, &"name"])`.
pub fn key_path(parts: &[&dyn std::fmt::Display]) -> KeyPath {
    parts.iter().map(|p| p.to_string()).collect()
}

/// Parses `text` into `T`, then runs `validate`; a validation error is reported at the line and
/// column of the key path it names. `path` is only used in messages.
pub fn parse_validated<T: DeserializeOwned>(
    text: &str,
    path: &Path,
    validate: impl FnOnce(&T) -> Result<(), (KeyPath, String)>,
) -> Result<T, ConfigError> {
    let value: T = parse_yaml(text, path)?;
    validate(&value).map_err(|(at, message)| error_at(text, path, &at, message))?;
    Ok(value)
}

/// Reads the file at `path` and [`parse_validated`]s it.
pub fn load_validated<T: DeserializeOwned>(
    path: &Path,
    validate: impl FnOnce(&T) -> Result<(), (KeyPath, String)>,
) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_validated(&text, path, validate)
}

/// Any YAML node, keeping the position of every value.
enum Node {
    Map(BTreeMap<String, Spanned<Node>>),
    Seq(Vec<Spanned<Node>>),
    Scalar,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Node, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, v)) = m.next_entry::<String, Spanned<Node>>()? {
                    out.insert(k, v);
                }
                Ok(Node::Map(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Node, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = s.next_element::<Spanned<Node>>()? {
                    out.push(v);
                }
                Ok(Node::Seq(out))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_none<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
        }
        d.deserialize_any(V)
    }
}

/// The (line, column) of the deepest node along `at` that exists (0, 0 when unknown).
fn position(text: &str, at: &KeyPath) -> (u64, u64) {
    let Ok(root) = serde_saphyr::from_str::<Spanned<Node>>(text) else {
        return (0, 0);
    };
    let mut node = &root;
    let mut best = (node.referenced.line(), node.referenced.column());
    for key in at {
        let next = match &node.value {
            Node::Map(m) => m.get(key),
            Node::Seq(s) => key.parse::<usize>().ok().and_then(|i| s.get(i)),
            Node::Scalar => None,
        };
        let Some(next) = next else { break };
        node = next;
        best = (node.referenced.line(), node.referenced.column());
    }
    best
}

/// A semantic error at `at` as a `file:line:column: message` config error.
pub fn error_at(text: &str, path: &Path, at: &KeyPath, message: String) -> ConfigError {
    let (line, column) = position(text, at);
    ConfigError::Parse {
        path: path.to_path_buf(),
        line,
        column,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_follow_keys_and_indexes() {
        let text = "targets:\n  - name: a\n  - name: b\n    pool_size: 0\n";
        let at = |p: &[&str]| position(text, &p.iter().map(|s| s.to_string()).collect());
        assert_eq!(at(&["targets", "1", "pool_size"]), (4, 16));
        assert_eq!(at(&["targets", "0", "name"]), (2, 11));
        // A missing key points at the deepest node that exists.
        assert_eq!(at(&["targets", "1", "absent"]).0, 3);
    }

    #[derive(Debug, serde::Deserialize)]
    struct Targets {
        targets: Vec<Target>,
    }
    #[derive(Debug, serde::Deserialize)]
    struct Target {
        name: String,
    }

    #[test]
    fn validation_errors_point_at_the_offending_value() {
        let text = "targets:\n  - name: a\n  - name: a\n";
        let err = parse_validated(text, Path::new("t.yml"), |t: &Targets| {
            for (i, target) in t.targets.iter().enumerate().skip(1) {
                if target.name == t.targets[0].name {
                    return Err((
                        key_path(&[&"targets", &i, &"name"]),
                        "duplicate name".into(),
                    ));
                }
            }
            Ok(())
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "t.yml:3:11: duplicate name");
    }
}
