//! Test harness: the real `watchkeeper-db` binary, the real database services, throwaway
//! servers on free ports, and a minimal HTTP client.
//!
//! Service addresses come from environment variables with the development machine's defaults:
//! `WATCHKEEPER_TEST_PG_HOST` / `_PG_PORT` / `_PG_USER` (127.0.0.1, 5432, postgres; trust auth),
//! `WATCHKEEPER_TEST_MYSQL_HOST` / `_MYSQL_PORT` / `_MYSQL_USER` / `_MYSQL_PASSWORD` (127.0.0.1,
//! 3306, root, empty), `WATCHKEEPER_TEST_REDIS_HOST` / `_REDIS_PORT` (127.0.0.1, 6379).
//! With `CI=true` a missing service fails the test; otherwise the test prints a notice and passes.

#![allow(dead_code)]

pub mod reference;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One database service the tests talk to.
#[derive(Debug, Clone)]
pub struct Service {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn service(kind: &str, port: u16, user: &str) -> Service {
    let p = format!("WATCHKEEPER_TEST_{kind}_");
    Service {
        host: env_or(&format!("{p}HOST"), "127.0.0.1"),
        port: env_or(&format!("{p}PORT"), &port.to_string())
            .parse()
            .expect("port variable must be a number"),
        user: env_or(&format!("{p}USER"), user),
        password: env_or(&format!("{p}PASSWORD"), ""),
    }
}

pub fn pg() -> Service {
    service("PG", 5432, "postgres")
}
pub fn mysql() -> Service {
    service("MYSQL", 3306, "root")
}
pub fn redis() -> Service {
    service("REDIS", 6379, "")
}

/// Whether `s` answers on TCP. In CI a missing service is a failure, never a skip.
pub fn available(what: &str, s: &Service) -> bool {
    let ok = format!("{}:{}", s.host, s.port)
        .parse::<SocketAddr>()
        .ok()
        .and_then(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).ok())
        .is_some();
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "{what} is required in CI but not reachable at {}:{}",
                s.host, s.port
            );
        }
        eprintln!(
            "NOTICE: {what} not reachable at {}:{}; test not run",
            s.host, s.port
        );
    }
    ok
}

/// A binary the test needs (initdb, redis-server); in CI its absence fails the test.
pub fn have_binary(path: &str) -> bool {
    let ok = Path::new(path).exists();
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{path} is required in CI but missing");
        }
        eprintln!("NOTICE: {path} missing; test not run");
    }
    ok
}

/// A free TCP port on 127.0.0.1 (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A unique lower-case suffix for databases, users and keys.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{nanos}", std::process::id())
}

/// The exporter binary running with a config file, its log captured.
pub struct Exporter {
    child: Child,
    pub addr: SocketAddr,
    pub logs: Arc<Mutex<String>>,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Exporter {
    /// Starts `watchkeeper-db` with `config` (YAML) and extra flags; waits until it listens.
    pub fn start(config: &str, extra: &[&str]) -> Exporter {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir, config, extra)
    }

    /// Like [`start`], in a directory the caller already filled (password files).
    pub fn start_in(dir: tempfile::TempDir, config: &str, extra: &[&str]) -> Exporter {
        let path = dir.path().join("db.yml");
        std::fs::write(&path, config).expect("write config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_watchkeeper-db"))
            .arg("--config.file")
            .arg(&path)
            .args([
                "--web.listen-address",
                "127.0.0.1:0",
                "--log.level",
                "debug",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn watchkeeper-db");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("Listening on") {
                    if let Some(addr) = line
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix("address="))
                        .and_then(|a| a.parse::<SocketAddr>().ok())
                    {
                        if let Some(tx) = tx.take() {
                            let _ = tx.send(addr);
                        }
                    }
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("exporter did not start; log:\n{}", logs.lock().unwrap());
            }
        };
        Exporter {
            child,
            addr,
            logs,
            config: path,
            dir,
        }
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// Whether the log comes to contain `needle` within a few seconds (the log is read from a
    /// pipe by another thread, so a line may arrive just after the response that caused it).
    pub fn log_shows(&self, needle: &str) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if self.logs().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// GET `path` with optional scrape-timeout header; returns status and body.
    pub async fn get(&self, path: &str, timeout_header: Option<&str>) -> (u16, String) {
        http(self.addr, "GET", path, timeout_header).await
    }

    /// Scrapes `/metrics` and parses it.
    pub async fn scrape(&self) -> Metrics {
        let (status, body) = self.get("/metrics", None).await;
        assert_eq!(status, 200, "{body}");
        Metrics(body)
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw HTTP/1.1 request with `Connection: close`.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    timeout_header: Option<&str>,
) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to exporter");
    let extra = timeout_header
        .map(|t| format!("X-Prometheus-Scrape-Timeout-Seconds: {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: text/plain\r\n{extra}Content-Length: 0\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.expect("write request");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read response");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A scraped page in the text format.
#[derive(Debug, Clone)]
pub struct Metrics(pub String);

impl Metrics {
    /// The value of the first sample of `name` whose labels include all of `labels`.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        for line in self.0.lines() {
            if line.starts_with('#') {
                continue;
            }
            let (series, value) = match line.rsplit_once(' ') {
                Some(x) => x,
                None => continue,
            };
            let (n, rest) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if n != name {
                continue;
            }
            if labels.iter().all(|(k, v)| {
                rest.split("\",")
                    .any(|p| p.trim_end_matches('"') == format!("{k}=\"{v}"))
            }) {
                return value.parse().ok();
            }
        }
        None
    }

    pub fn must(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("no sample {name}{labels:?} in:\n{}", self.0))
    }
}

