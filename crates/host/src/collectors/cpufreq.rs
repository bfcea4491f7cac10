//! `cpufreq`: CPU frequencies from `/sys/devices/system/cpu/cpu<N>/cpufreq/`
//! (Documentation/admin-guide/pm/cpufreq.rst, values in kHz), as node_exporter 1.5. A CPU
//! without a `cpufreq` directory (no driver, most VMs) is left out; a missing file leaves out
//! that one sample (`cpuinfo_cur_freq` is often root-only or absent).

use super::class_dir;
use super::sysfs_dir::SysfsDir;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `cpufreq` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "cpufreq",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(CpufreqCollector::new(opts))))),
};

/// (sysfs file, family, help).
const FILES: [(&str, &str, &str); 6] = [
    (
        "cpuinfo_cur_freq",
        "node_cpu_frequency_hertz",
        "Current cpu thread frequency in hertz.",
    ),
    (
        "cpuinfo_max_freq",
        "node_cpu_frequency_max_hertz",
        "Maximum cpu thread frequency in hertz.",
    ),
    (
        "cpuinfo_min_freq",
        "node_cpu_frequency_min_hertz",
        "Minimum cpu thread frequency in hertz.",
    ),
    (
        "scaling_cur_freq",
        "node_cpu_scaling_frequency_hertz",
        "Current scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_max_freq",
        "node_cpu_scaling_frequency_max_hertz",
        "Maximum scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_min_freq",
        "node_cpu_scaling_frequency_min_hertz",
        "Minimum scaled CPU thread frequency in hertz.",
    ),
];

/// Reads `<sysfs>/devices/system/cpu` on each scrape.
pub struct CpufreqCollector {
    dir: PathBuf,
}

impl CpufreqCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            dir: opts.paths.sys("devices/system/cpu"),
        }
    }
}

impl BlockingCollector for CpufreqCollector {
    fn name(&self) -> &str {
        "cpufreq"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let Some(entries) = class_dir::entries(&self.dir, "cpu")? else {
            return Ok(());
        };
        let mut cpus: Vec<(u32, [Option<i64>; 6])> = Vec::new();
        for entry in &entries {
            let Some(n) = entry[3..].parse::<u32>().ok() else {
                continue;
            };
            let d = SysfsDir::open(&self.dir.join(entry).join("cpufreq"));
            let values = FILES.map(|(file, _, _)| class_dir::int(&d, file));
            if values.iter().any(Option::is_some) {
                cpus.push((n, values));
            }
        }
        cpus.sort_by_key(|(n, _)| *n);
        for (i, (_, name, help)) in FILES.iter().enumerate() {
            let fam = out.family(*name, *help, MetricType::Gauge);
            for (cpu, values) in &cpus {
                if let Some(khz) = values[i] {
                    fam.sample(&[("cpu", &cpu.to_string())], khz as f64 * 1000.0);
                }
            }
        }
        out.prune_empty();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfile::fixtures;

    #[test]
    fn reads_frequencies_in_hertz_and_skips_missing_files() {
        let mut out = MetricSet::new();
        CpufreqCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        assert_eq!(
            out.find("node_cpu_frequency_hertz", &[("cpu", "0")]),
            Some(2.1e9)
        );
        assert_eq!(out.find("node_cpu_frequency_hertz", &[("cpu", "1")]), None);
        assert_eq!(
            out.find("node_cpu_scaling_frequency_hertz", &[("cpu", "1")]),
            Some(2.000001e9)
        );
    }
}
