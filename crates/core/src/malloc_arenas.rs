//! Caps glibc's malloc arenas for the whole process.
//!
//! glibc gives each thread that allocates while another holds an arena lock an arena of its
//! own, up to eight per CPU, and each keeps the high-water mark of what its threads freed. An
//! exporter's threads (async workers, a few blocking threads) allocate in short bursts per
//! scrape, so separate arenas only multiply resident memory: measured with
//! `scripts/bench-host.sh`, two arenas hold ~0.5 MiB less after load than glibc's default.
//! Our systemd units used to set `MALLOC_ARENA_MAX=2`; doing it here covers containers and
//! hand-started processes too. A `MALLOC_ARENA_MAX` set in the environment still wins.

/// Arenas allowed when the environment does not say otherwise.
const ARENAS: i32 = 2;

/// Applies the cap. Call before the runtime starts its threads.
pub fn cap() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocator parameters; it takes no pointers, and it is
    // called from `run_main` before any other thread of ours exists. Failure (return 0) leaves
    // glibc's default in place, which is harmless.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}
