//! `selinux`: whether SELinux is enabled and, when it is, its configured and current
//! enforcement modes, as node_exporter 1.5 — without libselinux: SELinux counts as enabled
//! when selinuxfs answers at `<sysfs>/fs/selinux/enforce`; the current mode is that file
//! (1 enforcing, 0 permissive) and the configured mode the `SELINUX=` line of
//! `<rootfs>/etc/selinux/config` (1 enforcing, 0 permissive, -1 disabled).

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet};

/// Registration of the `selinux` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "selinux",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(SelinuxCollector::new(opts))))),
};

/// Reads selinuxfs and the SELinux configuration on each scrape.
pub struct SelinuxCollector {
    enforce: PathBuf,
    config: PathBuf,
}

impl SelinuxCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            enforce: opts.paths.sys("fs/selinux/enforce"),
            config: opts.paths.root(Path::new("/etc/selinux/config")),
        }
    }
}

/// The mode configured by a `SELINUX=` line (the last one wins); -1 when absent.
fn config_mode(text: &str) -> f64 {
    let mut mode = -1.0;
    for line in text.lines() {
        if let Some(v) = line.trim().strip_prefix("SELINUX=") {
            mode = match v.trim().trim_matches('"') {
                "enforcing" => 1.0,
                "permissive" => 0.0,
                _ => -1.0,
            };
        }
    }
    mode
}

impl BlockingCollector for SelinuxCollector {
    fn name(&self) -> &str {
        "selinux"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let Some(enforce) = procfile::read_optional(&self.enforce)? else {
            out.gauge(
                "node_selinux_enabled",
                "SELinux is enabled, 1 is true, 0 is false",
                0.0,
            );
            return Ok(());
        };
        out.gauge(
            "node_selinux_enabled",
            "SELinux is enabled, 1 is true, 0 is false",
            1.0,
        );
        let configured = std::fs::read_to_string(&self.config)
            .map(|t| config_mode(&t))
            .unwrap_or(-1.0);
        out.gauge(
            "node_selinux_config_mode",
            "Configured SELinux enforcement mode",
            configured,
        );
        out.gauge(
            "node_selinux_current_mode",
            "Current SELinux enforcement mode",
            procfile::single_value(&self.enforce, &enforce)?,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_without_selinuxfs_and_modes_with_it() {
        let root = tempfile::tempdir().unwrap();
        let mut opts = HostOptions::default();
        opts.paths.sysfs = root.path().join("sys");
        opts.paths.rootfs = root.path().join("root");
        let mut out = MetricSet::new();
        SelinuxCollector::new(&opts).collect(&mut out).unwrap();
        assert_eq!(out.find("node_selinux_enabled", &[]), Some(0.0));
        assert_eq!(out.sample_count(), 1);

        std::fs::create_dir_all(root.path().join("sys/fs/selinux")).unwrap();
        std::fs::write(root.path().join("sys/fs/selinux/enforce"), "0").unwrap();
        std::fs::create_dir_all(root.path().join("root/etc/selinux")).unwrap();
        std::fs::write(
            root.path().join("root/etc/selinux/config"),
            "# comment\nSELINUX=enforcing\nSELINUXTYPE=targeted\n",
        )
        .unwrap();
        let mut out = MetricSet::new();
        SelinuxCollector::new(&opts).collect(&mut out).unwrap();
        assert_eq!(out.find("node_selinux_enabled", &[]), Some(1.0));
        assert_eq!(out.find("node_selinux_config_mode", &[]), Some(1.0));
        assert_eq!(out.find("node_selinux_current_mode", &[]), Some(0.0));
    }
}
