//! Reading many small attribute files of one sysfs directory cheaply.
//!
//! A path like `/sys/class/net/eth0/mtu` walks a symlink into `/sys/devices/...` on every open;
//! with two dozen attributes per interface that walk dominated the netclass collector's CPU
//! time. Attributes are read through descriptors kept open between scrapes
//! ([`super::kept_open`]) with one `pread` at offset 0 (sysfs returns a whole attribute at
//! once). An attribute not kept yet is opened relative to the directory, which is itself
//! opened (`O_PATH`) at most once, so even beyond the cap of kept files the walk is paid once
//! per directory and scrape, not once per attribute.

use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};
use std::cell::OnceCell;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// A sysfs directory whose attributes are about to be read.
pub(crate) struct SysfsDir {
    path: PathBuf,
    /// The directory, opened on the first attribute that is not kept open.
    fd: OnceCell<std::io::Result<OwnedFd>>,
}

impl SysfsDir {
    /// Attributes of the directory `path` (following symlinks). Nothing is opened yet: a
    /// missing directory shows as every attribute being absent.
    pub(crate) fn open(path: &Path) -> SysfsDir {
        SysfsDir {
            path: path.to_path_buf(),
            fd: OnceCell::new(),
        }
    }

    fn open_attribute(&self, name: &str) -> std::io::Result<File> {
        let dir = self
            .fd
            .get_or_init(|| {
                Ok(rustix::fs::open(
                    &self.path,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )?)
            })
            .as_ref()
            .map_err(|e| std::io::Error::new(e.kind(), e.to_string()))?;
        let fd = rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
        Ok(File::from(fd))
    }

    /// Reads attribute `name` into `buf` and returns it without its trailing newline; `None`
    /// when the file is absent or the kernel refuses it (EINVAL for `speed` of a down link...).
    pub(crate) fn read<'b>(&self, name: &str, buf: &'b mut [u8]) -> Option<&'b str> {
        let n = super::kept_open::with_file(
            &self.path.join(name),
            || self.open_attribute(name),
            |f| f.read_at(&mut *buf, 0),
        )
        .ok()?;
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
        let d = SysfsDir::open(dir.path());
        let mut buf = [0u8; 256];
        assert_eq!(d.read("mtu", &mut buf), Some("1500"));
        assert_eq!(d.read("ifalias", &mut buf), Some(""));
        assert_eq!(d.read("missing", &mut buf), None);
        let gone = SysfsDir::open(&dir.path().join("nope"));
        assert_eq!(gone.read("mtu", &mut buf), None);
    }

    #[test]
    fn a_kept_sysfs_attribute_follows_the_kernel() {
        // The loopback interface exists wherever these tests run; its mtu is stable, and a
        // second read goes through the kept descriptor.
        let d = SysfsDir::open(Path::new("/sys/class/net/lo"));
        let mut buf = [0u8; 64];
        let first = d.read("mtu", &mut buf).map(str::to_string);
        assert!(first.as_deref().is_some_and(|m| m.parse::<u32>().is_ok()));
        let again = SysfsDir::open(Path::new("/sys/class/net/lo"));
        assert_eq!(again.read("mtu", &mut buf).map(str::to_string), first);
    }
}
