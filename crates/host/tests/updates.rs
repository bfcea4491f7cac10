//! The `updates` collector against a real dpkg/apt state in a throwaway root: packages
//! installed with `dpkg --root`, a local file-based repository built with `dpkg-deb` and
//! `apt-ftparchive` (one normal and one `-security` archive), fetched with a real `apt-get
//! update`, a held package and an automatically installed orphan. The running binary is
//! scraped over HTTP and the exact counts asserted.

mod common;

use common::{in_ci, scrape, start_ours, Exposition, Running};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const TOOLS: [&str; 5] = ["dpkg", "dpkg-deb", "apt-get", "apt-mark", "apt-ftparchive"];

/// Whether every tool is there; skips (or fails under CI=true) otherwise.
fn tools_present() -> bool {
    let missing: Vec<&str> = TOOLS
        .iter()
        .copied()
        .filter(|t| {
            Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .output()
                .map(|o| !o.status.success())
                .unwrap_or(true)
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        !in_ci(),
        "missing {missing:?} (apt-utils provides apt-ftparchive)"
    );
    eprintln!("skipping: missing {missing:?} (install apt-utils)");
    false
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds `<name>_<version>_all.deb` in `dir` with `dpkg-deb`.
fn build_deb(work: &Path, name: &str, version: &str, dir: &Path) -> PathBuf {
    let tree = work.join(format!("build/{name}_{version}"));
    std::fs::create_dir_all(tree.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(tree.join(format!("usr/share/doc/{name}"))).unwrap();
    std::fs::write(
        tree.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: all\n\
             Maintainer: Watchkeeper tests <tests@example.invalid>\nDescription: test package {name}\n"
        ),
    )
    .unwrap();
    std::fs::write(tree.join(format!("usr/share/doc/{name}/README")), name).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let deb = dir.join(format!("{name}_{version}_all.deb"));
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "-b"])
        .arg(&tree)
        .arg(&deb));
    deb
}

/// A flat repository in `dir`: Packages and a Release with the given label and suite.
fn index_repository(dir: &Path, label: &str, suite: &str, codename: &str) {
    let packages = run(Command::new("apt-ftparchive")
        .args(["packages", "."])
        .current_dir(dir));
    std::fs::write(dir.join("Packages"), packages).unwrap();
    let release = run(Command::new("apt-ftparchive")
        .args([
            "-o",
            &format!("APT::FTPArchive::Release::Label={label}"),
            "-o",
            "APT::FTPArchive::Release::Origin=Test",
            "-o",
            &format!("APT::FTPArchive::Release::Codename={codename}"),
            "-o",
            &format!("APT::FTPArchive::Release::Suite={suite}"),
            "-o",
            "APT::FTPArchive::Release::Version=1",
            "release",
            ".",
        ])
        .current_dir(dir));
    std::fs::write(dir.join("Release"), release).unwrap();
}

/// The throwaway system: root filesystem, procfs stand-in, and where the repositories live.
struct System {
    _work: tempfile::TempDir,
    root: PathBuf,
    proc: PathBuf,
}

fn apt_root_options(root: &Path) -> Vec<String> {
    vec![
        "-o".into(),
        format!("Dir={}", root.display()),
        "-o".into(),
        "Debug::NoLocking=true".into(),
        "-o".into(),
        "APT::Sandbox::User=root".into(),
    ]
}

/// Installed: alpha, beta, gamma, held (on hold), orphan (automatically installed, unneeded),
/// all 1.0. Repository "stable" has alpha, beta and held 1.1; "stable-security" has gamma
/// 1.0+sec1.
fn build_system() -> System {
    let work = tempfile::tempdir().unwrap();
    let w = work.path().to_path_buf();
    let root = w.join("root");
    for d in [
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
        "var/lib/apt/lists/partial",
        "var/cache/apt/archives/partial",
        "etc/apt/sources.list.d",
        "etc/apt/apt.conf.d",
        "etc/apt/preferences.d",
        "run",
        "boot",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    std::fs::write(root.join("var/lib/dpkg/available"), "").unwrap();

    let old: Vec<PathBuf> = ["alpha", "beta", "gamma", "held", "orphan"]
        .iter()
        .map(|p| build_deb(&w, p, "1.0", &w.join("old")))
        .collect();
    run(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args(["--force-not-root", "--force-script-chrootless", "-i"])
        .args(&old));
    let mut sel = Command::new("dpkg");
    sel.arg(format!("--root={}", root.display()))
        .args(["--force-not-root", "--set-selections"])
        .stdin(std::process::Stdio::piped());
    let mut child = sel.spawn().unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"held hold\n")
            .unwrap();
    }
    assert!(child.wait().unwrap().success());
    std::fs::write(
        root.join("var/lib/apt/extended_states"),
        "Package: orphan\nArchitecture: all\nAuto-Installed: 1\n",
    )
    .unwrap();

    let main = w.join("repo/main");
    let security = w.join("repo/security");
    for p in ["alpha", "beta", "held"] {
        build_deb(&w, p, "1.1", &main);
    }
    build_deb(&w, "gamma", "1.0+sec1", &security);
    // Like Debian's: the security archive's Label differs from its Origin.
    index_repository(&main, "Test", "stable", "bookworm");
    index_repository(
        &security,
        "Test-Security",
        "stable-security",
        "bookworm-security",
    );
    std::fs::write(
        root.join("etc/apt/sources.list.d/test.list"),
        format!(
            "deb [trusted=yes] file:{} ./\ndeb [trusted=yes] file:{} ./\n",
            main.display(),
            security.display()
        ),
    )
    .unwrap();
    run(Command::new("apt-get")
        .args(apt_root_options(&root))
        .args(["-q", "update"])
        .env("LC_ALL", "C"));

    let proc = w.join("proc");
    std::fs::create_dir_all(proc.join("sys/kernel")).unwrap();
    std::fs::write(proc.join("sys/kernel/osrelease"), "6.1.0-9-amd64\n").unwrap();
    for r in ["6.1.0-9-amd64", "6.1.0-10-amd64"] {
        std::fs::write(root.join(format!("boot/vmlinuz-{r}")), "").unwrap();
    }
    System {
        _work: work,
        root,
        proc,
    }
}

