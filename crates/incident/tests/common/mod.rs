//! Test harness: the real `watchkeeper-incident` binary, the real Alertmanager from Debian's
//! `prometheus-alertmanager` (and its `amtool`), and a minimal blocking HTTP client.
//! Without Alertmanager a test prints a notice and passes, unless `CI=true`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";
pub const AMTOOL: &str = "/usr/bin/amtool";

/// Whether the Alertmanager binaries are installed; in CI their absence fails the test.
pub fn have_alertmanager() -> bool {
    let ok = Path::new(ALERTMANAGER).exists() && Path::new(AMTOOL).exists();
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{ALERTMANAGER} and {AMTOOL} are required in CI (apt-get install prometheus-alertmanager)");
        }
        eprintln!("NOTICE: prometheus-alertmanager not installed; test not run");
    }
    ok
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// One HTTP/1.1 request (Connection: close); returns status and body.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    // A server may answer (413) before reading a large body: ignore a broken pipe.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if headers
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
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

pub fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    http(addr, "GET", path, "text/plain", b"")
}

/// Seconds since the epoch, now.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// RFC 3339 for `secs` since the epoch (UTC).
pub fn rfc3339(secs: f64) -> String {
    let s = secs.floor() as i64;
    let ms = ((secs - secs.floor()) * 1000.0) as i64;
    let days = s.div_euclid(86400);
    let tod = s.rem_euclid(86400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        tod / 3600,
        tod / 60 % 60,
        tod % 60
    )
}

/// A real Alertmanager on 127.0.0.1.
pub struct Alertmanager {
    child: Child,
    pub port: u16,
    pub cluster_port: Option<u16>,
    pub dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Starts one without clustering.
    pub fn start() -> Alertmanager {
        Self::start_with(None, &[])
    }

    /// Starts one; with `cluster_port` it gossips on it with `peers` (an HA pair).
    pub fn start_with(cluster_port: Option<u16>, peers: &[u16]) -> Alertmanager {
        Self::start_full(
            cluster_port,
            peers,
            "route:\n  receiver: blackhole\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n",
        )
    }

    /// Starts one with the configuration `config` (YAML).
    pub fn start_full(cluster_port: Option<u16>, peers: &[u16], config_text: &str) -> Alertmanager {
        Self::start_inner(cluster_port, peers, config_text, None)
    }

    /// Starts one whose API requires what `web_config` (a web config file) says.
    pub fn start_secured(web_config: &str) -> Alertmanager {
        Self::start_inner(
            None,
            &[],
            "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
            Some(web_config),
        )
    }

