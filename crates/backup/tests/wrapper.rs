//! The `run` wrapper with the real binary: success, failure, a killed command, a read-only and
//! a full state directory; counters survive and the exporter serves them.

mod common;

use common::{Exporter, BIN};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn config(state: &Path) -> String {
    format!(
        "state_dir: {}\njobs:\n  - name: db\n    max_age: 1h\n  - name: other\n    max_age: 2h\n",
        state.display()
    )
}

fn run(cfg: &Path, job: &str, cmd: &[&str]) -> Output {
    Command::new(BIN)
        .arg(format!("--config.file={}", cfg.display()))
        .args(["run", "--job", job, "--"])
        .args(cmd)
        .output()
        .expect("spawn wrapper")
}

fn state(dir: &Path, job: &str) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join(format!("{job}.run.json"))).unwrap()).unwrap()
}

#[test]
fn success_failure_and_killed_are_recorded_and_exit_codes_pass_through() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("state");
    let cfg = dir.path().join("b.yml");
    std::fs::write(&cfg, config(&st)).unwrap();
    let payload = dir.path().join("dump.sql");
    std::fs::write(&payload, vec![7u8; 4096]).unwrap();

    let before = common::now();
    let out = Command::new(BIN)
        .arg(format!("--config.file={}", cfg.display()))
        .args(["run", "--job", "db", "--size-path"])
        .arg(&payload)
        .args(["--", "sh", "-c", "sleep 0.2; echo made it"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "made it\n",
        "the command's output is passed through"
    );
    let s = state(&st, "db");
    assert_eq!(s["runs_success"], 1);
    assert_eq!(s["last_exit_code"], 0);
    assert_eq!(s["last_size_bytes"], 4096);
    assert_eq!(s["running"], false);
    let dur = s["last_duration_seconds"].as_f64().unwrap();
    assert!((0.2..5.0).contains(&dur), "{dur}");
    assert!(s["last_start"].as_f64().unwrap() >= before);

    let out = run(&cfg, "db", &["sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    let out = run(&cfg, "db", &["sh", "-c", "kill -9 $$"]);
    assert_eq!(out.status.code(), Some(137), "128 + SIGKILL");
    let out = run(&cfg, "db", &["/nonexistent/backup-tool"]);
    assert_eq!(out.status.code(), Some(127));
    let s = state(&st, "db");
    assert_eq!(s["runs_success"], 1);
    assert_eq!(s["runs_failure"], 3);
    assert_eq!(s["last_exit_code"], 127);
    assert_eq!(
        s["last_size_bytes"], 4096,
        "a failed run keeps the last good size"
    );

    // An unknown job is a usage error and runs nothing.
    let out = run(
        &cfg,
        "nope",
        &["touch", dir.path().join("ran").to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(!dir.path().join("ran").exists());

    // The exporter serves the counters; every label set exists, also for the job never run.
    let e = Exporter::start(dir.path(), &config(&st));
    let m = e.scrape();
    assert_eq!(
        m.must("backup_runs_total", &[("job", "db"), ("result", "success")]),
        1.0
    );
    assert_eq!(
        m.must("backup_runs_total", &[("job", "db"), ("result", "failure")]),
        3.0
    );
    assert_eq!(
        m.must(
            "backup_runs_total",
            &[("job", "other"), ("result", "success")]
        ),
        0.0
    );
    assert_eq!(
        m.must(
            "backup_runs_total",
            &[("job", "other"), ("result", "failure")]
        ),
        0.0
    );
    assert_eq!(m.job("backup_last_success", "db"), Some(0.0));
    assert_eq!(m.job("backup_last_size_bytes", "db"), Some(4096.0));
    assert_eq!(m.job("backup_max_age_seconds", "db"), Some(3600.0));
    assert_eq!(m.job("backup_max_age_seconds", "other"), Some(7200.0));
    assert_eq!(m.job("backup_source_up", "db"), Some(1.0));
    let last_ok = m
        .job("backup_last_success_timestamp_seconds", "db")
        .unwrap();
    assert_eq!(
        last_ok,
        state(&st, "db")["last_success_end"].as_f64().unwrap()
    );
    assert_eq!(
        m.job("backup_last_success_timestamp_seconds", "other"),
        None
    );

    // Counters survive an exporter restart (they live in the state directory).
    drop(e);
    let e = Exporter::start(dir.path(), &config(&st));
    assert_eq!(
        e.scrape()
            .must("backup_runs_total", &[("job", "db"), ("result", "failure")]),
        3.0
    );
}

#[test]
fn a_signal_to_the_wrapper_reaches_the_command_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("state");
    let cfg = dir.path().join("b.yml");
    std::fs::write(&cfg, config(&st)).unwrap();
    let mut child = Command::new(BIN)
        .arg(format!("--config.file={}", cfg.display()))
        .args(["run", "--job", "db", "--", "sleep", "30"])
        .spawn()
        .unwrap();
    // Wait until the start is recorded.
    for _ in 0..100 {
        if st.join("db.run.json").exists() && state(&st, "db")["running"] == true {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(state(&st, "db")["running"], true);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "128 + SIGTERM, from the command");
    let s = state(&st, "db");
    assert_eq!(s["runs_failure"], 1);
    assert_eq!(s["last_exit_code"], 143);
    assert_eq!(s["running"], false);
}

fn mount_tmpfs(at: &Path, size: &str) -> bool {
    std::fs::create_dir_all(at).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(at)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!(
            "NOTICE: cannot mount a tmpfs here (not root?); state-directory fault test not run"
        );
    }
    ok
}

struct Unmount<'a>(&'a Path);
impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0).status();
    }
}

