//! Starts the real `watchkeeper-host` and checks what a scraper sees against this machine's
//! `/proc` and `/sys`, and against the fixture trees under `tests/fixtures`.

mod common;

use common::{proc_file, scrape, start_ours};
use std::collections::BTreeSet;

fn meminfo_kb(key: &str) -> f64 {
    proc_file("meminfo")
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("{key} in /proc/meminfo"))
}

#[test]
fn default_scrape_matches_proc() {
    let ours = start_ours(&[]);
    let m = scrape(ours.addr);

    assert_eq!(
        m.value("node_memory_MemTotal_bytes", &[]),
        meminfo_kb("MemTotal") * 1024.0
    );

    let btime: f64 = proc_file("stat")
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
        .expect("btime in /proc/stat");
    assert_eq!(m.value("node_boot_time_seconds", &[]), btime);

    let cpus_in_proc = proc_file("stat")
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    let cpus_scraped: BTreeSet<String> = m
        .samples
        .iter()
        .filter(|s| s.name == "node_cpu_seconds_total")
        .map(|s| s.labels["cpu"].clone())
        .collect();
    assert_eq!(cpus_scraped.len(), cpus_in_proc);

    // Every collector of this file ran and succeeded, under both self-metric prefixes.
    for c in [
        "filesystem",
        "diskstats",
        "netdev",
        "netclass",
        "hwmon",
        "mdadm",
    ] {
        assert_eq!(
            m.value("node_scrape_collector_success", &[("collector", c)]),
            1.0,
            "{c}"
        );
        assert_eq!(
            m.value(
                "watchkeeper_host_scrape_collector_success",
                &[("collector", c)]
            ),
            1.0,
            "{c}"
        );
        let d = m.value(
            "node_scrape_collector_duration_seconds",
            &[("collector", c)],
        );
        assert!((0.0..10.0).contains(&d), "{c} took {d}s");
    }
}

