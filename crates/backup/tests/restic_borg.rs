//! Real restic and borg repositories made by the test: the exported timestamps, sizes and
//! counts equal what the tools themselves report; a wrong password is a bounded `auth` reason
//! and a log line, and the other jobs are unaffected.

mod common;

use common::{sh, Exporter};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn parse_time(s: &str) -> f64 {
    watchkeeper_backup::timefmt::parse_timestamp(s).unwrap_or_else(|| panic!("time {s:?}"))
}

fn data(dir: &Path) -> std::path::PathBuf {
    let d = dir.join("data");
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::write(d.join("a.txt"), "hello backup\n".repeat(1000)).unwrap();
    std::fs::write(d.join("sub/b.bin"), vec![42u8; 100_000]).unwrap();
    d
}

fn restic(repo: &Path, pw: &Path) -> Command {
    let mut c = Command::new("restic");
    c.env("RESTIC_REPOSITORY", repo)
        .env("RESTIC_PASSWORD_FILE", pw)
        .env("RESTIC_CACHE_DIR", repo.with_extension("cache"))
        .env_remove("RESTIC_PASSWORD");
    c
}

#[test]
fn restic_snapshots_and_sizes_match_the_tool() {
    if !common::have_tool("restic") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let pw = dir.path().join("pw");
    let wrong = dir.path().join("wrong");
    std::fs::write(&pw, "correct horse battery staple\n").unwrap();
    std::fs::write(&wrong, "not the password\n").unwrap();
    let src = data(dir.path());
    sh(restic(&repo, &pw).arg("init"));
    sh(restic(&repo, &pw).arg("backup").arg(&src));
    std::fs::write(src.join("c.txt"), "more").unwrap();
    sh(restic(&repo, &pw).arg("backup").arg(&src));

    let snaps: Vec<Value> =
        serde_json::from_slice(&sh(restic(&repo, &pw).args(["snapshots", "--json"])).stdout)
            .unwrap();
    let newest = snaps
        .iter()
        .map(|s| parse_time(s["time"].as_str().unwrap()))
        .fold(f64::MIN, f64::max);
    let stats: Value =
        serde_json::from_slice(&sh(restic(&repo, &pw).args(["stats", "--json", "latest"])).stdout)
            .unwrap();

    let status = dir.path().join("status.json");
    std::fs::write(
        &status,
        r#"{"started": 1700000000, "finished": 1700000100, "success": true, "bytes": 5}"#,
    )
    .unwrap();
    let e = Exporter::start(
        dir.path(),
        &format!(
            "state_dir: {st}\njobs:\n  - name: offsite\n    restic: {{repository: {repo}, password_file: {pw}}}\n    max_age: 26h\n    verify: {{command: [restic, --no-cache, check], every: 1h, timeout: 2m}}\n  - name: badpw\n    restic: {{repository: {repo}, password_file: {wrong}}}\n    max_age: 26h\n  - name: viacmd\n    restic: {{repository: {repo}, password_command: \"cat {pw}\"}}\n    max_age: 26h\n  - name: plain\n    status: {status}\n    max_age: 1h\n",
            st = dir.path().join("state").display(),
            repo = repo.display(),
            pw = pw.display(),
            wrong = wrong.display(),
            status = status.display(),
        ),
    );
    let m = e.until(60, |m| {
        (m.job("backup_source_up", "offsite").is_some()
            && m.job("backup_source_up", "badpw").is_some()
            && m.job("backup_source_up", "viacmd").is_some())
        .then(|| m.clone())
    });
    for job in ["offsite", "viacmd"] {
        assert_eq!(m.job("backup_source_up", job), Some(1.0), "{}", e.logs());
        let ts = m.job("backup_last_success_timestamp_seconds", job).unwrap();
        assert!(
            (ts - newest).abs() < 1e-3,
            "exported {ts}, restic says {newest}"
        );
        assert_eq!(m.job("backup_artifacts", job), Some(snaps.len() as f64));
        assert_eq!(
            m.job("backup_last_size_bytes", job),
            Some(stats["total_size"].as_f64().unwrap())
        );
        assert_eq!(m.job("backup_last_success", job), Some(1.0));
        assert!(
            m.job("backup_source_refresh_timestamp_seconds", job)
                .unwrap()
                > common::now() - 120.0
        );
    }
    assert_eq!(m.job("backup_source_up", "badpw"), Some(0.0));
    assert_eq!(
        m.must(
            "backup_source_error",
            &[("job", "badpw"), ("reason", "auth")]
        ),
        1.0
    );
    assert_eq!(
        m.must(
            "backup_source_error",
            &[("job", "badpw"), ("reason", "timeout")]
        ),
        0.0
    );
    assert_eq!(
        m.must(
            "backup_source_error",
            &[("job", "offsite"), ("reason", "auth")]
        ),
        0.0
    );
    assert!(e.log_line(&["job=badpw", "reason=auth"]), "{}", e.logs());
    // The other source kind is unaffected.
    assert_eq!(
        m.job("backup_last_success_timestamp_seconds", "plain"),
        Some(1_700_000_100.0)
    );
    assert_eq!(m.job("backup_last_duration_seconds", "plain"), Some(100.0));
    // The password is in no log line and no metric.
    // The restore test got the repository and password from the job.
    let v = e.until(60, |m| m.job("backup_verify_last_success", "offsite"));
    assert_eq!(v, 1.0, "{}", e.logs());
    assert!(!e.logs().contains("correct horse"));
    assert!(!m.0.contains("correct horse"));
}

