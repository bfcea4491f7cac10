//! `files`: a glob of backup artefacts. The newest artefact (by modification time) is the last
//! backup; with `min_size` only artefacts at least that large count as successes; with
//! `checksum: sha256` the newest artefact is compared with its `.sha256` sidecar.

use super::{Failure, Reason, Report};
use crate::config::Checksum;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

/// A glob of artefacts.
pub struct Files {
    pattern: String,
    min_size: Option<u64>,
    checksum: Option<Checksum>,
    /// The last integrity result, keyed by the artefact's and the checksum file's path, mtime
    /// and size: an unchanged artefact is not hashed again.
    verified: Mutex<Option<(ChecksumKey, bool)>>,
}

type ChecksumKey = (PathBuf, f64, u64, PathBuf, f64, u64);

struct Artefact {
    path: PathBuf,
    mtime: f64,
    size: u64,
}

fn mtime_secs(m: &std::fs::Metadata) -> f64 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Files {
    /// A source reading `pattern`.
    pub fn new(pattern: String, min_size: Option<u64>, checksum: Option<Checksum>) -> Self {
        Self {
            pattern,
            min_size,
            checksum,
            verified: Mutex::new(None),
        }
    }

    /// Scans the glob.
    pub fn refresh(&self) -> Report {
        let paths = match glob::glob(&self.pattern) {
            Ok(p) => p,
            Err(e) => {
                return Report::failed(Failure::new(Reason::Parse, format!("invalid glob: {e}")))
            }
        };
        let mut count = 0u64;
        let mut total = 0u64;
        let mut newest: Option<Artefact> = None;
        let mut newest_ok: Option<f64> = None;
        let mut first_error: Option<String> = None;
        for entry in paths {
            let path = match entry {
                Ok(p) => p,
                Err(e) => {
                    first_error.get_or_insert_with(|| e.to_string());
                    continue;
                }
            };
            if self.checksum.is_some()
                && (path.extension().is_some_and(|e| e == "sha256")
                    || path.file_name().is_some_and(|n| n == "SHA256SUMS"))
            {
                continue;
            }
            let meta = match std::fs::metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    first_error.get_or_insert_with(|| format!("{}: {e}", path.display()));
                    continue;
                }
            };
            if !meta.is_file() {
                continue;
            }
            let (mtime, size) = (mtime_secs(&meta), meta.len());
            count += 1;
            total = total.saturating_add(size);
            if self.min_size.is_none_or(|min| size >= min) && newest_ok.is_none_or(|t| mtime > t) {
                newest_ok = Some(mtime);
            }
            if newest.as_ref().is_none_or(|n| mtime > n.mtime) {
                newest = Some(Artefact { path, mtime, size });
            }
        }
        let Some(newest) = newest else {
            return Report::failed(match first_error {
                Some(e) => Failure::new(Reason::Io, format!("reading artefacts: {e}")),
                None => Failure::new(Reason::NoMatch, format!("no file matches {}", self.pattern)),
            });
        };
        if let Some(e) = first_error {
            tracing::debug!(pattern = %self.pattern, error = %e, "some artefacts could not be read");
        }
        let integrity_ok = self.checksum.map(|_| self.check(&newest));
        Report {
            failure: None,
            last_success: newest_ok,
            last_attempt: Some(newest.mtime),
            last_attempt_ok: Some(self.min_size.is_none_or(|min| newest.size >= min)),
            last_duration: None,
            last_size: Some(newest.size),
            artifacts: Some(count),
            total_bytes: Some(total),
            integrity_ok,
            refresh_seconds: 0.0,
            newest_artifact: Some(newest.path),
        }
    }

    fn check(&self, a: &Artefact) -> bool {
        let Some((reference, digest_source)) = reference_for(&a.path) else {
            tracing::warn!(artefact = %a.path.display(), "no checksum for the newest artefact (neither a .sha256 sidecar nor a SHA256SUMS manifest)");
            return false;
        };
        let (reference_mtime, reference_len) = std::fs::metadata(&reference)
            .map(|m| (mtime_secs(&m), m.len()))
            .unwrap_or((0.0, 0));
        let key: ChecksumKey = (
            a.path.clone(),
            a.mtime,
            a.size,
            reference.clone(),
            reference_mtime,
            reference_len,
        );
        if let Ok(guard) = self.verified.lock() {
            if let Some((k, ok)) = guard.as_ref() {
                if *k == key {
                    return *ok;
                }
            }
        }
        let ok = match (digest_source(&reference, &a.path), sha256_hex(&a.path)) {
            (Ok(want), Ok(got)) => {
                if want != got {
                    tracing::warn!(artefact = %a.path.display(), checksum_file = %reference.display(), "checksum mismatch: the newest artefact does not match its recorded SHA-256");
                }
                want == got
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(artefact = %a.path.display(), error = %e, "integrity check failed");
                false
            }
        };
        if let Ok(mut guard) = self.verified.lock() {
            *guard = Some((key, ok));
        }
        ok
    }
}