/// Polls `f` until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if start.elapsed() > timeout {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Opens a tokio-postgres session to the test PostgreSQL (trust auth), database `db`.
pub async fn pg_client(s: &Service, db: &str) -> tokio_postgres::Client {
    let mut c = tokio_postgres::Config::new();
    c.host(&s.host).port(s.port).user(&s.user).dbname(db);
    if !s.password.is_empty() {
        c.password(&s.password);
    }
    let (client, conn) = c
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// A PostgreSQL server of our own, in its own data dir, on a free port, with password auth.
pub struct ThrowawayPg {
    pub dir: tempfile::TempDir,
    pub port: u16,
    bin: PathBuf,
    as_postgres: bool,
    extra: String,
}

pub fn pg_bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

impl ThrowawayPg {
    /// A streaming replica of `primary` (pg_basebackup -R), started on its own free port.
    pub fn replica_of(primary: &ThrowawayPg, password: &str) -> ThrowawayPg {
        let dir = tempfile::tempdir().expect("tempdir");
        if primary.as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let st = Self::cmd(primary.as_postgres, &primary.bin.join("pg_basebackup"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &primary.port.to_string(),
                "-U",
                "postgres",
                "-R",
                "-X",
                "stream",
                "-D",
            ])
            .arg(dir.path().join("data"))
            .env("PGPASSWORD", password)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("pg_basebackup");
        assert!(st.success(), "pg_basebackup failed");
        let pg = ThrowawayPg {
            port: free_port(),
            dir,
            bin: primary.bin.clone(),
            as_postgres: primary.as_postgres,
            extra: String::new(),
        };
        pg.up();
        pg
    }

    /// initdb with scram auth and superuser `postgres` / `password`, then start.
    pub fn start(password: &str) -> ThrowawayPg {
        Self::start_tls(password, None)
    }

    /// Like [`start`] with server settings (`-c name=value ...`, as passed to `postgres`).
    pub fn start_with_settings(password: &str, settings: &str) -> ThrowawayPg {
        Self::start_full(password, None, settings)
    }

    /// Like [`start`]; with `tls = Some((cert_pem, key_pem))` the server also accepts TLS.
    pub fn start_tls(password: &str, tls: Option<(&str, &str)>) -> ThrowawayPg {
        Self::start_full(password, tls, "")
    }

    fn start_full(password: &str, tls: Option<(&str, &str)>, settings: &str) -> ThrowawayPg {
        let bin = pg_bin_dir().expect("PostgreSQL binaries");
        let dir = tempfile::tempdir().expect("tempdir");
        let as_postgres = rustix::process::geteuid().is_root();
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, password).unwrap();
        let mut extra = String::new();
        if let Some((cert, key)) = tls {
            use std::os::unix::fs::PermissionsExt;
            let (c, k) = (dir.path().join("server.crt"), dir.path().join("server.key"));
            std::fs::write(&c, cert).unwrap();
            std::fs::write(&k, key).unwrap();
            std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o600)).unwrap();
            extra = format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                c.display(),
                k.display()
            );
        }
        if !settings.is_empty() {
            extra.push(' ');
            extra.push_str(settings);
        }
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let data = dir.path().join("data");
        let st = Self::cmd(as_postgres, &bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                "--no-sync",
                "--pwfile",
            ])
            .arg(&pwfile)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("initdb");
        assert!(st.success(), "initdb failed");
        let pg = ThrowawayPg {
            port: free_port(),
            dir,
            bin,
            as_postgres,
            extra,
        };
        pg.up();
        pg
    }

    fn cmd(as_postgres: bool, program: &Path) -> Command {
        if as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    pub fn up(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off{}",
            self.port,
            self.dir.path().display(),
            self.extra
        );
        let st = Self::cmd(self.as_postgres, &self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-w", "-t", "30", "-o", &opts, "-l"])
            .arg(self.dir.path().join("log"))
            .arg("start")
            .stdout(Stdio::null())
            .status()
            .expect("pg_ctl start");
        assert!(st.success(), "pg_ctl start failed");
    }

    pub fn down(&self) {
        let _ = Self::cmd(self.as_postgres, &self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .status();
    }
}

impl Drop for ThrowawayPg {
    fn drop(&mut self) {
        self.down();
    }
}

/// A redis-server of our own on a free port (no persistence).
pub struct ThrowawayRedis {
    child: Option<Child>,
    pub port: u16,
    password: Option<String>,
    dir: tempfile::TempDir,
    extra: Vec<String>,
}

pub const REDIS_SERVER: &str = "/usr/bin/redis-server";

impl ThrowawayRedis {
    pub fn start(password: Option<&str>) -> ThrowawayRedis {
        Self::start_with(password, &[])
    }

    /// Like [`start`] with extra `redis-server` arguments (`--replicaof`, ...).
    pub fn start_with(password: Option<&str>, extra: &[&str]) -> ThrowawayRedis {
        let mut r = ThrowawayRedis {
            child: None,
            port: free_port(),
            password: password.map(str::to_string),
            dir: tempfile::tempdir().expect("tempdir"),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        r.up();
        r
    }

    pub fn up(&mut self) {
        let mut c = Command::new(REDIS_SERVER);
        c.args([
            "--port",
            &self.port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(self.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        if let Some(p) = &self.password {
            c.args(["--requirepass", p]);
        }
        c.args(&self.extra);
        self.child = Some(c.spawn().expect("spawn redis-server"));
        let addr: SocketAddr = format!("127.0.0.1:{}", self.port).parse().unwrap();
        let start = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for ThrowawayRedis {
    fn drop(&mut self) {
        self.down();
    }
}

/// A TCP server that accepts connections and never answers.
pub fn blackhole() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    port
}

/// A MariaDB server of our own (mariadb-install-db + mariadbd) on a free port, root without
/// password on 127.0.0.1.
pub struct ThrowawayMaria {
    pub dir: tempfile::TempDir,
    pub port: u16,
    as_mysql: bool,
    extra: Vec<String>,
    child: Option<Child>,
}

pub const MARIADB_INSTALL_DB: &str = "/usr/bin/mariadb-install-db";
pub const MARIADBD: &str = "/usr/sbin/mariadbd";

impl ThrowawayMaria {
    /// Initializes and starts; with `tls = Some((cert, key, ca))` the server also accepts TLS.
    pub fn start(tls: Option<(&str, &str, &str)>) -> ThrowawayMaria {
        Self::start_with(tls, &["--skip-log-bin"])
    }

    /// Like [`start`] with extra `mariadbd` arguments (`--log-bin`, `--server-id=2`, ...).
    pub fn start_with(tls: Option<(&str, &str, &str)>, args: &[&str]) -> ThrowawayMaria {
        let dir = tempfile::tempdir().expect("tempdir");
        let as_mysql = rustix::process::geteuid().is_root();
        let mut extra: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        if let Some((cert, key, ca)) = tls {
            for (name, pem, flag) in [
                ("server.crt", cert, "--ssl-cert"),
                ("server.key", key, "--ssl-key"),
                ("ca.pem", ca, "--ssl-ca"),
            ] {
                let path = dir.path().join(name);
                std::fs::write(&path, pem).unwrap();
                extra.push(format!("{flag}={}", path.display()));
            }
        }
        if as_mysql {
            let ok = Command::new("chown")
                .args(["-R", "mysql:mysql"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let mut install = Command::new(MARIADB_INSTALL_DB);
        install
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if as_mysql {
            install.arg("--user=mysql");
        }
        assert!(
            install.status().expect("mariadb-install-db").success(),
            "mariadb-install-db failed"
        );
        let mut m = ThrowawayMaria {
            dir,
            port: free_port(),
            as_mysql,
            extra,
            child: None,
        };
        m.up();
        m
    }

    pub fn up(&mut self) {
        let d = self.dir.path();
        let mut c = Command::new(MARIADBD);
        c.arg("--no-defaults")
            .arg(format!("--datadir={}", d.join("data").display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", d.join("sock").display()))
            .arg(format!("--log-error={}", d.join("err.log").display()))
            .arg("--innodb-buffer-pool-size=16M")
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.as_mysql {
            c.arg("--user=mysql");
        }
        self.child = Some(c.spawn().expect("spawn mariadbd"));
        let addr: SocketAddr = format!("127.0.0.1:{}", self.port).parse().unwrap();
        let start = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "mariadbd did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server at once (SIGKILL: the fault being simulated is a crash).
    pub fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for ThrowawayMaria {
    fn drop(&mut self) {
        self.down();
    }
}