fn start(system: &System) -> Running {
    start_ours(&[
        "--collector.disable-defaults",
        "--collector.updates",
        &format!("--path.rootfs={}", system.root.display()),
        &format!("--path.procfs={}", system.proc.display()),
    ])
}

/// Scrapes until the first refresh has finished (successfully or not).
fn scrape_after_refresh(running: &Running) -> Exposition {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let page = scrape(running.addr);
        let ok = page.value("node_scrape_collector_success", &[("collector", "updates")]);
        if ok == 0.0 || !page.values("apt_upgrades_pending", &[]).is_empty() {
            return page;
        }
        assert!(Instant::now() < deadline, "no refresh within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn exact_counts_from_a_real_apt_state() {
    if !tools_present() {
        return;
    }
    let system = build_system();
    std::fs::write(
        system.root.join("run/reboot-required"),
        "*** System restart required ***\n",
    )
    .unwrap();
    std::fs::write(
        system.root.join("run/reboot-required.pkgs"),
        "linux-image-amd64\nlibc6\n",
    )
    .unwrap();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let running = start(&system);
    let page = scrape_after_refresh(&running);

    assert_eq!(
        page.value("node_scrape_collector_success", &[("collector", "updates")]),
        1.0
    );
    // apt_info.py's origin label: Origin:Codename/Archive.
    let stable = [("origin", "Test:bookworm/stable"), ("arch", "all")];
    let security = [
        ("origin", "Test:bookworm-security/stable-security"),
        ("arch", "all"),
    ];
    assert_eq!(page.value("apt_upgrades_pending", &stable), 2.0);
    assert_eq!(page.value("apt_upgrades_pending", &security), 1.0);
    assert_eq!(page.values("apt_upgrades_pending", &[]).len(), 2);
    assert_eq!(page.value("apt_upgrades_held", &stable), 1.0);
    assert_eq!(page.values("apt_upgrades_held", &[]).len(), 1);
    assert_eq!(page.value("apt_security_upgrades_pending", &[]), 1.0);
    assert_eq!(page.value("apt_autoremove_pending", &[]), 1.0);
    assert_eq!(page.value("apt_held_packages", &[]), 1.0);
    assert_eq!(page.value("node_reboot_required", &[]), 1.0);
    assert_eq!(page.value("node_reboot_required_packages", &[]), 2.0);
    assert_eq!(
        page.value(
            "node_kernel_release_info",
            &[
                ("running", "6.1.0-9-amd64"),
                ("installed", "6.1.0-10-amd64")
            ]
        ),
        1.0
    );
    assert_eq!(page.value("node_kernel_reboot_pending", &[]), 1.0);
    let refreshed = page.value("apt_upgrades_last_refresh_timestamp_seconds", &[]);
    assert!(refreshed >= before - 1.0, "{refreshed} < {before}");
    let lists = page.value("apt_package_lists_last_update_timestamp_seconds", &[]);
    assert!(
        lists > before - 600.0 && lists <= refreshed + 1.0,
        "{lists}"
    );
    assert_eq!(
        page.value("apt_package_cache_timestamp_seconds", &[]),
        lists
    );
    assert_eq!(
        page.types.get("apt_upgrades_pending").map(String::as_str),
        Some("gauge")
    );
}

#[test]
fn no_upgrades_reports_zero_like_the_textfile_scripts() {
    if !tools_present() {
        return;
    }
    let system = build_system();
    // Without package lists nothing is upgradable (and there is no reboot flag).
    std::fs::remove_file(system.root.join("etc/apt/sources.list.d/test.list")).unwrap();
    for e in std::fs::read_dir(system.root.join("var/lib/apt/lists")).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let running = start(&system);
    let page = scrape_after_refresh(&running);
    let empty = [("origin", ""), ("arch", "")];
    assert_eq!(page.value("apt_upgrades_pending", &empty), 0.0);
    assert_eq!(page.value("apt_upgrades_held", &empty), 0.0);
    assert_eq!(page.value("apt_security_upgrades_pending", &[]), 0.0);
    assert_eq!(page.value("node_reboot_required", &[]), 0.0);
}

#[test]
fn corrupt_dpkg_status_is_a_collector_failure_and_a_log_line() {
    if !tools_present() {
        return;
    }
    let system = build_system();
    // The real status file cut mid-stanza, followed by a line that is not a field.
    let status = system.root.join("var/lib/dpkg/status");
    let real = std::fs::read(&status).unwrap();
    let mut corrupt = real[..real.len() / 2].to_vec();
    corrupt.extend_from_slice(b"\n\x00garbage without a colon\n");
    std::fs::write(&status, corrupt).unwrap();
    let running = start(&system);
    let page = scrape_after_refresh(&running);
    assert_eq!(
        page.value("node_scrape_collector_success", &[("collector", "updates")]),
        0.0
    );
    assert!(page.values("apt_upgrades_pending", &[]).is_empty());
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(line) = running
            .stderr_lines
            .recv_timeout(Duration::from_millis(200))
        {
            if line.contains("package state refresh failed") {
                // Still alive and serving.
                let again = scrape(running.addr);
                assert_eq!(
                    again.value("node_scrape_collector_success", &[("collector", "updates")]),
                    0.0
                );
                return;
            }
            seen.push(line);
        }
    }
    panic!("no refresh failure logged: {seen:?}");
}

