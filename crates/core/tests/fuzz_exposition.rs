//! Property-based fuzzing of the exposition encoders: families with arbitrary help text, label
//! values (quotes, backslashes, newlines, any Unicode) and values (NaN, infinities, subnormals,
//! huge and negative numbers) are encoded in both formats and parsed back by an independent
//! reader of the text format: the samples, label values and help text must come back exactly,
//! one sample per line. `PROPTEST_CASES` raises the case count (default 256).

use proptest::prelude::*;
use std::collections::BTreeMap;
use watchkeeper_core::exposition::{encode, Format};
use watchkeeper_core::{MetricSet, MetricType};

fn cases() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Undoes the text format's escapes (`\\`, `\"`, `\n`); `None` for any other escape.
fn unescape(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next()? {
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                'n' => out.push('\n'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// A parsed sample line: name, labels in order, value as written.
type Parsed = (String, Vec<(String, String)>, String);

/// One sample line. `None` when the line is malformed.
fn parse_sample(line: &str) -> Option<Parsed> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let eq = rest.find('=')?;
            let key = rest[..eq].to_string();
            rest = rest[eq + 1..].strip_prefix('"')?;
            // The value ends at the first quote not escaped.
            let mut end = None;
            let mut escaped = false;
            for (i, c) in rest.char_indices() {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end?;
            labels.push((key, unescape(&rest[..end])?));
            rest = &rest[end + 1..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
    }
    let value = rest.strip_prefix(' ')?.to_string();
    Some((name, labels, value))
}

fn same_value(text: &str, v: f64) -> bool {
    match text {
        "NaN" => v.is_nan(),
        "+Inf" => v == f64::INFINITY,
        "-Inf" => v == f64::NEG_INFINITY,
        t => t.parse::<f64>().is_ok_and(|p| p == v),
    }
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        any::<i64>().prop_map(|i| i as f64),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(5e-324),
        Just(-0.0),
        Just(1e15),
        Just(999_999_999_999_999.0),
        Just(1e21),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z\"\\\\\n{}=, #]{0,16}"]
}

type Samples = Vec<(BTreeMap<String, String>, f64)>;

fn families() -> impl Strategy<Value = Vec<(String, String, Samples)>> {
    proptest::collection::vec(
        (
            "[a-z_][a-z0-9_]{0,12}",
            text(),
            proptest::collection::vec(
                (
                    proptest::collection::btree_map("[a-z_][a-z0-9_]{0,6}", text(), 0..4),
                    value(),
                ),
                1..4,
            ),
        ),
        1..4,
    )
    .prop_map(|mut fams| {
        // One family per name (MetricSet::family merges same-named ones), gauges throughout.
        let mut seen = std::collections::HashSet::new();
        fams.retain(|(n, _, _)| seen.insert(n.clone()));
        fams
    })
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn text_format_round_trips(fams in families()) {
        let mut set = MetricSet::new();
        for (name, help, samples) in &fams {
            let f = set.family(name.clone(), help.clone(), MetricType::Gauge);
            for (labels, v) in samples {
                let l: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                f.sample(&l, *v);
            }
        }
        for format in [Format::Text, Format::OpenMetrics] {
            let out = encode(&set, format);
            let mut lines = out.lines();
            for (name, help, samples) in &fams {
                // HELP and TYPE in either order, then the samples in order.
                let mut saw_help = false;
                for _ in 0..2 {
                    let l = lines.next().unwrap_or_default();
                    if let Some(h) = l.strip_prefix(&format!("# HELP {name} ")).or_else(|| (l == format!("# HELP {name}")).then_some("")) {
                        let got = unescape(h);
                        prop_assert_eq!(got.as_deref(), Some(help.as_str()), "help of {} in {:?}", name, format);
                        saw_help = true;
                    } else {
                        prop_assert_eq!(l, format!("# TYPE {name} gauge"), "{:?}", format);
                    }
                }
                prop_assert!(saw_help);
                for (labels, v) in samples {
                    let l = lines.next().unwrap_or_default();
                    let parsed = parse_sample(l);
                    prop_assert!(parsed.is_some(), "malformed line {:?} in {:?}", l, format);
                    let (n, got, value) = parsed.unwrap_or_default();
                    prop_assert_eq!(&n, name);
                    let want: Vec<(String, String)> = labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                    prop_assert_eq!(got, want, "{:?}", format);
                    prop_assert!(same_value(&value, *v), "{} encoded as {:?}", v, value);
                }
            }
            let rest: Vec<&str> = lines.collect();
            let want_rest: Vec<&str> = if format == Format::OpenMetrics { vec!["# EOF"] } else { vec![] };
            prop_assert_eq!(rest, want_rest);
        }
    }
}
