//! Test harness: the real `watchkeeper-backup` binary, the real backup tools, and a minimal
//! HTTP client. A missing tool skips the test with a notice, except with `CI=true`, where it
//! fails.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_watchkeeper-backup");

/// Whether `tool` is on PATH; in CI its absence fails the test.
pub fn have_tool(tool: &str) -> bool {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "{tool} is required in CI but missing (scripts/install-test-deps.sh installs it)"
            );
        }
        eprintln!("NOTICE: {tool} missing; test not run");
    }
    ok
}

/// Runs a command, panicking with its output when it fails.
pub fn sh(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The exporter binary running with a config file, its log captured.
pub struct Exporter {
    child: Child,
    pub addr: SocketAddr,
    pub logs: Arc<Mutex<String>>,
    pub config: PathBuf,
}

impl Exporter {
    /// Writes `config` to `dir/backup.yml` and starts the exporter on it.
    pub fn start(dir: &Path, config: &str) -> Exporter {
        let path = dir.join("backup.yml");
        std::fs::write(&path, config).expect("write config");
        let mut child = Command::new(BIN)
            .arg("--config.file")
            .arg(&path)
            .args([
                "--web.listen-address",
                "127.0.0.1:0",
                "--log.level",
                "debug",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn watchkeeper-backup");
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
        }
    }

    /// Sends SIGHUP (reload the configuration file).
    pub fn hup(&self) {
        let ok = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// Whether the log comes to contain all of `needles` on one line within a few seconds.
    pub fn log_line(&self, needles: &[&str]) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if self
                .logs()
                .lines()
                .any(|l| needles.iter().all(|n| l.contains(n)))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Scrapes `/metrics`.
    pub fn scrape(&self) -> Metrics {
        let (status, body) = http_get(self.addr, "/metrics");
        assert_eq!(status, 200, "{body}");
        Metrics(body)
    }

    /// Scrapes until `f` finds what it wants (or panics after `secs`).
    pub fn until<T>(&self, secs: u64, mut f: impl FnMut(&Metrics) -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            let m = self.scrape();
            if let Some(v) = f(&m) {
                return v;
            }
            if start.elapsed() > Duration::from_secs(secs) {
                panic!(
                    "condition not met within {secs}s; last page:\n{}\nlog:\n{}",
                    m.0,
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking HTTP/1.1 GET with `Connection: close`.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: text/plain\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
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
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
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

    /// `name{job="<job>"}`.
    pub fn job(&self, name: &str, job: &str) -> Option<f64> {
        self.get(name, &[("job", job)])
    }
}

/// Unix seconds now.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}
