//! Side-by-side scrape benchmark: `watchkeeper-host` against node_exporter with the same
//! collectors, in one run. Prints RSS, CPU seconds per scrape (utime+stime deltas from
//! `/proc/<pid>/stat`), latency p50/p99 for sequential and concurrent scrapes, bytes and series,
//! and the ratios against the targets of issue 2.
//!
//! Run through `scripts/bench-host.sh`, or directly:
//! `cargo bench -p watchkeeper-host --bench scrape_load -- [--scrapes N] [--concurrency C]
//!  [--ours PATH] [--reference PATH]`

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What Prometheus sends: it prefers OpenMetrics and always accepts gzip.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

struct Args {
    ours: String,
    reference: String,
    scrapes: usize,
    concurrency: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        ours: concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/release/watchkeeper-host"
        )
        .to_string(),
        reference: "/usr/bin/prometheus-node-exporter".to_string(),
        scrapes: 1000,
        concurrency: 16,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| fail(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--ours" => a.ours = value(),
            "--reference" => a.reference = value(),
            "--scrapes" => {
                a.scrapes = value()
                    .parse()
                    .unwrap_or_else(|_| fail("--scrapes: not a number"))
            }
            "--concurrency" => {
                a.concurrency = value()
                    .parse()
                    .unwrap_or_else(|_| fail("--concurrency: not a number"))
            }
            "--bench" => {} // passed by `cargo bench`
            other => fail(&format!("unknown argument {other}")),
        }
    }
    a
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2)
}

/// Collector names a binary offers, from the `--collector.<name>` lines of its `--help`.
fn collectors_of(binary: &str) -> BTreeSet<String> {
    let out = Command::new(binary)
        .arg("--help")
        .output()
        .unwrap_or_else(|e| fail(&format!("{binary} --help: {e}")));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // "Enable the <name> collector", on the flag's line (kingpin) or the next one (clap).
    text.lines()
        .filter_map(|l| l.split_once("Enable the ").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_once(" collector").map(|(name, _)| name))
        .filter(|name| !name.contains(char::is_whitespace))
        .map(String::from)
        .collect()
}

struct Exporter {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| fail(&format!("no free port: {e}")))
}

fn start(name: &'static str, binary: &str, args: &[String]) -> Exporter {
    let addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut child = Command::new(binary)
        .arg(format!("--web.listen-address={addr}"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| fail(&format!("starting {binary}: {e}")));
    // Drain stderr so a chatty exporter never blocks on a full pipe.
    let stderr = child.stderr.take();
    let (tx, _rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let _keep = tx;
        if let Some(s) = stderr {
            for _ in BufReader::new(s).lines() {}
        }
    });
    let e = Exporter { name, child, addr };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            return e;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    fail(&format!("{binary} did not listen on {addr}"))
}

/// One GET /metrics; returns (status, body bytes, whether gzip).
fn get(addr: SocketAddr, gzip: bool) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| fail(&format!("connect {addr}: {e}")));
    let enc = if gzip {
        "Accept-Encoding: gzip\r\n"
    } else {
        ""
    };
    let req = format!(
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAccept: {PROMETHEUS_ACCEPT}\r\n{enc}X-Prometheus-Scrape-Timeout-Seconds: 10\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes())
        .unwrap_or_else(|e| fail(&format!("write {addr}: {e}")));
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .unwrap_or_else(|e| fail(&format!("read {addr}: {e}")));
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut body = raw[(split + 4).min(raw.len())..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..nl]).trim(), 16).unwrap_or(0);
        if size == 0 || nl + 2 + size > b.len() {
            break;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[(nl + 4 + size).min(b.len())..];
    }
    out
}

/// utime+stime of `pid` in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / rustix::param::clock_ticks_per_second() as f64
}

