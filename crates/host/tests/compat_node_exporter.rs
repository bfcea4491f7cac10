//! Compatibility with node_exporter 1.5 (Debian's prometheus-node-exporter), run side by side on
//! this machine with the same collectors: the same metric families and label names in both
//! directions, and the same values where they are stable.

mod common;

use common::{in_ci, scrape, start_node_exporter, start_ours, Exposition, NODE_EXPORTER};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// The collectors node_exporter has, from the `--collector.<name>  Enable the <name> collector`
/// lines of its `--help`.
fn node_exporter_collectors() -> BTreeSet<String> {
    let out = Command::new(NODE_EXPORTER)
        .arg("--help")
        .output()
        .expect("node_exporter --help");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .filter(|l| l.contains("Enable the ") && l.contains(" collector"))
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|w| {
            w.strip_prefix("--collector.")
                .or_else(|| w.strip_prefix("--[no-]collector."))
        })
        .map(String::from)
        .collect()
}

/// Collectors both exporters have, and the flags that enable exactly those.
fn shared_collectors() -> Vec<&'static str> {
    let theirs = node_exporter_collectors();
    watchkeeper_host::collectors::ALL
        .iter()
        .map(|d| d.name)
        .filter(|n| theirs.contains(*n))
        .collect()
}

fn flags(shared: &[&str]) -> Vec<String> {
    let mut f = vec!["--collector.disable-defaults".to_string()];
    f.extend(shared.iter().map(|c| format!("--collector.{c}")));
    // Debian patches node_exporter's default mount-point exclude (adding /run, /mnt, /media);
    // give both the same explicit value so the comparison is about behaviour, not defaults.
    f.push(format!(
        "--collector.filesystem.mount-points-exclude={}",
        watchkeeper_host::options::DEFAULT_MOUNT_POINTS_EXCLUDE
    ));
    // Debian also makes node_exporter's netdev exclude `lo` by default (upstream 1.5 has no
    // default there, and neither do we): exclude nothing on both sides.
    f.push("--collector.netdev.device-exclude=^$".to_string());
    f
}

/// Sample name -> label names, for names under `node_`, without node_exporter's own build info.
fn shape(e: &Exposition) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in &e.samples {
        if !s.name.starts_with("node_") || s.name == "node_exporter_build_info" {
            continue;
        }
        out.entry(s.name.clone())
            .or_default()
            .extend(s.labels.keys().cloned());
    }
    out
}

fn reference_available() -> bool {
    if std::path::Path::new(NODE_EXPORTER).exists() {
        return true;
    }
    assert!(
        !in_ci(),
        "{NODE_EXPORTER} is required in CI (apt-get install prometheus-node-exporter)"
    );
    eprintln!("notice: {NODE_EXPORTER} not installed; compatibility test skipped");
    false
}

