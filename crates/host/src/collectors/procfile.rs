//! Reading and tokenising procfs/sysfs pseudo-files, shared by the collectors that parse them.
//!
//! Pseudo-files are small and regenerated on every read, so each is read whole, once per scrape,
//! and parsed by splitting on whitespace: no regular expressions on the scrape path.

use std::io::ErrorKind;
use std::path::Path;
use watchkeeper_core::CollectError;

/// Reads a file whole with the fewest system calls: through a descriptor kept open from the
/// last scrape when it is a procfs/sysfs file (one `pread` for most files, see
/// [`super::kept_open`]), otherwise `open`, `read` until end of file, `close`. The read goes
/// into a buffer kept per thread, so a scrape does not allocate and zero one per file; the
/// text is then copied into a string of exactly its size.
pub(crate) fn read_whole(path: &Path) -> std::io::Result<String> {
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUFFER.with(|cell| {
        let mut buf = cell.borrow_mut();
        let len = super::kept_open::read_into(path, &mut buf)?;
        std::str::from_utf8(&buf[..len])
            .map(str::to_owned)
            .map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))
    })
}

/// Reads a whole pseudo-file; a failure names the path.
pub(crate) fn read(path: &Path) -> Result<String, CollectError> {
    read_whole(path).map_err(|e| CollectError::io(path.display(), e))
}

/// Reads a pseudo-file that may legitimately be absent (a kernel feature that is not built in):
/// `Ok(None)` when it does not exist, an error for any other failure.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, CollectError> {
    match read_whole(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CollectError::io(path.display(), e)),
    }
}

/// Parses a decimal number (integer or float, as the kernel prints them) from field `field` of
/// line `line` (1-based) of `path`.
pub(crate) fn number(
    path: &Path,
    line: usize,
    field: &str,
    text: &str,
) -> Result<f64, CollectError> {
    text.parse::<f64>().map_err(|_| {
        CollectError::parse(
            format!("{}:{line}", path.display()),
            format!("field {field}: {text:?} is not a number"),
        )
    })
}

/// A parse error for `path` at `line` (1-based).
pub(crate) fn malformed(path: &Path, line: usize, detail: impl std::fmt::Display) -> CollectError {
    CollectError::parse(format!("{}:{line}", path.display()), detail)
}

/// The first whitespace-separated field of a one-value file such as `/proc/sys/fs/file-max`.
pub(crate) fn single_value(path: &Path, text: &str) -> Result<f64, CollectError> {
    let first = text.split_ascii_whitespace().next().unwrap_or("");
    number(path, 1, "value", first)
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Options pointing at the fixture trees committed under `tests/fixtures`.

    use crate::options::{HostOptions, HostPaths};
    use std::path::PathBuf;

    /// `tests/fixtures/<rel>` of this crate.
    pub(crate) fn path(rel: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(rel)
    }

    /// Options whose procfs, sysfs and rootfs are `<root>/proc`, `<root>/sys` and `<root>/rootfs`
    /// below the fixture directory (`""` for the copy of a real machine, `"edge"` for hand-made
    /// edge cases).
    pub(crate) fn options(root: &str) -> HostOptions {
        let base = path(root);
        HostOptions {
            paths: HostPaths {
                procfs: base.join("proc"),
                sysfs: base.join("sys"),
                rootfs: base.join("rootfs"),
            },
            ..HostOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_optional_file_is_none_and_bad_number_names_the_place() {
        assert!(read_optional(Path::new("/nonexistent/watchkeeper"))
            .unwrap()
            .is_none());
        let err = number(Path::new("/proc/x"), 3, "total", "abc").unwrap_err();
        assert_eq!(
            err.to_string(),
            "parsing /proc/x:3: field total: \"abc\" is not a number"
        );
    }
}
