//! `os`: `node_os_info` and `node_os_version` from `os-release` below the root filesystem
//! (`/etc/os-release`, falling back to `/usr/lib/os-release`).
//!
//! The parsed file is cached and re-read only when its path or modification time changes.

use super::CollectorDef;
use crate::options::HostOptions;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `os` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "os",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(OsCollector::new(opts))))),
};

/// Reports the distribution named by `os-release`.
pub struct OsCollector {
    candidates: [PathBuf; 2],
    cache: Mutex<Option<Cached>>,
}

struct Cached {
    path: PathBuf,
    mtime: Option<SystemTime>,
    release: Arc<OsRelease>,
}

/// The `node_os_info` label values (in node_exporter's label order) and the version number.
#[derive(Debug, Default, PartialEq)]
struct OsRelease {
    labels: [String; INFO_LABELS.len()],
    version: f64,
}

const INFO_LABELS: [(&str, &str); 12] = [
    ("build_id", "BUILD_ID"),
    ("id", "ID"),
    ("id_like", "ID_LIKE"),
    ("image_id", "IMAGE_ID"),
    ("image_version", "IMAGE_VERSION"),
    ("name", "NAME"),
    ("pretty_name", "PRETTY_NAME"),
    ("variant", "VARIANT"),
    ("variant_id", "VARIANT_ID"),
    ("version", "VERSION"),
    ("version_codename", "VERSION_CODENAME"),
    ("version_id", "VERSION_ID"),
];

impl OsCollector {
    /// A collector reading below `opts.paths.rootfs`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            candidates: [
                opts.paths.root(Path::new("/etc/os-release")),
                opts.paths.root(Path::new("/usr/lib/os-release")),
            ],
            cache: Mutex::new(None),
        }
    }

    /// The parsed release of the first candidate that exists, from cache when unchanged.
    fn release(&self) -> Result<Option<Arc<OsRelease>>, CollectError> {
        for path in &self.candidates {
            let meta = match std::fs::metadata(path) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(CollectError::io(path.display(), e)),
            };
            let mtime = meta.modified().ok();
            // The cache is plain data; a panic elsewhere cannot leave it half-written.
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(c) = cache.as_ref() {
                if &c.path == path && c.mtime == mtime && mtime.is_some() {
                    return Ok(Some(Arc::clone(&c.release)));
                }
            }
            let text =
                std::fs::read_to_string(path).map_err(|e| CollectError::io(path.display(), e))?;
            let release = Arc::new(parse(&text));
            *cache = Some(Cached {
                path: path.clone(),
                mtime,
                release: Arc::clone(&release),
            });
            return Ok(Some(release));
        }
        Ok(None)
    }
}

/// Parses the shell-like `KEY=value` lines of os-release (see os-release(5)): double quotes
/// with backslash escapes, single quotes taken literally, `#` comments.
fn parse(text: &str) -> OsRelease {
    let mut release = OsRelease::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let Some(i) = INFO_LABELS.iter().position(|(_, k)| *k == key.trim()) else {
            continue;
        };
        release.labels[i] = unquote(raw.trim());
    }
    release.version = major_minor(&release.labels[11]);
    release
}

fn unquote(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    let mut quote = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"') | (None, '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => out.push(c),
            (_, '\\') => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            (None, '#') => break,
            (None, c) if c.is_whitespace() => break,
            (_, c) => out.push(c),
        }
    }
    out
}

/// The leading `major[.minor]` of VERSION_ID as a number (node_exporter's
/// `^[0-9]+\.?[0-9]*`), 0 when it does not start with a digit.
fn major_minor(version_id: &str) -> f64 {
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let major = digits(version_id);
    if major == 0 {
        return 0.0;
    }
    let mut end = major;
    if version_id[end..].starts_with('.') {
        end += 1 + digits(&version_id[end + 1..]);
    }
    version_id[..end]
        .trim_end_matches('.')
        .parse()
        .unwrap_or(0.0)
}

