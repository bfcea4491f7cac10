//! `cpu`: per-CPU time by mode from `/proc/stat`, and thermal throttle counts from sysfs.
//!
//! Emits `node_cpu_seconds_total{cpu,mode}`, `node_cpu_guest_seconds_total{cpu,mode}` and, where
//! the kernel exposes `thermal_throttle`, `node_cpu_core_throttles_total{core,package}` and
//! `node_cpu_package_throttles_total{package}`, as node_exporter 1.5 does.

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `cpu` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "cpu",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(CpuCollector::new(opts))))),
};

/// The columns of a `cpuN` line of `/proc/stat`, in kernel order.
const MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];
/// Index of the two guest columns (guest, guest_nice) after the eight modes.
const GUEST: usize = 8;
const COLUMNS: usize = 10;
const IDLE: usize = 3;
/// An idle counter that falls back by this many seconds or more means the CPU was hot-plugged
/// (its counters restarted), so the remembered values are dropped instead of held.
const JUMP_BACK_SECONDS: f64 = 3.0;
/// Bound of the per-CPU memory (the kernel's NR_CPUS maximum is 8192).
const MAX_CPUS: usize = 1 << 14;

type CpuTimes = [f64; COLUMNS];

/// Reads `/proc/stat` (and sysfs throttle counters) on each scrape.
pub struct CpuCollector {
    stat: PathBuf,
    sys_cpu: PathBuf,
    ticks_per_second: f64,
    /// The values last reported per CPU number: the kernel's per-CPU counters can step back a
    /// little (idle/iowait accounting on NOHZ kernels) and a counter must not decrease.
    last: Mutex<Vec<Option<CpuTimes>>>,
    /// Whether any CPU has `thermal_throttle` counters, learnt on the first scrape: the driver
    /// either provides them or not, and hosts without them (most virtual machines) then skip
    /// one failed open per CPU on every scrape.
    has_throttle: OnceLock<bool>,
}

impl CpuCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self::with_ticks(opts, rustix::param::clock_ticks_per_second())
    }

    fn with_ticks(opts: &HostOptions, ticks_per_second: u64) -> Self {
        Self {
            stat: opts.paths.proc("stat"),
            sys_cpu: opts.paths.sys("devices/system/cpu"),
            // USER_HZ is 100 on every mainstream architecture; 0 would be a broken auxv.
            ticks_per_second: ticks_per_second.max(1) as f64,
            last: Mutex::new(Vec::new()),
            has_throttle: OnceLock::new(),
        }
    }

    /// Parses the `cpuN` lines into (cpu label, seconds per column).
    fn parse<'a>(&self, text: &'a str) -> Result<Vec<(&'a str, CpuTimes)>, CollectError> {
        let mut cpus = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let mut fields = line.split_ascii_whitespace();
            let Some(cpu) = fields.next().and_then(|name| name.strip_prefix("cpu")) else {
                continue;
            };
            // `cpu` alone is the all-CPU total, which node_exporter does not export.
            if cpu.is_empty() || !cpu.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let mut times = [0.0; COLUMNS];
            for (i, raw) in fields.take(COLUMNS).enumerate() {
                let ticks = procfile::number(&self.stat, n + 1, column_name(i), raw)?;
                // Divided (not multiplied by 1/HZ) so values round exactly as node_exporter's.
                times[i] = ticks / self.ticks_per_second;
            }
            cpus.push((cpu, times));
        }
        if cpus.is_empty() {
            return Err(procfile::malformed(&self.stat, 1, "no cpuN lines"));
        }
        Ok(cpus)
    }

    /// Holds counters that stepped back at their last value, per CPU.
    fn monotonic(&self, cpus: &mut [(&str, CpuTimes)]) {
        // A poisoned lock only means a previous scrape panicked mid-update; the data is still
        // a valid array, so keep using it.
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let mut seen = vec![false; last.len()];
        for (cpu, times) in cpus.iter_mut() {
            // Linux supports at most 8192 CPUs; a larger number in a corrupt file must not
            // make the remembered table huge.
            let Some(idx) = cpu.parse::<usize>().ok().filter(|i| *i < MAX_CPUS) else {
                continue;
            };
            if idx >= last.len() {
                last.resize(idx + 1, None);
                seen.resize(idx + 1, false);
            }
            seen[idx] = true;
            let prev = match last[idx] {
                Some(prev) if prev[IDLE] - times[IDLE] < JUMP_BACK_SECONDS => prev,
                _ => [0.0; COLUMNS],
            };
            for (now, before) in times.iter_mut().zip(prev) {
                if *now < before {
                    *now = before;
                }
            }
            last[idx] = Some(*times);
        }
        // CPUs that went offline start from scratch when they come back.
        for (slot, seen) in last.iter_mut().zip(seen) {
            if !seen {
                *slot = None;
            }
        }
    }

    /// node_cpu_{core,package}_throttles_total from `cpuN/thermal_throttle`, one value per
    /// physical package and per (package, core), as several logical CPUs share a core.
    fn throttles(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        if self.has_throttle.get() == Some(&false) {
            return Ok(());
        }
        let entries = match std::fs::read_dir(&self.sys_cpu) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let _ = self.has_throttle.set(false);
                return Ok(());
            }
            Err(e) => return Err(CollectError::io(self.sys_cpu.display(), e)),
        };
        let mut packages: BTreeMap<u64, f64> = BTreeMap::new();
        let mut cores: BTreeMap<(u64, u64), f64> = BTreeMap::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let is_cpu = name
                .to_str()
                .and_then(|n| n.strip_prefix("cpu"))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if !is_cpu {
                continue;
            }
            let dir = entry.path();
            // Most virtual machines have no thermal_throttle: one failed open per CPU.
            let Some(package_count) =
                read_uint(&dir.join("thermal_throttle/package_throttle_count"))
            else {
                continue;
            };
            let (Some(package), Some(core)) = (
                read_uint(&dir.join("topology/physical_package_id")),
                read_uint(&dir.join("topology/core_id")),
            ) else {
                continue;
            };
            packages.entry(package).or_insert(package_count as f64);
            if let std::collections::btree_map::Entry::Vacant(slot) = cores.entry((package, core)) {
                if let Some(n) = read_uint(&dir.join("thermal_throttle/core_throttle_count")) {
                    slot.insert(n as f64);
                }
            }
        }
        let _ = self.has_throttle.set(!packages.is_empty());
        if !cores.is_empty() {
            let fam = out.family(
                "node_cpu_core_throttles_total",
                "Number of times this CPU core has been throttled.",
                MetricType::Counter,
            );
            for ((package, core), n) in &cores {
                fam.sample(
                    &[
                        ("core", &core.to_string()),
                        ("package", &package.to_string()),
                    ],
                    *n,
                );
            }
        }
        if !packages.is_empty() {
            let fam = out.family(
                "node_cpu_package_throttles_total",
                "Number of times this CPU package has been throttled.",
                MetricType::Counter,
            );
            for (package, n) in &packages {
                fam.sample(&[("package", &package.to_string())], *n);
            }
        }
        Ok(())
    }
}

