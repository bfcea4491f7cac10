//! The kit's example exporter (`examples/minimal_exporter.rs`), run as a real process: config
//! check, serving, reload, and a bad reload that keeps the old config.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The example binary, built by cargo into `target/<profile>/examples/` beside this test (a
/// test run that selects only this test target does not build examples by itself).
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let mut build = Command::new(env!("CARGO"));
    build.args([
        "build",
        "-q",
        "-p",
        "watchkeeper-core",
        "--example",
        "minimal_exporter",
    ]);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "building the example failed");
    profile_dir.join("examples").join("minimal_exporter")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(url: &str) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sf", "--max-time", "5", url])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn post(url: &str) -> u16 {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            url,
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

fn sample(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[test]
fn the_example_exporter_checks_serves_and_reloads() {
    let bin = example_binary();
    assert!(
        bin.exists(),
        "{} not built (cargo test builds examples)",
        bin.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("answer.yml");
    std::fs::write(&conf, "answer: 42\n").unwrap();
    let conf_flag = format!("--config.file={}", conf.display());

    let check = Command::new(&bin)
        .args([&conf_flag, "--config.check"])
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert_eq!(stdout.trim(), format!("{}: OK (answer 42)", conf.display()));

    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "answer: 42\nanswr: 1\n").unwrap();
    let check = Command::new(&bin)
        .args([
            format!("--config.file={}", bad.display()),
            "--config.check".into(),
        ])
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(
        stderr.contains(&format!("{}:2:", bad.display())),
        "{stderr}"
    );
    assert!(stderr.contains("answr"), "{stderr}");

    let port = free_port();
    let child = Command::new(&bin)
        .args([
            conf_flag.as_str(),
            &format!("--web.listen-address=127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _running = Running(child);
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let page = loop {
        if let Some(p) = get(&format!("{base}/metrics")) {
            break p;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "exporter did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(sample(&page, "example_answer"), Some(42.0));
    assert_eq!(
        sample(
            &page,
            "watchkeeper_example_scrape_collector_success{collector=\"answer\"}"
        ),
        Some(1.0)
    );

    std::fs::write(&conf, "answer: 43\n").unwrap();
    assert_eq!(post(&format!("{base}/-/reload")), 200);
    let page = get(&format!("{base}/metrics")).unwrap();
    assert_eq!(sample(&page, "example_answer"), Some(43.0));
    assert_eq!(
        sample(&page, "watchkeeper_example_config_last_reload_successful"),
        Some(1.0)
    );

    std::fs::write(&conf, "answer: [\n").unwrap();
    assert_eq!(post(&format!("{base}/-/reload")), 500);
    let page = get(&format!("{base}/metrics")).unwrap();
    assert_eq!(
        sample(&page, "example_answer"),
        Some(43.0),
        "old config kept"
    );
    assert_eq!(
        sample(&page, "watchkeeper_example_config_last_reload_successful"),
        Some(0.0)
    );
}