#[test]
fn a_read_only_state_dir_loses_nothing_already_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("state");
    if !mount_tmpfs(&st, "1m") {
        return;
    }
    let _u = Unmount(&st);
    let cfg = dir.path().join("b.yml");
    std::fs::write(&cfg, config(&st)).unwrap();
    assert_eq!(run(&cfg, "db", &["true"]).status.code(), Some(0));
    assert_eq!(run(&cfg, "db", &["false"]).status.code(), Some(1));
    let recorded = std::fs::read(st.join("db.run.json")).unwrap();
    assert!(Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&st)
        .status()
        .unwrap()
        .success());

    let out = run(&cfg, "db", &["sh", "-c", "echo backing up"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the backup still runs and its status is the exit code"
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("cannot record the attempt"), "{log}");
    assert_eq!(
        std::fs::read(st.join("db.run.json")).unwrap(),
        recorded,
        "the recorded state is intact"
    );
    assert_eq!(run(&cfg, "db", &["false"]).status.code(), Some(1));
    assert_eq!(std::fs::read(st.join("db.run.json")).unwrap(), recorded);

    let e = Exporter::start(dir.path(), &config(&st));
    let m = e.scrape();
    assert_eq!(
        m.must("backup_runs_total", &[("job", "db"), ("result", "success")]),
        1.0
    );
    assert_eq!(
        m.must("backup_runs_total", &[("job", "db"), ("result", "failure")]),
        1.0
    );
}

#[test]
fn a_full_disk_keeps_the_previous_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("state");
    if !mount_tmpfs(&st, "64k") {
        return;
    }
    let _u = Unmount(&st);
    let cfg = dir.path().join("b.yml");
    std::fs::write(&cfg, config(&st)).unwrap();
    assert_eq!(run(&cfg, "db", &["true"]).status.code(), Some(0));
    assert_eq!(run(&cfg, "db", &["true"]).status.code(), Some(0));
    let recorded = std::fs::read(st.join("db.run.json")).unwrap();
    // Fill the file system to the last byte.
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=4k"])
        .arg(format!("of={}", st.join("filler").display()))
        .output();
    let out = run(&cfg, "db", &["false"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot record the attempt"),
        "{out:?}"
    );
    assert_eq!(
        std::fs::read(st.join("db.run.json")).unwrap(),
        recorded,
        "no torn write"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&st)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files are removed");
    // Space again: counting resumes from what was recorded.
    std::fs::remove_file(st.join("filler")).unwrap();
    assert_eq!(run(&cfg, "db", &["false"]).status.code(), Some(1));
    let s = state(&st, "db");
    assert_eq!(s["runs_success"], 2);
    assert_eq!(s["runs_failure"], 1);
}

#[test]
fn with_a_source_the_artefact_is_the_proof_not_the_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("state");
    let art = dir.path().join("art");
    std::fs::create_dir_all(&art).unwrap();
    let cfg_text = format!(
        "state_dir: {}\njobs:\n  - name: dump\n    files: {}/*.gz\n    max_age: 1h\n    min_size: 1KiB\n    refresh_interval: 1s\n",
        st.display(),
        art.display()
    );
    let cfg = dir.path().join("b.yml");
    std::fs::write(&cfg, &cfg_text).unwrap();
    let small = format!("head -c 10 /dev/zero > {}/1.gz", art.display());
    assert_eq!(
        run(&cfg, "dump", &["sh", "-c", &small]).status.code(),
        Some(0)
    );
    let e = Exporter::start(dir.path(), &cfg_text);
    let m = e.until(10, |m| m.job("backup_source_up", "dump").map(|_| m.clone()));
    assert_eq!(
        m.must(
            "backup_runs_total",
            &[("job", "dump"), ("result", "success")]
        ),
        1.0
    );
    assert_eq!(
        m.job("backup_last_success", "dump"),
        Some(0.0),
        "exit 0 but a 10-byte dump"
    );
    assert_eq!(m.job("backup_last_success_timestamp_seconds", "dump"), None);
    assert_eq!(m.job("backup_last_size_bytes", "dump"), Some(10.0));

    let big = format!("head -c 4096 /dev/zero > {}/2.gz", art.display());
    assert_eq!(
        run(&cfg, "dump", &["sh", "-c", &big]).status.code(),
        Some(0)
    );
    let mtime = std::fs::metadata(art.join("2.gz"))
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let ts = e.until(10, |m| {
        m.job("backup_last_success_timestamp_seconds", "dump")
    });
    assert!((ts - mtime).abs() < 1e-3, "{ts} vs the artefact's {mtime}");
    let m = e.scrape();
    assert_eq!(m.job("backup_last_success", "dump"), Some(1.0));
    assert_eq!(
        m.must(
            "backup_runs_total",
            &[("job", "dump"), ("result", "success")]
        ),
        2.0
    );
}
