//! The icmp prober and the binary's command line: `probe` subcommand exit codes, `--config.check`,
//! and the ICMP permission error as an unprivileged user.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_watchkeeper-blackbox");

const MODULES: &str = r#"
modules:
  icmp:
    prober: icmp
    timeout: 2s
    icmp:
      preferred_ip_protocol: ip4
  icmp3:
    prober: icmp
    timeout: 2s
    icmp:
      preferred_ip_protocol: ip4
      packets: 3
      ttl: 32
      payload_size: 100
      source_ip_address: 127.0.0.1
      dont_fragment: true
  icmp6:
    prober: icmp
    timeout: 2s
    icmp:
      preferred_ip_protocol: ip6
      ip_protocol_fallback: false
  http_2xx:
    prober: http
    timeout: 2s
    http:
      preferred_ip_protocol: ip4
"#;

/// The hop limits a loopback echo reply leaves with in the current network namespace: the
/// IPv4 default TTL and the IPv6 hop limit of `lo` (what the kernel's reply uses), read from
/// /proc rather than assumed to be Linux's default of 64.
fn loopback_hop_limits() -> (f64, f64) {
    let read = |p: &str| -> f64 {
        std::fs::read_to_string(p)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .trim()
            .parse()
            .unwrap()
    };
    let v6 = std::fs::read_to_string("/proc/sys/net/ipv6/conf/lo/hop_limit")
        .map(|_| read("/proc/sys/net/ipv6/conf/lo/hop_limit"))
        .unwrap_or_else(|_| read("/proc/sys/net/ipv6/conf/default/hop_limit"));
    (read("/proc/sys/net/ipv4/ip_default_ttl"), v6)
}

/// Whether this process may send ICMP echo at all (datagram or raw socket).
fn icmp_allowed() -> bool {
    use socket2::{Domain, Protocol, Socket, Type};
    Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4)).is_ok()
        || Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).is_ok()
}

#[tokio::test]
async fn echo_to_loopback_with_several_packets() {
    let ex = TestExporter::start(MODULES).await;
    let m = ex.probe_ok("icmp3", "127.0.0.1").await;
    if !icmp_allowed() {
        m.assert_failed("icmp_permission");
        return;
    }
    m.assert_ok();
    assert_eq!(m.val("probe_icmp_packets_sent", ""), 3.0);
    assert_eq!(m.val("probe_icmp_packets_received", ""), 3.0);
    assert_eq!(m.val("probe_icmp_packet_loss_ratio", ""), 0.0);
    let (min, avg, max) = (
        m.val("probe_icmp_rtt_min_seconds", ""),
        m.val("probe_icmp_rtt_avg_seconds", ""),
        m.val("probe_icmp_rtt_max_seconds", ""),
    );
    assert!(min > 0.0 && min <= avg && avg <= max, "{min} {avg} {max}");
    assert!(m.val("probe_icmp_rtt_jitter_seconds", "") >= 0.0);
    assert_eq!(m.val("probe_ip_protocol", ""), 4.0);

    // One packet: exactly blackbox's metric set, no extension metrics.
    let m = ex.probe_ok("icmp", "127.0.0.1").await;
    m.assert_ok();
    assert!(m.get("probe_icmp_packets_sent", "").is_none());
    assert!(m.val("probe_icmp_duration_seconds", "phase=\"rtt\"") > 0.0);
}

fn config_dir(yaml: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = write(dir.path(), "blackbox.yml", yaml);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    (dir, path)
}

#[test]
fn without_permission_the_error_names_the_sysctl_and_the_capability() {
    // Run the probe as user nobody, which has neither CAP_NET_RAW nor (with the default
    // ping_group_range "1 0") unprivileged ICMP sockets.
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap_or_default();
    let nobody_allowed = {
        let v: Vec<u64> = range
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect();
        v.len() == 2 && v[0] <= 65534 && 65534 <= v[1]
    };
    let is_root = rustix::process::geteuid().is_root();
    if !is_root || nobody_allowed || Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("notice: needs root, setpriv and a ping_group_range excluding nobody; skipped");
        assert!(
            !in_ci() || !is_root,
            "CI runs as root with setpriv available"
        );
        return;
    }
    let (_dir, path) = config_dir(MODULES);
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(BIN)
        .arg("--config.file")
        .arg(&path)
        .args(["probe", "--module", "icmp", "127.0.0.1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("probe_failure_info{reason=\"icmp_permission\"} 1"),
        "{stdout}"
    );
    assert!(stdout.contains("net.ipv4.ping_group_range"), "{stdout}");
    assert!(stdout.contains("CAP_NET_RAW"), "{stdout}");
}

