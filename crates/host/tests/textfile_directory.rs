//! Starts `watchkeeper-host` with a textfile directory holding good and bad `*.prom` files,
//! scrapes it over HTTP and checks what a user sees: the good files' metrics, the error gauge,
//! and one log line per bad file naming the file and the reason.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn scrape(port: u16) -> String {
    let started = Instant::now();
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
                .unwrap();
            let mut response = String::new();
            s.read_to_string(&mut response).unwrap();
            let (head, body) = response.split_once("\r\n\r\n").unwrap();
            assert!(head.contains(" 200 "), "{head}");
            return body.to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "exporter never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn bad_files_are_logged_and_counted_while_good_files_are_served() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/textfile/mixed");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_watchkeeper-host"))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--collector.disable-defaults")
        .arg("--collector.textfile")
        .arg(format!("--collector.textfile.directory={}", dir.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let body = scrape(port);
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    assert!(body.contains("\nnode_textfile_scrape_error 1\n"), "{body}");
    assert!(
        body.contains("backup_last_success_timestamp_seconds{job=\"files\"} 1700000500\n"),
        "{body}"
    );
    assert!(
        body.contains("rpc_latency_seconds_count{method=\"get\"} 6\n"),
        "{body}"
    );
    assert!(
        body.contains("node_scrape_collector_success{collector=\"textfile\"} 1\n"),
        "{body}"
    );
    assert!(!body.contains("broken_first_line_ok"), "{body}");

    let line_for = |file: &str| {
        log.lines()
            .find(|l| l.contains(&dir.join(file).display().to_string()))
            .unwrap_or_else(|| panic!("no log line names {file}:\n{log}"))
            .to_string()
    };
    assert!(
        line_for("broken.prom").contains("line 2: invalid label name for metric"),
        "{log}"
    );
    assert!(line_for("timestamps.prom").contains("timestamps"), "{log}");
    assert!(
        line_for("type-conflict.prom").contains("is counter here but gauge"),
        "{log}"
    );
    let bad_lines = log
        .lines()
        .filter(|l| l.contains("failed to collect textfile data"));
    assert_eq!(bad_lines.count(), 3, "{log}");
}
