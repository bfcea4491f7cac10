//! Property-based fuzzing of what the db exporter parses itself: Redis `INFO` text (arbitrary
//! and mutated real-shaped replies, through `parse_info` and `info_to_samples` to the encoded
//! exposition), custom-query script replies (arbitrary RESP value trees), PostgreSQL
//! timestamps, and the configuration file (arbitrary text and mutations of
//! deploy/examples/db.yml). Properties: never panics; what reaches the exposition has valid
//! metric names; config errors name the file. `PROPTEST_CASES` raises the case count.

use proptest::prelude::*;
use redis::Value;
use std::path::{Path, PathBuf};
use watchkeeper_core::exposition::{encode, Format};
use watchkeeper_db::civil::{pg_timestamp, unix_seconds};
use watchkeeper_db::config::Config;
use watchkeeper_db::engine::Out;
use watchkeeper_db::redis::{info_to_samples, parse_info, script_rows};

#[path = "../../core/tests/fuzz_support/mutate.rs"]
mod mutate;
use mutate::{edit, mutate};

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

/// A Redis 7 `INFO` reply of the usual shape (the seed of the mutations).
const INFO_SEED: &str = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\nuptime_in_seconds:3600\r\nrole:master\r\n\
# Clients\r\nconnected_clients:3\r\nblocked_clients:0\r\n\
# Memory\r\nused_memory:1048576\r\nmaxmemory:0\r\nmem_fragmentation_ratio:1.25\r\n\
# Persistence\r\nrdb_last_save_time:1764624000\r\nrdb_last_bgsave_status:ok\r\naof_enabled:0\r\n\
# Stats\r\ntotal_commands_processed:42\r\nkeyspace_hits:10\r\nkeyspace_misses:2\r\n\
# Replication\r\nconnected_slaves:1\r\nslave0:ip=127.0.0.1,port=6380,state=online,offset=100,lag=0\r\nmaster_repl_offset:100\r\n\
# Errorstats\r\nerrorstat_ERR:count=3\r\n\
# Commandstats\r\ncmdstat_get:calls=7,usec=70,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n\
# Cluster\r\ncluster_enabled:0\r\n\
# Keyspace\r\ndb0:keys=5,expires=1,avg_ttl=1000\r\ndb3:keys=1,expires=0,avg_ttl=0\r\n";

fn info_line() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_]{1,24}:[ -~]{0,24}",
        "(db[0-9]{1,3}|cmdstat_[a-z|]{1,8}|errorstat_[A-Z\"]{1,8}|slave[0-9]):[a-z_]{1,8}=[ -~&&[^,]]{0,10}(,[a-z_]{1,8}=[ -~&&[^,]]{0,10}){0,4}",
        "# [A-Za-z]{1,12}",
        any::<String>(),
        Just(String::new()),
    ]
}

fn info_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(info_line(), 0..24).prop_map(|l| l.join("\r\n")),
        proptest::collection::vec(edit(), 1..8).prop_map(|e| mutate(INFO_SEED, &e)),
    ]
}

/// Checks the encoded exposition: each sample line starts with a valid metric name.
fn check_exposition(text: &str) -> Result<(), TestCaseError> {
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..name_end];
        prop_assert!(
            !name.is_empty()
                && name
                    .chars()
                    .enumerate()
                    .all(|(i, c)| c.is_ascii_alphabetic()
                        || c == '_'
                        || c == ':'
                        || (i > 0 && c.is_ascii_digit())),
            "invalid metric name in {line:?}"
        );
    }
    Ok(())
}

/// A RESP3 value tree of bounded size.
fn resp_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Nil),
        Just(Value::Okay),
        any::<i64>().prop_map(Value::Int),
        any::<f64>().prop_map(Value::Double),
        any::<bool>().prop_map(Value::Boolean),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(Value::BulkString),
        "[a-z_]{0,8}".prop_map(|s| Value::BulkString(s.into_bytes())),
        any::<String>().prop_map(Value::SimpleString),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((inner.clone(), inner.clone()), 0..4).prop_map(Value::Map),
            proptest::collection::vec(inner, 0..4).prop_map(Value::Set),
        ]
    })
}

fn config_path() -> PathBuf {
    PathBuf::from("/etc/watchkeeper/db-fuzz.yml")
}

fn example() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/examples/db.yml");
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

/// Found by `civil_dates` and `postgres_timestamps`: a year beyond about 2.9e11 overflowed
/// i64 in the days-from-civil arithmetic (a panic in debug builds, a wrapped garbage time in
/// release) for a server reply such as `300000000000-1-1 0:0:0`. Such years are now refused.
#[test]
fn regression_huge_years_are_refused() {
    assert_eq!(pg_timestamp("300000000000-1-1 0:0:0"), None);
    assert_eq!(unix_seconds(292_277_026_597, 1, 1, 0, 0, 0), None);
    assert_eq!(unix_seconds(i64::MIN, 1, 1, 0, 0, 0), None);
    assert_eq!(unix_seconds(1970, 1, 1, 0, 0, 0), Some(0.0));
    assert_eq!(
        pg_timestamp("2026-12-01 00:00:00+00"),
        unix_seconds(2026, 12, 1, 0, 0, 0)
    );
}

#[test]
fn seeds_are_valid() {
    Config::parse(&example(), &config_path()).expect("the example is valid");
    let info = parse_info(INFO_SEED);
    let mut out = Out::new("redis-local");
    info_to_samples(&info, Some(16), &mut out);
    let text = encode(&out.into_set(), Format::Text);
    assert!(text.contains("redis_connected_clients"), "{text}");
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn redis_info(text in info_text(), databases in proptest::option::of(0u32..64)) {
        let info = parse_info(&text);
        let mut out = Out::new("fuzz");
        info_to_samples(&info, databases, &mut out);
        let set = out.into_set();
        check_exposition(&encode(&set, Format::Text))?;
        check_exposition(&encode(&set, Format::OpenMetrics))?;
    }

    #[test]
    fn redis_script_reply(reply in resp_value(), limit in 0usize..8) {
        if let Ok((rows, _more)) = script_rows(reply, limit) {
            prop_assert!(rows.len() <= limit);
        }
    }

    #[test]
    fn postgres_timestamps(s in prop_oneof![
        any::<String>(),
        "-?[0-9]{1,20}-[0-9]{1,3}-[0-9]{1,3} [0-9]{1,3}:[0-9]{1,3}:[0-9]{1,3}(\\.[0-9]{0,9})?([+-][0-9]{1,4}(:[0-9]{1,3})?)?",
    ]) {
        if let Some(t) = pg_timestamp(&s) {
            prop_assert!(t.is_finite(), "{s:?} -> {t}");
        }
    }

    #[test]
    fn civil_dates(y in any::<i64>(), mo in 0u32..14, d in 0u32..33, h in 0u32..25, mi in 0u32..61, s in 0u32..62) {
        let _ = unix_seconds(y, mo, d, h, mi, s);
    }

    #[test]
    fn config_arbitrary_text(text in prop_oneof![any::<String>(), "[a-z_:{}\\[\\] \n\\-#'\"&*!|>0-9.]{0,200}"]) {
        check_config(&text)?;
    }

    #[test]
    fn config_mutated_example(edits in proptest::collection::vec(edit(), 1..6)) {
        check_config(&mutate(&example(), &edits))?;
    }
}
