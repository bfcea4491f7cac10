//! The exporter's YAML configuration: where the run wrapper records attempts, and the backup
//! jobs, each with at most one source (`files`, `restic`, `borg`, `pgbackrest` or `status`; a
//! job with none is watched through the `run` wrapper's records alone).

use crate::size::Size;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use watchkeeper_core::config::position::{load_validated, parse_validated};
use watchkeeper_core::config::{ConfigError, PromDuration};

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where `watchkeeper-backup run` records attempts and the exporter keeps verify results.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// The backup jobs.
    #[serde(default)]
    pub jobs: Vec<JobConfig>,
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/watchkeeper-backup")
}

/// One backup job: the value of the `job` label.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    /// The job's name (letters, digits, `_`, `-`, `.`): the `job` label and the state file name.
    pub name: String,
    /// A glob of backup artefacts; the newest one is the last success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<String>,
    /// Integrity check of the newest `files` artefact: `sha256` compares it with the
    /// `<artefact>.sha256` sidecar (`sha256sum` output or the bare hex digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<Checksum>,
    /// A restic repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restic: Option<ResticConfig>,
    /// A borg repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub borg: Option<BorgConfig>,
    /// pgBackRest stanzas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pgbackrest: Option<PgbackrestConfig>,
    /// A status file written by the backup script (JSON, see docs/backup.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<PathBuf>,
    /// The objective: a success must be at most this old (exported as `backup_max_age_seconds`).
    pub max_age: PromDuration,
    /// The smallest acceptable backup: a smaller artefact is a failed backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_size: Option<Size>,
    /// The restore test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifyConfig>,
    /// How often the source is read in the background (default 1m for files and status, 5m
    /// for restic, borg and pgbackrest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<PromDuration>,
    /// Longest time one command of the source (`restic snapshots`, ...) may run before it is
    /// killed (default 5m).
    #[serde(default = "default_timeout")]
    pub timeout: PromDuration,
}

fn default_timeout() -> PromDuration {
    PromDuration(Duration::from_secs(300))
}

/// Integrity checks of a `files` artefact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Checksum {
    /// SHA-256 against the `<artefact>.sha256` sidecar.
    Sha256,
}

/// A restic repository; the password comes from a file or a command, handed to restic through
/// `RESTIC_PASSWORD_FILE` / `RESTIC_PASSWORD_COMMAND` (never on the command line).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResticConfig {
    /// The repository (`-r`): a path or a restic URL.
    pub repository: String,
    /// File holding the repository password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Command printing the password (run by restic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_command: Option<String>,
    /// The restic binary.
    #[serde(default = "default_restic")]
    pub binary: PathBuf,
}

fn default_restic() -> PathBuf {
    PathBuf::from("restic")
}

/// A borg repository; the passphrase comes from a file (handed over a pipe, `BORG_PASSPHRASE_FD`)
/// or a command (`BORG_PASSCOMMAND`); neither for an unencrypted repository.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BorgConfig {
    /// The repository: a path or `ssh://` URL.
    pub repository: String,
    /// File holding the passphrase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase_file: Option<PathBuf>,
    /// Command printing the passphrase (run by borg).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passcommand: Option<String>,
    /// The borg binary.
    #[serde(default = "default_borg")]
    pub binary: PathBuf,
}

fn default_borg() -> PathBuf {
    PathBuf::from("borg")
}

/// pgBackRest stanzas read with `pgbackrest info --output=json`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PgbackrestConfig {
    /// The stanzas that must all be backed up (default: every stanza pgBackRest reports).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stanzas: Vec<String>,
    /// pgBackRest's configuration file (`--config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<PathBuf>,
    /// The pgbackrest binary.
    #[serde(default = "default_pgbackrest")]
    pub binary: PathBuf,
}

fn default_pgbackrest() -> PathBuf {
    PathBuf::from("pgbackrest")
}

/// A restore test run on its own schedule.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyConfig {
    /// The program and its arguments (no shell).
    pub command: Vec<String>,
    /// How often it runs.
    pub every: PromDuration,
    /// Longest run before the command's whole process group is killed.
    pub timeout: PromDuration,
}

