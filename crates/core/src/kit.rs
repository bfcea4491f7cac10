//! The exporter kit: what an exporter with a configuration file needs besides its own logic.
//!
//! An exporter implements [`ConfigFile`] for its typed configuration, flattens [`KitArgs`] into
//! its command line and calls [`serve`] with a function that registers its collectors, prober
//! and pages on the [`Exporter`] builder. The kit owns the rest: `--config.file` and
//! `--config.check` (exit code 2 with file, line and field), the [`Live`] holder that swaps the
//! configuration on SIGHUP and `POST /-/reload` (keeping the old one when the new one is
//! invalid), the reload-status metric, logging, the runtime and shutdown.
//!
//! A complete exporter in a few dozen lines is `crates/core/examples/minimal_exporter.rs`.

use crate::cli::{run_main_with, ExitError, LogArgs, RuntimeShape, WebArgs};
use crate::config::{ConfigError, Reloadable};
use crate::exporter::{Exporter, ExporterSpec};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// A configuration loaded from `--config.file` and reloaded on SIGHUP and `POST /-/reload`.
pub trait ConfigFile: Send + Sync + Sized + 'static {
    /// Reads, parses and validates the file (usually [`crate::config::load_yaml`] plus checks
    /// that name the field). `previous` is the value in force when this is a reload, so
    /// connections and caches can be carried over.
    fn load(path: &Path, previous: Option<&Self>) -> Result<Self, ConfigError>;

    /// The configuration as YAML with secrets redacted, shown on the landing page (usually
    /// [`crate::config::to_yaml`] of the parsed file).
    fn describe(&self) -> String;

    /// A short summary for `--config.check`, such as `3 jobs`.
    fn summary(&self) -> String;
}

/// The configuration in force. Reloading swaps it only when the new file loads; readers take a
/// cheap `Arc` of whichever value is current, and background tasks can follow reloads through
/// [`Live::subscribe`].
pub struct Live<T> {
    path: PathBuf,
    current: watch::Sender<Arc<T>>,
    /// Reloads run one at a time, so `previous` is always the value being replaced.
    reloading: Mutex<()>,
}

impl<T: ConfigFile> Live<T> {
    /// Loads the file for the first time.
    pub fn load(path: &Path) -> Result<Arc<Self>, ConfigError> {
        let value = T::load(path, None)?;
        let (current, _) = watch::channel(Arc::new(value));
        Ok(Arc::new(Self {
            path: path.to_path_buf(),
            current,
            reloading: Mutex::new(()),
        }))
    }

    /// The configuration in force.
    pub fn get(&self) -> Arc<T> {
        Arc::clone(&self.current.borrow())
    }

    /// The configuration file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A receiver that sees every successful reload.
    pub fn subscribe(&self) -> watch::Receiver<Arc<T>> {
        self.current.subscribe()
    }
}

impl<T: ConfigFile> Reloadable for Live<T> {
    fn reload(&self) -> Result<(), ConfigError> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let previous = self.get();
        let next = T::load(&self.path, Some(&previous))?;
        self.current.send_replace(Arc::new(next));
        Ok(())
    }

    fn describe(&self) -> String {
        self.get().describe()
    }
}

/// `--config.file` and `--config.check`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// The configuration file (YAML). Default: `<binary>.yml` in the working directory.
    #[arg(long = "config.file", value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Validate the configuration file and exit (0 valid, 2 invalid).
    #[arg(long = "config.check")]
    pub check: bool,
}

impl ConfigArgs {
    /// The file to load: the flag, or `<binary>.yml`.
    pub fn path(&self, spec: &ExporterSpec) -> PathBuf {
        self.file
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{}.yml", spec.binary)))
    }
}

/// Every flag the kit handles; flatten it into the exporter's own `clap::Parser`.
#[derive(Debug, Clone, clap::Args)]
pub struct KitArgs {
    /// The configuration file flags.
    #[command(flatten)]
    pub config: ConfigArgs,

    /// The web flags.
    #[command(flatten)]
    pub web: WebArgs,

    /// The logging flags.
    #[command(flatten)]
    pub log: LogArgs,
}

/// Runs an exporter with a configuration file: sets up logging and the runtime, loads the file
/// (exit code 2 naming file, line and field when it is invalid), answers `--config.check`, and
/// otherwise calls `build` inside the runtime (it may spawn background tasks) with the live
/// configuration and a builder that already carries the spec and the reloadable configuration,
/// then serves until SIGTERM or SIGINT.
pub fn serve<T, B>(spec: ExporterSpec, shape: RuntimeShape, args: KitArgs, build: B) -> ExitCode
where
    T: ConfigFile,
    B: FnOnce(&Arc<Live<T>>, Exporter) -> Result<Exporter, ExitError>,
{
    let KitArgs { config, web, log } = args;
    run_main_with(&log, shape, async move {
        let path = config.path(&spec);
        let live = Live::<T>::load(&path).map_err(|e| ExitError::Usage(e.to_string()))?;
        if config.check {
            println!("{}: OK ({})", path.display(), live.get().summary());
            return Ok(());
        }
        let exporter = Exporter::new(spec).reloadable(Arc::clone(&live) as Arc<dyn Reloadable>);
        let running = build(&live, exporter)?.bind(&web).await?;
        running.wait().await;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_yaml;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Conf {
        value: f64,
    }

    struct Loaded {
        conf: Conf,
        reloads: u32,
    }

    impl ConfigFile for Loaded {
        fn load(path: &Path, previous: Option<&Self>) -> Result<Self, ConfigError> {
            Ok(Loaded {
                conf: load_yaml(path)?,
                reloads: previous.map_or(0, |p| p.reloads + 1),
            })
        }
        fn describe(&self) -> String {
            format!("value: {}\n", self.conf.value)
        }
        fn summary(&self) -> String {
            "1 value".into()
        }
    }

    #[test]
    fn reload_swaps_only_valid_files_and_sees_the_previous_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yml");
        std::fs::write(&path, "value: 1\n").unwrap();
        let live = Live::<Loaded>::load(&path).unwrap();
        let mut rx = live.subscribe();
        assert_eq!(live.get().conf.value, 1.0);

        std::fs::write(&path, "value: 2\n").unwrap();
        live.reload().unwrap();
        assert_eq!(live.get().conf.value, 2.0);
        assert_eq!(live.get().reloads, 1);
        assert!(rx.has_changed().unwrap());
        assert_eq!(rx.borrow_and_update().conf.value, 2.0);

        std::fs::write(&path, "value: 3\nvalu: 4\n").unwrap();
        let err = live.reload().unwrap_err().to_string();
        assert!(err.contains("c.yml:2:"), "{err}");
        assert_eq!(live.get().conf.value, 2.0, "the old config stays in force");
        assert!(!rx.has_changed().unwrap());
        assert_eq!(live.describe(), "value: 2\n");
    }

    #[test]
    fn default_path_is_named_after_the_binary() {
        let spec = ExporterSpec {
            name: "x",
            binary: "watchkeeper-x",
            default_port: 1,
            description: "",
        };
        let args = ConfigArgs {
            file: None,
            check: false,
        };
        assert_eq!(args.path(&spec), PathBuf::from("watchkeeper-x.yml"));
    }
}