/// A refresh that starts failing makes the collector fail; once the source is repaired the
/// next refresh serves the counts again (the process never restarts).
#[test]
fn failing_refresh_recovers_on_the_next_interval() {
    if !tools_present() {
        return;
    }
    let system = build_system();
    let running = start_ours(&[
        "--collector.disable-defaults",
        "--collector.updates",
        "--collector.updates.interval=1s",
        &format!("--path.rootfs={}", system.root.display()),
        &format!("--path.procfs={}", system.proc.display()),
    ]);
    let success = |page: &Exposition| {
        page.value("node_scrape_collector_success", &[("collector", "updates")])
    };
    let wait_for = |want: f64| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let page = scrape(running.addr);
            if success(&page) == want
                && (want == 0.0 || !page.values("apt_upgrades_pending", &[]).is_empty())
            {
                return page;
            }
            assert!(
                Instant::now() < deadline,
                "collector success never became {want}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let page = wait_for(1.0);
    assert_eq!(page.value("apt_security_upgrades_pending", &[]), 1.0);

    let status = system.root.join("var/lib/dpkg/status");
    let good = std::fs::read(&status).unwrap();
    std::fs::write(&status, b"Package alpha\nthis is not a status file\n").unwrap();
    let page = wait_for(0.0);
    assert!(page.values("apt_security_upgrades_pending", &[]).is_empty());

    std::fs::write(&status, good).unwrap();
    let page = wait_for(1.0);
    assert_eq!(page.value("apt_security_upgrades_pending", &[]), 1.0);
    assert_eq!(page.values("apt_upgrades_pending", &[]).len(), 2);
}

#[test]
fn zero_interval_is_a_usage_error() {
    let out = Command::new(common::BIN)
        .args([
            "--web.listen-address=127.0.0.1:0",
            "--collector.updates",
            "--collector.updates.interval=0s",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--collector.updates.interval must be greater than zero"),
        "{stderr}"
    );
}

/// apt blocked for good (here: its dpkg status file is a FIFO nobody writes to, so `open`
/// never returns) is killed at `--collector.updates.timeout`: a failed collector, a log line
/// naming the timeout, no apt process left behind, and scrapes stay fast.
#[test]
fn hung_apt_is_killed_at_the_timeout() {
    if !tools_present() {
        return;
    }
    let system = build_system();
    let status = system.root.join("var/lib/dpkg/status");
    std::fs::remove_file(&status).unwrap();
    run(Command::new("mkfifo").arg(&status));
    let running = start_ours(&[
        "--collector.disable-defaults",
        "--collector.updates",
        "--collector.updates.timeout=2s",
        &format!("--path.rootfs={}", system.root.display()),
        &format!("--path.procfs={}", system.proc.display()),
    ]);
    let started = Instant::now();
    let page = scrape(running.addr);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "scrape waited on apt"
    );
    assert!(page.values("apt_upgrades_pending", &[]).is_empty());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "no timeout logged: {seen:?}");
        let Ok(line) = running
            .stderr_lines
            .recv_timeout(Duration::from_millis(200))
        else {
            continue;
        };
        if line.contains("package state refresh failed") {
            assert!(line.contains("refresh timeout; killed"), "{line}");
            break;
        }
        seen.push(line);
    }
    // The log line comes from the refresh itself, a moment before its result is stored.
    let deadline = Instant::now() + Duration::from_secs(10);
    while scrape(running.addr).value("node_scrape_collector_success", &[("collector", "updates")])
        != 0.0
    {
        assert!(
            Instant::now() < deadline,
            "collector never reported the failure"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The killed apt-get is gone (reaped): no process still has the throwaway root on its
    // command line.
    let root = system.root.display().to_string();
    let leftovers: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&root) && c.contains("apt-get"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
