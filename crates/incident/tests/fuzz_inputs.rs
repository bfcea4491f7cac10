//! Property-based fuzzing of everything the incident exporter reads from outside: the
//! Alertmanager v2 API answers (`/api/v2/alerts`, `/api/v2/silences`), webhook bodies, the
//! acknowledge request (query + form or JSON body), RFC 3339 timestamps, matcher values, the
//! configuration file (arbitrary text and mutations of deploy/examples/incident.yml) and the
//! SQLite store file (byte mutations of a real store). Properties: never panics; errors name
//! the file; decoded alerts keep the invariants the tracker relies on. `PROPTEST_CASES` raises
//! the case count.

use proptest::prelude::*;
use std::path::{Path, PathBuf};
use watchkeeper_incident::api::{decode_alerts, decode_silences, decode_webhook};
use watchkeeper_incident::config::Config;
use watchkeeper_incident::handlers::parse_ack;
use watchkeeper_incident::matcher::MatchValue;
use watchkeeper_incident::store::Store;
use watchkeeper_incident::timestamp;

#[path = "../../core/tests/fuzz_support/mutate.rs"]
mod mutate;
use mutate::{byte_edit, edit, mutate, mutate_bytes};

fn cases(default: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A JSON value tree of bounded size.
fn json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        timestamp_text().prop_map(Value::String),
        "[a-z]{0,8}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(field_name(), inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Field names of the wire types, so objects often reach the typed layer.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("fingerprint".to_string()),
        Just("labels".to_string()),
        Just("startsAt".to_string()),
        Just("endsAt".to_string()),
        Just("status".to_string()),
        Just("alerts".to_string()),
        Just("matchers".to_string()),
        Just("id".to_string()),
        Just("name".to_string()),
        Just("value".to_string()),
        Just("isRegex".to_string()),
        Just("isEqual".to_string()),
        Just("createdBy".to_string()),
        Just("comment".to_string()),
        "[a-z]{1,6}",
    ]
}

/// RFC 3339-ish text, valid or nearly so, with extreme years and offsets.
fn timestamp_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            0u32..10_000,
            0u32..14,
            0u32..33,
            0u32..25,
            0u32..61,
            0u32..62,
            proptest::option::of(0u32..1_000_000_000),
            prop_oneof![Just("Z".to_string()), "[+-][0-9]{2}:[0-9]{2}"],
        )
            .prop_map(|(y, mo, d, h, mi, s, frac, off)| {
                let frac = frac.map_or(String::new(), |f| format!(".{f}"));
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{off}")
            }),
        Just("0001-01-01T00:00:00Z".to_string()),
        Just("9999-12-31T23:59:59.999999999-23:59".to_string()),
        "[0-9T:.Z+-]{0,32}",
    ]
}

/// A well-formed alert object with arbitrary values.
fn alert_object() -> impl Strategy<Value = serde_json::Value> {
    (
        proptest::option::of("[0-9a-f]{0,16}"),
        proptest::collection::btree_map(any::<String>(), any::<String>(), 0..4),
        timestamp_text(),
        proptest::option::of(timestamp_text()),
        proptest::option::of(prop_oneof![
            Just(serde_json::json!("firing")),
            Just(serde_json::json!("resolved")),
            Just(serde_json::json!({"state": "active"})),
            json(),
        ]),
    )
        .prop_map(|(fp, labels, starts, ends, status)| {
            let mut o = serde_json::json!({"labels": labels, "startsAt": starts});
            if let Some(fp) = fp {
                o["fingerprint"] = fp.into();
            }
            if let Some(e) = ends {
                o["endsAt"] = e.into();
            }
            if let Some(s) = status {
                o["status"] = s;
            }
            o
        })
}

fn silence_object() -> impl Strategy<Value = serde_json::Value> {
    (
        "[a-z0-9-]{0,12}",
        proptest::collection::vec(
            (any::<String>(), prop_oneof![any::<String>(), "[a-z.*+?()|\\[\\]{}^$\\\\0-9,]{0,16}"], any::<bool>(), any::<bool>()),
            0..4,
        ),
        timestamp_text(),
        timestamp_text(),
    )
        .prop_map(|(id, matchers, s, e)| {
            let m: Vec<_> = matchers
                .into_iter()
                .map(|(n, v, r, eq)| serde_json::json!({"name": n, "value": v, "isRegex": r, "isEqual": eq}))
                .collect();
            serde_json::json!({"id": id, "matchers": m, "startsAt": s, "endsAt": e, "createdBy": "fuzz"})
        })
}

fn config_path() -> PathBuf {
    PathBuf::from("/etc/watchkeeper/incident-fuzz.yml")
}

fn example() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/examples/incident.yml");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn check_config(text: &str) -> Result<(), TestCaseError> {
    let path = config_path();
    if let Err(e) = Config::parse(text, &path) {
        let shown = e.to_string();
        prop_assert!(
            shown.starts_with(&path.display().to_string()),
            "error does not name the file: {shown}"
        );
        prop_assert!(!shown.contains('\n'), "error is not one line: {shown:?}");
    }
    Ok(())
}