/// VmRSS, VmHWM and RssAnon (heap and stacks, without the binary's file pages) of `pid`, MiB.
fn rss_mib(pid: u32) -> (f64, f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (kb("VmRSS:"), kb("VmHWM:"), kb("RssAnon:"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[derive(Default, Clone, Copy)]
struct Phase {
    /// Scrapes whose page had fewer series than a full page (a collector failed).
    incomplete: usize,
    cpu_ms_per_scrape: f64,
    p50_ms: f64,
    p99_ms: f64,
    scrapes_per_s: f64,
}

/// Series (sample lines) in a gzip-compressed page.
fn series_in_gzip(body: &[u8]) -> usize {
    let mut text = String::new();
    if flate2::read::GzDecoder::new(body)
        .read_to_string(&mut text)
        .is_err()
    {
        return 0;
    }
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
}

fn run_phase(e: &Exporter, scrapes: usize, concurrency: usize, full_series: usize) -> Phase {
    let pid = e.child.id();
    let cpu0 = cpu_seconds(pid);
    let started = Instant::now();
    let per = scrapes.div_ceil(concurrency);
    let addr = e.addr;
    let handles: Vec<_> = (0..concurrency)
        .map(|_| {
            std::thread::spawn(move || {
                let mut lat = Vec::with_capacity(per);
                let mut bodies = Vec::with_capacity(per);
                for _ in 0..per {
                    let t = Instant::now();
                    let (status, body) = get(addr, true);
                    if status != 200 || body.is_empty() {
                        fail(&format!("scrape of {addr} answered {status}"));
                    }
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    bodies.push(body);
                }
                (lat, bodies)
            })
        })
        .collect();
    let results: Vec<(Vec<f64>, Vec<Vec<u8>>)> = handles
        .into_iter()
        .map(|h| h.join().unwrap_or_default())
        .collect();
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu0;
    // Checked after the clock stopped: decompressing costs the client, not the exporter.
    let incomplete = results
        .iter()
        .flat_map(|(_, bodies)| bodies)
        .filter(|b| series_in_gzip(b) < full_series)
        .count();
    let mut lat: Vec<f64> = results.into_iter().flat_map(|(l, _)| l).collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    Phase {
        incomplete,
        cpu_ms_per_scrape: cpu * 1000.0 / lat.len() as f64,
        p50_ms: percentile(&lat, 0.50),
        p99_ms: percentile(&lat, 0.99),
        scrapes_per_s: lat.len() as f64 / wall,
    }
}

struct Report {
    name: &'static str,
    seq: Phase,
    conc: Phase,
    rss_mib: f64,
    hwm_mib: f64,
    anon_mib: f64,
    bytes_plain: usize,
    bytes_gzip: usize,
    series: usize,
    node_series: usize,
}

fn measure(e: &Exporter, args: &Args) -> Report {
    // Warm up: first scrapes fill caches and grow buffers.
    for _ in 0..20 {
        get(e.addr, true);
    }
    let (_, plain) = get(e.addr, false);
    let (_, gz) = get(e.addr, true);
    let text = String::from_utf8_lossy(&plain);
    let samples: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    let node_series = samples.iter().filter(|l| l.starts_with("node_")).count();
    let seq = run_phase(e, args.scrapes, 1, samples.len());
    let conc = run_phase(e, args.scrapes, args.concurrency, samples.len());
    let (rss, hwm, anon) = rss_mib(e.child.id());
    Report {
        name: e.name,
        seq,
        conc,
        rss_mib: rss,
        hwm_mib: hwm,
        anon_mib: anon,
        bytes_plain: plain.len(),
        bytes_gzip: gz.len(),
        series: samples.len(),
        node_series,
    }
}

fn main() {
    let args = parse_args();
    if !std::path::Path::new(&args.ours).exists() {
        fail(&format!(
            "{} not found: build it with cargo build --release -p watchkeeper-host",
            args.ours
        ));
    }
    if !std::path::Path::new(&args.reference).exists() {
        fail(&format!(
            "{} not found: apt-get install prometheus-node-exporter",
            args.reference
        ));
    }
    let theirs = collectors_of(&args.reference);
    let shared: Vec<String> = collectors_of(&args.ours)
        .into_iter()
        .filter(|c| theirs.contains(c))
        .collect();
    let mut flags = vec!["--collector.disable-defaults".to_string()];
    flags.extend(shared.iter().map(|c| format!("--collector.{c}")));
    // Debian changes node_exporter's default mount-point exclude; give both the same.
    flags.push(
        "--collector.filesystem.mount-points-exclude=^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
            .to_string(),
    );
    // Debian also makes node_exporter's netdev exclude `lo` (upstream has no default): include
    // it on both sides so both export the same series.
    flags.push("--collector.netdev.device-exclude=^$".to_string());
    println!("shared collectors ({}): {}", shared.len(), shared.join(" "));
    println!(
        "scrapes per phase: {}, concurrency: {}, gzip on, Prometheus' Accept header",
        args.scrapes, args.concurrency
    );

    let ours = start("watchkeeper-host", &args.ours, &flags);
    let reference = start("node_exporter", &args.reference, &flags);
    // Measure one after the other so they do not compete for the two cores.
    let r_ref = measure(&reference, &args);
    let r_ours = measure(&ours, &args);

    println!();
    println!(
        "{:<18} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9} {:>8} {:>8}",
        "exporter",
        "cpu/scr",
        "seq p50",
        "seq p99",
        "c16 cpu",
        "c16 p50",
        "c16 p99",
        "c16 rps",
        "RSS MiB",
        "bytes",
        "gzip B",
        "series"
    );
    for r in [&r_ref, &r_ours] {
        println!(
            "{:<18} {:>7.3}ms {:>7.3}ms {:>7.3}ms {:>7.3}ms {:>7.3}ms {:>7.3}ms {:>9.0} {:>8.1} {:>9} {:>8} {:>8}",
            r.name,
            r.seq.cpu_ms_per_scrape,
            r.seq.p50_ms,
            r.seq.p99_ms,
            r.conc.cpu_ms_per_scrape,
            r.conc.p50_ms,
            r.conc.p99_ms,
            r.conc.scrapes_per_s,
            r.rss_mib,
            r.bytes_plain,
            r.bytes_gzip,
            r.series
        );
    }
    println!(
        "(peak RSS: node_exporter {:.1} MiB, watchkeeper-host {:.1} MiB; anonymous RSS: {:.1} vs {:.1} MiB; node_* series: {} vs {})",
        r_ref.hwm_mib, r_ours.hwm_mib, r_ref.anon_mib, r_ours.anon_mib, r_ref.node_series, r_ours.node_series
    );
    for r in [&r_ref, &r_ours] {
        println!(
            "{}: scrapes with fewer series than a full page (a collector failed): sequential {}, concurrent {}",
            r.name, r.seq.incomplete, r.conc.incomplete
        );
    }
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    let checks = [
        (
            "CPU per scrape (sequential)",
            ratio(r_ours.seq.cpu_ms_per_scrape, r_ref.seq.cpu_ms_per_scrape),
            0.2,
        ),
        (
            "CPU per scrape (16 concurrent)",
            ratio(r_ours.conc.cpu_ms_per_scrape, r_ref.conc.cpu_ms_per_scrape),
            0.2,
        ),
        (
            "RSS after load",
            ratio(r_ours.rss_mib, r_ref.rss_mib),
            1.0 / 3.0,
        ),
        (
            "anonymous RSS after load",
            ratio(r_ours.anon_mib, r_ref.anon_mib),
            1.0 / 3.0,
        ),
        (
            "p99 latency (sequential)",
            ratio(r_ours.seq.p99_ms, r_ref.seq.p99_ms),
            1.0 / 3.0,
        ),
        (
            "p99 latency (16 concurrent)",
            ratio(r_ours.conc.p99_ms, r_ref.conc.p99_ms),
            1.0 / 3.0,
        ),
    ];
    println!();
    println!(
        "{:<32} {:>8} {:>8}  verdict",
        "ours / node_exporter", "ratio", "target"
    );
    for (what, r, target) in checks {
        let verdict = if r <= target { "met" } else { "MISSED" };
        println!("{what:<32} {r:>8.3} {target:>8.3}  {verdict}");
    }
}
