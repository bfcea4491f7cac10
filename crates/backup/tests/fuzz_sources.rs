//! Property-based fuzzing of what the backup exporter parses: the JSON output of restic
//! (`snapshots`, `stats`), borg (`list`, `info`) and pgBackRest (`info --output=json`), read
//! through the real source types from a stand-in binary that prints the fuzzed bytes; status
//! files; timestamps and sizes; the configuration file (arbitrary text and mutations of
//! deploy/examples/backup.yml). Properties: never panics; a report is either a failure or
//! finite, non-negative figures; config errors name the file. `PROPTEST_CASES` raises the
//! case count.

use proptest::prelude::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use watchkeeper_backup::config::{BorgConfig, Config, PgbackrestConfig, ResticConfig};
use watchkeeper_backup::size::Size;
use watchkeeper_backup::sources::borg::Borg;
use watchkeeper_backup::sources::pgbackrest::Pgbackrest;
use watchkeeper_backup::sources::restic::Restic;
use watchkeeper_backup::sources::status::Status;
use watchkeeper_backup::sources::Report;
use watchkeeper_backup::timefmt::parse_timestamp;

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

/// Timestamps as the tools print them, valid or nearly so.
fn time_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            0u32..10_000,
            0u32..14,
            0u32..33,
            0u32..25,
            0u32..61,
            0u32..62,
            proptest::option::of("[0-9]{1,12}"),
            prop_oneof![
                Just(String::new()),
                Just("Z".to_string()),
                "[+-][0-9]{2}:?[0-9]{2}"
            ],
            prop_oneof![Just("T"), Just(" ")]
        )
            .prop_map(|(y, mo, d, h, mi, s, frac, off, sep)| {
                let frac = frac.map_or(String::new(), |f| format!(".{f}"));
                format!("{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}{frac}{off}")
            }),
        "[0-9T:. Z+-]{0,32}",
        any::<String>(),
    ]
}

fn number() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        any::<u64>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number)),
        Just(serde_json::json!(1e308)),
        Just(serde_json::json!(-1e308)),
    ]
}

/// A JSON tree whose keys are the fields the three tools print, so objects often reach the
/// typed layer with wrong types or values.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        number(),
        time_text().prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("time"),
                    Just("total_size"),
                    Just("archives"),
                    Just("start"),
                    Just("end"),
                    Just("duration"),
                    Just("stats"),
                    Just("original_size"),
                    Just("name"),
                    Just("backup"),
                    Just("status"),
                    Just("code"),
                    Just("message"),
                    Just("timestamp"),
                    Just("stop"),
                    Just("info"),
                    Just("repository"),
                    Just("size"),
                    Just("error"),
                ]
                .prop_map(str::to_string),
                inner,
                0..5,
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Realistic output of each tool with arbitrary values in the right places.
fn restic_snapshots() -> impl Strategy<Value = serde_json::Value> {
    proptest::collection::vec(time_text(), 0..4).prop_map(|ts| {
        serde_json::Value::Array(
            ts.into_iter()
                .map(|t| serde_json::json!({"time": t, "id": "abc"}))
                .collect(),
        )
    })
}

fn borg_info() -> impl Strategy<Value = serde_json::Value> {
    (time_text(), time_text(), number(), number()).prop_map(|(s, e, d, size)| {
        serde_json::json!({"archives": [{"start": s, "end": e, "duration": d, "stats": {"original_size": size}}]})
    })
}

fn pgbackrest_info() -> impl Strategy<Value = serde_json::Value> {
    proptest::collection::vec(
        (
            "[a-z]{1,6}",
            prop_oneof![Just(0i64), Just(2), any::<i64>()],
            proptest::collection::vec((number(), number(), number(), proptest::option::of(any::<bool>())), 0..3),
        ),
        0..3,
    )
    .prop_map(|stanzas| {
        serde_json::Value::Array(
            stanzas
                .into_iter()
                .map(|(name, code, backups)| {
                    let b: Vec<_> = backups
                        .into_iter()
                        .map(|(start, stop, size, error)| {
                            let mut o = serde_json::json!({"timestamp": {"start": start, "stop": stop}, "info": {"repository": {"size": size}}});
                            if let Some(e) = error {
                                o["error"] = e.into();
                            }
                            o
                        })
                        .collect();
                    serde_json::json!({"name": name, "status": {"code": code, "message": "m"}, "backup": b})
                })
                .collect(),
        )
    })
}