impl BlockingCollector for OsCollector {
    fn name(&self) -> &str {
        "os"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let Some(release) = self.release()? else {
            tracing::debug!("no os-release file found");
            return Ok(());
        };
        let mut labels = [("", ""); INFO_LABELS.len()];
        for (slot, ((label, _), value)) in labels
            .iter_mut()
            .zip(INFO_LABELS.iter().zip(&release.labels))
        {
            *slot = (label, value);
        }
        out.family(
            "node_os_info",
            "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, name, pretty_name, variant, variant_id, version, version_codename, version_id.",
            MetricType::Gauge,
        )
        .sample(&labels, 1.0);
        if release.version > 0.0 {
            out.family(
                "node_os_version",
                "Metric containing the major.minor part of the OS version.",
                MetricType::Gauge,
            )
            .sample(
                &[
                    ("id", &release.labels[1]),
                    ("id_like", &release.labels[2]),
                    ("name", &release.labels[5]),
                ],
                release.version,
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfile::fixtures;

    #[test]
    fn parses_real_debian_os_release() {
        let mut out = MetricSet::new();
        OsCollector::new(&fixtures::options(""))
            .collect(&mut out)
            .unwrap();
        assert_eq!(
            out.families()[0].samples[0].labels,
            r#"build_id="",id="debian",id_like="",image_id="",image_version="",name="Debian GNU/Linux",pretty_name="Debian GNU/Linux 12 (bookworm)",variant="",variant_id="",version="12 (bookworm)",version_codename="bookworm",version_id="12""#
        );
        assert_eq!(
            out.find(
                "node_os_version",
                &[
                    ("id", "debian"),
                    ("id_like", ""),
                    ("name", "Debian GNU/Linux")
                ]
            ),
            Some(12.0)
        );
    }

    #[test]
    fn falls_back_to_usr_lib_and_handles_quoting() {
        let mut out = MetricSet::new();
        // The edge rootfs has only usr/lib/os-release.
        OsCollector::new(&fixtures::options("edge"))
            .collect(&mut out)
            .unwrap();
        assert_eq!(
            out.find(
                "node_os_info",
                &[
                    ("id", "opensuse-leap"),
                    ("id_like", "suse opensuse"),
                    ("name", "openSUSE \"Leap\""),
                    ("variant", "it's"),
                    ("version_id", "15.5.1"),
                ]
            ),
            Some(1.0)
        );
        assert_eq!(out.find("node_os_version", &[]), Some(15.5));
    }

    #[test]
    fn versions_and_missing_files() {
        assert_eq!(major_minor("22.04"), 22.04);
        assert_eq!(major_minor("7"), 7.0);
        assert_eq!(major_minor("3.18.4"), 3.18);
        assert_eq!(major_minor("rolling"), 0.0);
        assert_eq!(major_minor(""), 0.0);
        let mut opts = fixtures::options("");
        opts.paths.rootfs = fixtures::path("no-such-root");
        let mut out = MetricSet::new();
        OsCollector::new(&opts).collect(&mut out).unwrap();
        assert_eq!(out.sample_count(), 0);
    }

    #[test]
    fn cached_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        let file = dir.path().join("etc/os-release");
        std::fs::write(&file, "ID=one\nVERSION_ID=1\n").unwrap();
        let mut opts = fixtures::options("");
        opts.paths.rootfs = dir.path().to_path_buf();
        let c = OsCollector::new(&opts);
        let first = c.release().unwrap().unwrap();
        assert!(Arc::ptr_eq(&first, &c.release().unwrap().unwrap()));
        std::fs::write(&file, "ID=two\nVERSION_ID=2\n").unwrap();
        let f = std::fs::File::options().write(true).open(&file).unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1))
            .unwrap();
        let second = c.release().unwrap().unwrap();
        assert_eq!(second.labels[1], "two");
        assert_eq!(second.version, 2.0);
    }
}
