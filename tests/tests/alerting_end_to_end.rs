//! Failures induced for real must page through the bundled alert rules and Alertmanager routing.
//!
//! Debian's Prometheus and Alertmanager run on 127.0.0.1 with a test copy of `alert-rules/` and
//! `deploy/alertmanager/alertmanager.yml` generated from the real files: every duration (range
//! windows, `for:`, group intervals, Alertmanager's group_wait/group_interval/repeat_interval)
//! divided by [`SPEEDUP`], so one minute of production time passes in one second, and every
//! receiver replaced by a webhook to a receiver this test runs. Then, at the same instant:
//! a probed HTTP server stops, one starts answering in 300 ms, one in 600 ms, and a probe scrape
//! job disappears from Prometheus' configuration. Each named alert must reach the webhook through
//! the routing tree (critical alerts at the `pager` receiver), a healthy target must stay silent,
//! and the runbook link must carry the base set in one place (the `runbook_base_url` external
//! label). The measured detection times (multiplied back by SPEEDUP) are printed and recorded in
//! docs/operations.md.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use watchkeeper_e2e::{free_port, poll_query, start_exporter, start_tool, system_tool, vector_by};

/// Production time per test time: durations in the rules and routing are divided by this.
const SPEEDUP: f64 = 60.0;
/// The base every runbook_url must be built from (Prometheus external label).
const RUNBOOK_BASE: &str = "http://runbooks.test/docs/runbooks.md";

// ---------------------------------------------------------------- durations

/// Parses a Prometheus duration ("90s", "1h30m", "5m", "2d") into milliseconds.
fn parse_duration_ms(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut total = 0u64;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        total += n * unit;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// A duration divided by SPEEDUP, in milliseconds (at least 1 ms).
fn scaled(ms: u64) -> String {
    format!("{}ms", ((ms as f64 / SPEEDUP).round() as u64).max(1))
}

/// Scales every `[range]` (and `[range:step]` subquery) in a line whose content is a duration.
fn scale_ranges(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let Some(close) = rest.find(']') else {
            break;
        };
        let inner = &rest[..close];
        let parts: Vec<Option<u64>> = inner.split(':').map(parse_duration_ms).collect();
        if parts.iter().all(Option::is_some) {
            let scaled_parts: Vec<String> = parts.into_iter().flatten().map(scaled).collect();
            out.push_str(&scaled_parts.join(":"));
        } else {
            out.push_str(inner);
        }
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}

/// Scales the value of `key: <duration>` lines for the given keys; other lines get their ranges
/// scaled.
fn scale_text(text: &str, keys: &[&str]) -> String {
    text.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            for key in keys {
                if let Some(value) = trimmed.strip_prefix(&format!("{key}:")) {
                    if let Some(ms) = parse_duration_ms(value.trim()) {
                        let indent = &line[..line.len() - trimmed.len()];
                        return format!("{indent}{key}: {}", scaled(ms));
                    }
                }
            }
            scale_ranges(line)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The Alertmanager configuration of deploy/alertmanager with scaled timings and every receiver
/// (same names) replaced by a webhook to `webhook/<receiver>`.
fn alertmanager_copy(real: &str, webhook: &str) -> String {
    let (routing, receivers) = real
        .split_once("\nreceivers:\n")
        .expect("alertmanager.yml has a receivers: section");
    let names: Vec<&str> = receivers
        .lines()
        .filter_map(|l| l.strip_prefix("  - name: "))
        .map(str::trim)
        .collect();
    assert!(names.contains(&"pager"), "no pager receiver in {names:?}");
    let mut out = scale_text(
        routing,
        &["group_wait", "group_interval", "repeat_interval"],
    );
    out.push_str("\nreceivers:\n");
    for name in names {
        out.push_str(&format!(
            "  - name: {name}\n    webhook_configs:\n      - url: http://{webhook}/{name}\n        send_resolved: true\n"
        ));
    }
    out
}

// ---------------------------------------------------------------- servers

/// An HTTP server standing in for a website: answers 200 after `delay_ms`, until stopped (then
/// its port refuses connections).
struct Website {
    addr: String,
    delay_ms: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Website {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let delay_ms = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (d, s) = (delay_ms.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let delay = d.load(Ordering::SeqCst);
                        std::thread::spawn(move || answer(stream, delay));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            // The listener is dropped here: connections are refused from now on.
        });
        Website {
            addr,
            delay_ms,
            stop,
        }
    }
}

fn answer(mut stream: TcpStream, delay_ms: u64) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 4096];
    let _ = stream.read(&mut buf);
    std::thread::sleep(Duration::from_millis(delay_ms));
    let _ = stream.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    );
}

