//! Expands `files:` glob patterns into file paths. The walk is ours (not a glob crate's) so that
//! symbolic-link loops are detected and reported instead of followed until the path is too long,
//! and so that the depth is bounded by the pattern.

use crate::reason::Reason;
use globset::GlobMatcher;
use std::collections::BTreeMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

/// How deep `**` descends.
pub const MAX_DEPTH: usize = 64;

/// A compiled `files:` pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    base: PathBuf,
    matcher: Option<GlobMatcher>,
    max_depth: usize,
}

/// A walk error: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkError {
    /// The directory or link that failed.
    pub path: PathBuf,
    /// The bounded reason.
    pub reason: Reason,
    /// Detail for the log.
    pub detail: String,
}

fn is_meta(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

impl Pattern {
    /// Compiles a pattern already checked by [`crate::config::check_glob`]. A pattern without
    /// wildcards names one file, or every file directly inside a directory.
    pub fn new(text: &str) -> Result<Self, String> {
        let path = Path::new(text);
        let mut base = PathBuf::new();
        let mut rest = 0usize;
        let mut in_rest = false;
        let mut deep = false;
        for c in path.components() {
            let s = c.as_os_str().to_string_lossy();
            if !in_rest && !is_meta(&s) {
                base.push(c.as_os_str());
                continue;
            }
            in_rest = true;
            rest += 1;
            if s.contains("**") {
                deep = true;
            }
        }
        if !in_rest {
            return Ok(Self {
                text: text.to_string(),
                base,
                matcher: None,
                max_depth: 1,
            });
        }
        if base.as_os_str().is_empty() {
            base.push(".");
        }
        let glob = globset::GlobBuilder::new(text)
            .literal_separator(true)
            .build()
            .map_err(|e| e.kind().to_string())?;
        Ok(Self {
            text: text.to_string(),
            base,
            matcher: Some(glob.compile_matcher()),
            max_depth: if deep { MAX_DEPTH } else { rest },
        })
    }

    /// The pattern as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Adds the matching files (with the metadata the walk already read) to `files` and the
    /// failures to `errors`.
    pub fn expand(&self, files: &mut BTreeMap<PathBuf, Metadata>, errors: &mut Vec<WalkError>) {
        let Some(matcher) = &self.matcher else {
            // A literal path: a file, or a directory's direct files.
            match std::fs::metadata(&self.base) {
                Ok(m) if m.is_dir() => {
                    let always = globset::Glob::new("*").map(|g| g.compile_matcher());
                    if let Ok(all) = always {
                        let mut ancestors = vec![(m.dev(), m.ino())];
                        walk(&self.base, &all, 1, 1, &mut ancestors, files, errors, true);
                    }
                }
                Ok(m) if m.is_file() => {
                    files.insert(self.base.clone(), m);
                }
                Ok(_) => errors.push(WalkError {
                    path: self.base.clone(),
                    reason: Reason::ReadError,
                    detail: "not a regular file".into(),
                }),
                // A configured file that does not exist is an error of that source.
                Err(e) => errors.push(WalkError {
                    path: self.base.clone(),
                    reason: Reason::of_io(&e),
                    detail: e.to_string(),
                }),
            }
            return;
        };
        match std::fs::metadata(&self.base) {
            Ok(m) if m.is_dir() => {
                let mut ancestors = vec![(m.dev(), m.ino())];
                walk(
                    &self.base,
                    matcher,
                    1,
                    self.max_depth,
                    &mut ancestors,
                    files,
                    errors,
                    false,
                );
            }
            // The directory a wildcard pattern starts in may legitimately not exist (yet).
            Ok(_) | Err(_) => {}
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn walk(
    dir: &Path,
    matcher: &GlobMatcher,
    depth: usize,
    max_depth: usize,
    ancestors: &mut Vec<(u64, u64)>,
    files: &mut BTreeMap<PathBuf, Metadata>,
    errors: &mut Vec<WalkError>,
    match_name_only: bool,
) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(WalkError {
                path: dir.to_path_buf(),
                reason: Reason::of_io(&e),
                detail: e.to_string(),
            });
            return;
        }
    };
    let mut sorted: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    sorted.sort();
    for path in sorted {
        // Follow links: a link to a certificate is the certificate.
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                // A dangling link is not an error of ours; a loop of links is.
                let reason = Reason::of_io(&e);
                if reason != Reason::NotFound {
                    errors.push(WalkError {
                        path,
                        reason,
                        detail: e.to_string(),
                    });
                }
                continue;
            }
        };
        if meta.is_dir() {
            if depth >= max_depth {
                continue;
            }
            let id = (meta.dev(), meta.ino());
            if ancestors.contains(&id) {
                errors.push(WalkError {
                    path,
                    reason: Reason::SymlinkLoop,
                    detail: "directory contains itself through a symbolic link".into(),
                });
                continue;
            }
            ancestors.push(id);
            walk(
                &path,
                matcher,
                depth + 1,
                max_depth,
                ancestors,
                files,
                errors,
                match_name_only,
            );
            ancestors.pop();
        } else if meta.is_file() {
            let hit = if match_name_only {
                true
            } else {
                matcher.is_match(&path) || matcher.is_match(normalize(&path))
            };
            if hit {
                files.insert(path, meta);
            }
        }
    }
}

/// `./a/b` → `a/b`, for relative patterns written without the `./`.
fn normalize(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(pattern: &str) -> (Vec<String>, Vec<WalkError>) {
        let p = Pattern::new(pattern).unwrap();
        let mut files = BTreeMap::new();
        let mut errors = Vec::new();
        p.expand(&mut files, &mut errors);
        (
            files.keys().map(|f| f.display().to_string()).collect(),
            errors,
        )
    }

    #[test]
    fn globs_with_double_star_and_loops() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("a/b/c")).unwrap();
        for f in ["x.pem", "a/y.pem", "a/b/c/z.pem", "a/b/c/z.txt"] {
            std::fs::write(root.join(f), "").unwrap();
        }
        std::os::unix::fs::symlink(root.join("a"), root.join("a/b/loop")).unwrap();
        let r = root.display();
        let (files, errors) = expand(&format!("{r}/**/*.pem"));
        assert_eq!(
            files,
            vec![
                format!("{r}/a/b/c/z.pem"),
                format!("{r}/a/y.pem"),
                format!("{r}/x.pem")
            ]
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].reason, Reason::SymlinkLoop);
        assert_eq!(errors[0].path, root.join("a/b/loop"));

        let (files, errors) = expand(&format!("{r}/*.pem"));
        assert_eq!(files, vec![format!("{r}/x.pem")]);
        assert!(errors.is_empty());

        let (files, _) = expand(&format!("{r}/a"));
        assert_eq!(files, vec![format!("{r}/a/y.pem")]);

        let (files, errors) = expand(&format!("{r}/missing.pem"));
        assert!(files.is_empty());
        assert_eq!(errors[0].reason, Reason::NotFound);
    }
}
