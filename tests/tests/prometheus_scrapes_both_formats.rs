//! A real Prometheus scrapes watchkeeper-host in OpenMetrics and in the classic text format, and
//! promtool finds no format error in the classic output.

use std::time::Duration;
use watchkeeper_e2e::{free_port, poll_query, start_exporter, start_tool, system_tool, vector_by};

fn mem_total_bytes() -> f64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024.0
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_ingests_both_exposition_formats() {
    let Some(prometheus) = system_tool("prometheus") else {
        return;
    };
    let (_om, om_addr) = start_exporter("watchkeeper-host", &[]);
    let (_text, text_addr) = start_exporter("watchkeeper-host", &["--web.disable-openmetrics"]);

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
             - job_name: om\n  static_configs:\n  - targets: ['{om_addr}']\n\
             - job_name: text\n  static_configs:\n  - targets: ['{text_addr}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let prom_addr = format!("127.0.0.1:{port}");
    let _prom = start_tool(
        &prometheus,
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--web.listen-address={prom_addr}"),
        ],
    );

    let up = poll_query(
        &prom_addr,
        "/api/v1/query?query=up",
        Duration::from_secs(60),
        |v| {
            let ups = vector_by(v, "job");
            ups.len() == 2 && ups.iter().all(|(_, val)| *val == 1.0)
        },
    )
    .await;
    assert_eq!(vector_by(&up, "job").len(), 2);

    // Samples arrive with the right values through both parsers.
    let mem = poll_query(
        &prom_addr,
        "/api/v1/query?query=node_memory_MemTotal_bytes",
        Duration::from_secs(30),
        |v| vector_by(v, "job").len() == 2,
    )
    .await;
    for (job, value) in vector_by(&mem, "job") {
        assert_eq!(value, mem_total_bytes(), "MemTotal via {job}");
    }
    let cpus = poll_query(
        &prom_addr,
        "/api/v1/query?query=count%20by%20(job)%20(node_cpu_seconds_total%7Bmode%3D%22idle%22%7D)",
        Duration::from_secs(30),
        |v| vector_by(v, "job").len() == 2,
    )
    .await;
    let n = std::thread::available_parallelism()
        .map(|n| n.get() as f64)
        .unwrap_or(1.0);
    for (job, count) in vector_by(&cpus, "job") {
        assert!(
            count >= n,
            "{job}: {count} idle CPU series, host has at least {n}"
        );
    }

    // Types as declared: a counter stays a counter, a gauge a gauge, through both formats.
    // OpenMetrics names a counter family without `_total`, and Prometheus keys metadata by family.
    let cases = [
        ("node_cpu_seconds_total", "text", "counter"),
        ("node_cpu_seconds", "om", "counter"),
        ("node_load1", "text", "gauge"),
        ("node_load1", "om", "gauge"),
    ];
    for (metric, job, want) in cases {
        let md = poll_query(
            &prom_addr,
            &format!(
                "/api/v1/targets/metadata?metric={metric}&match_target=%7Bjob%3D%22{job}%22%7D"
            ),
            Duration::from_secs(30),
            |v| v["data"].as_array().is_some_and(|a| !a.is_empty()),
        )
        .await;
        for entry in md["data"].as_array().unwrap() {
            assert_eq!(entry["type"], want, "{metric} via {job}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn promtool_finds_no_format_error_in_the_text_output() {
    let Some(promtool) = system_tool("promtool") else {
        return;
    };
    let (_host, addr) = start_exporter("watchkeeper-host", &[]);
    let body = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Lint findings on names inherited from node_exporter (camelCase, missing units) are
    // expected; a parse error is not.
    assert!(!report.contains("error while linting"), "{report}");
    assert!(!report.contains("parsing error"), "{report}");
    assert!(body.lines().count() > 100, "a real page, not an empty one");
}
