//! `filesystem`: size and inode counts of mounted filesystems (`node_filesystem_*`).
//!
//! Mounts come from `<procfs>/1/mounts` (the host's view even inside a container), falling back
//! to `<procfs>/mounts`. Each is `statfs`'d below `--path.rootfs`. A `statfs` on a dead network
//! mount can block for minutes, so calls run on worker threads and the scrape waits at most
//! `--collector.filesystem.mount-timeout` per mount: the mount is then reported with
//! `node_filesystem_device_error 1` and remembered as stuck, and later scrapes skip it (again
//! with `device_error 1`) until the blocked call finally returns — node_exporter's `stuckMounts`.

use super::CollectorDef;
use crate::options::{FilesystemOptions, HostOptions, HostPaths};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the filesystem collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "filesystem",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(FilesystemCollector::new(opts))))),
};

/// One line of the mounts file, with the mount point as seen from the host's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The mounted device (`device` label).
    pub device: String,
    /// Where it is mounted (`mountpoint` label), `--path.rootfs` stripped.
    pub mount_point: String,
    /// The filesystem type (`fstype` label).
    pub fs_type: String,
    /// Mount options (`ro` makes `node_filesystem_readonly` 1).
    pub options: String,
}

/// Space and inode counts of one filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsStats {
    /// Block size the counts below are in.
    pub block_size: u64,
    /// Total blocks.
    pub blocks: u64,
    /// Free blocks.
    pub blocks_free: u64,
    /// Blocks available to unprivileged users.
    pub blocks_avail: u64,
    /// Total inodes.
    pub files: u64,
    /// Free inodes.
    pub files_free: u64,
}

