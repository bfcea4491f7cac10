//! STARTTLS against real database servers: throwaway PostgreSQL and MariaDB servers with TLS
//! (initdb / mariadb-install-db on a free port, our certificate), and the development machine's
//! MariaDB, which has TLS disabled (so the exporter must read its handshake packet and report
//! that TLS is not offered).

mod common;

use common::*;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn pg_bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// A PostgreSQL cluster of our own with `ssl=on`, stopped on drop.
struct ThrowawayPg {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl ThrowawayPg {
    fn cmd(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn start(bin: PathBuf, chain_pem: &str, key_pem: &str) -> ThrowawayPg {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = rustix::process::geteuid().is_root();
        let (c, k) = (dir.path().join("server.crt"), dir.path().join("server.key"));
        std::fs::write(&c, chain_pem).unwrap();
        std::fs::write(&k, key_pem).unwrap();
        std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = ThrowawayPg {
            dir,
            bin,
            port,
            as_postgres,
        };
        let data = pg.dir.path().join("data");
        let st = pg
            .cmd("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("initdb");
        assert!(st.success(), "initdb failed");
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            pg.dir.path().display(),
            c.display(),
            k.display()
        );
        let st = pg
            .cmd("pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-w", "-t", "30", "-o", &opts, "-l"])
            .arg(pg.dir.path().join("log"))
            .arg("start")
            .stdout(Stdio::null())
            .status()
            .expect("pg_ctl");
        assert!(
            st.success(),
            "pg_ctl start failed: {}",
            std::fs::read_to_string(pg.dir.path().join("log")).unwrap_or_default()
        );
        pg
    }
}

impl Drop for ThrowawayPg {
    fn drop(&mut self) {
        let _ = self
            .cmd("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .status();
    }
}

fn mariadb_reachable() -> bool {
    let ok = std::net::TcpStream::connect_timeout(
        &"127.0.0.1:3306".parse().unwrap(),
        std::time::Duration::from_secs(2),
    )
    .is_ok();
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("MariaDB is required in CI at 127.0.0.1:3306");
        }
        eprintln!("NOTICE: MariaDB not reachable at 127.0.0.1:3306; that part is not run");
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_starttls_and_mysql_without_tls() {
    let Some(bin) = pg_bin_dir() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("PostgreSQL binaries are required in CI");
        }
        eprintln!("NOTICE: no /usr/lib/postgresql/*/bin/initdb; test not run");
        return;
    };
    let pki = Pki::new();
    let leaf = pki.leaf(Spec {
        cn: "db.test",
        sans: &["db.test", "127.0.0.1"],
        not_after: (2034, 5, 6),
        serial: 77,
        ..Default::default()
    });
    let pg = ThrowawayPg::start(
        bin,
        &format!("{}{}", leaf.pem(), pki.intermediate.pem()),
        &leaf.key.serialize_pem(),
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root.pem");
    std::fs::write(&root, pki.root.pem()).unwrap();
    let mut config = format!(
        "endpoints:\n  - target: 127.0.0.1:{}\n    starttls: postgres\n    ca_file: {}\n",
        pg.port,
        root.display()
    );
    let mysql = mariadb_reachable();
    if mysql {
        config.push_str("  - target: 127.0.0.1:3306\n    starttls: mysql\n");
    }
    let exporter = Exporter::start(dir.path(), &config);
    let m = exporter.scrape().await;
    let t = format!("127.0.0.1:{}", pg.port);
    assert_eq!(
        m.must("ssl_probe_success", &[("target", &t)]),
        1.0,
        "{}",
        m.0
    );
    assert_eq!(m.must("ssl_hostname_match", &[("target", &t)]), 1.0);
    assert_eq!(
        m.must(
            "ssl_cert_not_after",
            &[
                ("target", &t),
                ("cn", "db.test"),
                ("serial_no", "77"),
                ("ips", ",127.0.0.1,")
            ]
        ),
        ymd(2034, 5, 6) as f64
    );
    assert_eq!(
        m.must(
            "ssl_verified_cert_not_after",
            &[("target", &t), ("cn", "Test Root")]
        ),
        ymd(2040, 1, 1) as f64
    );
    assert_eq!(m.all("ssl_tls_version_info", &[("target", &t)]).len(), 1);
    if mysql {
        let t = "127.0.0.1:3306";
        assert_eq!(
            m.must(
                "ssl_probe_error_info",
                &[("target", t), ("reason", "starttls")]
            ),
            1.0
        );
        assert!(
            exporter.log_shows("mysql: the server does not offer TLS"),
            "{}",
            exporter.logs()
        );
    }
    drop(pg);
}

/// A MariaDB server of our own with TLS, stopped on drop.
struct ThrowawayMariadb {
    /// Removed (with the data directory) when the server is dropped.
    _dir: tempfile::TempDir,
    child: std::process::Child,
    port: u16,
}

impl ThrowawayMariadb {
    fn start(chain_pem: &str, key_pem: &str) -> ThrowawayMariadb {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("c.pem"), chain_pem).unwrap();
        std::fs::write(d.join("k.pem"), key_pem).unwrap();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let root = rustix::process::geteuid().is_root();
        if root {
            let ok = Command::new("chown")
                .args(["-R", "mysql:mysql"])
                .arg(d)
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let user: &[&str] = if root { &["--user=mysql"] } else { &[] };
        let st = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .args(user)
            .arg(format!("--datadir={}", d.join("data").display()))
            .arg("--skip-test-db")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("mariadb-install-db");
        assert!(st.success(), "mariadb-install-db failed");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("/usr/sbin/mariadbd")
            .arg("--no-defaults")
            .args(user)
            .arg(format!("--datadir={}", d.join("data").display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", d.join("s.sock").display()))
            .arg(format!("--pid-file={}", d.join("p.pid").display()))
            .arg(format!("--ssl-cert={}", d.join("c.pem").display()))
            .arg(format!("--ssl-key={}", d.join("k.pem").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd");
        let m = ThrowawayMariadb {
            _dir: dir,
            child,
            port,
        };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return m;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("mariadbd did not start");
    }
}

impl Drop for ThrowawayMariadb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_with_tls() {
    if !std::path::Path::new("/usr/sbin/mariadbd").exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("mariadbd is required in CI");
        }
        eprintln!("NOTICE: /usr/sbin/mariadbd missing; test not run");
        return;
    }
    let pki = Pki::new();
    let leaf = pki.leaf(Spec {
        cn: "mariadb.test",
        sans: &["mariadb.test"],
        not_after: (2033, 11, 12),
        serial: 88,
        ..Default::default()
    });
    let db = ThrowawayMariadb::start(
        &format!("{}{}", leaf.pem(), pki.intermediate.pem()),
        &leaf.key.serialize_pem(),
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root.pem");
    std::fs::write(&root, pki.root.pem()).unwrap();
    let t = format!("127.0.0.1:{}", db.port);
    let exporter = Exporter::start(
        dir.path(),
        &format!(
            "endpoints:\n  - target: {t}\n    starttls: mysql\n    server_name: mariadb.test\n    ca_file: {}\n",
            root.display()
        ),
    );
    let m = exporter.scrape().await;
    assert_eq!(
        m.must("ssl_probe_success", &[("target", &t)]),
        1.0,
        "{}\n{}",
        m.0,
        exporter.logs()
    );
    assert_eq!(
        m.must(
            "ssl_cert_not_after",
            &[("target", &t), ("cn", "mariadb.test"), ("serial_no", "88")]
        ),
        ymd(2033, 11, 12) as f64
    );
}
