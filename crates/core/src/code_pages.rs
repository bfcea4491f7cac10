//! Lets go of the executable's pages that only start-up used.
//!
//! Start-up runs code and reads data that a running exporter never touches again: the dynamic
//! loader's relocation table (`.rela.dyn`, ~350 KiB in our binaries), command-line and config
//! parsing, TLS and listener set-up. Those pages stay mapped, and so count in RSS, for the life
//! of the process. Once serving has begun, [`release_startup_pages`] drops the resident pages
//! of the executable's read-only mappings (`MADV_DONTNEED`; the mappings stay). Nothing is lost: they are never written, so the next
//! access maps the same bytes again from the page cache, and what the steady state uses comes
//! back on its first scrape. The build lays the steady-state code out contiguously (see the
//! `watchkeeper-build` crate), so it comes back without the start-up code beside it.
//!
//! Writable mappings (data, relocated pointers) are never touched: their private copies are
//! the program's state. Where a step fails, the release is skipped; nothing depends on it.

/// What a release did, for the debug log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    /// Read-only mappings of the executable whose resident pages were dropped.
    pub mappings: usize,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// Drops the resident pages of the executable's read-only mappings; see the module documentation.
#[cfg(target_os = "linux")]
pub fn release_startup_pages() -> Released {
    match linux::release() {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = %e, "Code pages not released");
            Released::default()
        }
    }
}

/// Drops the resident pages of the executable's read-only mappings: a no-op off Linux.
#[cfg(not(target_os = "linux"))]
pub fn release_startup_pages() -> Released {
    Released::default()
}

#[cfg(target_os = "linux")]
mod linux {
    use super::Released;
    use std::io;

    pub(super) fn release() -> io::Result<Released> {
        let smaps = std::fs::read_to_string("/proc/self/smaps")?;
        let all = Mapping::parse_all(&smaps);
        // The executable is the file mapped where this very function's code is. (Comparing
        // with a stat of /proc/self/exe would miss under overlayfs, where the maps show the
        // underlying file's device.)
        let anchor = release as fn() -> io::Result<Released> as usize;
        let mut released = Released::default();
        for m in releasable(&all, anchor) {
            if advise(m.start, m.end - m.start) {
                released.mappings += 1;
                released.bytes += (m.end - m.start) as u64;
            }
        }
        Ok(released)
    }

    /// The mappings of the file that holds `anchor` that may be unmapped: read-only, and with
    /// no private copies, so they hold exactly the file's bytes. A mapping with copies
    /// (relocated data, RELRO) holds state that unmapping would lose.
    pub(super) fn releasable(all: &[Mapping], anchor: usize) -> Vec<&Mapping> {
        let Some(exe) = all
            .iter()
            .find(|m| m.start <= anchor && anchor < m.end && m.inode != 0)
        else {
            return Vec::new();
        };
        all.iter()
            .filter(|m| m.device == exe.device && m.inode == exe.inode)
            .filter(|m| !m.writable && m.anonymous_kib == Some(0))
            .collect()
    }

    /// `MADV_DONTNEED` over one whole mapping of the executable; false when the kernel refused.
    fn advise(start: usize, len: usize) -> bool {
        // SAFETY: `start..start+len` is exactly one mapping listed in /proc/self/smaps as a
        // read-only private mapping of our own executable without a single private (anonymous)
        // page, and being read-only it cannot gain one. For such a mapping MADV_DONTNEED only
        // drops page-table entries: the next access maps the same file bytes again, so no
        // memory Rust can observe changes.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
        rc == 0
    }

    /// One mapping of /proc/self/smaps: its header line and its `Anonymous:` line.
    #[derive(Debug, PartialEq, Eq)]
    pub(super) struct Mapping {
        pub(super) start: usize,
        pub(super) end: usize,
        pub(super) writable: bool,
        pub(super) device: u64,
        pub(super) inode: u64,
        /// Private copied pages, KiB; `None` when the kernel did not say.
        pub(super) anonymous_kib: Option<u64>,
    }

    impl Mapping {
        pub(super) fn parse_all(smaps: &str) -> Vec<Self> {
            let mut all: Vec<Self> = Vec::new();
            for line in smaps.lines() {
                if let Some(m) = Self::parse_header(line) {
                    all.push(m);
                } else if let (Some(rest), Some(m)) =
                    (line.strip_prefix("Anonymous:"), all.last_mut())
                {
                    m.anonymous_kib = rest.trim().trim_end_matches("kB").trim().parse().ok();
                }
            }
            all
        }