/// Undoes the octal escapes the kernel writes for space, tab, newline and backslash.
fn unescape_mount_field(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_string();
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let oct = &bytes[i + 1..i + 4];
            if oct.iter().all(|b| (b'0'..=b'7').contains(b)) {
                let v = oct
                    .iter()
                    .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                if let Ok(v) = u8::try_from(v) {
                    out.push(v);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Strips `--path.rootfs` from a mount point so labels show the host's path.
fn strip_rootfs(rootfs: &str, mount_point: &str) -> String {
    let root = rootfs.trim_end_matches('/');
    if root.is_empty() {
        return mount_point.to_string();
    }
    match mount_point.strip_prefix(root) {
        Some("") => "/".to_string(),
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        _ => mount_point.to_string(),
    }
}

/// Parses a mounts file (`/proc/1/mounts` format).
pub fn parse_mounts(text: &str, rootfs: &str) -> Result<Vec<Mount>, String> {
    let mut mounts = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split_ascii_whitespace();
        let (Some(device), Some(mount_point), Some(fs_type), Some(options)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(format!(
                "line {}: expected at least 4 fields: {line:?}",
                n + 1
            ));
        };
        mounts.push(Mount {
            device: unescape_mount_field(device),
            mount_point: strip_rootfs(rootfs, &unescape_mount_field(mount_point)),
            fs_type: fs_type.to_string(),
            options: options.to_string(),
        });
    }
    Ok(mounts)
}

/// Whether a mount is reported at all (node_exporter's default and flag-set excludes).
pub fn is_reported(opts: &FilesystemOptions, m: &Mount) -> bool {
    !opts.mount_points_exclude.is_match(&m.mount_point)
        && !opts.fs_types_exclude.is_match(&m.fs_type)
}

fn statfs(path: &PathBuf) -> std::io::Result<FsStats> {
    let s = rustix::fs::statfs(path)?;
    Ok(FsStats {
        // f_bsize is a positive kernel value; a negative one would be a kernel bug, read as 0.
        block_size: u64::try_from(s.f_bsize).unwrap_or(0),
        blocks: s.f_blocks,
        blocks_free: s.f_bfree,
        blocks_avail: s.f_bavail,
        files: s.f_files,
        files_free: s.f_ffree,
    })
}

type Job = (PathBuf, String);
type JobResult = (String, std::io::Result<FsStats>);

/// A thread that runs the `statfs` calls of one scrape one after another. A scrape hands it all
/// its mounts at once, so a scrape costs one wake-up of this thread, not one per mount.
struct Worker {
    jobs: Sender<Vec<Job>>,
    results: Receiver<JobResult>,
}

impl Worker {
    fn spawn(stuck: Arc<Mutex<HashSet<String>>>) -> std::io::Result<Worker> {
        let (job_tx, job_rx) = mpsc::channel::<Vec<Job>>();
        let (res_tx, res_rx) = mpsc::channel::<JobResult>();
        std::thread::Builder::new()
            .name("statfs".into())
            .spawn(move || {
                while let Ok(batch) = job_rx.recv() {
                    for (path, mount_point) in batch {
                        let result = statfs(&path);
                        // If this call had been given up on, the mount is no longer stuck.
                        if let Ok(mut s) = stuck.lock() {
                            if s.remove(&mount_point) {
                                tracing::info!(mountpoint = %mount_point, "stuck mount returned");
                            }
                        }
                        if res_tx.send((mount_point, result)).is_err() {
                            // The scrape abandoned this worker after a timeout; the rest of
                            // its batch went to another worker.
                            return;
                        }
                    }
                }
            })?;
        Ok(Worker {
            jobs: job_tx,
            results: res_rx,
        })
    }
}

/// Runs `statfs` with a per-mount timeout, remembering mounts whose call never returned.
pub struct StatfsRunner {
    timeout: std::time::Duration,
    stuck: Arc<Mutex<HashSet<String>>>,
    idle: Mutex<Vec<Worker>>,
}

/// The outcome of one `statfs` through [`StatfsRunner`].
#[derive(Debug)]
pub enum StatOutcome {
    /// The call returned these counts.
    Ok(FsStats),
    /// The call failed (permission, ENOENT, ...).
    Failed(std::io::Error),
    /// The call did not return within the timeout, now or on an earlier scrape.
    Stuck,
}

impl StatfsRunner {
    /// A runner giving each call `timeout`.
    pub fn new(timeout: std::time::Duration) -> Self {
        Self {
            timeout,
            stuck: Arc::new(Mutex::new(HashSet::new())),
            idle: Mutex::new(Vec::new()),
        }
    }

    #[cfg(test)]
    fn is_stuck(&self, mount_point: &str) -> bool {
        self.stuck
            .lock()
            .map(|s| s.contains(mount_point))
            .unwrap_or(false)
    }

    fn take_worker(&self) -> Result<Worker, CollectError> {
        if let Some(w) = self.idle.lock().ok().and_then(|mut v| v.pop()) {
            return Ok(w);
        }
        Worker::spawn(Arc::clone(&self.stuck))
            .map_err(|e| CollectError::Other(format!("starting a statfs thread: {e}")))
    }

    /// `statfs` on every `(path, mount_point)` pair; outcomes in the same order.
    pub fn run(&self, targets: &[(PathBuf, String)]) -> Result<Vec<StatOutcome>, CollectError> {
        let mut out: Vec<Option<StatOutcome>> = targets.iter().map(|_| None).collect();
        let mut pending = Vec::with_capacity(targets.len());
        if let Ok(stuck) = self.stuck.lock() {
            for (i, (_, mount_point)) in targets.iter().enumerate() {
                if stuck.contains(mount_point) {
                    tracing::debug!(mountpoint = %mount_point, "mount point is in an unresponsive state");
                    out[i] = Some(StatOutcome::Stuck);
                } else {
                    pending.push(i);
                }
            }
        }
        let mut next = 0;
        while next < pending.len() {
            let worker = self.take_worker()?;
            let batch: Vec<Job> = pending[next..]
                .iter()
                .map(|&i| targets[i].clone())
                .collect();
            if worker.jobs.send(batch).is_err() {
                // The thread is gone (it only ends after being abandoned); count this mount
                // as failed so the loop always advances.
                out[pending[next]] = Some(StatOutcome::Failed(std::io::Error::other(
                    "statfs worker exited",
                )));
                next += 1;
                continue;
            }
            let mut healthy = true;
            while healthy && next < pending.len() {
                let i = pending[next];
                next += 1;
                match worker.results.recv_timeout(self.timeout) {
                    Ok((_, Ok(stats))) => out[i] = Some(StatOutcome::Ok(stats)),
                    Ok((_, Err(e))) => out[i] = Some(StatOutcome::Failed(e)),
                    Err(RecvTimeoutError::Timeout) => {
                        let mount_point = &targets[i].1;
                        tracing::error!(
                            mountpoint = %mount_point,
                            timeout = ?self.timeout,
                            "statfs did not return in time; skipping this mount until it does"
                        );
                        if let Ok(mut s) = self.stuck.lock() {
                            s.insert(mount_point.clone());
                        }
                        out[i] = Some(StatOutcome::Stuck);
                        // Dropping the worker abandons the blocked thread; it exits once statfs
                        // returns. The remaining mounts go to a fresh worker.
                        healthy = false;
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        out[i] = Some(StatOutcome::Failed(std::io::Error::other(
                            "statfs worker exited",
                        )));
                        healthy = false;
                    }
                }
            }
            if healthy {
                if let Ok(mut idle) = self.idle.lock() {
                    idle.push(worker);
                }
            }
        }
        Ok(out
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| StatOutcome::Failed(std::io::Error::other("statfs not run")))
            })
            .collect())
    }
}