fn output() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        json().prop_map(|v| serde_json::to_vec(&v).expect("serialises")),
        restic_snapshots().prop_map(|v| serde_json::to_vec(&v).expect("serialises")),
        borg_info().prop_map(|v| serde_json::to_vec(&v).expect("serialises")),
        pgbackrest_info().prop_map(|v| serde_json::to_vec(&v).expect("serialises")),
    ]
}

/// A directory with a stand-in for restic, borg and pgbackrest: it prints the file named after
/// its subcommand (`out-snapshots`, `out-stats`, `out-list`, `out-info`).
struct FakeTool {
    dir: tempfile::TempDir,
    binary: PathBuf,
}

impl FakeTool {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let binary = dir.path().join("tool");
        std::fs::write(
            &binary,
            "#!/bin/sh\nd=$(dirname \"$0\")\nfor a in \"$@\"; do case \"$a\" in snapshots|stats|list|info) cat \"$d/out-$a\"; exit 0;; esac; done\nexit 3\n",
        )
        .expect("write tool");
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Self { dir, binary }
    }

    fn set(&self, subcommand: &str, bytes: &[u8]) {
        std::fs::write(self.dir.path().join(format!("out-{subcommand}")), bytes)
            .expect("write output");
    }
}

/// What every report must satisfy: a failure carries no figures; figures are finite, times
/// and durations non-negative.
fn check_report(r: &Report) -> Result<(), TestCaseError> {
    if let Some(f) = &r.failure {
        prop_assert!(
            r.last_success.is_none() && r.last_attempt.is_none() && r.last_size.is_none(),
            "{r:?}"
        );
        prop_assert!(!f.message.is_empty());
        return Ok(());
    }
    // Times may be before 1970 (a year-0 timestamp is what the tool said: the age alert fires),
    // but must be finite; a duration is never negative.
    for (name, v) in [
        ("last_success", r.last_success),
        ("last_attempt", r.last_attempt),
        ("last_duration", r.last_duration),
    ] {
        if let Some(v) = v {
            prop_assert!(v.is_finite(), "{name} = {v} in {r:?}");
        }
    }
    if let Some(d) = r.last_duration {
        prop_assert!(d >= 0.0, "last_duration = {d} in {r:?}");
    }
    Ok(())
}

const TIMEOUT: Duration = Duration::from_secs(10);

fn config_path() -> PathBuf {
    PathBuf::from("/etc/watchkeeper/backup-fuzz.yml")
}

fn example() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/examples/backup.yml");
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

/// Found by `status_file`, `restic_output` and `timestamps`: a timestamp whose 10th byte falls
/// inside a multi-byte character panicked (`split_at(10)`), killing the refresh of a status
/// file or of restic's snapshot list; so did a non-ASCII 4-byte offset and an offset of many
/// digits (u32 overflow). Fixed in timefmt::parse_timestamp (ASCII only, offset in i64).
#[test]
fn regression_timestamp_slicing_and_offset_overflow() {
    for s in [
        "\u{1f810}\u{1f000}\u{dbb}\u{c00}A 0\u{3a3}",
        "2026-12-01T00:00:00+a\u{e9}b",
        "2026-12-0\u{e9}T00:00:00Z",
        "2026-12-01T00:00:00+99999999",
        "2026-12-01T00:00:00-4294967295:4294967295",
    ] {
        let got = parse_timestamp(s);
        assert!(got.is_none_or(f64::is_finite), "{s:?} -> {got:?}");
    }
    assert_eq!(parse_timestamp("1970-01-01T01:00:00+01:00"), Some(0.0));
    assert_eq!(parse_timestamp("1970-01-02 00:00:00.5"), Some(86_400.5));
}

