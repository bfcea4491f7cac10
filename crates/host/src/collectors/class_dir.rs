//! Listing the devices of a sysfs class (`/sys/class/thermal/thermal_zone*`, ...) and reading
//! their attributes as text or integers.
//!
//! A class directory has to be listed on every scrape (devices come and go), but only that one
//! directory: the attributes themselves are read through [`SysfsDir`], so kept descriptors
//! answer them with one `pread` each.

use super::sysfs_dir::SysfsDir;
use std::io::ErrorKind;
use std::path::Path;
use watchkeeper_core::CollectError;

/// The names in `dir` that start with `prefix`, sorted; `None` when `dir` does not exist (the
/// kernel has no such class, so the collector has nothing to report).
pub(crate) fn entries(dir: &Path, prefix: &str) -> Result<Option<Vec<String>>, CollectError> {
    let listing = match std::fs::read_dir(dir) {
        Ok(l) => l,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CollectError::io(dir.display(), e)),
    };
    let mut names = Vec::new();
    for entry in listing {
        let entry = entry.map_err(|e| CollectError::io(dir.display(), e))?;
        if let Some(name) = entry.file_name().to_str() {
            if name.starts_with(prefix) {
                names.push(name.to_string());
            }
        }
    }
    names.sort();
    Ok(Some(names))
}

/// Attribute `name` of `dir` with surrounding whitespace removed; `None` when unreadable.
pub(crate) fn text(dir: &SysfsDir, name: &str) -> Option<String> {
    let mut buf = [0u8; 4096];
    dir.read(name, &mut buf).map(|s| s.trim().to_string())
}

/// Attribute `name` of `dir` as a decimal integer; `None` when unreadable or not a number.
pub(crate) fn int(dir: &SysfsDir, name: &str) -> Option<i64> {
    let mut buf = [0u8; 64];
    dir.read(name, &mut buf)?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_matching_names_sorted_and_a_missing_class_is_none() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["zone2", "zone10", "other", "zone1"] {
            std::fs::create_dir(dir.path().join(n)).unwrap();
        }
        std::fs::write(dir.path().join("zone1/temp"), " 42 \n").unwrap();
        assert_eq!(
            entries(dir.path(), "zone").unwrap().unwrap(),
            ["zone1", "zone10", "zone2"]
        );
        assert!(entries(&dir.path().join("nope"), "zone").unwrap().is_none());
        let zone = SysfsDir::open(&dir.path().join("zone1"));
        assert_eq!(int(&zone, "temp"), Some(42));
        assert_eq!(text(&zone, "temp").as_deref(), Some("42"));
        assert_eq!(int(&zone, "missing"), None);
    }
}