fn column_name(i: usize) -> &'static str {
    match i {
        GUEST => "guest",
        9 => "guest_nice",
        _ => MODES.get(i).copied().unwrap_or("?"),
    }
}

fn read_uint(path: &Path) -> Option<u64> {
    super::procfile::read_whole(path).ok()?.trim().parse().ok()
}

impl BlockingCollector for CpuCollector {
    fn name(&self) -> &str {
        "cpu"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = procfile::read(&self.stat)?;
        let mut cpus = self.parse(&text)?;
        self.monotonic(&mut cpus);

        let fam = out.family(
            "node_cpu_seconds_total",
            "Seconds the CPUs spent in each mode.",
            MetricType::Counter,
        );
        for (cpu, times) in &cpus {
            for (mode, value) in MODES.iter().zip(times) {
                fam.sample(&[("cpu", cpu), ("mode", mode)], *value);
            }
        }
        // Guest time is also counted in user and nice; node_exporter exposes it separately
        // without subtracting it, and so do we.
        let fam = out.family(
            "node_cpu_guest_seconds_total",
            "Seconds the CPUs spent in guests (VMs) for each mode.",
            MetricType::Counter,
        );
        for (cpu, times) in &cpus {
            fam.sample(&[("cpu", cpu), ("mode", "user")], times[GUEST]);
            fam.sample(&[("cpu", cpu), ("mode", "nice")], times[GUEST + 1]);
        }
        self.isolated(out)?;
        self.throttles(out)
    }
}

