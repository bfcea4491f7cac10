//! Support for the suite-wide end-to-end tests: finding the built exporter binaries, starting
//! them and the Debian Prometheus tools on free loopback ports, and querying Prometheus.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when dropped, so a failing test never leaks servers.
pub struct Process {
    child: Child,
    /// What the process is, for messages.
    pub name: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The directory holding the workspace's built binaries (`target/debug`).
pub fn bin_dir() -> PathBuf {
    // Test executables live in target/<profile>/deps.
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("target directory")
}

/// The path of a workspace binary; panics with the command that builds it when missing.
pub fn workspace_binary(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} is not built; run `cargo build --workspace --bins` first (scripts/test.sh does)",
        p.display()
    );
    p
}

/// Finds a Debian-packaged tool. Under `CI=true` a missing tool fails the test; locally the
/// test is told to return early (with a notice), because the test script installs it.
pub fn system_tool(name: &str) -> Option<PathBuf> {
    let p = Path::new("/usr/bin").join(name);
    if p.exists() {
        return Some(p);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{name} is required in CI; scripts/install-test-deps.sh installs it");
    }
    eprintln!("notice: {name} not installed; run scripts/install-test-deps.sh. Skipping locally.");
    None
}

/// A free TCP port on 127.0.0.1 (bound and released; fine for tests on one machine).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Starts a Watchkeeper exporter on 127.0.0.1:0 and returns it with the address it bound,
/// read from its "Listening on" log line.
pub fn start_exporter(binary: &str, args: &[&str]) -> (Process, String) {
    let mut child = Command::new(workspace_binary(binary))
        .arg("--web.listen-address=127.0.0.1:0")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
    let stderr = child.stderr.take().expect("piped stderr");
    let tag = binary.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent {
                if let Some(addr) = line
                    .contains("Listening on")
                    .then(|| {
                        line.split_whitespace()
                            .find_map(|f| f.strip_prefix("address="))
                    })
                    .flatten()
                {
                    let _ = tx.send(addr.to_string());
                    sent = true;
                }
            }
            eprintln!("[{tag}] {line}");
        }
    });
    let proc = Process {
        child,
        name: binary.to_string(),
    };
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{binary} did not report its listen address"));
    (proc, addr)
}

/// Starts a Debian-packaged server with the given arguments.
pub fn start_tool(path: &Path, args: &[String]) -> Process {
    let child = Command::new(path)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
    Process {
        child,
        name: path.display().to_string(),
    }
}

/// Queries Prometheus' HTTP API until `check` accepts the JSON answer or `timeout` passes.
pub async fn poll_query(
    prometheus: &str,
    path_and_query: &str,
    timeout: Duration,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let started = Instant::now();
    let client = reqwest::Client::new();
    let mut last = serde_json::Value::Null;
    while started.elapsed() < timeout {
        if let Ok(resp) = client
            .get(format!("http://{prometheus}{path_and_query}"))
            .send()
            .await
        {
            if let Ok(v) = resp
                .bytes()
                .await
                .map_err(|_| ())
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).map_err(|_| ()))
            {
                if check(&v) {
                    return v;
                }
                last = v;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("Prometheus never answered {path_and_query} as expected; last answer: {last}");
}

/// The values of an instant-vector query result, keyed by the given label.
pub fn vector_by(v: &serde_json::Value, label: &str) -> Vec<(String, f64)> {
    v["data"]["result"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter_map(|r| {
                    let key = r["metric"][label].as_str()?.to_string();
                    let val = r["value"][1].as_str()?.parse().ok()?;
                    Some((key, val))
                })
                .collect()
        })
        .unwrap_or_default()
}