/// The filesystem collector.
pub struct FilesystemCollector {
    paths: HostPaths,
    opts: FilesystemOptions,
    runner: StatfsRunner,
}

impl FilesystemCollector {
    /// A collector reading the mounts under `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            paths: opts.paths.clone(),
            opts: opts.filesystem.clone(),
            runner: StatfsRunner::new(opts.filesystem.mount_timeout),
        }
    }

    fn read_mounts(&self) -> Result<Vec<Mount>, CollectError> {
        let primary = self.paths.proc("1/mounts");
        let text = match super::procfile::read_whole(&primary) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let fallback = self.paths.proc("mounts");
                super::procfile::read_whole(&fallback)
                    .map_err(|e| CollectError::io(fallback.display(), e))?
            }
            Err(e) => return Err(CollectError::io(primary.display(), e)),
        };
        let rootfs = self.paths.rootfs.to_string_lossy();
        parse_mounts(&text, &rootfs).map_err(|d| CollectError::parse(primary.display(), d))
    }
}

const LABELS: [&str; 3] = ["device", "fstype", "mountpoint"];

impl BlockingCollector for FilesystemCollector {
    fn name(&self) -> &str {
        "filesystem"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let mounts = self.read_mounts()?;
        let mut seen = HashSet::new();
        let mut reported = Vec::new();
        for m in mounts {
            if !is_reported(&self.opts, &m) {
                continue;
            }
            // The same filesystem mounted twice with the same labels would be a duplicate series.
            if !seen.insert((m.device.clone(), m.mount_point.clone(), m.fs_type.clone())) {
                continue;
            }
            reported.push(m);
        }
        let targets: Vec<(PathBuf, String)> = reported
            .iter()
            .map(|m| {
                (
                    self.paths.root(std::path::Path::new(&m.mount_point)),
                    m.mount_point.clone(),
                )
            })
            .collect();
        let outcomes = self.runner.run(&targets)?;
        write_samples(out, &reported, &outcomes);
        Ok(())
    }
}

