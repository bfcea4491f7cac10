//! Command line of `watchkeeper-host`: node_exporter's flags, parsed and validated into
//! [`HostConfig`] before anything starts, so every bad input is one line on stderr and exit 2.
//!
//! The `--collector.<name>` / `--no-collector.<name>` pairs are generated from
//! [`collectors::ALL`] with clap's builder API on top of the derived command, so adding a
//! collector file and its registration line is all it takes to get its flags.

use crate::collectors::{self, CollectorDef};
use crate::options::{
    DeviceFilter, DiskstatsOptions, FilesystemOptions, HostOptions, HostPaths, NetclassOptions,
    NetdevOptions, DEFAULT_DISKSTATS_DEVICE_EXCLUDE, DEFAULT_FS_TYPES_EXCLUDE,
    DEFAULT_MOUNT_POINTS_EXCLUDE,
};
use clap::{Arg, ArgAction, CommandFactory, FromArgMatches, Parser};
use regex::Regex;
use std::ffi::OsString;
use std::path::PathBuf;
use watchkeeper_core::cli::{LogArgs, WebArgs, LONG_VERSION};
use watchkeeper_core::config::PromDuration;
use watchkeeper_core::exporter::ExporterSpec;
use watchkeeper_core::listen::ListenAddress;

/// Who this exporter is.
pub const SPEC: ExporterSpec = ExporterSpec {
    name: "host",
    binary: "watchkeeper-host",
    default_port: 10150,
    description: "Linux host metrics, compatible with node_exporter.",
};

/// Flags declared statically; the per-collector toggles are added in [`command`].
#[derive(Debug, Parser)]
#[command(
    name = "watchkeeper-host",
    version,
    long_version = LONG_VERSION,
    about = "Linux host metrics, a drop-in for node_exporter (same metric names and labels)."
)]
struct Flags {
    #[command(flatten)]
    web: WebArgs,
    #[command(flatten)]
    log: LogArgs,

