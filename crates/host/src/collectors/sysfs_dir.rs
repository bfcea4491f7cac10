//! Reading many small attribute files of one sysfs directory cheaply.
//!
//! A path like `/sys/class/net/eth0/mtu` walks a symlink into `/sys/devices/...` on every open;
//! with two dozen attributes per interface that walk dominated the netclass collector's CPU
//! time. The directory is opened once (`O_PATH`) and each attribute is opened relative to it,
//! read with a single `read` (sysfs returns a whole attribute at offset 0) and closed.

use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};
use std::path::Path;

/// An opened sysfs directory.
pub(crate) struct SysfsDir {
    fd: OwnedFd,
}

impl SysfsDir {
    /// Opens `path` (following symlinks) for attribute reads.
    pub(crate) fn open(path: &Path) -> std::io::Result<SysfsDir> {
        let fd = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(SysfsDir { fd })
    }

    /// Reads attribute `name` into `buf` and returns it without its trailing newline; `None`
    /// when the file is absent or the kernel refuses it (EINVAL for `speed` of a down link...).
    pub(crate) fn read<'b>(&self, name: &str, buf: &'b mut [u8]) -> Option<&'b str> {
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let n = rustix::io::read(&fd, &mut *buf).ok()?;
        let text = std::str::from_utf8(&buf[..n]).ok()?;
        Some(text.strip_suffix('\n').unwrap_or(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_relative_to_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mtu"), "1500\n").unwrap();
        std::fs::write(dir.path().join("ifalias"), "\n").unwrap();
        let d = SysfsDir::open(dir.path()).unwrap();
        let mut buf = [0u8; 256];
        assert_eq!(d.read("mtu", &mut buf), Some("1500"));
        assert_eq!(d.read("ifalias", &mut buf), Some(""));
        assert_eq!(d.read("missing", &mut buf), None);
        assert!(SysfsDir::open(&dir.path().join("nope")).is_err());
    }
}