/// Which kind of source a job has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// No source: the `run` wrapper's records only.
    Wrapper,
    /// `files`.
    Files,
    /// `restic`.
    Restic,
    /// `borg`.
    Borg,
    /// `pgbackrest`.
    Pgbackrest,
    /// `status`.
    Status,
}

impl SourceKind {
    /// The config key of this source.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Wrapper => "run",
            SourceKind::Files => "files",
            SourceKind::Restic => "restic",
            SourceKind::Borg => "borg",
            SourceKind::Pgbackrest => "pgbackrest",
            SourceKind::Status => "status",
        }
    }
}

impl JobConfig {
    /// The sources this job names (valid configurations name at most one).
    fn sources(&self) -> Vec<SourceKind> {
        let mut out = Vec::new();
        if self.files.is_some() {
            out.push(SourceKind::Files);
        }
        if self.restic.is_some() {
            out.push(SourceKind::Restic);
        }
        if self.borg.is_some() {
            out.push(SourceKind::Borg);
        }
        if self.pgbackrest.is_some() {
            out.push(SourceKind::Pgbackrest);
        }
        if self.status.is_some() {
            out.push(SourceKind::Status);
        }
        out
    }

    /// The job's source.
    pub fn source_kind(&self) -> SourceKind {
        self.sources()
            .first()
            .copied()
            .unwrap_or(SourceKind::Wrapper)
    }

    /// How often the source is refreshed.
    pub fn refresh_interval(&self) -> Duration {
        if let Some(d) = self.refresh_interval {
            return d.get();
        }
        match self.source_kind() {
            SourceKind::Restic | SourceKind::Borg | SourceKind::Pgbackrest => {
                Duration::from_secs(300)
            }
            _ => Duration::from_secs(60),
        }
    }
}