    /// procfs mount point.
    #[arg(long = "path.procfs", value_name = "PATH", default_value = "/proc")]
    procfs: PathBuf,
    /// sysfs mount point.
    #[arg(long = "path.sysfs", value_name = "PATH", default_value = "/sys")]
    sysfs: PathBuf,
    /// Root filesystem mount point (for running in a container with the host's / mounted).
    #[arg(long = "path.rootfs", value_name = "PATH", default_value = "/")]
    rootfs: PathBuf,
    /// udev's database, read for node_disk_info.
    #[arg(
        long = "path.udev.data",
        value_name = "PATH",
        default_value = "/run/udev/data"
    )]
    udev_data: PathBuf,

    /// Directory to read text files with metrics from (*.prom).
    #[arg(long = "collector.textfile.directory", value_name = "DIR")]
    textfile_directory: Option<PathBuf>,

    /// Regexp of mount points to exclude for the filesystem collector.
    #[arg(
        long = "collector.filesystem.mount-points-exclude",
        value_name = "REGEX",
        default_value = DEFAULT_MOUNT_POINTS_EXCLUDE
    )]
    mount_points_exclude: String,
    /// Regexp of filesystem types to exclude for the filesystem collector.
    #[arg(
        long = "collector.filesystem.fs-types-exclude",
        value_name = "REGEX",
        default_value = DEFAULT_FS_TYPES_EXCLUDE
    )]
    fs_types_exclude: String,
    /// How long to wait for a mount to answer statfs before reporting it as failed and skipping
    /// it until it answers.
    #[arg(
        long = "collector.filesystem.mount-timeout",
        value_name = "DURATION",
        default_value = "5s"
    )]
    mount_timeout: PromDuration,

    /// Regexp of block devices to exclude for the diskstats collector
    /// (default: partitions, RAM disks, loop and floppy devices).
    #[arg(long = "collector.diskstats.device-exclude", value_name = "REGEX")]
    diskstats_exclude: Option<String>,
    /// Regexp of block devices to include (mutually exclusive with device-exclude).
    #[arg(long = "collector.diskstats.device-include", value_name = "REGEX")]
    diskstats_include: Option<String>,

    /// Regexp of network devices to exclude for the netdev collector.
    #[arg(long = "collector.netdev.device-exclude", value_name = "REGEX")]
    netdev_exclude: Option<String>,
    /// Regexp of network devices to include (mutually exclusive with device-exclude).
    #[arg(long = "collector.netdev.device-include", value_name = "REGEX")]
    netdev_include: Option<String>,

    /// Regexp of network devices to ignore for the netclass collector.
    #[arg(
        long = "collector.netclass.ignored-devices",
        value_name = "REGEX",
        default_value = "^$"
    )]
    netclass_ignored: String,
    /// Leave out node_network_speed_bytes when the kernel reports an unknown speed.
    #[arg(long = "collector.netclass.ignore-invalid-speed")]
    netclass_ignore_invalid_speed: bool,

    /// Regexp of ARP devices to exclude (mutually exclusive with device-include).
    #[arg(long = "collector.arp.device-exclude", value_name = "REGEX")]
    arp_exclude: Option<String>,
    /// Regexp of ARP devices to include (mutually exclusive with device-exclude).
    #[arg(long = "collector.arp.device-include", value_name = "REGEX")]
    arp_include: Option<String>,

    /// Regexp of power supplies to ignore for the powersupplyclass collector.
    #[arg(
        long = "collector.powersupply.ignored-supplies",
        value_name = "REGEX",
        default_value = "^$"
    )]
    powersupply_ignored: String,

    /// Report RAPL energy as one family with a rapl_zone label.
    #[arg(long = "collector.rapl.enable-zone-label")]
    rapl_zone_label: bool,

    /// Comma-separated labels of the IPVS backend metrics.
    #[arg(
        long = "collector.ipvs.backend-labels",
        value_name = "LABELS",
        default_value = "local_address,local_port,remote_address,remote_port,proto,local_mark"
    )]
    ipvs_backend_labels: String,

    /// Regexp of tape devices to ignore for the tapestats collector.
    #[arg(
        long = "collector.tapestats.ignored-devices",
        value_name = "REGEX",
        default_value = "^$"
    )]
    tapestats_ignored: String,

    /// Expose bcache's expensive priority stats.
    #[arg(long = "collector.bcache.priorityStats")]
    bcache_priority_stats: bool,

    /// Select sysctl metrics to include (repeatable; `name` or `name:field1,field2,...`).
    #[arg(long = "collector.sysctl.include", value_name = "NAME", action = clap::ArgAction::Append)]
    sysctl_include: Vec<String>,
    /// Select sysctl metrics to include as info metrics (repeatable).
    #[arg(long = "collector.sysctl.include-info", value_name = "NAME", action = clap::ArgAction::Append)]
    sysctl_include_info: Vec<String>,

    /// How often the updates collector recomputes the package state (never on a scrape).
    #[arg(
        long = "collector.updates.interval",
        value_name = "DURATION",
        default_value = "1h"
    )]
    updates_interval: PromDuration,
    /// How long one package state computation may run before it is killed.
    #[arg(
        long = "collector.updates.timeout",
        value_name = "DURATION",
        default_value = "5m"
    )]
    updates_timeout: PromDuration,

    /// Disable every collector not explicitly enabled with --collector.<name>.
    #[arg(long = "collector.disable-defaults")]
    disable_defaults: bool,
}

/// Everything the binary needs to start, validated.
pub struct HostConfig {
    /// Web flags for the core server.
    pub web: WebArgs,
    /// Logging flags.
    pub log: LogArgs,
    /// Collector settings.
    pub options: HostOptions,
    /// The collectors to run, in [`collectors::ALL`] order.
    pub enabled: Vec<&'static CollectorDef>,
}

