//! Cheap facts read from files on each scrape (a few `stat`s and one small directory listing):
//! the reboot-required flag, when the package lists were last refreshed, and the running versus
//! the newest installed kernel.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// The reboot flag Debian's `update-notifier-common` / `needrestart` hooks write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RebootRequired {
    /// `/run/reboot-required` exists.
    pub required: bool,
    /// Packages listed in `/run/reboot-required.pkgs` (distinct, non-empty lines).
    pub packages: u64,
}

/// Reads the reboot-required flag below `rootfs`.
pub fn reboot_required(rootfs: &Path) -> RebootRequired {
    let run = rootfs.join("run");
    let required = run.join("reboot-required").exists();
    let packages = std::fs::read_to_string(run.join("reboot-required.pkgs"))
        .map(|t| {
            let mut names: Vec<&str> = t.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            names.sort_unstable();
            names.dedup();
            names.len() as u64
        })
        .unwrap_or(0);
    RebootRequired { required, packages }
}

/// Seconds since the epoch of a modification time.
fn epoch_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// When the package lists were last refreshed: the newest modification time among
/// `/var/lib/apt/lists`, the files in it (apt renames fresh lists into place, which touches the
/// directory, and touches unchanged `InRelease` files) and `apt.systemd.daily`'s success stamp.
/// `None` when the directory does not exist (not an apt system).
pub fn package_lists_timestamp(rootfs: &Path) -> Option<f64> {
    let lists = rootfs.join("var/lib/apt/lists");
    let mut newest = std::fs::metadata(&lists).and_then(|m| m.modified()).ok()?;
    if let Ok(entries) = std::fs::read_dir(&lists) {
        for entry in entries.flatten() {
            if let Ok(t) = entry.metadata().and_then(|m| m.modified()) {
                newest = newest.max(t);
            }
        }
    }
    let stamp = rootfs.join("var/lib/apt/periodic/update-success-stamp");
    if let Ok(t) = std::fs::metadata(stamp).and_then(|m| m.modified()) {
        newest = newest.max(t);
    }
    Some(epoch_seconds(newest))
}

/// The running kernel release and the newest one installed in `/boot`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kernels {
    /// `uname -r` of the running kernel (from procfs), empty when unreadable.
    pub running: String,
    /// The newest `/boot/vmlinuz-<release>`, empty when none is found.
    pub installed: String,
}

impl Kernels {
    /// Whether a newer kernel is installed than the one running (a reboot would change it).
    pub fn reboot_pending(&self) -> bool {
        !self.running.is_empty() && !self.installed.is_empty() && self.running != self.installed
    }
}

/// Reads the running kernel from `procfs` and the installed ones from `rootfs/boot`.
pub fn kernels(procfs: &Path, rootfs: &Path) -> Kernels {
    let running = std::fs::read_to_string(procfs.join("sys/kernel/osrelease"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let mut releases: Vec<String> = std::fs::read_dir(rootfs.join("boot"))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.strip_prefix("vmlinuz-"))
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    releases.sort_by(|a, b| compare_versions(a, b));
    Kernels {
        running,
        installed: releases.pop().unwrap_or_default(),
    }
}

/// Orders kernel releases: runs of digits numerically, everything else byte-wise
/// (`6.1.0-9-amd64` < `6.1.0-10-amd64`).
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, Some(_)) => return std::cmp::Ordering::Less,
            (Some(_), None) => return std::cmp::Ordering::Greater,
            (Some(p), Some(q)) if p.is_ascii_digit() && q.is_ascii_digit() => {
                let n = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let m = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (dx, dy) = (&x[..n], &y[..m]);
                let tx = trim_zeros(dx);
                let ty = trim_zeros(dy);
                let ord = tx.len().cmp(&ty.len()).then_with(|| tx.cmp(ty));
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
                x = &x[n..];
                y = &y[m..];
            }
            (Some(p), Some(q)) => {
                if p != q {
                    return p.cmp(q);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let first = d.iter().position(|&c| c != b'0').unwrap_or(d.len());
    &d[first..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_releases_sort_numerically() {
        let mut v = vec!["6.1.0-10-amd64", "6.1.0-9-amd64", "5.10.0-28-amd64"];
        v.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(v, ["5.10.0-28-amd64", "6.1.0-9-amd64", "6.1.0-10-amd64"]);
    }

    #[test]
    fn reads_flags_and_kernels_from_a_root() {
        let root = tempfile::tempdir().unwrap();
        let proc = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("run")).unwrap();
        std::fs::create_dir_all(root.path().join("boot")).unwrap();
        std::fs::create_dir_all(proc.path().join("sys/kernel")).unwrap();
        assert_eq!(reboot_required(root.path()), RebootRequired::default());
        std::fs::write(
            root.path().join("run/reboot-required"),
            "*** System restart required ***\n",
        )
        .unwrap();
        std::fs::write(
            root.path().join("run/reboot-required.pkgs"),
            "linux-base\nlibc6\nlibc6\n",
        )
        .unwrap();
        assert_eq!(
            reboot_required(root.path()),
            RebootRequired {
                required: true,
                packages: 2
            }
        );
        std::fs::write(proc.path().join("sys/kernel/osrelease"), "6.1.0-9-amd64\n").unwrap();
        for r in ["6.1.0-9-amd64", "6.1.0-10-amd64"] {
            std::fs::write(root.path().join(format!("boot/vmlinuz-{r}")), "").unwrap();
        }
        let k = kernels(proc.path(), root.path());
        assert_eq!(k.running, "6.1.0-9-amd64");
        assert_eq!(k.installed, "6.1.0-10-amd64");
        assert!(k.reboot_pending());
        assert_eq!(package_lists_timestamp(root.path()), None);
    }
}