/// Emits the families for `mounts` and their `statfs` outcomes (same order and length).
pub fn write_samples(out: &mut MetricSet, mounts: &[Mount], outcomes: &[StatOutcome]) {
    fn pairs(m: &Mount) -> [(&'static str, &str); 3] {
        [
            (LABELS[0], m.device.as_str()),
            (LABELS[1], m.fs_type.as_str()),
            (LABELS[2], m.mount_point.as_str()),
        ]
    }
    {
        let fam = out.family(
            "node_filesystem_device_error",
            "Whether an error occurred while getting statistics for the given device.",
            MetricType::Gauge,
        );
        for (m, o) in mounts.iter().zip(outcomes) {
            let err = if matches!(o, StatOutcome::Ok(_)) {
                0.0
            } else {
                1.0
            };
            if let StatOutcome::Failed(e) = o {
                tracing::debug!(mountpoint = %m.mount_point, error = %e, "statfs failed");
            }
            fam.sample(&pairs(m), err);
        }
    }
    type Getter = fn(&FsStats) -> f64;
    let families: [(&'static str, &'static str, Getter); 5] = [
        (
            "node_filesystem_size_bytes",
            "Filesystem size in bytes.",
            |s| (s.blocks as f64) * (s.block_size as f64),
        ),
        (
            "node_filesystem_free_bytes",
            "Filesystem free space in bytes.",
            |s| (s.blocks_free as f64) * (s.block_size as f64),
        ),
        (
            "node_filesystem_avail_bytes",
            "Filesystem space available to non-root users in bytes.",
            |s| (s.blocks_avail as f64) * (s.block_size as f64),
        ),
        (
            "node_filesystem_files",
            "Filesystem total file nodes.",
            |s| s.files as f64,
        ),
        (
            "node_filesystem_files_free",
            "Filesystem total free file nodes.",
            |s| s.files_free as f64,
        ),
    ];
    for (name, help, get) in families {
        let fam = out.family(name, help, MetricType::Gauge);
        for (m, o) in mounts.iter().zip(outcomes) {
            if let StatOutcome::Ok(s) = o {
                fam.sample(&pairs(m), get(s));
            }
        }
    }
    let fam = out.family(
        "node_filesystem_readonly",
        "Filesystem read-only status.",
        MetricType::Gauge,
    );
    for (m, o) in mounts.iter().zip(outcomes) {
        if matches!(o, StatOutcome::Ok(_)) {
            let ro = m.options.split(',').any(|o| o == "ro");
            fam.sample(&pairs(m), if ro { 1.0 } else { 0.0 });
        }
    }
    out.prune_empty();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MOUNTS: &str = "\
proc /proc proc rw,relatime 0 0
/dev/vda / ext4 rw,relatime,discard 0 0
tmpfs /dev/shm tmpfs rw,relatime 0 0
/dev/sdb1 /mnt/with\\040space ext4 ro,relatime 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
overlay /var/lib/docker/overlay2/abc/merged overlay rw 0 0
/dev/vda / ext4 rw,relatime,discard 0 0
";

    #[test]
    fn parses_and_unescapes_mounts() {
        let m = parse_mounts(MOUNTS, "/").unwrap();
        assert_eq!(m.len(), 7);
        assert_eq!(m[3].mount_point, "/mnt/with space");
        assert_eq!(m[3].options, "ro,relatime");
        assert_eq!(m[1].device, "/dev/vda");
    }

    #[test]
    fn rootfs_prefix_is_stripped() {
        let m = parse_mounts("/dev/sda1 /host ext4 rw 0 0\n/dev/sda2 /host/home ext4 rw 0 0\n/dev/x /hostile ext4 rw 0 0\n", "/host").unwrap();
        assert_eq!(m[0].mount_point, "/");
        assert_eq!(m[1].mount_point, "/home");
        assert_eq!(m[2].mount_point, "/hostile");
    }

    #[test]
    fn short_line_is_a_parse_error() {
        let err = parse_mounts("/dev/sda1 /\n", "/").unwrap_err();
        assert!(err.starts_with("line 1:"), "{err}");
    }

    #[test]
    fn default_excludes_follow_node_exporter() {
        let opts = FilesystemOptions::default();
        let kept: Vec<String> = parse_mounts(MOUNTS, "/")
            .unwrap()
            .into_iter()
            .filter(|m| is_reported(&opts, m))
            .map(|m| m.mount_point)
            .collect();
        assert_eq!(kept, vec!["/", "/mnt/with space", "/"]);
    }

    #[test]
    fn samples_for_ok_failed_and_stuck_mounts() {
        let mounts = parse_mounts(
            "/dev/a / ext4 rw 0 0\n/dev/b /ro ext4 ro,noatime 0 0\nnfs:/x /nfs nfs rw 0 0\n",
            "/",
        )
        .unwrap();
        let stats = FsStats {
            block_size: 4096,
            blocks: 100,
            blocks_free: 40,
            blocks_avail: 30,
            files: 1000,
            files_free: 900,
        };
        let outcomes = vec![
            StatOutcome::Ok(stats),
            StatOutcome::Ok(stats),
            StatOutcome::Stuck,
        ];
        let mut set = MetricSet::new();
        write_samples(&mut set, &mounts, &outcomes);
        let l = |mp| [("mountpoint", mp)];
        assert_eq!(
            set.find("node_filesystem_size_bytes", &l("/")),
            Some(409600.0)
        );
        assert_eq!(
            set.find("node_filesystem_free_bytes", &l("/")),
            Some(163840.0)
        );
        assert_eq!(
            set.find("node_filesystem_avail_bytes", &l("/")),
            Some(122880.0)
        );
        assert_eq!(set.find("node_filesystem_files", &l("/")), Some(1000.0));
        assert_eq!(set.find("node_filesystem_files_free", &l("/")), Some(900.0));
        assert_eq!(set.find("node_filesystem_readonly", &l("/")), Some(0.0));
        assert_eq!(set.find("node_filesystem_readonly", &l("/ro")), Some(1.0));
        assert_eq!(
            set.find("node_filesystem_device_error", &l("/nfs")),
            Some(1.0)
        );
        assert_eq!(set.find("node_filesystem_device_error", &l("/")), Some(0.0));
        assert_eq!(set.find("node_filesystem_size_bytes", &l("/nfs")), None);
        assert_eq!(
            set.find(
                "node_filesystem_size_bytes",
                &[
                    ("device", "/dev/a"),
                    ("fstype", "ext4"),
                    ("mountpoint", "/")
                ]
            ),
            Some(409600.0)
        );
    }

    #[test]
    fn statfs_of_a_real_directory_and_a_missing_one() {
        let runner = StatfsRunner::new(Duration::from_secs(5));
        let dir = tempfile::tempdir().unwrap();
        let out = runner
            .run(&[
                (dir.path().to_path_buf(), "/tmpdir".into()),
                (dir.path().join("missing"), "/missing".into()),
            ])
            .unwrap();
        match &out[0] {
            StatOutcome::Ok(s) => assert!(s.blocks > 0 && s.block_size > 0),
            other => panic!("expected stats, got {other:?}"),
        }
        assert!(matches!(out[1], StatOutcome::Failed(_)));
    }

    /// A hung network mount cannot be produced in a unit test; a timeout far shorter than any
    /// `statfs` drives the same path: the mount is marked stuck, then cleared once the abandoned
    /// call returns.
    #[test]
    fn a_timed_out_mount_is_remembered_until_its_call_returns() {
        let runner = StatfsRunner::new(Duration::from_nanos(1));
        let dir = tempfile::tempdir().unwrap();
        // With a 1ns budget the first call almost surely times out; repeat until it does.
        let mut stuck_seen = false;
        for _ in 0..100 {
            let out = runner
                .run(&[(dir.path().to_path_buf(), "/slow".into())])
                .unwrap();
            if matches!(out[0], StatOutcome::Stuck) {
                stuck_seen = true;
                break;
            }
        }
        assert!(stuck_seen, "a 1ns timeout never fired");
        // The abandoned call returns almost immediately and clears the stuck mark.
        let mut cleared = false;
        for _ in 0..200 {
            if !runner.is_stuck("/slow") {
                cleared = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            cleared,
            "stuck mark was never cleared after statfs returned"
        );
    }
}