    fn start_inner(
        cluster_port: Option<u16>,
        peers: &[u16],
        config_text: &str,
        web_config: Option<&str>,
    ) -> Alertmanager {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(&config, config_text).unwrap();
        let port = free_port();
        let mut cmd = Command::new(ALERTMANAGER);
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        if let Some(web) = web_config {
            let path = dir.path().join("web.yml");
            std::fs::write(&path, web).unwrap();
            cmd.arg(format!("--web.config.file={}", path.display()));
        }
        match cluster_port {
            None => {
                cmd.arg("--cluster.listen-address=");
            }
            Some(c) => {
                cmd.arg(format!("--cluster.listen-address=127.0.0.1:{c}"))
                    .arg(format!("--cluster.advertise-address=127.0.0.1:{c}"))
                    .arg("--cluster.gossip-interval=50ms")
                    .arg("--cluster.pushpull-interval=1s");
                for p in peers {
                    cmd.arg(format!("--cluster.peer=127.0.0.1:{p}"));
                }
            }
        }
        let log = std::fs::File::create(dir.path().join("am.log")).unwrap();
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn alertmanager");
        let am = Alertmanager {
            child,
            port,
            cluster_port,
            dir,
        };
        let start = Instant::now();
        loop {
            if let Ok(s) = TcpStream::connect(am.addr()) {
                drop(s);
                if matches!(get(am.addr(), "/-/ready").0, 200 | 400 | 401) {
                    break;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "alertmanager did not start: {}",
                am.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        am
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("am.log")).unwrap_or_default()
    }

    /// Posts one alert through `/api/v2/alerts`.
    pub fn post_alert(&self, labels: &[(&str, &str)], starts_at: f64, ends_at: f64) {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{}:{}", json(k), json(v)))
            .collect();
        let body = format!(
            "[{{\"labels\":{{{}}},\"startsAt\":\"{}\",\"endsAt\":\"{}\"}}]",
            labels.join(","),
            rfc3339(starts_at),
            rfc3339(ends_at)
        );
        let (status, answer) = http(
            self.addr(),
            "POST",
            "/api/v2/alerts",
            "application/json",
            body.as_bytes(),
        );
        assert_eq!(status, 200, "{answer}");
    }

    /// Creates a silence with `amtool`; returns its id.
    pub fn silence(&self, matcher: &str, author: &str, comment: &str) -> String {
        let out = Command::new(AMTOOL)
            .arg(format!("--alertmanager.url={}", self.url()))
            .args(["silence", "add", matcher, "--duration=2h"])
            .arg(format!("--author={author}"))
            .arg(format!("--comment={comment}"))
            .output()
            .expect("run amtool");
        assert!(
            out.status.success(),
            "amtool: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A JSON string literal.
pub fn json(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The exporter binary with a config file and a database in `dir`.
pub struct Exporter {
    child: Child,
    pub addr: SocketAddr,
    pub logs: Arc<Mutex<String>>,
}

/// Writes `watchkeeper-incident.yml` in `dir` following `ams` every 200 ms.
pub fn write_config(dir: &Path, ams: &[String], extra: &str) -> PathBuf {
    let list: Vec<String> = ams.iter().map(|a| json(a)).collect();
    let path = dir.join("incident.yml");
    std::fs::write(
        &path,
        format!(
            "alertmanagers: [{}]\npoll_interval: 1s\ntimeout: 1s\ntargets: {{acknowledge: 15m, resolve: 2h}}\nstorage: {}\n{extra}",
            list.join(", "),
            json(&dir.join("incidents.db").display().to_string())
        ),
    )
    .unwrap();
    path
}

impl Exporter {
    /// Starts the exporter with the config file `config`; waits until it listens.
    pub fn start(config: &Path) -> Exporter {
        Self::start_on(config, "127.0.0.1:0")
    }

    /// Starts the exporter listening on `listen`.
    pub fn start_on(config: &Path, listen: &str) -> Exporter {
        let mut child = Command::new(env!("CARGO_BIN_EXE_watchkeeper-incident"))
            .arg("--config.file")
            .arg(config)
            .args(["--web.listen-address", listen, "--log.level", "debug"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn watchkeeper-incident");
        let stderr = child.stderr.take().unwrap();
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
                std::thread::sleep(Duration::from_millis(200));
                panic!("exporter did not start; log:\n{}", logs.lock().unwrap());
            }
        };
        Exporter { child, addr, logs }
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// Whether the log comes to contain `needle` within a few seconds (it is read from a pipe
    /// by another thread, so a line may arrive just after what caused it is visible).
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

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn metrics(&self) -> String {
        let (status, body) = get(self.addr, "/metrics");
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The value of the sample written exactly `series` (`name{a="b"}`), if present.
    pub fn value(&self, series: &str) -> Option<f64> {
        sample(&self.metrics(), series)
    }

    /// Waits until `series` has the value `want` (polls are asynchronous).
    pub fn wait_for(&self, series: &str, want: f64) {
        let start = Instant::now();
        loop {
            let text = self.metrics();
            if sample(&text, series) == Some(want) {
                return;
            }
            if start.elapsed() > Duration::from_secs(20) {
                panic!(
                    "{series} never became {want}; metrics:\n{}\nlog:\n{}",
                    text.lines()
                        .filter(|l| l.starts_with("incident"))
                        .collect::<Vec<_>>()
                        .join("\n"),
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> (u16, String) {
        http(self.addr, "POST", path, content_type, body)
    }

    /// Stops it at once (SIGKILL: nothing is flushed on the way out).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The value of the line `series value` in exposition text.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?;
        let v = rest.strip_prefix(' ')?;
        v.split_whitespace().next()?.parse().ok()
    })
}

/// The fingerprint Alertmanager gave the alert named `alertname`.
pub fn fingerprint(am: &Alertmanager, alertname: &str) -> String {
    let (_, body) = get(
        am.addr(),
        &format!("/api/v2/alerts?filter=alertname%3D%22{alertname}%22"),
    );
    let key = "\"fingerprint\":\"";
    let at = body
        .find(key)
        .unwrap_or_else(|| panic!("no alert {alertname}: {body}"))
        + key.len();
    body[at..].split('"').next().unwrap().to_string()
}