/// One alert as a webhook receiver got it.
#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    receiver: String,
    status: String,
    labels: BTreeMap<String, String>,
    runbook_url: String,
}

/// Alertmanager's webhook target: records every alert of every notification.
fn start_webhook() -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let sink = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let sink = sink.clone();
            std::thread::spawn(move || {
                if let Some((path, body)) = read_request(&stream) {
                    record(&sink, &path, &body);
                }
                let mut stream = stream;
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            });
        }
    });
    (addr, got)
}

fn read_request(stream: &TcpStream) -> Option<(String, Vec<u8>)> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let path = request_line.split_whitespace().nth(1)?.to_string();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some((path, body))
}

fn record(sink: &Mutex<Vec<Received>>, path: &str, body: &[u8]) {
    let at = Instant::now();
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    let receiver = path.trim_start_matches('/').to_string();
    let mut sink = sink.lock().unwrap();
    for alert in v["alerts"].as_array().into_iter().flatten() {
        let labels = alert["labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        sink.push(Received {
            at,
            receiver: receiver.clone(),
            status: alert["status"].as_str().unwrap_or_default().to_string(),
            labels,
            runbook_url: alert["annotations"]["runbook_url"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        });
    }
}

/// Waits until the webhook got a firing `alertname` for `instance` at `receiver`.
async fn wait_for_alert(
    got: &Mutex<Vec<Received>>,
    alertname: &str,
    instance: Option<&str>,
    receiver: &str,
    timeout: Duration,
) -> Received {
    let started = Instant::now();
    loop {
        if let Some(r) = got.lock().unwrap().iter().find(|r| {
            r.status == "firing"
                && r.receiver == receiver
                && r.labels.get("alertname").map(String::as_str) == Some(alertname)
                && instance.is_none_or(|i| r.labels.get("instance").map(String::as_str) == Some(i))
        }) {
            return r.clone();
        }
        if started.elapsed() > timeout {
            let seen: Vec<String> = got
                .lock()
                .unwrap()
                .iter()
                .map(|r| {
                    format!(
                        "{} {} {:?} {:?}",
                        r.receiver,
                        r.status,
                        r.labels.get("alertname"),
                        r.labels.get("instance")
                    )
                })
                .collect();
            panic!("{alertname} for {instance:?} never reached receiver {receiver}; webhook saw: {seen:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

/// A throwaway PostgreSQL cluster on 127.0.0.1 (trust authentication), stopped on drop.
struct ThrowawayPg {
    bin: std::path::PathBuf,
    data: std::path::PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl ThrowawayPg {
    /// initdb and start, as the postgres user when running as root (initdb refuses root).
    /// None (with a notice) when PostgreSQL is not installed, outside CI.
    fn start() -> Option<ThrowawayPg> {
        let mut bins: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").exists())
            .collect();
        bins.sort();
        let Some(bin) = bins.pop() else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "PostgreSQL is required in CI"
            );
            eprintln!("notice: PostgreSQL not installed; the database case is skipped");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let pg = ThrowawayPg {
            bin,
            data,
            port: free_port(),
            _dir: dir,
        };
        if Self::root() {
            let ok = std::process::Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(pg._dir.path())
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let data = pg.data.display().to_string();
        pg.run("initdb", &["-D", &data, "-A", "trust", "-U", "postgres"]);
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            pg.port,
            pg._dir.path().display()
        );
        // The server inherits pg_ctl's standard streams: give it a log file, not our pipes.
        let log = pg._dir.path().join("postgres.log").display().to_string();
        pg.run(
            "pg_ctl",
            &["-D", &data, "-o", &options, "-l", &log, "-w", "start"],
        );
        Some(pg)
    }

    fn root() -> bool {
        std::env::var("USER").is_ok_and(|u| u == "root")
            || std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
            })
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let path = self.bin.join(tool);
        let mut cmd = if Self::root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            std::process::Command::new(&path)
        };
        let status = cmd
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "{tool} {args:?} failed: {status}");
    }

    /// Stops the server at once, as a crash would.
    fn stop(&self) {
        let data = self.data.display().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "stop"]);
    }
}