/// Found by `borg_output`: `borg info` reporting a negative `duration` became a negative
/// `last_duration` (a negative duration metric). Now no duration is reported.
#[test]
fn regression_borg_negative_duration_is_dropped() {
    let tool = FakeTool::new();
    tool.set("list", br#"{"archives": [{"name": "a"}]}"#);
    tool.set(
        "info",
        br#"{"archives": [{"start": "2026-12-01T02:00:00", "end": "2026-12-01T02:10:00", "duration": -5.0, "stats": {"original_size": 10}}]}"#,
    );
    let source = Borg::new(
        BorgConfig {
            repository: "/nowhere".into(),
            passphrase_file: None,
            passcommand: None,
            binary: tool.binary.clone(),
        },
        TIMEOUT,
        tool.dir.path().join("borg-base"),
    );
    let r = source.refresh();
    assert!(r.failure.is_none(), "{r:?}");
    assert_eq!(r.last_duration, None);
    assert_eq!(r.last_size, Some(10));
    assert_eq!(r.last_success, parse_timestamp("2026-12-01T02:10:00Z"));
}

#[test]
fn example_config_parses() {
    Config::parse(&example(), &config_path()).expect("the example is valid");
}

proptest! {
    // Each case runs the stand-in binary once or twice: a few milliseconds.
    #![proptest_config(cases(48))]

    #[test]
    fn restic_output(
        snapshots in prop_oneof![output(), restic_snapshots().prop_map(|v| serde_json::to_vec(&v).expect("serialises"))],
        stats in prop_oneof![output(), number().prop_map(|n| serde_json::to_vec(&serde_json::json!({"total_size": n})).expect("serialises"))],
    ) {
        let tool = FakeTool::new();
        tool.set("snapshots", &snapshots);
        tool.set("stats", &stats);
        let source = Restic::new(
            ResticConfig { repository: "/nowhere".into(), password_file: None, password_command: None, binary: tool.binary.clone() },
            TIMEOUT,
        );
        check_report(&source.refresh())?;
    }

    #[test]
    fn borg_output(
        list in prop_oneof![output(), Just(br#"{"archives": [{"name": "a"}]}"#.to_vec())],
        info in prop_oneof![output(), borg_info().prop_map(|v| serde_json::to_vec(&v).expect("serialises"))],
    ) {
        let tool = FakeTool::new();
        tool.set("list", &list);
        tool.set("info", &info);
        let source = Borg::new(
            BorgConfig { repository: "/nowhere".into(), passphrase_file: None, passcommand: None, binary: tool.binary.clone() },
            TIMEOUT,
            tool.dir.path().join("borg-base"),
        );
        check_report(&source.refresh())?;
    }

    #[test]
    fn pgbackrest_output(info in output(), stanzas in proptest::collection::vec("[a-z]{1,6}", 0..3)) {
        let tool = FakeTool::new();
        tool.set("info", &info);
        let source = Pgbackrest::new(PgbackrestConfig { stanzas, config: None, binary: tool.binary.clone() }, TIMEOUT);
        check_report(&source.refresh())?;
    }
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn status_file(body in prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        (proptest::option::of(prop_oneof![Just("job".to_string()), any::<String>()]),
         prop_oneof![time_text().prop_map(serde_json::Value::from), number()],
         proptest::option::of(prop_oneof![time_text().prop_map(serde_json::Value::from), number()]),
         any::<bool>(),
         proptest::option::of(number()),
         proptest::option::of(prop_oneof![time_text().prop_map(serde_json::Value::from), number()]))
            .prop_map(|(job, started, finished, success, bytes, last)| {
                let mut o = serde_json::json!({"started": started, "success": success});
                if let Some(j) = job { o["job"] = j.into(); }
                if let Some(f) = finished { o["finished"] = f; }
                if let Some(b) = bytes { o["bytes"] = b; }
                if let Some(l) = last { o["last_success"] = l; }
                serde_json::to_vec(&o).expect("serialises")
            }),
    ]) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("status.json");
        std::fs::write(&path, &body).expect("write");
        let source = Status::new(path.clone(), "job".into());
        let report = source.refresh();
        check_report(&report)?;
        if let Some(f) = &report.failure {
            prop_assert!(f.message.starts_with(&path.display().to_string()), "{}", f.message);
        }
    }

    #[test]
    fn timestamps(s in time_text()) {
        if let Some(t) = parse_timestamp(&s) {
            prop_assert!(t.is_finite(), "{s:?} -> {t}");
        }
    }

    #[test]
    fn timestamps_of_valid_dates(secs in 0i64..253_402_300_799) {
        // Compare with the civil-date arithmetic of the incident and core crates: 1970 + secs.
        let days = secs.div_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let rem = secs.rem_euclid(86_400);
        let text = format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60);
        prop_assert_eq!(parse_timestamp(&text), Some(secs as f64), "{}", text);
    }

    #[test]
    fn sizes(s in prop_oneof![any::<String>(), "[0-9.]{0,24} ?(B|KiB|MiB|GiB|TiB|kB|MB|GB|TB|x|)"]) {
        let _ = Size::parse(&s);
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

/// Howard Hinnant's civil_from_days: an independent conversion to check the parser against.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}