fn borg(repo: &Path) -> Command {
    let mut c = Command::new("borg");
    c.env("BORG_PASSPHRASE", "borg secret phrase")
        .env("BORG_BASE_DIR", repo.with_extension("base"))
        .env("TZ", "UTC");
    c
}

#[test]
fn borg_archives_and_sizes_match_the_tool() {
    if !common::have_tool("borg") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let pp = dir.path().join("pp");
    std::fs::write(&pp, "borg secret phrase\n").unwrap();
    let src = data(dir.path());
    sh(borg(&repo)
        .args(["init", "--encryption=repokey"])
        .arg(&repo));
    sh(borg(&repo)
        .arg("create")
        .arg(format!("{}::first", repo.display()))
        .arg(&src));
    std::fs::write(src.join("c.txt"), "more").unwrap();
    sh(borg(&repo)
        .arg("create")
        .arg(format!("{}::second", repo.display()))
        .arg(&src));
    let info: Value = serde_json::from_slice(
        &sh(borg(&repo)
            .args(["info", "--json", "--last", "1"])
            .arg(&repo))
        .stdout,
    )
    .unwrap();
    let a = &info["archives"][0];
    let end = parse_time(a["end"].as_str().unwrap());
    let size = a["stats"]["original_size"].as_f64().unwrap();
    let list: Value =
        serde_json::from_slice(&sh(borg(&repo).args(["list", "--json"]).arg(&repo)).stdout)
            .unwrap();
    let count = list["archives"].as_array().unwrap().len() as f64;

    let e = Exporter::start(
        dir.path(),
        &format!(
            "state_dir: {st}\njobs:\n  - name: borg-fd\n    borg: {{repository: {repo}, passphrase_file: {pp}}}\n    max_age: 26h\n    verify: {{command: [borg, check], every: 1h, timeout: 2m}}\n  - name: borg-cmd\n    borg: {{repository: {repo}, passcommand: \"cat {pp}\"}}\n    max_age: 26h\n  - name: borg-nopass\n    borg: {{repository: {repo}}}\n    max_age: 26h\n",
            st = dir.path().join("state").display(),
            repo = repo.display(),
            pp = pp.display(),
        ),
    );
    let m = e.until(90, |m| {
        ["borg-fd", "borg-cmd", "borg-nopass"]
            .iter()
            .all(|j| m.job("backup_source_up", j).is_some())
            .then(|| m.clone())
    });
    for job in ["borg-fd", "borg-cmd"] {
        assert_eq!(m.job("backup_source_up", job), Some(1.0), "{}", e.logs());
        let ts = m.job("backup_last_success_timestamp_seconds", job).unwrap();
        assert!((ts - end).abs() < 1e-3, "exported {ts}, borg says {end}");
        assert_eq!(m.job("backup_last_size_bytes", job), Some(size));
        assert_eq!(m.job("backup_artifacts", job), Some(count));
        assert_eq!(
            m.job("backup_last_duration_seconds", job),
            Some(a["duration"].as_f64().unwrap())
        );
    }
    assert_eq!(m.job("backup_source_up", "borg-nopass"), Some(0.0));
    assert_eq!(
        m.must(
            "backup_source_error",
            &[("job", "borg-nopass"), ("reason", "auth")]
        ),
        1.0,
        "{}",
        e.logs()
    );
    assert!(e.log_line(&["job=borg-nopass", "backup source unavailable"]));
    let v = e.until(60, |m| m.job("backup_verify_last_success", "borg-fd"));
    assert_eq!(v, 1.0, "{}", e.logs());
    assert!(!e.logs().contains("borg secret phrase"));
}