/// Reads the expected digest of an artefact from a checksum file.
type DigestSource = fn(&Path, &Path) -> std::io::Result<String>;

/// Where the expected digest of `artefact` is: its `.sha256` sidecar, else a `SHA256SUMS`
/// manifest (`sha256sum` output) in the same directory.
fn reference_for(artefact: &Path) -> Option<(PathBuf, DigestSource)> {
    let mut sidecar = artefact.as_os_str().to_owned();
    sidecar.push(".sha256");
    let sidecar = PathBuf::from(sidecar);
    if sidecar.is_file() {
        return Some((sidecar, |p, _| read_sidecar(p)));
    }
    let manifest = artefact.parent()?.join("SHA256SUMS");
    manifest.is_file().then_some((manifest, read_manifest))
}

/// The digest of `artefact` in a `sha256sum`-style manifest (`<hex>  <name>` or `<hex> *<name>`).
fn read_manifest(manifest: &Path, artefact: &Path) -> std::io::Result<String> {
    let name = artefact
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut text = String::new();
    std::fs::File::open(manifest)?
        .take(16 << 20)
        .read_to_string(&mut text)?;
    for line in text.lines() {
        let Some((hex, file)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        let file = file.trim_start().trim_start_matches('*');
        let file = file.rsplit('/').next().unwrap_or(file);
        if file == name {
            return valid_digest(hex, manifest);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("{}: no line for {name}", manifest.display()),
    ))
}

fn valid_digest(word: &str, from: &Path) -> std::io::Result<String> {
    let word = word.to_ascii_lowercase();
    if word.len() != 64 || !word.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: not a SHA-256 digest", from.display()),
        ));
    }
    Ok(word)
}

/// The digest in a sidecar: the first word (`sha256sum` output or a bare hex digest).
fn read_sidecar(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(4096)
        .read_to_string(&mut text)?;
    valid_digest(text.split_whitespace().next().unwrap_or(""), path)
}

/// The SHA-256 of a file, lower-case hex.
pub fn sha256_hex(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(ctx
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_artefact_count_total_and_min_size() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("a.dump");
        let new = dir.path().join("b.dump");
        std::fs::write(&old, vec![0u8; 2048]).unwrap();
        std::fs::write(&new, b"tiny").unwrap();
        let t = std::time::SystemTime::now();
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(t - std::time::Duration::from_secs(3600))
            .unwrap();
        let f = Files::new(format!("{}/*.dump", dir.path().display()), Some(1024), None);
        let r = f.refresh();
        assert_eq!(r.failure, None);
        assert_eq!(r.artifacts, Some(2));
        assert_eq!(r.total_bytes, Some(2052));
        assert_eq!(r.last_size, Some(4));
        assert_eq!(r.last_attempt_ok, Some(false));
        let old_mtime = mtime_secs(&std::fs::metadata(&old).unwrap());
        assert_eq!(r.last_success, Some(old_mtime));
    }

    #[test]
    fn sidecar_checks() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("x.tar");
        std::fs::write(&a, b"hello").unwrap();
        let side = dir.path().join("x.tar.sha256");
        let f = Files::new(
            format!("{}/*", dir.path().display()),
            None,
            Some(Checksum::Sha256),
        );
        assert_eq!(f.refresh().integrity_ok, Some(false), "missing sidecar");
        std::fs::write(
            &side,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824  x.tar\n",
        )
        .unwrap();
        let r = f.refresh();
        assert_eq!(r.integrity_ok, Some(true));
        assert_eq!(r.artifacts, Some(1), "the sidecar is not an artefact");
        // Without a sidecar, a SHA256SUMS manifest in the directory.
        std::fs::remove_file(&side).unwrap();
        let manifest = dir.path().join("SHA256SUMS");
        std::fs::write(&manifest, "0000000000000000000000000000000000000000000000000000000000000000  other\n2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 *x.tar\n").unwrap();
        let r = f.refresh();
        assert_eq!(r.integrity_ok, Some(true));
        assert_eq!(r.artifacts, Some(1), "the manifest is not an artefact");
        std::fs::write(
            &manifest,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824  other\n",
        )
        .unwrap();
        assert_eq!(
            f.refresh().integrity_ok,
            Some(false),
            "no line for the artefact"
        );
    }

    #[test]
    fn no_match_is_a_bounded_failure() {
        let dir = tempfile::tempdir().unwrap();
        let r = Files::new(format!("{}/*.gz", dir.path().display()), None, None).refresh();
        assert_eq!(r.failure.unwrap().reason, Reason::NoMatch);
    }
}
