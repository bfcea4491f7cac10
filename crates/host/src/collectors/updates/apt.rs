//! The Debian/Ubuntu package state, computed by apt itself in simulation mode.
//!
//! Why run `apt-get -s` rather than parse `/var/lib/dpkg/status` and the package lists: which
//! upgrades are pending depends on apt's resolver (pinning, phased updates, dependencies that
//! keep a package back), and reimplementing it would disagree with what `apt-get dist-upgrade`
//! does. Simulation reads only local state (`/var/lib/dpkg/status`, the lists already fetched
//! by the system's own `apt update`), takes no lock (`Debug::NoLocking`), writes no cache
//! (`Dir::Cache::pkgcache` and `srcpkgcache` empty) and never touches the network.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Why the package state could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum AptError {
    /// `apt-get` / `apt-mark` could not be started.
    #[error("starting {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The command ran past the refresh timeout and was killed.
    #[error("{command} did not finish before the refresh timeout; killed")]
    Timeout {
        /// The command, for the log line.
        command: String,
    },
    /// The command exited with an error (its first `E:` line, or its status).
    #[error("{command} failed: {reason}")]
    Failed {
        /// The command, for the log line.
        command: String,
        /// apt's own error message.
        reason: String,
    },
}

/// Pending upgrades keyed by (origin, arch) with their count.
pub type ByOrigin = BTreeMap<(String, String), u64>;

/// What apt reports for one root filesystem.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AptState {
    /// Upgrades `dist-upgrade` would install, by origin and architecture.
    pub pending: ByOrigin,
    /// Upgrades available for held packages, by origin and architecture.
    pub held: ByOrigin,
    /// Pending upgrades coming from a `-security` archive.
    pub security: u64,
    /// Packages `autoremove` would remove.
    pub autoremove: u64,
    /// Names of held packages (installed or not, with or without an upgrade).
    pub held_packages: u64,
}

/// One `Inst` line of a simulation: `Inst pkg [old] (new origin[, origin] [arch])`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inst {
    /// Package name.
    pub package: String,
    /// The origins, as apt prints them (`Label:Version/Archive`), joined by `,` without spaces
    /// (`apt.sh`'s label; [`compute`] maps it to apt_info.py's, see [`super::release`]).
    pub origin: String,
    /// The architecture of the new version.
    pub arch: String,
    /// Whether one of the origins is a `-security` archive.
    pub security: bool,
}

/// Parses the `Inst` lines of `apt-get -s` output; other lines are ignored.
pub fn parse_inst_lines(output: &str) -> Vec<Inst> {
    output.lines().filter_map(parse_inst).collect()
}

fn parse_inst(line: &str) -> Option<Inst> {
    let rest = line.strip_prefix("Inst ")?;
    let package = rest.split_whitespace().next()?.to_string();
    let open = rest.find('(')?;
    let close = rest.rfind(')')?;
    let inner = rest.get(open + 1..close)?;
    // "1.1 Debian:12.6/stable, Debian-Security:12/stable-security [amd64]"
    let (_version, after) = inner.split_once(' ')?;
    let (origins, arch) = match after.rfind(" [") {
        Some(i) => (&after[..i], after[i + 2..].trim_end_matches(']')),
        None => (after, ""),
    };
    let parts: Vec<&str> = origins.split(',').map(str::trim).collect();
    let security = parts.iter().any(|o| o.ends_with("-security"));
    Some(Inst {
        package,
        origin: parts.join(","),
        arch: arch.to_string(),
        security,
    })
}

/// Counts the `Remv` lines of `apt-get -s autoremove` output.
pub fn count_remv_lines(output: &str) -> u64 {
    output.lines().filter(|l| l.starts_with("Remv ")).count() as u64
}

