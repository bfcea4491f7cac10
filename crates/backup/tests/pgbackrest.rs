//! pgBackRest against a throwaway PostgreSQL cluster (initdb on a free port, WAL archived with
//! `archive-push`, one full backup): the exported time, size and count equal
//! `pgbackrest info --output=json`; a stanza that does not exist is `not_found`.

mod common;

use common::{sh, Exporter};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn pg_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

fn as_postgres(program: &Path) -> Command {
    let mut c = Command::new("runuser");
    c.args(["-u", "postgres", "--"]).arg(program);
    c
}

struct Cluster {
    bin: PathBuf,
    data: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

#[test]
fn pgbackrest_backups_match_the_tool() {
    if !common::have_tool("pgbackrest") || !common::have_tool("runuser") {
        return;
    }
    let Some(bin) = pg_bin() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("PostgreSQL server binaries are required in CI");
        }
        eprintln!("NOTICE: no /usr/lib/postgresql/*/bin/initdb; test not run");
        return;
    };
    if Command::new("id")
        .arg("postgres")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        eprintln!("NOTICE: no postgres user; test not run");
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("wk-pgbr")
        .tempdir_in("/tmp")
        .unwrap();
    let d = dir.path();
    for sub in ["sock", "repo", "log", "lock"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = d.join("pgbackrest.conf");
    std::fs::write(
        &conf,
        format!(
            "[global]\nrepo1-path={d}/repo\nlog-path={d}/log\nlock-path={d}/lock\nlog-level-file=off\nlog-level-console=error\nstart-fast=y\nrepo1-retention-full=2\n[main]\npg1-path={d}/data\npg1-port={port}\npg1-socket-path={d}/sock\n",
            d = d.display()
        ),
    )
    .unwrap();
    sh(Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(d));
    sh(Command::new("chmod").arg("755").arg(d));
    sh(as_postgres(&bin.join("initdb"))
        .arg("-D")
        .arg(d.join("data"))
        .args(["-A", "trust"]));
    let mut pgconf = std::fs::OpenOptions::new()
        .append(true)
        .open(d.join("data/postgresql.conf"))
        .unwrap();
    std::io::Write::write_all(
        &mut pgconf,
        format!(
            "port={port}\nlisten_addresses=''\nunix_socket_directories='{d}/sock'\narchive_mode=on\nwal_level=replica\narchive_command='pgbackrest --config={conf} --stanza=main archive-push %p'\n",
            d = d.display(),
            conf = conf.display()
        )
        .as_bytes(),
    )
    .unwrap();
    sh(as_postgres(&bin.join("pg_ctl"))
        .arg("-D")
        .arg(d.join("data"))
        .arg("-l")
        .arg(d.join("pg.log"))
        .args(["-w", "start"]));
    let _cluster = Cluster {
        bin: bin.clone(),
        data: d.join("data"),
    };
    let pgbr = |args: &[&str]| {
        let mut c = as_postgres(Path::new("pgbackrest"));
        c.arg(format!("--config={}", conf.display())).args(args);
        c
    };
    sh(&mut pgbr(&["--stanza=main", "stanza-create"]));
    sh(&mut pgbr(&["--stanza=main", "--type=full", "backup"]));
    let info: Value =
        serde_json::from_slice(&sh(&mut pgbr(&["--output=json", "info"])).stdout).unwrap();
    let backups = info[0]["backup"].as_array().unwrap();
    let last = backups.last().unwrap();
    let stop = last["timestamp"]["stop"].as_f64().unwrap();
    let start = last["timestamp"]["start"].as_f64().unwrap();
    let size = last["info"]["repository"]["size"].as_f64().unwrap();

    let e = Exporter::start(
        d,
        &format!(
            "state_dir: {st}\njobs:\n  - name: pg\n    pgbackrest: {{config: {conf}, stanzas: [main]}}\n    max_age: 26h\n  - name: pg-all\n    pgbackrest: {{config: {conf}}}\n    max_age: 26h\n  - name: pg-missing\n    pgbackrest: {{config: {conf}, stanzas: [main, nosuch]}}\n    max_age: 26h\n",
            st = d.join("state").display(),
            conf = conf.display()
        ),
    );
    let m = e.until(60, |m| {
        ["pg", "pg-all", "pg-missing"]
            .iter()
            .all(|j| m.job("backup_source_up", j).is_some())
            .then(|| m.clone())
    });
    for job in ["pg", "pg-all"] {
        assert_eq!(m.job("backup_source_up", job), Some(1.0), "{}", e.logs());
        assert_eq!(
            m.job("backup_last_success_timestamp_seconds", job),
            Some(stop)
        );
        assert_eq!(m.job("backup_last_size_bytes", job), Some(size));
        assert_eq!(m.job("backup_artifacts", job), Some(backups.len() as f64));
        assert_eq!(
            m.job("backup_last_duration_seconds", job),
            Some(stop - start)
        );
        assert_eq!(m.job("backup_last_success", job), Some(1.0));
    }
    assert_eq!(m.job("backup_source_up", "pg-missing"), Some(0.0));
    assert_eq!(
        m.must(
            "backup_source_error",
            &[("job", "pg-missing"), ("reason", "not_found")]
        ),
        1.0
    );
    assert!(e.log_line(&["job=pg-missing", "nosuch"]));
}
