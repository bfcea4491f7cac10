//! The file source: expands the patterns, parses each file once per (device, inode, size, mtime)
//! and reports every certificate plus one `x509_source_up` per file.

use crate::config::LabelOptions;
use crate::facts::CertFacts;
use crate::formats::{decode, DecodeError};
use crate::labels::{display_path, render, write_certs, Origin, Rendered};
use crate::reason::{ErrorCounters, Reason};
use crate::walk::{Pattern, WalkError};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::Metadata;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use watchkeeper_core::config::Secret;
use watchkeeper_core::metrics::{MetricSet, MetricType};

/// Files larger than this are not read (no certificate bundle is this big).
pub const MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

/// One `files:` entry, compiled.
#[derive(Debug, Clone)]
pub struct Source {
    /// The pattern.
    pub pattern: Pattern,
    /// Where the PKCS#12 password is.
    pub password_file: Option<PathBuf>,
}

/// What identifies an unchanged file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

type Parsed = Result<Arc<Vec<Rendered>>, DecodeError>;

struct Cached {
    key: FileKey,
    password: Option<Secret>,
    parsed: Parsed,
}

/// The per-file parse cache and the scan over all sources.
pub struct FileScanner {
    opts: LabelOptions,
    cache: Mutex<HashMap<PathBuf, Cached>>,
    parsed: AtomicU64,
    hits: AtomicU64,
}

/// The outcome for one file or walk error.
enum Outcome {
    Ok(Arc<Vec<Rendered>>),
    Failed,
}

impl FileScanner {
    /// An empty cache for these label options.
    pub fn new(opts: LabelOptions) -> Self {
        Self {
            opts,
            cache: Mutex::new(HashMap::new()),
            parsed: AtomicU64::new(0),
            hits: AtomicU64::new(0),
        }
    }

    /// The label options the cached label sets were rendered with.
    pub fn options(&self) -> &LabelOptions {
        &self.opts
    }