/// Runs apt against `rootfs` and computes the state, each command bounded by `timeout`.
pub fn compute(rootfs: &Path, timeout: Duration) -> Result<AptState, AptError> {
    let deadline = Instant::now() + timeout;
    let upgrade = run_apt(rootfs, "apt-get", &["-s", "dist-upgrade"], deadline)?;
    let held_names: BTreeSet<String> = run_apt(rootfs, "apt-mark", &["showhold"], deadline)?
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let mut state = AptState {
        held_packages: held_names.len() as u64,
        ..AptState::default()
    };
    let names = super::release::OriginNames::read(&rootfs.join("var/lib/apt/lists"));
    for mut inst in parse_inst_lines(&upgrade) {
        inst.origin = names.label(&inst.origin);
        if inst.security {
            state.security += 1;
        }
        *state.pending.entry((inst.origin, inst.arch)).or_default() += 1;
    }
    if !held_names.is_empty() {
        // With holds ignored, the held packages' upgrades show up as Inst lines with their origin.
        let ignoring = run_apt(
            rootfs,
            "apt-get",
            &["-s", "-o", "APT::Ignore-Hold=true", "dist-upgrade"],
            deadline,
        )?;
        for inst in parse_inst_lines(&ignoring) {
            if held_names.contains(&inst.package) {
                *state
                    .held
                    .entry((names.label(&inst.origin), inst.arch))
                    .or_default() += 1;
            }
        }
    }
    state.autoremove = count_remv_lines(&run_apt(
        rootfs,
        "apt-get",
        &["-s", "autoremove"],
        deadline,
    )?);
    Ok(state)
}

/// Runs one apt program with options pointing it at `rootfs`, read-only, and returns stdout.
fn run_apt(
    rootfs: &Path,
    program: &str,
    args: &[&str],
    deadline: Instant,
) -> Result<String, AptError> {
    let mut cmd = Command::new(program);
    cmd.arg("-o")
        .arg(format!("Dir={}", rootfs.display()))
        .args([
            "-o",
            "Debug::NoLocking=true",
            "-o",
            "Dir::Cache::pkgcache=",
            "-o",
            "Dir::Cache::srcpkgcache=",
            "-o",
            "APT::Get::Show-User-Simulation-Note=false",
            "-q",
        ])
        .args(args)
        .env("LC_ALL", "C")
        .env_remove("APT_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let command = format!("{program} {}", args.join(" "));
    let mut child = cmd.spawn().map_err(|source| AptError::Spawn {
        program: program.to_string(),
        source,
    })?;
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(AptError::Timeout { command });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                let _ = child.kill();
                return Err(AptError::Failed {
                    command,
                    reason: e.to_string(),
                });
            }
        }
    };
    let out = stdout.map(join).unwrap_or_default();
    let err = stderr.map(join).unwrap_or_default();
    if !status.success() {
        let reason = err
            .lines()
            .find(|l| l.starts_with("E: "))
            .or_else(|| err.lines().find(|l| !l.trim().is_empty()))
            .map(|l| l.trim().to_string())
            .unwrap_or_else(|| status.to_string());
        return Err(AptError::Failed { command, reason });
    }
    Ok(out)
}

/// Reads a pipe to its end on its own thread, so a full pipe never blocks the child.
fn drain<R: Read + Send + 'static>(mut pipe: R) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

fn join(handle: std::thread::JoinHandle<String>) -> String {
    handle.join().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_debian_inst_lines() {
        let out = "NOTE: simulation\n\
            Inst base-files [12.4+deb12u5] (12.4+deb12u6 Debian:12.6/stable [amd64])\n\
            Inst libc6 [2.36-9] (2.36-9+deb12u7 Debian:12.6/stable, Debian-Security:12/stable-security [amd64]) []\n\
            Conf base-files (12.4+deb12u6 Debian:12.6/stable [amd64])\n";
        let insts = parse_inst_lines(out);
        assert_eq!(insts.len(), 2);
        assert_eq!(insts[0].package, "base-files");
        assert_eq!(insts[0].origin, "Debian:12.6/stable");
        assert_eq!(insts[0].arch, "amd64");
        assert!(!insts[0].security);
        assert_eq!(
            insts[1].origin,
            "Debian:12.6/stable,Debian-Security:12/stable-security"
        );
        assert!(insts[1].security);
    }

    #[test]
    fn counts_remv_lines() {
        assert_eq!(count_remv_lines("Remv a [1]\nRemv b [2]\nInst c\n"), 2);
    }
}