impl Drop for ThrowawayPg {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        let path = self.bin.join("pg_ctl");
        let mut cmd = if Self::root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            std::process::Command::new(&path)
        };
        let _ = cmd
            .args(["-D", &data, "-m", "immediate", "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// The Prometheus configuration; `with_gone_job` keeps the probe job that the test later removes.
fn prometheus_yml(
    rules: &str,
    am: &str,
    bb: &str,
    db: Option<&str>,
    targets: &[String],
    gone: &str,
    with_gone_job: bool,
) -> String {
    let relabel = format!(
        "    relabel_configs:\n      - source_labels: [__address__]\n        target_label: __param_target\n      - source_labels: [__param_target]\n        target_label: instance\n      - target_label: __address__\n        replacement: '{bb}'\n"
    );
    let probe_job = |name: &str, ts: &[String]| {
        format!(
            "  - job_name: {name}\n    metrics_path: /probe\n    params:\n      module: [http_2xx]\n    static_configs:\n      - targets: [{}]\n{relabel}",
            ts.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ")
        )
    };
    let mut y = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n  external_labels:\n    runbook_base_url: {RUNBOOK_BASE}\n\
         rule_files:\n  - {rules}/*.rules.yml\n\
         alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am}']\n\
         scrape_configs:\n  - job_name: watchkeeper-blackbox\n    static_configs:\n      - targets: ['{bb}']\n  - job_name: alertmanager\n    static_configs:\n      - targets: ['{am}']\n"
    );
    if let Some(db) = db {
        y.push_str(&format!(
            "  - job_name: watchkeeper-db\n    static_configs:\n      - targets: ['{db}']\n"
        ));
    }
    y.push_str(&probe_job("blackbox-http", targets));
    if with_gone_job {
        y.push_str(&probe_job("blackbox-gone", &[gone.to_string()]));
    }
    y
}

#[tokio::test(flavor = "multi_thread")]
async fn induced_failures_page_through_the_bundled_rules_and_routing() {
    let Some(prometheus) = system_tool("prometheus") else {
        return;
    };
    let Some(alertmanager) = system_tool("prometheus-alertmanager") else {
        return;
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();

    // The test copy of the rules: every rule file, durations divided by SPEEDUP.
    let rules_dir = dir.path().join("rules");
    std::fs::create_dir(&rules_dir).unwrap();
    let mut copied = 0;
    for entry in std::fs::read_dir(repo.join("alert-rules")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".rules.yml") {
            let text = std::fs::read_to_string(&path).unwrap();
            std::fs::write(
                rules_dir.join(&name),
                scale_text(&text, &["for", "interval"]),
            )
            .unwrap();
            copied += 1;
        }
    }
    assert!(copied >= 5, "only {copied} rule files in alert-rules/");
    let slo = std::fs::read_to_string(rules_dir.join("slo.rules.yml")).unwrap();
    assert!(
        slo.contains("[60000ms]")
            && slo.contains("for: 2000ms")
            && slo.contains("interval: 5000ms"),
        "durations not scaled:\n{slo}"
    );

    let (webhook, got) = start_webhook();
    let am_addr = format!("127.0.0.1:{}", free_port());
    let real_am =
        std::fs::read_to_string(repo.join("deploy/alertmanager/alertmanager.yml")).unwrap();
    let am_yml = write(
        dir.path(),
        "alertmanager.yml",
        &alertmanager_copy(&real_am, &webhook),
    );
    let _am = start_tool(
        &alertmanager,
        &[
            format!("--config.file={am_yml}"),
            format!("--storage.path={}", dir.path().join("am").display()),
            format!("--web.listen-address={am_addr}"),
            "--cluster.listen-address=".into(),
        ],
    );

    let healthy = Website::start();
    let dying = Website::start();
    let slow = Website::start();
    let very_slow = Website::start();
    let gone = Website::start();
    let url = |w: &Website| format!("http://{}/", w.addr);
    let blackbox_yml = write(
        dir.path(),
        "blackbox.yml",
        "modules:\n  http_2xx:\n    prober: http\n    timeout: 2s\n    http:\n      preferred_ip_protocol: ip4\n",
    );
    let (_bb, bb_addr) = start_exporter(
        "watchkeeper-blackbox",
        &[
            &format!("--config.file={blackbox_yml}"),
            // Probes get Prometheus' 1 s scrape timeout minus this: room for a 600 ms answer.
            "--timeout-offset=0.05",
        ],
    );

    // A throwaway PostgreSQL watched by watchkeeper-db.
    let pg = ThrowawayPg::start();
    let db_exporter = pg.as_ref().map(|pg| {
        let db_yml = write(
            dir.path(),
            "db.yml",
            &format!(
                "targets:\n  - name: throwaway\n    kind: postgres\n    host: 127.0.0.1\n    port: {}\n    user: postgres\n    database: postgres\n",
                pg.port
            ),
        );
        start_exporter("watchkeeper-db", &[&format!("--config.file={db_yml}")])
    });
    let db_addr = db_exporter.as_ref().map(|(_, addr)| addr.clone());

    let targets = vec![url(&healthy), url(&dying), url(&slow), url(&very_slow)];
    let rules = rules_dir.display().to_string();
    let prom_yml = write(
        dir.path(),
        "prometheus.yml",
        &prometheus_yml(
            &rules,
            &am_addr,
            &bb_addr,
            db_addr.as_deref(),
            &targets,
            &url(&gone),
            true,
        ),
    );
    let prom_addr = format!("127.0.0.1:{}", free_port());
    let _prom = start_tool(
        &prometheus,
        &[
            format!("--config.file={prom_yml}"),
            format!("--storage.tsdb.path={}", dir.path().join("prom").display()),
            format!("--web.listen-address={prom_addr}"),
            "--web.enable-lifecycle".into(),
            // 5 minutes of production lookback, scaled.
            "--query.lookback-delta=5s".into(),
            // Prometheus re-sends an alert at most once a minute; scaled like every other timing.
            "--rules.alert.resend-delay=1s".into(),
        ],
    );

    // Wait for the series, not for time: every target's long-window ratio exists (the no-data
    // alert needs the gone target's), and the pipeline delivers the Watchdog to the
    // dead-man's-switch receiver.
    let started = Instant::now();
    let all_five = targets.len() + 1;
    poll_query(
        &prom_addr,
        "/api/v1/query?query=instance:probe_availability:ratio_1d",
        Duration::from_secs(60),
        |v| vector_by(v, "instance").len() == all_five,
    )
    .await;
    poll_query(
        &prom_addr,
        "/api/v1/query?query=instance:probe_latency:ratio_1d",
        Duration::from_secs(30),
        |v| vector_by(v, "instance").len() == all_five,
    )
    .await;
    // The fast tiers' long window (1h, scaled to 60 s) must hold a full window of recorded SLI,
    // or a short history would make every ratio move faster than in production.
    poll_query(
        &prom_addr,
        "/api/v1/query?query=min(count_over_time(instance:probe_latency_good:bool[60s]))",
        Duration::from_secs(120),
        |v| {
            vector_by(v, "__name__").is_empty()
                && v["data"]["result"][0]["value"][1]
                    .as_str()
                    .and_then(|s| s.parse::<f64>().ok())
                    .is_some_and(|n| n >= 58.0)
        },
    )
    .await;
    if pg.is_some() {
        poll_query(
            &prom_addr,
            "/api/v1/query?query=pg_up",
            Duration::from_secs(30),
            |v| vector_by(v, "target") == vec![("throwaway".to_string(), 1.0)],
        )
        .await;
    }
    let watchdog = wait_for_alert(
        &got,
        "Watchdog",
        None,
        "deadmans-switch",
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(watchdog.labels["severity"], "ticket");
    eprintln!(
        "warm-up (series recorded, Watchdog delivered): {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Before any failure nothing pages about the probed targets (the whole pipeline is warm).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let early: Vec<Received> = got
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.receiver == "pager" && r.labels.contains_key("instance"))
        .cloned()
        .collect();
    assert!(early.is_empty(), "pages before any failure: {early:#?}");

    // The failures, all at once.
    let t0 = Instant::now();
    let t0_wall = std::time::SystemTime::now();
    dying.stop.store(true, Ordering::SeqCst);
    slow.delay_ms.store(300, Ordering::SeqCst);
    very_slow.delay_ms.store(600, Ordering::SeqCst);
    if let Some(pg) = &pg {
        pg.stop();
    }
    std::fs::write(
        &prom_yml,
        prometheus_yml(
            &rules,
            &am_addr,
            &bb_addr,
            db_addr.as_deref(),
            &targets,
            &url(&gone),
            false,
        ),
    )
    .unwrap();
    let reload = reqwest::Client::new()
        .post(format!("http://{prom_addr}/-/reload"))
        .send()
        .await
        .unwrap();
    assert!(reload.status().is_success(), "reload: {}", reload.status());

    let budget = Duration::from_secs(90);
    let cases = [
        (
            "a probed HTTP server stops",
            "ProbeErrorBudgetBurnFast",
            url(&dying),
        ),
        (
            "a probed server answers in 300 ms",
            "ProbeLatencyBudgetBurnFast",
            url(&slow),
        ),
        (
            "a probed server answers in 600 ms",
            "ProbeLatencySevere",
            url(&very_slow),
        ),
        (
            "the probe scrape job disappears",
            "ProbeAvailabilitySLINoData",
            url(&gone),
        ),
    ];
    let mut measured = Vec::new();
    for (what, alertname, instance) in &cases {
        let r = wait_for_alert(&got, alertname, Some(instance), "pager", budget).await;
        assert_eq!(r.labels["severity"], "critical", "{alertname}");
        assert_eq!(
            r.runbook_url,
            format!("{RUNBOOK_BASE}#{}", alertname.to_lowercase()),
            "{alertname}: runbook link not built from the configured base"
        );
        let took = r.at.duration_since(t0);
        measured.push((*what, *alertname, took));
    }
    if pg.is_some() {
        let r = wait_for_alert(&got, "PostgresDown", None, "pager", budget).await;
        assert_eq!(r.labels["target"], "throwaway");
        assert_eq!(r.labels["severity"], "critical");
        assert_eq!(r.runbook_url, format!("{RUNBOOK_BASE}#postgresdown"));
        measured.push(("PostgreSQL stops", "PostgresDown", r.at.duration_since(t0)));
    }
    // Pages also reach the chat channel (the critical route continues), and the healthy target
    // never pages.
    wait_for_alert(
        &got,
        "ProbeErrorBudgetBurnFast",
        Some(&url(&dying)),
        "chat",
        budget,
    )
    .await;
    let about_healthy: Vec<Received> = got
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.labels.get("instance") == Some(&url(&healthy)))
        .cloned()
        .collect();
    assert!(
        about_healthy.is_empty(),
        "alerts about the healthy target: {about_healthy:#?}"
    );
    // A slow answer is not an outage.
    let slow_outage = got.lock().unwrap().iter().any(|r| {
        r.labels.get("instance") == Some(&url(&slow))
            && r.labels["alertname"].starts_with("ProbeErrorBudgetBurn")
    });
    assert!(
        !slow_outage,
        "the 300 ms server raised an availability alert"
    );

    // When Prometheus saw each alert become active (pending), for the record.
    let active = poll_query(&prom_addr, "/api/v1/alerts", Duration::from_secs(5), |_| {
        true
    })
    .await;
    let t0_unix = t0_wall
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    for a in active["data"]["alerts"].as_array().into_iter().flatten() {
        let name = a["labels"]["alertname"].as_str().unwrap_or_default();
        if cases
            .iter()
            .any(|(_, n, i)| *n == name && a["labels"]["instance"] == i.as_str())
        {
            eprintln!(
                "  {name} active since t0 + {:?} ({})",
                a["activeAt"], t0_unix
            );
        }
    }
    eprintln!("detection times (test time, and x{SPEEDUP} = production time):");
    for (what, alertname, took) in &measured {
        eprintln!(
            "  {what:<36} {alertname:<28} {:>6.1} s  ~ {:>5.1} min",
            took.as_secs_f64(),
            took.as_secs_f64() * SPEEDUP / 60.0
        );
    }
}

#[test]
fn durations_are_scaled_in_ranges_and_keys_only() {
    assert_eq!(parse_duration_ms("1h30m"), Some(5_400_000));
    assert_eq!(parse_duration_ms("a-z"), None);
    assert_eq!(
        scale_ranges("avg_over_time(x[5m]) and y[1h:1m] and {__name__=~\"a_[a-z]+\"}"),
        "avg_over_time(x[5000ms]) and y[60000ms:1000ms] and {__name__=~\"a_[a-z]+\"}"
    );
    assert_eq!(
        scale_text(
            "        for: 2m\n    interval: 5m\n  x: 5m",
            &["for", "interval"]
        ),
        "        for: 2000ms\n    interval: 5000ms\n  x: 5m"
    );
    let am = "route:\n  group_wait: 30s\n  routes:\n    - receiver: pager\n      repeat_interval: 15m\n\nreceivers:\n  - name: pager\n    pagerduty_configs:\n      - routing_key_file: /x\n  - name: chat\n    slack_configs: []\n";
    let copy = alertmanager_copy(am, "127.0.0.1:1");
    assert!(copy.contains("group_wait: 500ms") && copy.contains("repeat_interval: 15000ms"));
    assert!(
        copy.contains("url: http://127.0.0.1:1/pager")
            && copy.contains("url: http://127.0.0.1:1/chat")
    );
    assert!(!copy.contains("pagerduty_configs"));
}