    /// (files parsed, files served from the cache) since start.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.parsed.load(Ordering::Relaxed),
            self.hits.load(Ordering::Relaxed),
        )
    }

    /// Scans every source and writes the page.
    pub fn collect(&self, sources: &[Source], errors: &ErrorCounters, out: &mut MetricSet) {
        let mut matched: Vec<(String, usize)> = Vec::new();
        let mut files: Vec<(PathBuf, Metadata, Option<&Path>)> = Vec::new();
        let mut seen = BTreeSet::new();
        let mut walk_errors: Vec<WalkError> = Vec::new();
        for s in sources {
            let mut found = BTreeMap::new();
            s.pattern.expand(&mut found, &mut walk_errors);
            matched.push((s.pattern.text().to_string(), found.len()));
            for (f, meta) in found {
                if seen.insert(f.clone()) {
                    files.push((f, meta, s.password_file.as_deref()));
                }
            }
        }

        let mut outcomes: Vec<(String, Outcome)> = Vec::with_capacity(files.len());
        let mut live = HashMap::with_capacity(files.len());
        {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            for (path, meta, password_file) in files {
                let shown = display_path(&path, self.opts.trim_path_components);
                let outcome = self.one(&mut cache, &path, &meta, &shown, password_file, errors);
                outcomes.push((shown, outcome));
                live.insert(path, ());
            }
            // Forget files that are gone, so the cache never outgrows the file set.
            cache.retain(|p, _| live.contains_key(p));
        }
        // Two patterns walking the same tree meet the same loop: one source, one error.
        walk_errors.sort_by(|a, b| a.path.cmp(&b.path));
        walk_errors.dedup_by(|a, b| a.path == b.path);
        for e in walk_errors {
            if seen.contains(&e.path) {
                continue;
            }
            let shown = display_path(&e.path, self.opts.trim_path_components);
            errors.record(&shown, e.reason, &e.detail);
            outcomes.push((shown, Outcome::Failed));
        }

        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let certs = outcomes.iter().filter_map(|(_, o)| match o {
            Outcome::Ok(c) => Some(c.iter()),
            Outcome::Failed => None,
        });
        write_certs(out, certs.flatten(), now);
        let up = out.family(
            "x509_source_up",
            "1 if the certificate source (file or endpoint) was read, 0 if it failed (see x509_source_errors_total).",
            MetricType::Gauge,
        );
        for (source, o) in &outcomes {
            let v = if matches!(o, Outcome::Ok(_)) {
                1.0
            } else {
                0.0
            };
            up.sample(&[("source_kind", "file"), ("source", source)], v);
        }
        let failed = outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Failed))
            .count();
        // x509-certificate-exporter's name for the same fact.
        out.gauge(
            "x509_read_errors",
            "Number of certificate files that could not be read or parsed in this scrape.",
            failed as f64,
        );
        let f = out.family(
            "x509_files_matched",
            "Files each `files:` pattern matched.",
            MetricType::Gauge,
        );
        for (pattern, n) in &matched {
            f.sample(&[("pattern", pattern)], *n as f64);
        }
        let (parsed, hits) = self.stats();
        out.counter(
            "watchkeeper_tls_files_parsed_total",
            "Certificate files parsed (cache misses).",
            parsed as f64,
        );
        out.counter(
            "watchkeeper_tls_file_cache_hits_total",
            "Certificate files served from the parse cache (unchanged device, inode, size and mtime).",
            hits as f64,
        );
    }

    fn one(
        &self,
        cache: &mut HashMap<PathBuf, Cached>,
        path: &Path,
        meta: &Metadata,
        shown: &str,
        password_file: Option<&Path>,
        errors: &ErrorCounters,
    ) -> Outcome {
        // The walk's stat (links followed) identifies this version of the file.
        let key = FileKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        };
        let password = match password_file {
            None => None,
            Some(p) => match Secret::from_file(p) {
                Ok(s) => Some(s),
                Err(e) => {
                    errors.record(
                        shown,
                        Reason::PasswordFile,
                        &format!("password_file {}: {e}", p.display()),
                    );
                    return Outcome::Failed;
                }
            },
        };
        let parsed = match cache.get(path) {
            Some(c) if c.key == key && c.password == password => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                c.parsed.clone()
            }
            _ => {
                self.parsed.fetch_add(1, Ordering::Relaxed);
                let parsed = self.parse(path, shown, key.size, password.as_ref());
                cache.insert(
                    path.to_path_buf(),
                    Cached {
                        key,
                        password,
                        parsed: parsed.clone(),
                    },
                );
                parsed
            }
        };
        match parsed {
            Ok(c) => Outcome::Ok(c),
            Err(e) => {
                errors.record(shown, e.reason, &e.detail);
                Outcome::Failed
            }
        }
    }

    fn parse(&self, path: &Path, shown: &str, size: u64, password: Option<&Secret>) -> Parsed {
        if size > MAX_FILE_SIZE {
            return Err(DecodeError {
                reason: Reason::TooLarge,
                detail: format!("{size} bytes, more than {MAX_FILE_SIZE}"),
            });
        }
        let bytes = read_bounded(path).map_err(|e| DecodeError {
            reason: Reason::of_io(&e),
            detail: e.to_string(),
        })?;
        let hint = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("p12") || e.eq_ignore_ascii_case("pfx"));
        let found = decode(&bytes, password.map(Secret::expose), hint)?;
        let mut out = Vec::with_capacity(found.len());
        let mut fingerprints = BTreeSet::new();
        for f in found {
            let facts = CertFacts::from_der(&f.der).map_err(|e| DecodeError {
                reason: Reason::CertificateInvalid,
                detail: e,
            })?;
            // The same certificate twice in a bundle is one series.
            if !fingerprints.insert(facts.info.fingerprint_sha256.clone()) {
                continue;
            }
            let embedded = f.embedded.as_ref().map(|(k, n)| (*k, n.as_str()));
            let origin = Origin {
                kind: "file",
                source: shown,
                embedded,
            };
            out.push(render(
                &facts,
                facts.standalone_position(),
                origin,
                &self.opts,
            ));
        }
        Ok(Arc::new(out))
    }
}

/// Reads at most [`MAX_FILE_SIZE`] bytes (the file may grow between stat and read).
fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_SIZE).read_to_end(&mut bytes)?;
    Ok(bytes)
}
