//! One invalid file per failure, each with its exact message, checked through the real binary
//! (`--config.check`, exit code 2, one line on stderr).

use std::path::Path;
use std::process::Command;

const CASES: &[(&str, &str)] = &[
    ("bad_duration.yml", "bad_duration.yml:4:22: invalid duration \"5 seconds\": missing or unknown unit (use ms, s, m, h, d, w, y)"),
    ("bad_metric_name.yml", "bad_metric_name.yml:5:15: targets[0] (a).custom_queries[0].name: \"1bad\" is not a valid metric name"),
    ("bad_target_name.yml", "bad_target_name.yml:2:11: targets[0].name: \"has space\" must be non-empty and use only letters, digits, '-', '_' and '.'"),
    ("duplicate_name.yml", "duplicate_name.yml:4:11: targets[1].name: duplicate target name \"a\""),
    ("inline_password.yml", "inline_password.yml:4:5: unknown field `password`, expected one of name, kind, host, port, user, database, password_file, password_env, tls, pool_size, connect_timeout, max_connection_age, custom_queries, collect, check_keys"),
    ("label_is_value.yml", "label_is_value.yml:7:17: targets[0] (a).custom_queries[0]: column \"v\" is both a label and a value"),
    ("missing_password_file.yml", "missing_password_file.yml:4:20: targets[0] (a).password_file: cannot read does-not-exist.txt: No such file or directory (os error 2)"),
    ("pool_size_zero.yml", "pool_size_zero.yml:4:16: targets[0] (a).pool_size: 0 is out of range 1..=16"),
    ("port_out_of_range.yml", "port_out_of_range.yml:4:11: port 70000 is out of range 1..=65535"),
    ("redis_database_not_number.yml", "redis_database_not_number.yml:4:15: targets[0] (a).database: a Redis database is a number, got \"cache\""),
    ("tls_missing_ca.yml", "tls_missing_ca.yml:5:7: targets[0] (a).tls: tls_config.ca_file: /nonexistent/ca.pem: /nonexistent/ca.pem: I/O error: No such file or directory (os error 2)"),
    ("two_password_sources.yml", "two_password_sources.yml:5:19: targets[0] (a): set only one of password_file and password_env"),
    ("unknown_kind.yml", "unknown_kind.yml:3:11: unknown variant `oracle`, expected one of postgres, mysql, redis"),
    ("unknown_top_level_key.yml", "unknown_top_level_key.yml:1:1: unknown field `target`, expected one of targets"),
    ("unset_password_env.yml", "unset_password_env.yml:4:19: targets[0] (a).password_env: environment variable WATCHKEEPER_DB_TEST_UNSET_VARIABLE is not set"),
];

fn check(dir: &Path, file: &str) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_watchkeeper-db"))
        .current_dir(dir)
        .args(["--config.check", "--config.file", file])
        .env_remove("WATCHKEEPER_DB_TEST_UNSET_VARIABLE")
        .output()
        .expect("run watchkeeper-db");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_invalid_file_fails_with_its_exact_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut covered: Vec<&str> = CASES.iter().map(|(f, _)| *f).collect();
    covered.sort();
    assert_eq!(
        files, covered,
        "every fixture has exactly one expected message"
    );
    for (file, want) in CASES {
        let (code, _, stderr) = check(&dir, file);
        assert_eq!(code, Some(2), "{file}: {stderr}");
        assert_eq!(stderr, format!("error: {want}\n"), "{file}");
        assert!(
            !stderr.contains("hunter2"),
            "{file} echoed the inline password"
        );
    }
}

#[test]
fn a_valid_file_passes_the_check() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "secret\n").unwrap();
    std::fs::write(
        dir.path().join("db.yml"),
        "targets:\n  - name: main\n    kind: postgres\n    password_file: pw\n    custom_queries:\n      - name: app_jobs\n        query: SELECT 1 AS waiting\n        values: [waiting]\n        timeout: 2s\n  - name: cache\n    kind: redis\n    database: \"2\"\n",
    )
    .unwrap();
    let (code, stdout, stderr) = check(dir.path(), "db.yml");
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "db.yml: OK (2 targets)\n");
}