#[test]
fn example_config_parses() {
    Config::parse(&example(), &config_path()).expect("the example is valid");
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn alerts_api_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_alerts(&body);
        let _ = decode_silences(&body);
        let _ = decode_webhook(&body);
    }

    #[test]
    fn alerts_api_arbitrary_json(v in json()) {
        let body = serde_json::to_vec(&v).expect("serialises");
        let _ = decode_alerts(&body);
        let _ = decode_silences(&body);
        let _ = decode_webhook(&body);
    }

    #[test]
    fn alerts_api_well_formed(alerts in proptest::collection::vec(alert_object(), 0..5)) {
        let body = serde_json::to_vec(&alerts).expect("serialises");
        if let Ok(decoded) = decode_alerts(&body) {
            prop_assert_eq!(decoded.len(), alerts.len());
            for a in &decoded {
                // The tracker keys incidents by fingerprint: never empty.
                prop_assert!(!a.fingerprint.is_empty());
                if let Some(end) = a.ends_at {
                    prop_assert!(end > 0);
                }
            }
        }
        let hook = serde_json::json!({"version": "4", "status": "firing", "alerts": alerts});
        let body = serde_json::to_vec(&hook).expect("serialises");
        if let Ok(decoded) = decode_webhook(&body) {
            prop_assert!(decoded.iter().all(|a| !a.fingerprint.is_empty()));
        }
    }

    #[test]
    fn silences_api_well_formed(silences in proptest::collection::vec(silence_object(), 0..4), labels in proptest::collection::btree_map(any::<String>(), any::<String>(), 0..4)) {
        let body = serde_json::to_vec(&silences).expect("serialises");
        if let Ok(decoded) = decode_silences(&body) {
            for s in &decoded {
                let _ = s.matches(&labels);
            }
        }
    }

    #[test]
    fn timestamps_round_trip(ms in -62_135_596_800_000i64..253_402_300_799_000) {
        // Second precision on output: the round trip is exact for whole seconds.
        let whole = ms - ms.rem_euclid(1000);
        prop_assert_eq!(timestamp::parse(&timestamp::format(whole)), Some(whole));
    }

    #[test]
    fn timestamps_never_panic(s in timestamp_text(), any_ms in any::<i64>(), other in any::<i64>()) {
        let _ = timestamp::parse(&s);
        let _ = timestamp::format(any_ms);
        prop_assert!(timestamp::seconds_between(any_ms, other) >= 0.0);
    }

    #[test]
    fn ack_request_never_panics(query in prop_oneof![any::<String>(), "[a-z=&%+0-9A-F]{0,60}"], body in prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..128),
        json().prop_map(|v| serde_json::to_vec(&v).expect("serialises")),
        "(fingerprint|by|comment|x)=[a-z%0-9+]{0,12}(&(fingerprint|by|comment)=[a-z%0-9+]{0,12}){0,3}".prop_map(String::into_bytes),
    ]) {
        match parse_ack(&query, &body) {
            Ok(req) => prop_assert!(!req.fingerprint.is_empty()),
            Err(e) => {
                // The message quotes at most a bounded piece of the input.
                prop_assert!(e.len() < 512, "{} bytes", e.len());
            }
        }
    }

    #[test]
    fn matcher_values_never_panic(written in prop_oneof![any::<String>(), "(=~|!~|!=|=|)[a-z.*+?()|\\[\\]{}^$\\\\0-9,]{0,20}"], value in any::<String>()) {
        if let Ok(m) = MatchValue::parse(&written) {
            let _ = m.matches(&value);
            for v in m.literal_values() {
                prop_assert!(m.matches(&v), "{:?} lists {:?} but does not match it", written, v);
            }
        }
    }

    #[test]
    fn config_arbitrary_text(text in prop_oneof![any::<String>(), "[a-z_:{}\\[\\] \n\\-#'\"&*!|>0-9]{0,200}"]) {
        check_config(&text)?;
    }

    #[test]
    fn config_mutated_example(edits in proptest::collection::vec(edit(), 1..6)) {
        check_config(&mutate(&example(), &edits))?;
    }
}

proptest! {
    // Each case writes and opens a SQLite file: fewer cases.
    #![proptest_config(cases(32))]

    #[test]
    fn store_file_mutated(edits in proptest::collection::vec(byte_edit(), 1..8)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("incidents.db");
        drop(Store::open(&path).expect("a fresh store opens"));
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&path, mutate_bytes(bytes, &edits)).expect("write");
        for extra in ["incidents.db-wal", "incidents.db-shm"] {
            let _ = std::fs::remove_file(dir.path().join(extra));
        }
        match Store::open(&path) {
            Ok(store) => {
                let _ = store.load_all();
                let _ = store.count();
            }
            Err(e) => {
                let shown = e.to_string();
                prop_assert!(shown.contains("storage"), "{shown}");
            }
        }
    }
}
