//! Bad input on the command line: one clear line on stderr, exit code 2, never a panic.

mod common;

use std::process::Command;

fn run(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(common::BIN)
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run watchkeeper-host");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_usage_error(args: &[&str], expected_line: &str) {
    let (code, stderr) = run(args);
    assert_eq!(code, Some(2), "{args:?}: exit code; stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("ts=")).collect();
    assert_eq!(
        lines,
        vec![expected_line],
        "{args:?}: stderr was {stderr:?}"
    );
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
}

#[test]
fn unknown_flag() {
    assert_usage_error(
        &["--collector.bogus"],
        "error: unexpected argument '--collector.bogus' found",
    );
}

#[test]
fn bad_listen_address() {
    assert_usage_error(
        &["--web.listen-address=127.0.0.1:99999"],
        "error: invalid listen address \"127.0.0.1:99999\": the port must be a number from 0 to 65535",
    );
    assert_usage_error(
        &["--web.listen-address=nonsense"],
        "error: invalid listen address \"nonsense\": expected HOST:PORT or :PORT",
    );
}

#[test]
fn unreadable_web_config() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("web.yml");
    let arg = format!("--web.config.file={}", missing.display());
    assert_usage_error(
        &["--web.listen-address=127.0.0.1:0", &arg],
        &format!(
            "error: {}: cannot read: No such file or directory (os error 2)",
            missing.display()
        ),
    );
}

#[test]
fn missing_textfile_directory() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("textfiles");
    let arg = format!("--collector.textfile.directory={}", missing.display());
    assert_usage_error(
        &[&arg],
        &format!(
            "error: --collector.textfile.directory {}: no such directory",
            missing.display()
        ),
    );
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let arg = format!("--collector.textfile.directory={}", file.display());
    assert_usage_error(
        &[&arg],
        &format!(
            "error: --collector.textfile.directory {}: not a directory",
            file.display()
        ),
    );
}

#[test]
fn invalid_regexes() {
    assert_usage_error(
        &["--collector.diskstats.device-exclude=("],
        "error: --collector.diskstats.device-exclude: invalid regular expression \"(\": unclosed group",
    );
    assert_usage_error(
        &["--collector.filesystem.mount-points-exclude=^/(proc"],
        "error: --collector.filesystem.mount-points-exclude: invalid regular expression \"^/(proc\": unclosed group",
    );
    assert_usage_error(
        &["--collector.netdev.device-include=[a-"],
        "error: --collector.netdev.device-include: invalid regular expression \"[a-\": unclosed character class",
    );
}

#[test]
fn conflicting_device_filters() {
    assert_usage_error(
        &["--collector.diskstats.device-exclude=^sd", "--collector.diskstats.device-include=^nvme"],
        "error: --collector.diskstats.device-exclude and --collector.diskstats.device-include are mutually exclusive",
    );
}

#[test]
fn help_and_version_exit_zero() {
    let out = Command::new(common::BIN).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--collector.filesystem",
        "--no-collector.mdadm",
        "--path.procfs",
        "--collector.disable-defaults",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    let out = Command::new(common::BIN).arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}