impl std::fmt::Debug for HostConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostConfig")
            .field("web", &self.web)
            .field("log", &self.log)
            .field("options", &self.options)
            .field(
                "enabled",
                &self.enabled.iter().map(|d| d.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Why parsing did not produce a configuration.
#[derive(Debug, PartialEq, Eq)]
pub enum CliExit {
    /// `--help` or `--version`: print `text` on stdout and exit 0.
    Print(String),
    /// Bad input: print `error: <message>` on stderr and exit 2.
    Usage(String),
}

fn enable_id(name: &str) -> String {
    format!("collector.{name}")
}

fn disable_id(name: &str) -> String {
    format!("no-collector.{name}")
}

/// The full command: derived flags plus a toggle pair per collector.
pub fn command() -> clap::Command {
    let mut cmd = Flags::command();
    for def in collectors::ALL {
        let (on, off) = (enable_id(def.name), disable_id(def.name));
        let default = if def.default_enabled {
            "enabled"
        } else {
            "disabled"
        };
        cmd = cmd
            .arg(
                Arg::new(on.clone())
                    .long(on.clone())
                    .action(ArgAction::SetTrue)
                    .overrides_with(off.clone())
                    .help(format!(
                        "Enable the {} collector (default: {default}).",
                        def.name
                    )),
            )
            .arg(
                Arg::new(off.clone())
                    .long(off.clone())
                    .action(ArgAction::SetTrue)
                    .overrides_with(on)
                    .help(format!("Disable the {} collector.", def.name)),
            );
    }
    cmd
}

/// The first line of a clap error, without clap's `error: ` prefix.
fn clap_message(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let first = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid arguments");
    first
        .strip_prefix("error: ")
        .unwrap_or(first)
        .trim()
        .to_string()
}

/// A regex flag, compiled; the error names the flag and the regex's own complaint in one line.
fn compile(flag: &str, pattern: &str) -> Result<Regex, CliExit> {
    Regex::new(pattern).map_err(|e| {
        let text = e.to_string();
        let why = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("invalid")
            .trim()
            .trim_start_matches("error: ")
            .to_string();
        CliExit::Usage(format!(
            "--{flag}: invalid regular expression {pattern:?}: {why}"
        ))
    })
}

fn device_filter(
    collector: &str,
    exclude: Option<&str>,
    include: Option<&str>,
    default_exclude: Option<&str>,
) -> Result<DeviceFilter, CliExit> {
    let (ex_flag, in_flag) = (
        format!("collector.{collector}.device-exclude"),
        format!("collector.{collector}.device-include"),
    );
    if exclude.is_some() && include.is_some() {
        return Err(CliExit::Usage(format!(
            "--{ex_flag} and --{in_flag} are mutually exclusive"
        )));
    }
    // node_exporter drops its default exclude when an include is given.
    let exclude = match (exclude, include) {
        (Some(e), _) => Some(e),
        (None, None) => default_exclude,
        (None, Some(_)) => None,
    };
    Ok(DeviceFilter {
        exclude: exclude.map(|p| compile(&ex_flag, p)).transpose()?,
        include: include.map(|p| compile(&in_flag, p)).transpose()?,
    })
}

/// `--collector.ipvs.backend-labels`: known label names, comma-separated (empty: none).
fn ipvs_labels(value: &str) -> Result<Vec<String>, CliExit> {
    let known = crate::collectors::ipvs::BACKEND_LABELS;
    value
        .split(',')
        .filter(|l| !l.is_empty())
        .map(|l| {
            if known.contains(&l) {
                Ok(l.to_string())
            } else {
                Err(CliExit::Usage(format!(
                    "--collector.ipvs.backend-labels: unknown label {l:?} (known: {})",
                    known.join(", ")
                )))
            }
        })
        .collect()
}

/// Parses and validates the command line (`args[0]` is the program name).
pub fn parse<I, T>(args: I) -> Result<HostConfig, CliExit>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut matches = match command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            return Err(match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    CliExit::Print(e.render().to_string())
                }
                _ => CliExit::Usage(clap_message(&e)),
            });
        }
    };
    let flags =
        Flags::from_arg_matches_mut(&mut matches).map_err(|e| CliExit::Usage(clap_message(&e)))?;

    let enabled: Vec<&'static CollectorDef> = collectors::ALL
        .iter()
        .filter(|def| {
            if matches.get_flag(&enable_id(def.name)) {
                true
            } else if matches.get_flag(&disable_id(def.name)) {
                false
            } else {
                def.default_enabled && !flags.disable_defaults
            }
        })
        .collect();

    for addr in &flags.web.listen_addresses {
        ListenAddress::parse(addr).map_err(|e| CliExit::Usage(e.to_string()))?;
    }
    if let Some(dir) = &flags.textfile_directory {
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(CliExit::Usage(format!(
                    "--collector.textfile.directory {}: not a directory",
                    dir.display()
                )))
            }
            Err(e) => {
                return Err(CliExit::Usage(format!(
                    "--collector.textfile.directory {}: {}",
                    dir.display(),
                    io_reason(&e)
                )))
            }
        }
    }

    // Settings other collectors add to HostOptions keep their defaults until flags set them.
    #[allow(clippy::needless_update)]
    let options = HostOptions {
        paths: HostPaths {
            procfs: flags.procfs,
            sysfs: flags.sysfs,
            rootfs: flags.rootfs,
        },
        textfile_directory: flags.textfile_directory,
        filesystem: FilesystemOptions {
            mount_points_exclude: compile(
                "collector.filesystem.mount-points-exclude",
                &flags.mount_points_exclude,
            )?,
            fs_types_exclude: compile(
                "collector.filesystem.fs-types-exclude",
                &flags.fs_types_exclude,
            )?,
            mount_timeout: flags.mount_timeout.get(),
        },
        diskstats: DiskstatsOptions {
            devices: device_filter(
                "diskstats",
                flags.diskstats_exclude.as_deref(),
                flags.diskstats_include.as_deref(),
                Some(DEFAULT_DISKSTATS_DEVICE_EXCLUDE),
            )?,
            udev_data: flags.udev_data,
        },
        netdev: NetdevOptions {
            devices: device_filter(
                "netdev",
                flags.netdev_exclude.as_deref(),
                flags.netdev_include.as_deref(),
                None,
            )?,
        },
        netclass: NetclassOptions {
            ignored_devices: Some(compile(
                "collector.netclass.ignored-devices",
                &flags.netclass_ignored,
            )?),
            ignore_invalid_speed: flags.netclass_ignore_invalid_speed,
        },
        arp_devices: device_filter(
            "arp",
            flags.arp_exclude.as_deref(),
            flags.arp_include.as_deref(),
            None,
        )?,
        powersupply_ignored: Some(compile(
            "collector.powersupply.ignored-supplies",
            &flags.powersupply_ignored,
        )?),
        rapl_zone_label: flags.rapl_zone_label,
        bcache_priority_stats: flags.bcache_priority_stats,
        sysctl_include: flags.sysctl_include,
        sysctl_include_info: flags.sysctl_include_info,
        tapestats_ignored: Some(compile(
            "collector.tapestats.ignored-devices",
            &flags.tapestats_ignored,
        )?),
        ipvs_backend_labels: ipvs_labels(&flags.ipvs_backend_labels)?,
        updates: crate::collectors::updates::UpdatesOptions {
            interval: flags.updates_interval.get(),
            timeout: flags.updates_timeout.get(),
        },
        ..HostOptions::default()
    };

    Ok(HostConfig {
        web: flags.web,
        log: flags.log,
        options,
        enabled,
    })
}

