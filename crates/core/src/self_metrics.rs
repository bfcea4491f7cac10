//! Metrics every exporter reports about itself: build info, config reloads and the standard
//! `process_*` family (read from `/proc/self`, as client_golang's process collector does).

use crate::metrics::{MetricSet, MetricType};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The outcome of the last configuration reload.
#[derive(Debug)]
pub struct ReloadStatus {
    successful: AtomicBool,
    last_success_unix_ms: AtomicU64,
}

impl Default for ReloadStatus {
    fn default() -> Self {
        Self::new()
    }
}

impl ReloadStatus {
    /// A status that counts the initial load (done before serving) as the first success.
    pub fn new() -> Self {
        let s = Self {
            successful: AtomicBool::new(true),
            last_success_unix_ms: AtomicU64::new(0),
        };
        s.record(true);
        s
    }

    /// Records a reload attempt.
    pub fn record(&self, ok: bool) {
        self.successful.store(ok, Ordering::Relaxed);
        if ok {
            self.last_success_unix_ms
                .store(unix_now_ms(), Ordering::Relaxed);
        }
    }

    /// Whether the last attempt succeeded.
    pub fn successful(&self) -> bool {
        self.successful.load(Ordering::Relaxed)
    }

    fn add_to(&self, prefix: &str, out: &mut MetricSet) {
        out.gauge(
            format!("{prefix}_config_last_reload_successful"),
            "Whether the last configuration reload attempt was successful.",
            if self.successful() { 1.0 } else { 0.0 },
        );
        out.gauge(
            format!("{prefix}_config_last_reload_success_timestamp_seconds"),
            "Timestamp of the last successful configuration reload.",
            self.last_success_unix_ms.load(Ordering::Relaxed) as f64 / 1000.0,
        );
    }
}

fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Adds `<prefix>_build_info`.
pub fn add_build_info(prefix: &str, out: &mut MetricSet) {
    out.family(
        format!("{prefix}_build_info"),
        "A metric with a constant '1' value labeled by version, revision and rustc_version.",
        MetricType::Gauge,
    )
    .sample(
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("revision", env!("WATCHKEEPER_REVISION")),
            ("rustc_version", env!("WATCHKEEPER_RUSTC_VERSION")),
        ],
        1.0,
    );
}

/// Adds the reload status metrics (only for exporters with a config file).
pub fn add_reload_status(prefix: &str, status: &ReloadStatus, out: &mut MetricSet) {
    status.add_to(prefix, out);
}

/// Adds the `process_*` metrics for this process. Missing `/proc` (non-Linux) adds nothing.
pub fn add_process_metrics(out: &mut MetricSet) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the command name, which is in parentheses and may contain spaces.
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state); field N is at index N - 3.
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    if let (Some(utime), Some(stime)) = (field(14), field(15)) {
        out.counter(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            (utime + stime) / ticks,
        );
    }
    if let Some(vsize) = field(23) {
        out.gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            vsize,
        );
    }
    if let Some(rss) = field(24) {
        out.gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            rss * rustix::param::page_size() as f64,
        );
    }
    if let (Some(start), Some(boot)) = (field(22), boot_time()) {
        out.gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            boot + start / ticks,
        );
    }
    if let Some(n) = open_fds() {
        out.gauge("process_open_fds", "Number of open file descriptors.", n);
    }
    if let Some(max) = max_open_files() {
        out.gauge(
            "process_max_fds",
            "Maximum number of open file descriptors.",
            max,
        );
    }
}

/// How many descriptors the process has open. Linux 6.2 and later report the count as the size
/// of `/proc/self/fd`: one `statx` instead of listing every descriptor, which mattered once the
/// host exporter kept ~100 pseudo-files open (the listing was ~4% of a scrape's CPU). Older
/// kernels report 0 there, and the directory is counted.
fn open_fds() -> Option<f64> {
    match std::fs::metadata("/proc/self/fd") {
        Ok(m) if m.len() > 0 => Some(m.len() as f64),
        _ => std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count().saturating_sub(1) as f64),
    }
}

/// The boot time never changes; `/proc/stat` grows with the CPU count, so read it once.
fn boot_time() -> Option<f64> {
    static BOOT: std::sync::OnceLock<Option<f64>> = std::sync::OnceLock::new();
    *BOOT.get_or_init(read_boot_time)
}

fn read_boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn max_open_files() -> Option<f64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_fds_follows_files_opened_and_closed() {
        let before = open_fds().unwrap();
        let files: Vec<_> = (0..20)
            .map(|_| std::fs::File::open("/proc/self/stat").unwrap())
            .collect();
        let during = open_fds().unwrap();
        drop(files);
        let after = open_fds().unwrap();
        // Other test threads of this process may open a file meanwhile: allow a little slack.
        assert!(
            (during - before - 20.0).abs() <= 2.0,
            "{before} -> {during}"
        );
        assert!((after - before).abs() <= 2.0, "{before} -> {after}");
    }

    #[test]
    fn process_metrics_describe_this_process() {
        let mut set = MetricSet::new();
        add_process_metrics(&mut set);
        let rss = set.find("process_resident_memory_bytes", &[]).unwrap();
        assert!(rss > 1_000_000.0, "rss {rss}");
        let fds = set.find("process_open_fds", &[]).unwrap();
        assert!(fds >= 3.0);
        let start = set.find("process_start_time_seconds", &[]).unwrap();
        let now = unix_now_ms() as f64 / 1000.0;
        assert!(
            start <= now && start > now - 3600.0,
            "start {start} now {now}"
        );
    }

    #[test]
    fn build_info_carries_version() {
        let mut set = MetricSet::new();
        add_build_info("watchkeeper_test", &mut set);
        assert_eq!(
            set.find(
                "watchkeeper_test_build_info",
                &[("version", env!("CARGO_PKG_VERSION"))]
            ),
            Some(1.0)
        );
    }

    #[test]
    fn failed_reload_is_reported_and_keeps_last_success_time() {
        let status = ReloadStatus::new();
        let mut before = MetricSet::new();
        add_reload_status("p", &status, &mut before);
        status.record(false);
        let mut after = MetricSet::new();
        add_reload_status("p", &status, &mut after);
        assert_eq!(
            after.find("p_config_last_reload_successful", &[]),
            Some(0.0)
        );
        assert_eq!(
            after.find("p_config_last_reload_success_timestamp_seconds", &[]),
            before.find("p_config_last_reload_success_timestamp_seconds", &[])
        );
    }
}
