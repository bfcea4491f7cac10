//! Pseudo-files kept open from one scrape to the next.
//!
//! procfs and sysfs regenerate a file's text whenever it is read from offset 0, so an open file
//! can be read again with `pread(fd, 0)` instead of `open` + `read` + `close`. Path lookup on
//! open (and the symlink walks of `/sys/class/...`) was the largest single cost of a scrape in
//! the kernel: keeping the files open removes two of the three system calls per file.
//!
//! Only files on procfs or sysfs are kept (checked once with `fstatfs` when first opened): a
//! regular file, such as a fixture or a textfile, may be replaced by a rename, and an old
//! descriptor would go on reading the old text. A kept file whose device went away (a removed
//! network interface) fails its read and is reopened by path, so a new device under the old
//! name is read, not the ghost. The number of kept descriptors is capped so a host with
//! thousands of sysfs attributes cannot exhaust the exporter's file-descriptor limit; beyond the
//! cap files are opened and closed per read as before, and an `EMFILE` drops every kept file.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{LazyLock, Mutex};

/// At most this many descriptors are kept open (a default `ulimit -n` is 1024; the rest is
/// for connections, textfiles and directory walks).
const MAX_KEPT: usize = 256;

/// `statfs.f_type` of procfs and sysfs (`linux/magic.h`).
const PROC_SUPER_MAGIC: i64 = 0x9fa0;
const SYSFS_MAGIC: i64 = 0x6265_6572;

/// The process-wide set of kept files, by path. A slot whose file is `None` is being read by
/// some thread right now (taken out so two readers never interleave on one seq_file offset);
/// a concurrent reader of the same path opens its own descriptor meanwhile.
static KEPT: LazyLock<Mutex<HashMap<OsString, Option<File>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn kept() -> std::sync::MutexGuard<'static, HashMap<OsString, Option<File>>> {
    KEPT.lock().unwrap_or_else(|p| p.into_inner())
}

/// Reads the whole of `path` into `buf` through a kept descriptor when there is one, and
/// returns the number of bytes read.
pub(crate) fn read_into(path: &Path, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    with_file(path, || File::open(path), |f| read_from_start(f, buf))
}

/// Runs `read` on the kept descriptor of `path`; when none is kept (or reading it failed
/// because the kernel object behind it is gone), on a descriptor from `open`, which is then
/// kept if it is a procfs/sysfs file and there is room. `read` must read from offset 0.
pub(crate) fn with_file<T>(
    path: &Path,
    open: impl Fn() -> std::io::Result<File>,
    mut read: impl FnMut(&File) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let key = path.as_os_str();
    let taken = kept().get_mut(key).and_then(Option::take);
    if let Some(file) = taken {
        if let Ok(v) = read(&file) {
            put_back(key, file);
            return Ok(v);
        }
        // ENODEV and friends: forget the descriptor and look the path up again.
        kept().remove(key);
    }
    let file = match open() {
        Err(e) if e.raw_os_error() == Some(libc::EMFILE) => {
            kept().clear();
            open()?
        }
        r => r?,
    };
    let v = read(&file)?;
    // Room first: beyond the cap, no `fstatfs` per read either.
    let room = {
        let map = kept();
        map.len() < MAX_KEPT || map.contains_key(key)
    };
    if room && is_pseudo_file(&file) {
        let mut map = kept();
        if map.len() < MAX_KEPT || map.contains_key(key) {
            let slot = map.entry(key.to_owned()).or_insert(None);
            if slot.is_none() {
                *slot = Some(file);
            }
        }
    }
    Ok(v)
}

fn put_back(key: &OsStr, file: File) {
    if let Some(slot) = kept().get_mut(key) {
        if slot.is_none() {
            *slot = Some(file);
        }
    }
}

/// `pread`s from offset 0 until end of file, growing `buf` as needed.
fn read_from_start(file: &File, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut len = 0;
    loop {
        if len == buf.len() {
            let grown = (len * 2).max(8192);
            buf.resize(grown, 0);
        }
        match file.read_at(&mut buf[len..], len as u64) {
            Ok(0) => return Ok(len),
            Ok(n) => len += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn is_pseudo_file(file: &File) -> bool {
    rustix::fs::fstatfs(file).is_ok_and(|s| {
        // `f_type` is i64 here but a narrower type on some architectures.
        #[allow(clippy::unnecessary_cast)]
        let kind = s.f_type as i64;
        kind == PROC_SUPER_MAGIC || kind == SYSFS_MAGIC
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kept set is process-wide; under `cargo test` (threads, one process) these tests
    /// would see each other's files.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn read(path: &Path) -> String {
        let mut buf = Vec::new();
        let n = read_into(path, &mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn a_kept_procfs_file_shows_fresh_text_on_every_read() {
        let _serial = serial();
        // /proc/self/stat changes between reads (utime, minor faults); /proc/uptime too.
        let path = Path::new("/proc/self/stat");
        let first = read(path);
        assert!(kept().get(path.as_os_str()).is_some_and(Option::is_some));
        // Burn a little CPU and fault some pages so the counters move.
        let mut v = vec![0u8; 4 << 20];
        for (i, b) in v.iter_mut().enumerate().step_by(4096) {
            *b = i as u8;
        }
        std::hint::black_box(&v);
        let second = read(path);
        assert_ne!(
            first, second,
            "a kept file must be regenerated, not replayed"
        );
        let fresh = std::fs::read_to_string(path).unwrap();
        // Same process, same fields: the pid and comm agree with an independent read.
        assert_eq!(second.split(' ').next(), fresh.split(' ').next());
    }

    #[test]
    fn regular_files_are_not_kept_so_a_renamed_replacement_is_read() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("value");
        std::fs::write(&path, "old\n").unwrap();
        assert_eq!(read(&path), "old\n");
        let tmp = dir.path().join("value.tmp");
        std::fs::write(&tmp, "new\n").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert_eq!(read(&path), "new\n");
        assert!(kept().get(path.as_os_str()).is_none());
    }

    #[test]
    fn large_files_are_read_whole() {
        let _serial = serial();
        // /proc/self/smaps of a test binary is well over the first 8 KiB buffer.
        let path = Path::new("/proc/self/smaps");
        let ours = read(path);
        assert!(ours.len() > 8192, "smaps is {} bytes", ours.len());
        assert!(ours.ends_with('\n'));
        let again = read(path);
        assert_eq!(ours.lines().next(), again.lines().next());
        assert!(again.len() > 8192);
    }

    #[test]
    fn no_more_than_the_cap_is_kept_open() {
        let _serial = serial();
        // /proc/sys holds hundreds of small procfs files.
        let mut files = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from("/proc/sys")];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                match e.file_type() {
                    Ok(t) if t.is_dir() => dirs.push(e.path()),
                    Ok(t) if t.is_file() => files.push(e.path()),
                    _ => {}
                }
            }
        }
        let mut buf = Vec::new();
        let read = files
            .iter()
            .filter(|p| read_into(p, &mut buf).is_ok())
            .take(MAX_KEPT + 100)
            .count();
        assert!(
            read > MAX_KEPT,
            "only {read} readable files under /proc/sys"
        );
        let open = kept().values().filter(|f| f.is_some()).count();
        assert_eq!(open, MAX_KEPT);
        // Reading a kept file again still works and keeps the count.
        let first_kept = kept().keys().next().cloned().unwrap();
        assert!(read_into(Path::new(&first_kept), &mut buf).is_ok());
        assert_eq!(kept().values().filter(|f| f.is_some()).count(), MAX_KEPT);
        kept().clear();
    }
}