/// An I/O error's reason without the `(os error N)` suffix, lower-cased like Go's messages.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => {
            let s = e.to_string();
            s.split(" (os error").next().unwrap_or(&s).to_lowercase()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(args: &[&str]) -> HostConfig {
        let mut all = vec!["watchkeeper-host"];
        all.extend_from_slice(args);
        match parse(all) {
            Ok(c) => c,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }

    fn usage(args: &[&str]) -> String {
        let mut all = vec!["watchkeeper-host"];
        all.extend_from_slice(args);
        match parse(all) {
            Err(CliExit::Usage(m)) => m,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    fn names(c: &HostConfig) -> Vec<&'static str> {
        c.enabled.iter().map(|d| d.name).collect()
    }

    #[test]
    fn ipvs_backend_labels_are_checked_and_kept_in_order() {
        let c = parse_ok(&["--collector.ipvs.backend-labels=proto,local_port"]);
        assert_eq!(c.options.ipvs_backend_labels, ["proto", "local_port"]);
        assert_eq!(parse_ok(&[]).options.ipvs_backend_labels.len(), 6);
        let msg = usage(&["--collector.ipvs.backend-labels=proto,vip"]);
        assert!(msg.contains("unknown label \"vip\""), "{msg}");
    }

    #[test]
    fn defaults_enable_default_collectors() {
        let c = parse_ok(&[]);
        let expected: Vec<&str> = collectors::ALL
            .iter()
            .filter(|d| d.default_enabled)
            .map(|d| d.name)
            .collect();
        assert_eq!(names(&c), expected);
        assert!(c.options.diskstats.devices.ignored("sda1"));
        assert!(!c.options.netdev.devices.ignored("lo"));
        assert_eq!(
            c.options.filesystem.mount_timeout,
            std::time::Duration::from_secs(5)
        );
    }

    #[test]
    fn disable_defaults_then_enable_some() {
        let c = parse_ok(&[
            "--collector.disable-defaults",
            "--collector.filesystem",
            "--collector.netdev",
        ]);
        assert_eq!(names(&c), vec!["netdev", "filesystem"]);
        let c = parse_ok(&["--no-collector.filesystem"]);
        assert!(!names(&c).contains(&"filesystem"));
        // The last of a pair wins, as with kingpin.
        let c = parse_ok(&["--no-collector.filesystem", "--collector.filesystem"]);
        assert!(names(&c).contains(&"filesystem"));
    }

    #[test]
    fn every_collector_has_both_flags() {
        for def in collectors::ALL {
            parse_ok(&[&format!("--collector.{}", def.name)]);
            parse_ok(&[&format!("--no-collector.{}", def.name)]);
        }
    }

    #[test]
    fn include_drops_the_default_exclude() {
        let c = parse_ok(&["--collector.diskstats.device-include", "^sda1$"]);
        assert!(!c.options.diskstats.devices.ignored("sda1"));
        assert!(c.options.diskstats.devices.ignored("sda"));
    }

    #[test]
    fn bad_inputs_are_one_line() {
        assert_eq!(usage(&["--bogus"]), "unexpected argument '--bogus' found");
        assert_eq!(
            usage(&["--web.listen-address", "127.0.0.1:99999"]),
            "invalid listen address \"127.0.0.1:99999\": the port must be a number from 0 to 65535"
        );
        assert_eq!(
            usage(&["--collector.textfile.directory", "/nonexistent/textfiles"]),
            "--collector.textfile.directory /nonexistent/textfiles: no such directory"
        );
        assert_eq!(
            usage(&["--collector.filesystem.fs-types-exclude", "^(ext4"]),
            "--collector.filesystem.fs-types-exclude: invalid regular expression \"^(ext4\": unclosed group"
        );
        assert_eq!(
            usage(&["--collector.netdev.device-exclude", "lo", "--collector.netdev.device-include", "eth"]),
            "--collector.netdev.device-exclude and --collector.netdev.device-include are mutually exclusive"
        );
        let bad_duration = usage(&["--collector.filesystem.mount-timeout", "soon"]);
        assert!(
            bad_duration.contains("--collector.filesystem.mount-timeout"),
            "{bad_duration}"
        );
        for msg in [
            usage(&["--bogus"]),
            usage(&["--collector.filesystem.mount-timeout", "soon"]),
        ] {
            assert!(!msg.contains('\n'), "{msg}");
        }
    }

    #[test]
    fn help_and_version_print() {
        assert!(
            matches!(parse(["watchkeeper-host", "--help"]), Err(CliExit::Print(t)) if t.contains("--no-collector.filesystem"))
        );
        assert!(matches!(
            parse(["watchkeeper-host", "--version"]),
            Err(CliExit::Print(_))
        ));
    }
}