#[tokio::test]
async fn probe_subcommand_exit_codes() {
    let target = start_http().await;
    let (_dir, path) = config_dir(MODULES);
    let run = |args: Vec<String>| {
        let path = path.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(BIN)
                .arg("--config.file")
                .arg(&path)
                .args(args)
                .output()
                .unwrap()
        })
    };
    let ok = run(vec![
        "probe".into(),
        "--module".into(),
        "http_2xx".into(),
        format!("http://{target}/"),
    ])
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("Logs for the probe"), "{stdout}");
    assert!(stdout.contains("probe_success 1"), "{stdout}");

    let bad = run(vec![
        "probe".into(),
        "--module".into(),
        "http_2xx".into(),
        format!("http://{target}/status/500"),
    ])
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("probe_failure_info{reason=\"status_code\"} 1"),
        "{stdout}"
    );

    let unknown = run(vec![
        "probe".into(),
        "--module".into(),
        "nope".into(),
        "x".into(),
    ])
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(unknown.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim(), "error: Unknown module \"nope\"");
}

#[test]
fn config_check_exit_codes() {
    let (_dir, good) = config_dir(MODULES);
    let out = Command::new(BIN)
        .arg("--config.file")
        .arg(&good)
        .arg("--config.check")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_dir2, bad) = config_dir("modules:\n  m:\n    prober: http\n    htp: {}\n");
    let out = Command::new(BIN)
        .arg("--config.file")
        .arg(&bad)
        .arg("--config.check")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:4:5: ", bad.display())),
        "{stderr}"
    );
    assert!(stderr.contains("htp"), "{stderr}");
}