/// Whether `name` can be a job name (it becomes a file name in the state directory).
pub fn valid_job_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl Config {
    /// Reads, parses and validates the file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        load_validated(path, Config::validate)
    }

    /// Parses and validates `text`; `path` is used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        parse_validated(text, path, Config::validate)
    }

    /// The job called `name`.
    pub fn job(&self, name: &str) -> Option<&JobConfig> {
        self.jobs.iter().find(|j| j.name == name)
    }

    fn validate(&self) -> Result<(), (Vec<String>, String)> {
        let at = |i: usize, rest: &[&str]| {
            let mut p = vec!["jobs".to_string(), i.to_string()];
            p.extend(rest.iter().map(|s| s.to_string()));
            p
        };
        if self.state_dir.as_os_str().is_empty() {
            return Err((
                vec!["state_dir".into()],
                "state_dir: must not be empty".into(),
            ));
        }
        for (i, job) in self.jobs.iter().enumerate() {
            let n = &job.name;
            if !valid_job_name(n) {
                return Err((
                    at(i, &["name"]),
                    format!("jobs[{i}].name: {n:?} is not a valid job name (letters, digits, '_', '-', '.'; not starting with '.')"),
                ));
            }
            if self.jobs[..i].iter().any(|o| o.name == *n) {
                return Err((
                    at(i, &["name"]),
                    format!("jobs[{i}].name: duplicate job name {n:?}"),
                ));
            }
            let sources = job.sources();
            if sources.len() > 1 {
                let names: Vec<&str> = sources.iter().map(|s| s.as_str()).collect();
                return Err((
                    at(i, &[names[1]]),
                    format!(
                        "jobs[{i}] ({n}): one source per job, found {}",
                        names.join(" and ")
                    ),
                ));
            }
            if job.max_age.get().is_zero() {
                return Err((
                    at(i, &["max_age"]),
                    format!("jobs[{i}].max_age: must be greater than 0"),
                ));
            }
            if job.timeout.get().is_zero() {
                return Err((
                    at(i, &["timeout"]),
                    format!("jobs[{i}].timeout: must be greater than 0"),
                ));
            }
            if job
                .refresh_interval
                .is_some_and(|d| d.get() < Duration::from_secs(1))
            {
                return Err((
                    at(i, &["refresh_interval"]),
                    format!("jobs[{i}].refresh_interval: must be at least 1s"),
                ));
            }
            if let Some(pattern) = &job.files {
                if let Err(e) = glob::Pattern::new(pattern) {
                    return Err((
                        at(i, &["files"]),
                        format!("jobs[{i}].files: invalid glob {pattern:?}: {e}"),
                    ));
                }
            }
            if job.checksum.is_some() && job.files.is_none() {
                return Err((
                    at(i, &["checksum"]),
                    format!("jobs[{i}].checksum: only applies to a files source"),
                ));
            }
            if let Some(r) = &job.restic {
                if r.repository.is_empty() {
                    return Err((
                        at(i, &["restic", "repository"]),
                        format!("jobs[{i}].restic.repository: must not be empty"),
                    ));
                }
                if r.password_file.is_some() == r.password_command.is_some() {
                    return Err((
                        at(i, &["restic"]),
                        format!("jobs[{i}].restic: set exactly one of password_file and password_command"),
                    ));
                }
            }
            if let Some(b) = &job.borg {
                if b.repository.is_empty() {
                    return Err((
                        at(i, &["borg", "repository"]),
                        format!("jobs[{i}].borg.repository: must not be empty"),
                    ));
                }
                if b.passphrase_file.is_some() && b.passcommand.is_some() {
                    return Err((
                        at(i, &["borg"]),
                        format!(
                            "jobs[{i}].borg: set at most one of passphrase_file and passcommand"
                        ),
                    ));
                }
            }
            if let Some(v) = &job.verify {
                if v.command.first().is_none_or(|c| c.is_empty()) {
                    return Err((
                        at(i, &["verify", "command"]),
                        format!("jobs[{i}].verify.command: must name a program"),
                    ));
                }
                if v.every.get() < Duration::from_secs(1) {
                    return Err((
                        at(i, &["verify", "every"]),
                        format!("jobs[{i}].verify.every: must be at least 1s"),
                    ));
                }
                if v.timeout.get().is_zero() {
                    return Err((
                        at(i, &["verify", "timeout"]),
                        format!("jobs[{i}].verify.timeout: must be greater than 0"),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("b.yml")).map_err(|e| e.to_string())
    }

    #[test]
    fn the_issue_example_loads() {
        let c = parse(
            "state_dir: /var/lib/watchkeeper-backup\njobs:\n  - name: nightly-db\n    files: /var/backups/db/*.sql.gz\n    max_age: 26h\n    min_size: 1MiB\n  - name: offsite\n    restic: {repository: /srv/restic, password_file: /etc/watchkeeper/restic-pw}\n    max_age: 26h\n    verify: {command: [restic, check, --read-data-subset=1%], every: 24h, timeout: 2h}\n",
        )
        .unwrap();
        assert_eq!(c.jobs.len(), 2);
        assert_eq!(c.jobs[0].min_size, Some(Size(1 << 20)));
        assert_eq!(c.jobs[1].source_kind(), SourceKind::Restic);
        assert_eq!(
            c.jobs[1].verify.as_ref().unwrap().every.get(),
            Duration::from_secs(86_400)
        );
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let e = parse("jobs:\n  - name: a\n    files: /x/*\n    max_age: 1h\n    colour: red\n")
            .unwrap_err();
        assert!(e.starts_with("b.yml:5:"), "{e}");
        assert!(e.contains("colour"), "{e}");
        let e = parse("jobs:\n  - name: a\n    max_age: 1h\n  - name: a\n    max_age: 2h\n")
            .unwrap_err();
        assert!(e.starts_with("b.yml:4:") && e.contains("duplicate"), "{e}");
        let e = parse("jobs:\n  - name: a\n    max_age: 1h\n    files: /x\n    status: /y\n")
            .unwrap_err();
        assert!(e.starts_with("b.yml:5:") && e.contains("one source"), "{e}");
        let e = parse("jobs:\n  - name: a\n    max_age: 1h\n    min_size: 1mb\n").unwrap_err();
        assert!(e.starts_with("b.yml:4:") && e.contains("unit"), "{e}");
        let e = parse("jobs:\n  - name: a\n    max_age: 1h\n    restic: {repository: /r}\n")
            .unwrap_err();
        assert!(e.starts_with("b.yml:4:") && e.contains("password"), "{e}");
        let e = parse("jobs:\n  - name: ../x\n    max_age: 1h\n").unwrap_err();
        assert!(e.starts_with("b.yml:2:"), "{e}");
    }
}
