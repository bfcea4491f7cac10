//! A hung mount must not hang the scrape: `statfs` on it times out per mount, the mount is
//! reported with `node_filesystem_device_error 1`, and later scrapes skip it.
//!
//! The hung mount is real: a FUSE filesystem whose server never answers (its `/dev/fuse`
//! descriptor is held open and never read), mounted in a private mount namespace made with
//! `unshare`, so no other process on the machine ever sees it. The exporter runs inside that
//! namespace; its mount list comes from a procfs stand-in listing the FUSE mount next to `/`,
//! because `/proc/1/mounts` shows pid 1's namespace, not ours.

mod common;

use common::{in_ci, scrape, start_logging_command};
use std::process::Command;
use std::time::{Duration, Instant};

fn can_mount_fuse() -> bool {
    let root = rustix::process::geteuid().is_root();
    let ok = root
        && std::path::Path::new("/dev/fuse").exists()
        && std::path::Path::new("/usr/bin/unshare").exists()
        && std::path::Path::new("/usr/bin/mount").exists();
    if !ok {
        assert!(
            !in_ci(),
            "CI must run as root with /dev/fuse, unshare and mount for this test"
        );
        eprintln!("notice: needs root, /dev/fuse, unshare and mount; hung-mount test skipped");
    }
    ok
}

#[test]
fn hung_fuse_mount_times_out_and_is_skipped_afterwards() {
    if !can_mount_fuse() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("hung");
    std::fs::create_dir(&mnt).unwrap();
    let fake_proc = dir.path().join("proc");
    std::fs::create_dir_all(fake_proc.join("1")).unwrap();
    std::fs::write(
        fake_proc.join("1/mounts"),
        format!(
            "/dev/root / ext4 rw 0 0\nhang {} fuse rw,user_id=0,group_id=0 0 0\n",
            mnt.display()
        ),
    )
    .unwrap();

    // `mount -i`: no /sbin/mount.fuse helper (installed with the fuse package, it would take
    // the source "hang" for a program to run) — the kernel's fuse mount on our own descriptor.
    let mut cmd = Command::new("/usr/bin/unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(
            "exec 3<>/dev/fuse && \
             mount -i -t fuse -o fd=3,rootmode=40000,user_id=0,group_id=0 hang \"$1\" && \
             shift && exec \"$@\"",
        )
        .arg("sh")
        .arg(&mnt)
        .arg(common::BIN)
        .args([
            "--web.listen-address=127.0.0.1:0",
            "--collector.disable-defaults",
            "--collector.filesystem",
            "--collector.filesystem.mount-timeout=3s",
            "--log.level=debug",
        ])
        .arg(format!("--path.procfs={}", fake_proc.display()));
    let ours = start_logging_command(cmd);
    let hung = [("mountpoint", mnt.to_str().unwrap())];

    // First scrape: the statfs on the FUSE mount blocks; we answer after the 3s mount timeout.
    let started = Instant::now();
    let first = scrape(ours.addr);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(9), "first scrape took {took:?}");
    assert_eq!(first.value("node_filesystem_device_error", &hung), 1.0);
    assert!(first.values("node_filesystem_size_bytes", &hung).is_empty());
    // The other mount is still reported and the collector still succeeds.
    assert_eq!(
        first.value("node_filesystem_device_error", &[("mountpoint", "/")]),
        0.0
    );
    assert!(first.value("node_filesystem_size_bytes", &[("mountpoint", "/")]) > 0.0);
    assert_eq!(
        first.value(
            "node_scrape_collector_success",
            &[("collector", "filesystem")]
        ),
        1.0
    );

    // The log line travels through a reader thread: wait for it (bounded), do not race it.
    let mut log: Vec<String> = Vec::new();
    let wait_until = Instant::now() + Duration::from_secs(5);
    while !log
        .iter()
        .any(|l| l.contains("statfs did not return in time"))
    {
        let left = wait_until.saturating_duration_since(Instant::now());
        match ours.stderr_lines.recv_timeout(left) {
            Ok(line) => log.push(line),
            Err(_) => break,
        }
    }
    log.extend(ours.stderr_lines.try_iter());
    assert_eq!(
        log.iter()
            .filter(|l| l.contains("statfs did not return in time"))
            .count(),
        1,
        "one timeout logged: {log:#?}"
    );

    // Later scrapes skip the stuck mount instead of waiting for it again: well under the 3s
    // mount timeout, no new timeout, and the debug line saying it was skipped.
    for _ in 0..3 {
        let started = Instant::now();
        let again = scrape(ours.addr);
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "a scrape waited on the stuck mount: {took:?}"
        );
        assert_eq!(again.value("node_filesystem_device_error", &hung), 1.0);
        assert_eq!(
            again.value("node_filesystem_device_error", &[("mountpoint", "/")]),
            0.0
        );
    }
    std::thread::sleep(Duration::from_millis(200));
    let log: Vec<String> = ours.stderr_lines.try_iter().collect();
    assert!(
        !log.iter()
            .any(|l| l.contains("statfs did not return in time")),
        "{log:#?}"
    );
    assert_eq!(
        log.iter()
            .filter(|l| l.contains("mount point is in an unresponsive state"))
            .count(),
        3,
        "{log:#?}"
    );
}
