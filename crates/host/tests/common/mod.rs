//! Helpers shared by the host integration tests: start a real exporter process, fetch over
//! plain HTTP, and parse the Prometheus text format (0.0.4) it answers with.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Path of our binary, built by cargo for the integration tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_watchkeeper-host");

/// node_exporter from Debian's prometheus-node-exporter package.
pub const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

/// Whether a missing reference binary must fail the test (CI) rather than skip it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A child process killed when dropped.
pub struct Running {
    pub child: Child,
    pub addr: SocketAddr,
    pub stderr_lines: mpsc::Receiver<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `watchkeeper-host` on 127.0.0.1 port 0 and learns the bound port from its
/// "Listening on" log line.
pub fn start_ours(args: &[&str]) -> Running {
    let mut cmd = Command::new(BIN);
    cmd.arg("--web.listen-address=127.0.0.1:0").args(args);
    start_logging_command(cmd)
}

/// Starts `cmd`, which must end up running `watchkeeper-host` with a port-0 listen address
/// (possibly through a wrapper that `exec`s it), and waits for its "Listening on" line.
pub fn start_logging_command(mut cmd: Command) -> Running {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start watchkeeper-host");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Owned by the guard from here on, so every panic below still kills and reaps it.
    let mut running = Running {
        child,
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        stderr_lines: rx,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match running
            .stderr_lines
            .recv_timeout(Duration::from_millis(200))
        {
            Ok(line) => {
                if line.contains("Listening on") {
                    if let Some(addr) = line
                        .split_whitespace()
                        .find_map(|kv| kv.strip_prefix("address="))
                        .and_then(|a| a.trim_matches('"').parse().ok())
                    {
                        running.addr = addr;
                        return running;
                    }
                }
                seen.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Ok(Some(status)) = running.child.try_wait() {
                    panic!("watchkeeper-host exited with {status}: {seen:?}");
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!("watchkeeper-host closed stderr before listening: {seen:?}");
            }
        }
    }
    panic!("watchkeeper-host did not log its listen address: {seen:?}");
}

/// A port that was free a moment ago (for binaries that cannot report a port-0 bind).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind :0");
    l.local_addr().expect("local addr").port()
}

/// Starts node_exporter on a free loopback port and waits until it answers.
pub fn start_node_exporter(args: &[&str]) -> Running {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = Command::new(NODE_EXPORTER)
        .arg(format!("--web.listen-address={addr}"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start node_exporter");
    let (_tx, rx) = mpsc::channel();
    let running = Running {
        child,
        addr,
        stderr_lines: rx,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            return running;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("node_exporter did not start listening on {addr}");
}

/// A plain HTTP/1.1 GET; returns (status, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .expect("HTTP header/body separator");
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
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

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// Scrapes `/metrics` and parses it, asserting a 200.
pub fn scrape(addr: SocketAddr) -> Exposition {
    let (status, body) = http_get(addr, "/metrics");
    assert_eq!(status, 200, "scrape of {addr} failed: {body}");
    Exposition::parse(&body).unwrap_or_else(|e| panic!("unparsable exposition from {addr}: {e}"))
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed text-format exposition: declared types and every sample.
#[derive(Debug, Default)]
pub struct Exposition {
    pub types: BTreeMap<String, String>,
    pub samples: Vec<Sample>,
}

impl Exposition {
    /// Parses Prometheus text format 0.0.4, strictly enough to catch malformed lines.
    pub fn parse(text: &str) -> Result<Exposition, String> {
        let mut out = Exposition::default();
        for (n, line) in text.lines().enumerate() {
            let where_ = || format!("line {}: {line:?}", n + 1);
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').ok_or_else(where_)?;
                out.types.insert(name.to_string(), kind.to_string());
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let (name, rest) = match line.find(['{', ' ']) {
                Some(i) => (&line[..i], &line[i..]),
                None => return Err(where_()),
            };
            let mut labels = BTreeMap::new();
            let rest = if let Some(inner) = rest.strip_prefix('{') {
                let mut chars = inner.char_indices().peekable();
                let mut end = None;
                loop {
                    // label name
                    let start = match chars.peek() {
                        Some((_, '}')) => {
                            end = chars.next().map(|(i, _)| i);
                            break;
                        }
                        Some((i, _)) => *i,
                        None => break,
                    };
                    let mut eq = None;
                    for (i, c) in chars.by_ref() {
                        if c == '=' {
                            eq = Some(i);
                            break;
                        }
                    }
                    let eq = eq.ok_or_else(where_)?;
                    let lname = inner[start..eq].trim_start_matches(',').to_string();
                    if chars.next().map(|(_, c)| c) != Some('"') {
                        return Err(where_());
                    }
                    let mut value = String::new();
                    let mut closed = false;
                    while let Some((_, c)) = chars.next() {
                        match c {
                            '\\' => match chars.next().map(|(_, c)| c) {
                                Some('n') => value.push('\n'),
                                Some('\\') => value.push('\\'),
                                Some('"') => value.push('"'),
                                _ => return Err(where_()),
                            },
                            '"' => {
                                closed = true;
                                break;
                            }
                            c => value.push(c),
                        }
                    }
                    if !closed {
                        return Err(where_());
                    }
                    labels.insert(lname, value);
                    if let Some((_, ',')) = chars.peek() {
                        chars.next();
                    }
                }
                let end = end.ok_or_else(where_)?;
                &inner[end + 1..]
            } else {
                rest
            };
            let value_text = rest.split_whitespace().next().ok_or_else(where_)?;
            let value = match value_text {
                "NaN" => f64::NAN,
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse::<f64>().map_err(|_| where_())?,
            };
            out.samples.push(Sample {
                name: name.to_string(),
                labels,
                value,
            });
        }
        Ok(out)
    }

    /// Values of `name` whose labels include every pair given.
    pub fn values(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .collect()
    }

    /// The single value of `name` with the given labels; panics when absent or ambiguous.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let v = self.values(name, labels);
        assert_eq!(
            v.len(),
            1,
            "expected exactly one {name}{labels:?}, found {v:?}"
        );
        v[0]
    }

    /// Sample names (with suffixes) starting with `prefix`.
    pub fn names_with_prefix(&self, prefix: &str) -> BTreeSet<String> {
        self.samples
            .iter()
            .filter(|s| s.name.starts_with(prefix))
            .map(|s| s.name.clone())
            .collect()
    }

    /// Label names used by samples of `name`.
    pub fn label_names(&self, name: &str) -> BTreeSet<String> {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .flat_map(|s| s.labels.keys().cloned())
            .collect()
    }
}

/// Reads a `/proc` file of the machine running the tests.
pub fn proc_file(rel: &str) -> String {
    std::fs::read_to_string(Path::new("/proc").join(rel))
        .unwrap_or_else(|e| panic!("/proc/{rel}: {e}"))
}

#[test]
fn parser_handles_escapes_and_special_values() {
    let e = Exposition::parse(
        "# HELP a x\n# TYPE a gauge\na{x=\"q\\\"uo\\\\te\\n\",y=\"\"} 1.5e3\nb NaN\nc{} +Inf\n",
    )
    .unwrap();
    assert_eq!(e.value("a", &[("x", "q\"uo\\te\n"), ("y", "")]), 1500.0);
    assert!(e.value("b", &[]).is_nan());
    assert_eq!(e.value("c", &[]), f64::INFINITY);
    assert_eq!(e.types["a"], "gauge");
    assert!(Exposition::parse("a{x=\"unterminated} 1\n").is_err());
    assert!(Exposition::parse("a notanumber\n").is_err());
}
