//! Odd cases of the server collectors, through the real binary: an unreadable source fails only
//! its own collector (`node_scrape_collector_success 0`) while the others keep reporting; a
//! device whose class link points nowhere (removed between listing and reading) is left out;
//! absent hardware is success with no samples.

mod common;

use common::{scrape, start_ours};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

#[test]
fn unreadable_sources_fail_only_their_collector() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // A directory where a file is expected: every read of it fails (EISDIR), as an unreadable
    // file would.
    fs::create_dir_all(root.join("proc/net/softnet_stat")).unwrap();
    fs::create_dir_all(root.join("proc/sys/kernel/random/entropy_avail")).unwrap();
    // A kstat row whose integer does not parse.
    write(
        root,
        "proc/spl/kstat/zfs/arcstats",
        "6 1 0x01 2 96 1 2\nname type data\nhits 4 12\nmisses 4 twelve\n",
    );
    // A readable source next to them.
    write(
        root,
        "proc/schedstat",
        "version 15\ncpu0 0 0 0 0 0 0 10 20 30\n",
    );
    // A thermal zone that vanished and one that did not; no cooling devices.
    write(root, "sys/class/thermal/thermal_zone1/type", "acpitz\n");
    write(root, "sys/class/thermal/thermal_zone1/temp", "41000\n");
    symlink(
        "../../devices/gone",
        root.join("sys/class/thermal/thermal_zone0"),
    )
    .unwrap();

    let procfs = format!("--path.procfs={}", root.join("proc").display());
    let sysfs = format!("--path.sysfs={}", root.join("sys").display());
    let ours = start_ours(&[
        "--collector.disable-defaults",
        "--collector.softnet",
        "--collector.entropy",
        "--collector.zfs",
        "--collector.schedstat",
        "--collector.thermal_zone",
        "--collector.nvme",
        "--collector.ipvs",
        &procfs,
        &sysfs,
    ]);
    for _ in 0..2 {
        let e = scrape(ours.addr);
        let ok = |c: &str| e.value("node_scrape_collector_success", &[("collector", c)]);
        assert_eq!(ok("softnet"), 0.0);
        assert_eq!(ok("entropy"), 0.0);
        assert_eq!(ok("zfs"), 0.0);
        assert_eq!(ok("schedstat"), 1.0);
        assert_eq!(ok("thermal_zone"), 1.0);
        // Absent hardware and modules: success, nothing reported.
        assert_eq!(ok("nvme"), 1.0);
        assert_eq!(ok("ipvs"), 1.0);
        assert!(e.names_with_prefix("node_nvme_").is_empty());
        assert!(e.names_with_prefix("node_ipvs_").is_empty());
        assert!(e.names_with_prefix("node_softnet_").is_empty());
        assert_eq!(
            e.value("node_schedstat_timeslices_total", &[("cpu", "0")]),
            30.0
        );
        assert_eq!(
            e.values("node_thermal_zone_temp", &[]),
            vec![41.0],
            "only the zone that is still there"
        );
    }
}