#[test]
fn unsupported_options_are_a_startup_warning_not_an_error() {
    let (_dir, path) =
        config_dir("modules:\n  eb:\n    prober: tcp\n    tcp:\n      query_response:\n        - expect_bytes: ab\n  http_2xx:\n    prober: http\n");
    let out = Command::new(BIN)
        .arg("--config.file")
        .arg(&path)
        .arg("--config.check")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // logfmt escapes the quotes of the message.
    assert!(
        stderr.contains(r#"msg="module \"eb\": tcp.query_response[0].expect_bytes is not supported; probes with this module will be answered with HTTP 400""#),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_reply_hop_limit_is_reported_for_ipv4_and_ipv6() {
    if !icmp_allowed() {
        return;
    }
    let (ttl, hop_limit) = loopback_hop_limits();
    let ex = TestExporter::start(MODULES).await;
    // icmp3 sends with ttl 32: the metric is the reply's hop limit, not the request's.
    let m = ex.probe_ok("icmp3", "127.0.0.1").await;
    m.assert_ok();
    assert_eq!(m.val("probe_icmp_reply_hop_limit", ""), ttl);
    let m = ex.probe_ok("icmp6", "::1").await;
    m.assert_ok();
    assert_eq!(m.val("probe_ip_protocol", ""), 6.0);
    assert_eq!(m.val("probe_icmp_reply_hop_limit", ""), hop_limit);
}

/// Unprivileged datagram ICMP sockets, without touching this machine's settings: the probe
/// runs in a new network namespace whose own `ping_group_range` admits every group.
#[test]
fn datagram_sockets_report_the_reply_hop_limit_too() {
    let (_dir, path) = config_dir(MODULES);
    let script = format!(
        "set -e; ip link set lo up; sysctl -qw net.ipv4.ping_group_range='0 2147483647'; \
         cat /proc/sys/net/ipv4/ip_default_ttl /proc/sys/net/ipv6/conf/lo/hop_limit; \
         echo ==; {bin} --config.file {cfg} probe --module icmp 127.0.0.1; \
         echo ==; {bin} --config.file {cfg} probe --module icmp6 ::1",
        bin = BIN,
        cfg = path.display()
    );
    let out = match Command::new("unshare")
        .args(["--net", "sh", "-c", &script])
        .output()
    {
        Ok(o) if o.status.success() || !o.stdout.is_empty() => o,
        other => {
            // Namespaces need root (or user namespaces) and util-linux's unshare.
            assert!(!in_ci(), "unshare --net failed: {other:?}");
            eprintln!("skipped: unshare --net is not available here: {other:?}");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let parts: Vec<&str> = stdout.split("==\n").collect();
    assert_eq!(parts.len(), 3, "{stdout}");
    let mut limits = parts[0].lines().map(|l| l.trim().parse::<f64>().unwrap());
    let (ttl, hop_limit) = (limits.next().unwrap(), limits.next().unwrap());
    for (report, expected) in [(parts[1], ttl), (parts[2], hop_limit)] {
        let m = Metrics(report.to_string());
        m.assert_ok();
        // The datagram socket was used: no fallback to a raw one.
        assert!(!report.contains("using a raw socket"), "{report}");
        assert_eq!(
            m.val("probe_icmp_reply_hop_limit", ""),
            expected,
            "{report}"
        );
    }
}

/// A port that was free a moment ago.
async fn free_port() -> u16 {
    closed_port().await
}

#[tokio::test]
async fn blackbox_style_float_timeout_offset_shortens_the_budget() {
    let silent = start_silent().await;
    let (_dir, path) = config_dir(
        "modules:\n  http_2xx:\n    prober: http\n    http:\n      preferred_ip_protocol: ip4\n",
    );
    let port = free_port().await;
    let mut child = tokio::process::Command::new(BIN)
        .arg("--config.file")
        .arg(&path)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--timeout-offset=1.5")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let started = std::time::Instant::now();
    let (status, body) = get(
        addr,
        &format!(
            "/probe?module=http_2xx&target={}",
            enc(&format!("http://{silent}/"))
        ),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "2.5")],
    )
    .await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    Metrics(body).assert_failed("timeout");
    // 2.5 s from the header minus the 1.5 s offset.
    assert!(
        took >= std::time::Duration::from_millis(950)
            && took < std::time::Duration::from_millis(1300),
        "took {took:?}"
    );
    let _ = child.kill().await;
}

#[tokio::test]
async fn sighup_reloads_and_a_broken_file_keeps_the_old_config() {
    let target = start_http().await;
    let (_dir, path) = config_dir(
        "modules:\n  first:\n    prober: http\n    http:\n      preferred_ip_protocol: ip4\n",
    );
    let port = free_port().await;
    let mut child = tokio::process::Command::new(BIN)
        .arg("--config.file")
        .arg(&path)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = rustix::process::Pid::from_raw(child.id().unwrap() as i32).unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let probe = |module: &'static str| {
        let query = format!(
            "/probe?module={module}&target={}",
            enc(&format!("http://{target}/"))
        );
        async move { get(addr, &query, &[]).await.0 }
    };
    assert_eq!(probe("first").await, 200);

    // A broken file: the reload fails and "first" keeps working.
    std::fs::write(&path, "modules:\n  second:\n    prober: htp\n").unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
    let mut failed_reload_seen = false;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let (_, metrics) = get(addr, "/metrics", &[]).await;
        if metrics.contains("watchkeeper_blackbox_config_last_reload_successful 0") {
            failed_reload_seen = true;
            break;
        }
    }
    assert!(failed_reload_seen, "the failed reload was never reported");
    assert_eq!(probe("first").await, 200);

    // A good file: "second" appears, "first" is gone.
    std::fs::write(
        &path,
        "modules:\n  second:\n    prober: http\n    http:\n      preferred_ip_protocol: ip4\n",
    )
    .unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
    let mut ok = false;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if probe("second").await == 200 {
            ok = true;
            break;
        }
    }
    assert!(ok, "module second never appeared after SIGHUP");
    assert_eq!(probe("first").await, 400);
    let _ = child.kill().await;
}
