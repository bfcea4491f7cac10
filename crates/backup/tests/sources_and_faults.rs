//! Files and status sources, restore tests and bad input, with the real binary: each fault is a
//! bounded reason in the metrics and a log line, and the other jobs are unaffected.

mod common;

use common::Exporter;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

fn set_mtime(p: &Path, secs_ago: u64) -> f64 {
    let t = SystemTime::now() - Duration::from_secs(secs_ago);
    std::fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_modified(t)
        .unwrap();
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn files_status_and_every_bad_input_stay_separate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let dumps = d.join("dumps");
    std::fs::create_dir_all(&dumps).unwrap();
    std::fs::write(dumps.join("db-1.sql.gz"), vec![1u8; 3 << 20]).unwrap();
    let good_t = set_mtime(&dumps.join("db-1.sql.gz"), 7200);
    std::fs::write(dumps.join("db-2.sql.gz"), b"").unwrap(); // an empty dump: a failed backup
    let newest_t = set_mtime(&dumps.join("db-2.sql.gz"), 60);
    let signed = d.join("signed");
    std::fs::create_dir_all(&signed).unwrap();
    std::fs::write(signed.join("x.tar"), b"hello").unwrap();
    std::fs::write(
        signed.join("x.tar.sha256"),
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824  x.tar\n",
    )
    .unwrap();
    std::fs::write(signed.join("y.tar"), b"tampered").unwrap();
    std::fs::write(
        signed.join("y.tar.sha256"),
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824  y.tar\n",
    )
    .unwrap();
    set_mtime(&signed.join("x.tar"), 100);
    let status = d.join("status.json");
    std::fs::write(&status, r#"{"job": "scripted", "started": "2026-12-01T02:00:00Z", "finished": "2026-12-01T02:10:00Z", "success": false, "bytes": 1, "last_success": "2026-11-30T02:09:00Z"}"#).unwrap();
    let corrupt = d.join("corrupt.json");
    std::fs::write(&corrupt, "{\"started\": 17000").unwrap();

    let e = Exporter::start(
        d,
        &format!(
            "state_dir: {st}
jobs:
  - name: dumps
    files: {dumps}/*.sql.gz
    max_age: 26h
    min_size: 1MiB
    verify:
      command: [sh, -c, 'test \"$WATCHKEEPER_BACKUP_JOB\" = dumps && test \"$WATCHKEEPER_BACKUP_ARTIFACT\" = {dumps}/db-2.sql.gz']
      every: 1h
      timeout: 30s
  - name: signed
    files: {signed}/*.tar
    checksum: sha256
    max_age: 26h
  - name: nothing
    files: {d}/none/*.gz
    max_age: 26h
  - name: scripted
    status: {status}
    max_age: 26h
  - name: broken
    status: {corrupt}
    max_age: 26h
",
            st = d.join("state").display(),
            dumps = dumps.display(),
            signed = signed.display(),
            d = d.display(),
            status = status.display(),
            corrupt = corrupt.display(),
        ),
    );
    let m = e.until(20, |m| {
        ["dumps", "signed", "nothing", "scripted", "broken"]
            .iter()
            .all(|j| m.job("backup_source_up", j).is_some())
            .then(|| m.clone())
    });
    // files + min_size: the empty newest dump is a failure; the last success is the good one.
    assert_eq!(m.job("backup_source_up", "dumps"), Some(1.0));
    assert_eq!(m.job("backup_last_success", "dumps"), Some(0.0));
    let ts = m
        .job("backup_last_success_timestamp_seconds", "dumps")
        .unwrap();
    assert!((ts - good_t).abs() < 1e-3, "{ts} vs {good_t}");
    let at = m
        .job("backup_last_attempt_timestamp_seconds", "dumps")
        .unwrap();
    assert!((at - newest_t).abs() < 1e-3);
    assert_eq!(m.job("backup_last_size_bytes", "dumps"), Some(0.0));
    assert_eq!(m.job("backup_min_size_bytes", "dumps"), Some(1_048_576.0));
    assert_eq!(m.job("backup_artifacts", "dumps"), Some(2.0));
    assert_eq!(
        m.job("backup_artifacts_size_bytes", "dumps"),
        Some(3_145_728.0)
    );
    // The restore test was told the job and its newest artefact.
    let v = e.until(20, |m| m.job("backup_verify_last_success", "dumps"));
    assert_eq!(v, 1.0, "{}", e.logs());
    // The newest signed artefact (y) does not match its sidecar.
    assert_eq!(m.job("backup_integrity_ok", "signed"), Some(0.0));
    assert_eq!(m.job("backup_artifacts", "signed"), Some(2.0));
    assert!(e.log_line(&["checksum mismatch", "y.tar"]), "{}", e.logs());
    // A glob that matches nothing.
    assert_eq!(m.job("backup_source_up", "nothing"), Some(0.0));
    assert_eq!(
        m.must(
            "backup_source_error",
            &[("job", "nothing"), ("reason", "no_match")]
        ),
        1.0
    );
    assert!(e.log_line(&["job=nothing", "reason=no_match"]));
    // The status file: the failed attempt, and the success it names.
    assert_eq!(m.job("backup_source_up", "scripted"), Some(1.0));
    assert_eq!(m.job("backup_last_success", "scripted"), Some(0.0));
    assert_eq!(
        m.job("backup_last_success_timestamp_seconds", "scripted"),
        Some(1_796_004_540.0)
    );
    assert_eq!(
        m.job("backup_last_attempt_timestamp_seconds", "scripted"),
        Some(1_796_091_000.0)
    );
    assert_eq!(
        m.job("backup_last_duration_seconds", "scripted"),
        Some(600.0)
    );
    // A corrupt status file.
    assert_eq!(m.job("backup_source_up", "broken"), Some(0.0));
    assert_eq!(
        m.must(
            "backup_source_error",
            &[("job", "broken"), ("reason", "parse")]
        ),
        1.0
    );
    assert!(e.log_line(&["job=broken", "reason=parse"]));
    // Reasons are a fixed set of label values.
    let reasons: std::collections::BTreeSet<&str> =
        m.0.lines()
            .filter(|l| l.starts_with("backup_source_error{"))
            .filter_map(|l| l.split("reason=\"").nth(1)?.split('"').next())
            .collect();
    assert_eq!(reasons.len(), 8, "{reasons:?}");
}

fn verify_config(st: &Path, marker: &Path) -> String {
    format!(
        "state_dir: {st}
jobs:
  - name: hangs
    max_age: 1h
    verify:
      command: [sh, -c, 'sleep 300 & sleep 300; wait']
      every: 1h
      timeout: 1s
  - name: restores
    max_age: 1h
    verify:
      command: [sh, -c, 'echo ran >> {marker}']
      every: 1h
      timeout: 30s
  - name: fails
    max_age: 1h
    verify:
      command: [sh, -c, 'echo restore failed >&2; exit 4']
      every: 1h
      timeout: 30s
",
        st = st.display(),
        marker = marker.display()
    )
}

#[test]
fn verify_runs_on_schedule_hangs_are_killed_and_restarts_do_not_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("state");
    let marker = dir.path().join("ran");
    let e = Exporter::start(dir.path(), &verify_config(&st, &marker));
    let m = e.until(20, |m| {
        (m.get(
            "backup_verify_runs_total",
            &[("job", "hangs"), ("result", "timeout")],
        ) == Some(1.0)
            && m.job("backup_verify_last_success", "restores").is_some()
            && m.job("backup_verify_last_success", "fails").is_some())
        .then(|| m.clone())
    });
    assert_eq!(m.job("backup_verify_last_success", "hangs"), Some(0.0));
    let took = m
        .job("backup_verify_last_duration_seconds", "hangs")
        .unwrap();
    assert!(
        (1.0..5.0).contains(&took),
        "killed at its 1s timeout, took {took}"
    );
    assert!(e.log_line(&["job=hangs", "verify timed out"]));
    assert_eq!(m.job("backup_verify_last_success", "restores"), Some(1.0));
    assert!(
        m.job("backup_verify_last_success_timestamp_seconds", "restores")
            .unwrap()
            > common::now() - 60.0
    );
    assert_eq!(
        m.job("backup_verify_every_seconds", "restores"),
        Some(3600.0)
    );
    assert_eq!(m.job("backup_verify_last_success", "fails"), Some(0.0));
    assert_eq!(
        m.must(
            "backup_verify_runs_total",
            &[("job", "fails"), ("result", "failure")]
        ),
        1.0
    );
    assert!(e.log_line(&["job=fails", "verify failed", "restore failed"]));
    // The hung command's process group is gone.
    let ps = Command::new("pgrep")
        .args(["-f", "sleep 300 & sleep 300"])
        .output()
        .unwrap();
    assert!(
        ps.stdout.is_empty(),
        "a verify process survived its timeout"
    );
    // A restart within `every` does not run the test again, and keeps its results.
    drop(e);
    let e = Exporter::start(dir.path(), &verify_config(&st, &marker));
    std::thread::sleep(Duration::from_secs(2));
    let m = e.scrape();
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "ran\n",
        "not re-run after the restart"
    );
    assert_eq!(
        m.must(
            "backup_verify_runs_total",
            &[("job", "restores"), ("result", "success")]
        ),
        1.0
    );
    assert_eq!(m.job("backup_verify_last_success", "restores"), Some(1.0));
    assert_eq!(
        m.must(
            "backup_verify_runs_total",
            &[("job", "hangs"), ("result", "timeout")]
        ),
        1.0
    );
}

#[test]
fn config_check_and_errors_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yml");
    std::fs::write(&good, "state_dir: /tmp/x\njobs:\n  - name: a\n    files: /x/*.gz\n    max_age: 26h\n    min_size: 1MiB\n").unwrap();
    let out = Command::new(common::BIN)
        .arg(format!("--config.file={}", good.display()))
        .arg("--config.check")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("OK (1 jobs"),
        "{out:?}"
    );
    let bad = dir.path().join("bad.yml");
    for (text, line, needle) in [
        ("jobs:\n  - name: a\n    max_age: 26h\n    min_sise: 1MiB\n", 4, "min_sise"),
        ("jobs:\n  - name: a\n    max_age: 26h\n    restic: {repository: /r, password_file: /p}\n    files: /x\n", 4, "one source"),
        ("jobs:\n  - name: a\n    max_age: 26h\n    verify: {command: [], every: 1h, timeout: 1m}\n", 4, "verify.command"),
    ] {
        std::fs::write(&bad, text).unwrap();
        let out = Command::new(common::BIN).arg(format!("--config.file={}", bad.display())).arg("--config.check").output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("bad.yml:{line}:")) && err.contains(needle), "{err}");
    }
}

#[test]
fn reload_adds_jobs_keeps_unchanged_caches_and_refuses_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("art")).unwrap();
    std::fs::write(d.join("art/a.tar"), b"artefact").unwrap();
    let st = d.join("state");
    let first = format!(
        "state_dir: {st}\njobs:\n  - name: kept\n    files: {d}/art/*.tar\n    max_age: 1h\n    refresh_interval: 1h\n",
        st = st.display(),
        d = d.display()
    );
    let e = Exporter::start(d, &first);
    let refreshed = e.until(20, |m| {
        m.job("backup_source_refresh_timestamp_seconds", "kept")
    });
    let landing = common::http_get(e.addr, "/").1;
    assert!(landing.contains("kept (files; max_age 1h)"), "{landing}");

    std::fs::write(
        &e.config,
        format!("{first}  - name: added\n    max_age: 2h\n"),
    )
    .unwrap();
    e.hup();
    let m = e.until(20, |m| {
        m.job("backup_max_age_seconds", "added").map(|_| m.clone())
    });
    assert_eq!(
        m.job("backup_source_refresh_timestamp_seconds", "kept"),
        Some(refreshed),
        "an unchanged job keeps its cached read (no new refresh)"
    );
    assert_eq!(
        m.must(
            "backup_runs_total",
            &[("job", "added"), ("result", "success")]
        ),
        0.0
    );

    std::fs::write(&e.config, "jobs:\n  - name: x\n    max_age: soon\n").unwrap();
    e.hup();
    assert!(
        e.log_line(&["Reload failed", "backup.yml:3:14"]),
        "{}",
        e.logs()
    );
    let m = e.scrape();
    assert_eq!(
        m.job("backup_max_age_seconds", "added"),
        Some(7200.0),
        "the old configuration stays"
    );
}

#[test]
fn a_hanging_tool_is_killed_at_the_job_timeout_and_scrapes_never_wait() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A "restic" that never answers, and leaves a child behind in its process group.
    let tool = d.join("stuck-restic");
    std::fs::write(&tool, "#!/bin/sh\nsleep 301 &\nsleep 301\n").unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(d.join("pw"), "x\n").unwrap();
    std::fs::create_dir_all(d.join("art")).unwrap();
    std::fs::write(d.join("art/ok.tar"), b"fine").unwrap();
    let e = Exporter::start(
        d,
        &format!(
            "state_dir: {d}/state\njobs:\n  - name: stuck\n    restic: {{repository: /nonexistent, password_file: {d}/pw, binary: {tool}}}\n    max_age: 1h\n    timeout: 8s\n  - name: fine\n    files: {d}/art/*.tar\n    max_age: 1h\n",
            d = d.display(),
            tool = tool.display()
        ),
    );
    // While the tool hangs, scrapes are answered at once from what is known.
    for _ in 0..5 {
        let t = std::time::Instant::now();
        let m = e.scrape();
        assert!(
            t.elapsed() < Duration::from_millis(1500),
            "a scrape waited {:?}",
            t.elapsed()
        );
        assert_eq!(m.job("backup_max_age_seconds", "stuck"), Some(3600.0));
        std::thread::sleep(Duration::from_millis(100));
    }
    let m = e.until(20, |m| {
        m.job("backup_source_up", "stuck").map(|_| m.clone())
    });
    assert_eq!(m.job("backup_source_up", "stuck"), Some(0.0));
    assert_eq!(
        m.must(
            "backup_source_error",
            &[("job", "stuck"), ("reason", "timeout")]
        ),
        1.0
    );
    assert_eq!(
        m.job("backup_source_up", "fine"),
        Some(1.0),
        "the other job is unaffected"
    );
    assert!(
        e.log_line(&["job=stuck", "reason=timeout", "killed"]),
        "{}",
        e.logs()
    );
    std::thread::sleep(Duration::from_millis(200));
    let ps = Command::new("pgrep")
        .args(["-f", "sleep 301"])
        .output()
        .unwrap();
    assert!(
        ps.stdout.is_empty(),
        "the hung tool's group survived its timeout"
    );
}