#[test]
fn same_families_labels_and_stable_values_as_node_exporter() {
    if !reference_available() {
        return;
    }
    let shared = shared_collectors();
    assert!(shared.len() >= 15, "too few shared collectors: {shared:?}");
    let args = flags(&shared);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let theirs_proc = start_node_exporter(&args);
    let ours_proc = start_ours(&args);
    let theirs = scrape(theirs_proc.addr);
    let ours = scrape(ours_proc.addr);
    let (t, o) = (shape(&theirs), shape(&ours));

    // Forward: everything node_exporter emits, with every label name it uses.
    let mut problems = Vec::new();
    for (name, labels) in &t {
        match o.get(name) {
            None => problems.push(format!("missing family {name}")),
            Some(ours_labels) if ours_labels != labels => problems.push(format!(
                "{name}: labels {ours_labels:?}, node_exporter has {labels:?}"
            )),
            Some(_) => {}
        }
    }
    // Reverse: nothing under node_ that node_exporter does not emit here.
    for name in o.keys() {
        if !t.contains_key(name) {
            problems.push(format!("extra family {name}"));
        }
    }
    assert!(
        problems.is_empty(),
        "compared with node_exporter ({shared:?}):\n{}",
        problems.join("\n")
    );

    // Declared types agree for every shared family.
    for name in t.keys() {
        if let (Some(a), Some(b)) = (theirs.types.get(name), ours.types.get(name)) {
            assert_eq!(b, a, "# TYPE of {name}");
        }
    }

    // Stable values agree.
    assert_eq!(
        ours.value("node_memory_MemTotal_bytes", &[]),
        theirs.value("node_memory_MemTotal_bytes", &[])
    );
    assert_eq!(
        ours.value("node_boot_time_seconds", &[]),
        theirs.value("node_boot_time_seconds", &[])
    );
    let cpus = |e: &Exposition| {
        e.samples
            .iter()
            .filter(|s| s.name == "node_cpu_seconds_total")
            .map(|s| s.labels["cpu"].clone())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(cpus(&ours), cpus(&theirs));
    let root = [("mountpoint", "/")];
    assert_eq!(
        ours.value("node_filesystem_size_bytes", &root),
        theirs.value("node_filesystem_size_bytes", &root)
    );
    assert_eq!(
        ours.value("node_filesystem_files", &root),
        theirs.value("node_filesystem_files", &root)
    );
    let (a, b) = (
        ours.value("node_filesystem_avail_bytes", &root),
        theirs.value("node_filesystem_avail_bytes", &root),
    );
    assert!(
        (a - b).abs() < 256.0 * 1024.0 * 1024.0,
        "avail bytes of / differ: {a} vs {b}"
    );
    // The same mounts, disks and interfaces are reported.
    for (family, label) in [
        ("node_filesystem_size_bytes", "mountpoint"),
        ("node_disk_reads_completed_total", "device"),
        ("node_network_mtu_bytes", "device"),
        ("node_network_up", "device"),
        ("node_network_receive_bytes_total", "device"),
    ] {
        let set = |e: &Exposition| {
            e.samples
                .iter()
                .filter(|s| s.name == family)
                .map(|s| s.labels[label].clone())
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(set(&ours), set(&theirs), "{family} by {label}");
    }
    for iface in theirs
        .samples
        .iter()
        .filter(|s| s.name == "node_network_mtu_bytes")
    {
        let dev = [("device", iface.labels["device"].as_str())];
        assert_eq!(
            ours.value("node_network_mtu_bytes", &dev),
            iface.value,
            "{dev:?}"
        );
    }
    for c in &shared {
        let ok = |e: &Exposition| e.value("node_scrape_collector_success", &[("collector", c)]);
        let (mine, reference) = (ok(&ours), ok(&theirs));
        if reference == 0.0 && mine == 1.0 {
            // node_exporter reports a collector whose source is absent on this host (no
            // /sys/class/hwmon, no /proc/mdstat, ...) as failed (its ErrNoData). We report it as
            // successful with no samples, so a failure alert means something broke. Allowed only
            // when node_exporter indeed emitted nothing for it.
            let prefix = match *c {
                "mdadm" => "node_md_".to_string(),
                other => format!("node_{other}_"),
            };
            assert!(
                theirs.names_with_prefix(&prefix).is_empty(),
                "node_exporter failed {c} but emitted {prefix}* samples"
            );
        } else {
            assert_eq!(mine, reference, "success of collector {c}");
        }
    }
}

/// Every sample of `prefixes` as (name, labels) -> value.
fn samples_of(e: &Exposition, prefixes: &[&str]) -> BTreeMap<(String, Vec<(String, String)>), f64> {
    e.samples
        .iter()
        .filter(|s| prefixes.iter().any(|p| s.name.starts_with(p)))
        .map(|s| {
            let labels = s
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            ((s.name.clone(), labels), s.value)
        })
        .collect()
}

/// The fixture trees under `tests/fixtures` (md arrays in every state, hwmon chips with every
/// sensor kind, disks of old and new kernels, a physical and a down virtual interface) read by
/// both exporters: every series and value must
/// be the same, not only the names.
#[test]
fn same_series_and_values_on_fixture_trees() {
    if !reference_available() {
        return;
    }
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let procfs = format!("--path.procfs={fixtures}/proc");
    let sysfs = format!("--path.sysfs={fixtures}/hwmon/sys");
    let args = [
        "--collector.disable-defaults",
        "--collector.hwmon",
        "--collector.mdadm",
        "--collector.diskstats",
        "--collector.netclass",
        &procfs,
        &sysfs,
    ];
    let theirs_proc = start_node_exporter(&args);
    let ours_proc = start_ours(&args);
    let theirs = scrape(theirs_proc.addr);
    let ours = scrape(ours_proc.addr);
    let prefixes = ["node_hwmon_", "node_md_", "node_disk_", "node_network_"];
    let (t, o) = (samples_of(&theirs, &prefixes), samples_of(&ours, &prefixes));
    assert!(
        t.len() > 150,
        "node_exporter read too little from the fixtures: {}",
        t.len()
    );
    let mut problems = Vec::new();
    for (key, want) in &t {
        match o.get(key) {
            None => problems.push(format!("missing {key:?}")),
            Some(got) if (got - want).abs() > want.abs() * 1e-12 => {
                problems.push(format!("{key:?}: ours {got}, node_exporter {want}"))
            }
            Some(_) => {}
        }
    }
    for key in o.keys() {
        if !t.contains_key(key) {
            problems.push(format!("extra {key:?}"));
        }
    }
    for name in theirs.names_with_prefix("node_") {
        if let (Some(a), Some(b)) = (theirs.types.get(&name), ours.types.get(&name)) {
            if a != b {
                problems.push(format!("# TYPE {name}: ours {b}, node_exporter {a}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "fixture comparison:\n{}",
        problems.join("\n")
    );
}
