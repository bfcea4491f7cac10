//! Line and column of a key path in YAML text, so errors found after parsing (duplicate job
//! names, two sources in one job) point at the value the way parse errors do.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::path::Path;
use watchkeeper_core::config::ConfigError;

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

/// The (line, column) of the deepest node along `at` that exists ((0, 0) when unknown).
fn position(text: &str, at: &[String]) -> (u64, u64) {
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

/// A semantic error at key path `at` as a `file:line:column: message` config error.
pub(crate) fn error(text: &str, path: &Path, at: &[String], message: String) -> ConfigError {
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
        let text = "jobs:\n  - name: a\n  - name: b\n    max_age: 0s\n";
        let at = |p: &[&str]| position(text, &p.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(at(&["jobs", "1", "max_age"]), (4, 14));
        assert_eq!(at(&["jobs", "0", "name"]), (2, 11));
    }
}