/// The CPU numbers of a kernel CPU list such as `1,3-5`; `None` when malformed.
fn cpu_list(text: &str) -> Option<Vec<u32>> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if b < a || b - a > MAX_CPUS as u32 {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

impl CpuCollector {
    /// `node_cpu_isolated{cpu}` from `devices/system/cpu/isolated` (the `isolcpus=` list).
    fn isolated(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let path = self.sys_cpu.join("isolated");
        let Some(text) = procfile::read_optional(&path)? else {
            return Ok(());
        };
        let cpus = cpu_list(&text)
            .ok_or_else(|| procfile::malformed(&path, 1, format!("CPU list {:?}", text.trim())))?;
        if !cpus.is_empty() {
            let fam = out.family(
                "node_cpu_isolated",
                "Whether each core is isolated, information from /sys/devices/system/cpu/isolated.",
                MetricType::Gauge,
            );
            for cpu in cpus {
                fam.sample(&[("cpu", &cpu.to_string())], 1.0);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfile::fixtures;

    #[test]
    fn isolated_cpu_lists_are_expanded() {
        assert_eq!(cpu_list("1,3-5\n"), Some(vec![1, 3, 4, 5]));
        assert_eq!(cpu_list("\n"), Some(vec![]));
        assert_eq!(cpu_list("x"), None);
        let c = CpuCollector::new(&fixtures::options("server"));
        let mut out = MetricSet::new();
        c.collect(&mut out).unwrap();
        assert_eq!(out.find("node_cpu_isolated", &[("cpu", "1")]), Some(1.0));
    }

    fn collect(c: &CpuCollector) -> MetricSet {
        let mut out = MetricSet::new();
        c.collect(&mut out).unwrap();
        out
    }

    #[test]
    #[allow(clippy::approx_constant)] // 314 ticks of iowait are 3.14 s, not an approximate pi
    fn parses_real_proc_stat() {
        let c = CpuCollector::with_ticks(&fixtures::options(""), 100);
        let out = collect(&c);
        let v = |cpu, mode| out.find("node_cpu_seconds_total", &[("cpu", cpu), ("mode", mode)]);
        // cpu0 39692 0 3227 199180 314 0 71 142 0 0
        assert_eq!(v("0", "user"), Some(396.92));
        assert_eq!(v("0", "nice"), Some(0.0));
        assert_eq!(v("0", "system"), Some(32.27));
        assert_eq!(v("0", "idle"), Some(1991.8));
        assert_eq!(v("0", "iowait"), Some(3.14));
        assert_eq!(v("0", "softirq"), Some(0.71));
        assert_eq!(v("0", "steal"), Some(1.42));
        // cpu1 39920 0 3065 199469 180 0 98 117 0 0
        assert_eq!(v("1", "idle"), Some(1994.69));
        assert_eq!(v("1", "steal"), Some(1.17));
        // The all-CPU line is not exported, and there are 8 modes per CPU.
        assert_eq!(out.families()[0].samples.len(), 16);
        assert_eq!(
            out.find(
                "node_cpu_guest_seconds_total",
                &[("cpu", "1"), ("mode", "nice")]
            ),
            Some(0.0)
        );
        assert_eq!(out.families()[1].samples.len(), 4);
        // No thermal_throttle on the machine the fixture came from, and later scrapes no
        // longer look for it.
        assert_eq!(out.families().len(), 2);
        assert_eq!(c.has_throttle.get(), Some(&false));
    }

    #[test]
    fn guest_columns_throttles_and_short_lines() {
        let c = CpuCollector::with_ticks(&fixtures::options("edge"), 100);
        let out = collect(&c);
        assert_eq!(
            out.find(
                "node_cpu_guest_seconds_total",
                &[("cpu", "0"), ("mode", "user")]
            ),
            Some(12.0)
        );
        assert_eq!(
            out.find(
                "node_cpu_guest_seconds_total",
                &[("cpu", "0"), ("mode", "nice")]
            ),
            Some(3.0)
        );
        // An old kernel's line with only four columns: the rest are zero.
        assert_eq!(
            out.find("node_cpu_seconds_total", &[("cpu", "1"), ("mode", "idle")]),
            Some(40.0)
        );
        assert_eq!(
            out.find("node_cpu_seconds_total", &[("cpu", "1"), ("mode", "steal")]),
            Some(0.0)
        );
        // cpu0 and cpu2 share package 0 core 0; cpu1 is package 0 core 1.
        assert_eq!(
            out.find("node_cpu_package_throttles_total", &[("package", "0")]),
            Some(7.0)
        );
        assert_eq!(
            out.find(
                "node_cpu_core_throttles_total",
                &[("core", "0"), ("package", "0")]
            ),
            Some(5.0)
        );
        assert_eq!(
            out.find(
                "node_cpu_core_throttles_total",
                &[("core", "1"), ("package", "0")]
            ),
            Some(2.0)
        );
        assert_eq!(c.has_throttle.get(), Some(&true));
        let cores = out
            .families()
            .iter()
            .find(|f| f.name == "node_cpu_core_throttles_total")
            .unwrap();
        assert_eq!(cores.samples.len(), 2);
    }

    #[test]
    fn counters_never_step_back_unless_the_cpu_was_replugged() {
        let c = CpuCollector::with_ticks(&fixtures::options(""), 100);
        let mut first = vec![("0", [10.0, 0.0, 5.0, 100.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0])];
        c.monotonic(&mut first);
        // iowait steps back a little: the previous value is held.
        let mut second = vec![("0", [11.0, 0.0, 5.0, 101.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0])];
        c.monotonic(&mut second);
        assert_eq!(second[0].1[4], 1.0);
        assert_eq!(second[0].1[0], 11.0);
        // idle falls by more than three seconds: a hot-plug, the new values are taken as is.
        let mut third = vec![("0", [1.0, 0.0, 1.0, 2.0, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0])];
        c.monotonic(&mut third);
        assert_eq!(third[0].1[3], 2.0);
        assert_eq!(third[0].1[4], 0.1);
        // An absurd CPU number is reported but not remembered.
        let mut absurd = vec![("99999999999", [1.0; COLUMNS])];
        c.monotonic(&mut absurd);
        assert_eq!(absurd[0].1, [1.0; COLUMNS]);
        assert!(c.last.lock().unwrap().len() < MAX_CPUS);
    }

    #[test]
    fn garbage_is_an_error_naming_the_line() {
        let c = CpuCollector::with_ticks(&fixtures::options(""), 100);
        let err = c.parse("cpu  1 2 3\ncpu0 1 x 3\n").unwrap_err();
        assert!(err.to_string().contains("stat:2: field nice"), "{err}");
        assert!(c.parse("intr 1\n").is_err());
    }
}