        fn parse_header(line: &str) -> Option<Self> {
            let mut fields = line.split_ascii_whitespace();
            let (start, end) = fields.next()?.split_once('-')?;
            let perms = fields.next()?;
            let _offset = fields.next()?;
            let (major, minor) = fields.next()?.split_once(':')?;
            let inode = fields.next()?;
            Some(Self {
                start: usize::from_str_radix(start, 16).ok()?,
                end: usize::from_str_radix(end, 16).ok()?,
                writable: perms.as_bytes().get(1) == Some(&b'w'),
                device: libc::makedev(
                    u32::from_str_radix(major, 16).ok()?,
                    u32::from_str_radix(minor, 16).ok()?,
                ),
                inode: inode.parse().ok()?,
                anonymous_kib: None,
            })
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::linux::Mapping;

    const SMAPS: &str = "\
55d0c0a00000-55d0c0b8a000 r--p 00000000 fe:00 5309403 /usr/bin/watchkeeper-host
Size:               1576 kB
Rss:                 848 kB
Anonymous:             0 kB
VmFlags: rd mr mw me
55d0c10fd000-55d0c1142000 r--p 0067c000 fe:00 5309403 /usr/bin/watchkeeper-host
Size:                276 kB
Anonymous:           276 kB
55d0c1142000-55d0c1143000 rw-p 006c0000 fe:00 5309403 /usr/bin/watchkeeper-host
Anonymous:             0 kB
7f2a10000000-7f2a10026000 r--p 00000000 fe:00 326389 /usr/lib/x86_64-linux-gnu/libc.so.6
Anonymous:             0 kB
7ffd1c9e2000-7ffd1ca03000 rw-p 00000000 00:00 0                          [stack]
Anonymous:           132 kB
";

    #[test]
    fn smaps_mappings_carry_their_anonymous_size() {
        let all = Mapping::parse_all(SMAPS);
        assert_eq!(all.len(), 5);
        assert_eq!(all[0].start, 0x55d0c0a00000);
        assert_eq!(all[0].end, 0x55d0c0b8a000);
        assert!(!all[0].writable);
        assert_eq!(all[0].device, libc::makedev(0xfe, 0));
        assert_eq!(all[0].inode, 5309403);
        assert_eq!(all[0].anonymous_kib, Some(0));
        // RELRO: read-only now, but relocated at start-up, so it must never be released.
        assert_eq!(all[1].anonymous_kib, Some(276));
        assert!(all[2].writable);
    }

    #[test]
    fn only_the_anchors_file_untouched_read_only_mappings_are_releasable() {
        let all = Mapping::parse_all(SMAPS);
        let starts = |anchor| -> Vec<usize> {
            super::linux::releasable(&all, anchor)
                .iter()
                .map(|m| m.start)
                .collect()
        };
        // Inside the executable: its first mapping only. Not the relocated RELRO one, not the
        // writable one, not libc's, which has the same device but another inode.
        assert_eq!(starts(0x55d0c0a00010), vec![0x55d0c0a00000]);
        // An anchor in an anonymous mapping (inode 0) or in no mapping releases nothing.
        assert!(starts(0x7ffd1c9e2010).is_empty());
        assert!(starts(0x1000).is_empty());
    }

    /// Resident KiB of this executable's read-only mappings.
    fn resident_code_kib() -> u64 {
        let exe = std::fs::read_link("/proc/self/exe").expect("exe");
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
        let mut total = 0;
        let mut counting = false;
        for line in smaps.lines() {
            if line.contains('-') && line.split_ascii_whitespace().count() >= 5 {
                let perms = line.split_ascii_whitespace().nth(1).unwrap_or("");
                counting =
                    line.ends_with(exe.to_str().expect("utf-8 path")) && !perms.contains('w');
            } else if let (true, Some(rest)) = (counting, line.strip_prefix("Rss:")) {
                total += rest
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .unwrap_or(0);
            }
        }
        total
    }

    #[test]
    fn release_unmaps_code_and_the_process_keeps_running() {
        let before = resident_code_kib();
        let released = super::release_startup_pages();
        let after = resident_code_kib();
        assert!(released.mappings >= 1, "nothing released: {released:?}");
        assert!(
            after < before,
            "resident code {before} KiB before, {after} KiB after"
        );
        // The unmapped code and data come back on access: formatting, allocating and reading
        // files all run from pages that were just released.
        let text = format!("{:?}", (before, after, vec![1u8; 10]));
        assert!(text.contains("[1, 1, 1"));
    }
}