#[test]
fn filesystem_root_matches_statfs() {
    let ours = start_ours(&["--collector.disable-defaults", "--collector.filesystem"]);
    let m = scrape(ours.addr);
    let st = rustix::fs::statfs("/").expect("statfs /");
    let bsize = st.f_bsize as f64;
    let root = [("mountpoint", "/")];
    assert_eq!(
        m.value("node_filesystem_size_bytes", &root),
        st.f_blocks as f64 * bsize
    );
    assert_eq!(m.value("node_filesystem_files", &root), st.f_files as f64);
    assert_eq!(m.value("node_filesystem_device_error", &root), 0.0);
    // Free space moves while other processes write; within 1 GiB is "the same filesystem".
    let free = m.value("node_filesystem_avail_bytes", &root);
    assert!((free - st.f_bavail as f64 * bsize).abs() < 1024.0 * 1024.0 * 1024.0);
    // Pseudo filesystems and /proc, /sys, /dev are excluded by default.
    for s in m
        .samples
        .iter()
        .filter(|s| s.name.starts_with("node_filesystem_"))
    {
        let mp = &s.labels["mountpoint"];
        assert!(
            !mp.starts_with("/proc") && !mp.starts_with("/sys") && !mp.starts_with("/dev"),
            "{mp}"
        );
        assert_ne!(s.labels["fstype"], "proc");
    }
    // Only our own collector's families under node_filesystem_.
    let expected: BTreeSet<String> = [
        "node_filesystem_avail_bytes",
        "node_filesystem_device_error",
        "node_filesystem_files",
        "node_filesystem_files_free",
        "node_filesystem_free_bytes",
        "node_filesystem_readonly",
        "node_filesystem_size_bytes",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(m.names_with_prefix("node_filesystem_"), expected);
}

#[test]
fn mount_point_exclude_flag_overrides_the_default() {
    let ours = start_ours(&[
        "--collector.disable-defaults",
        "--collector.filesystem",
        "--collector.filesystem.mount-points-exclude=^/$",
    ]);
    let m = scrape(ours.addr);
    assert!(m
        .values("node_filesystem_size_bytes", &[("mountpoint", "/")])
        .is_empty());
}

#[test]
fn network_and_disk_counters_match_proc_and_sys() {
    let before_dev = proc_file("net/dev");
    let lo_rx_before: f64 = before_dev
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("lo:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("lo in /proc/net/dev");
    // Read before the scrape: counters only grow, so the scrape must see at least these.
    let before_disks = proc_file("diskstats");
    let ours = start_ours(&[
        "--collector.disable-defaults",
        "--collector.netdev",
        "--collector.netclass",
        "--collector.diskstats",
    ]);
    let m = scrape(ours.addr);
    let lo = [("device", "lo")];
    let lo_rx = m.value("node_network_receive_bytes_total", &lo);
    assert!(
        lo_rx >= lo_rx_before,
        "lo receive bytes went back: {lo_rx} < {lo_rx_before}"
    );
    let mtu: f64 = std::fs::read_to_string("/sys/class/net/lo/mtu")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(m.value("node_network_mtu_bytes", &lo), mtu);
    let ifindex: f64 = std::fs::read_to_string("/sys/class/net/lo/ifindex")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(m.value("node_network_iface_id", &lo), ifindex);
    assert_eq!(m.value("node_network_info", &lo), 1.0);

    // Every whole disk in /proc/diskstats that is not excluded by default is reported.
    let excluded =
        regex::Regex::new(watchkeeper_host::options::DEFAULT_DISKSTATS_DEVICE_EXCLUDE).unwrap();
    for line in before_disks.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let name = f[2];
        let found = m.values("node_disk_reads_completed_total", &[("device", name)]);
        if excluded.is_match(name) {
            assert!(found.is_empty(), "{name} should be excluded");
        } else {
            let before: f64 = f[3].parse().unwrap();
            assert_eq!(found.len(), 1, "{name} missing");
            assert!(found[0] >= before);
            assert_eq!(
                m.value(
                    "node_disk_info",
                    &[("device", name), ("major", f[0]), ("minor", f[1])]
                ),
                1.0
            );
        }
    }
}

#[test]
fn fixture_trees_for_mdadm_and_hwmon() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let procfs = format!("--path.procfs={fixtures}/proc");
    let sysfs = format!("--path.sysfs={fixtures}/hwmon/sys");
    let ours = start_ours(&[
        "--collector.disable-defaults",
        "--collector.mdadm",
        "--collector.hwmon",
        &procfs,
        &sysfs,
    ]);
    let m = scrape(ours.addr);
    assert_eq!(
        m.value(
            "node_md_state",
            &[("device", "md6"), ("state", "recovering")]
        ),
        1.0
    );
    assert_eq!(
        m.value("node_md_disks", &[("device", "md6"), ("state", "failed")]),
        1.0
    );
    assert_eq!(
        m.value("node_md_blocks_synced", &[("device", "md6")]),
        616256.0
    );
    assert_eq!(m.value("node_md_disks_required", &[("device", "md3")]), 8.0);
    assert_eq!(
        m.value(
            "node_hwmon_temp_celsius",
            &[("chip", "platform_coretemp_0"), ("sensor", "temp1")]
        ),
        52.0
    );
    assert_eq!(
        m.value(
            "node_hwmon_chip_names",
            &[("chip", "platform_coretemp_0"), ("chip_name", "coretemp")]
        ),
        1.0
    );
    assert_eq!(m.types["node_hwmon_temp_celsius"], "gauge");
    assert_eq!(m.types["node_md_disks"], "gauge");
}

#[test]
fn absent_mdstat_and_hwmon_mean_no_samples_not_failure() {
    let empty = tempfile::tempdir().unwrap();
    let procfs = format!("--path.procfs={}", empty.path().display());
    let sysfs = format!("--path.sysfs={}", empty.path().display());
    let ours = start_ours(&[
        "--collector.disable-defaults",
        "--collector.mdadm",
        "--collector.hwmon",
        &procfs,
        &sysfs,
    ]);
    let m = scrape(ours.addr);
    assert!(m.names_with_prefix("node_md_").is_empty());
    assert!(m.names_with_prefix("node_hwmon_").is_empty());
    assert_eq!(
        m.value("node_scrape_collector_success", &[("collector", "mdadm")]),
        1.0
    );
    assert_eq!(
        m.value("node_scrape_collector_success", &[("collector", "hwmon")]),
        1.0
    );
}

#[test]
fn concurrent_scrapes_all_succeed() {
    let ours = start_ours(&[]);
    let addr = ours.addr;
    let handles: Vec<_> = (0..16)
        .map(|_| std::thread::spawn(move || common::http_get(addr, "/metrics")))
        .collect();
    for h in handles {
        let (status, body) = h.join().unwrap();
        assert_eq!(status, 200);
        assert!(body.contains("node_filesystem_size_bytes"));
    }
}
