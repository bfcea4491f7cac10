//! `timex`: the kernel's clock discipline state as `node_timex_*`, with node_exporter 1.5's
//! names, types, help and unit conversions.
//!
//! The values come only from `adjtimex(2)`: no procfs or sysfs file exposes them, and rustix
//! (1.1) does not wrap the call. It is therefore the one `unsafe` block of the host crate
//! ([`read_kernel_timex`]), a read-only call (`modes = 0`) on a zeroed struct the kernel fills.
//! The node-mixin clock alerts (NodeClockNotSynchronising, NodeClockSkewDetected) need it.

use super::CollectorDef;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `timex` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "timex",
    default_enabled: true,
    build: |_| {
        Ok(Arc::new(Blocking(Arc::new(TimexCollector::new(
            read_kernel_timex,
        )))))
    },
};

/// Reads the kernel clock state with `adjtimex(2)` and `modes = 0`, which changes nothing.
// `c_long` is i64 here but i32 on 32-bit targets, so the conversions are not useless there.
#[allow(unsafe_code, clippy::useless_conversion)]
pub fn read_kernel_timex() -> Result<KernelTimex, CollectError> {
    // SAFETY: `libc::timex` is a plain C struct for which all-zero bytes are a valid value;
    // `adjtimex` only reads `modes` (0: query) and writes the struct it is given, which lives
    // on this stack frame for the whole call.
    let (state, t) = unsafe {
        let mut t: libc::timex = std::mem::zeroed();
        let state = libc::adjtimex(&mut t);
        (state, t)
    };
    if state < 0 {
        return Err(CollectError::Other(format!(
            "adjtimex: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(KernelTimex {
        state,
        offset: i64::from(t.offset),
        freq: i64::from(t.freq),
        maxerror: i64::from(t.maxerror),
        esterror: i64::from(t.esterror),
        status: i64::from(t.status),
        constant: i64::from(t.constant),
        tick: i64::from(t.tick),
        ppsfreq: i64::from(t.ppsfreq),
        jitter: i64::from(t.jitter),
        shift: i64::from(t.shift),
        stabil: i64::from(t.stabil),
        jitcnt: i64::from(t.jitcnt),
        calcnt: i64::from(t.calcnt),
        errcnt: i64::from(t.errcnt),
        stbcnt: i64::from(t.stbcnt),
        tai: i64::from(t.tai),
    })
}

/// The raw `struct timex` fields node_exporter reads, plus the call's return value (the clock
/// state, `TIME_OK` .. `TIME_ERROR`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct KernelTimex {
    /// Return value of `adjtimex(2)`: 5 (`TIME_ERROR`) means the clock is not synchronised.
    pub state: i32,
    /// Time offset, in microseconds (nanoseconds when `STA_NANO` is set in `status`).
    pub offset: i64,
    /// Frequency offset, in ppm with a 16-bit fractional part.
    pub freq: i64,
    /// Maximum error, in microseconds.
    pub maxerror: i64,
    /// Estimated error, in microseconds.
    pub esterror: i64,
    /// Clock command/status bits.
    pub status: i64,
    /// PLL time constant.
    pub constant: i64,
    /// Microseconds between clock ticks.
    pub tick: i64,
    /// PPS frequency, in ppm with a 16-bit fractional part.
    pub ppsfreq: i64,
    /// PPS jitter, in microseconds (nanoseconds with `STA_NANO`).
    pub jitter: i64,
    /// PPS interval duration, in seconds (log2).
    pub shift: i64,
    /// PPS stability, in ppm with a 16-bit fractional part.
    pub stabil: i64,
    /// PPS count of jitter limit exceeded events.
    pub jitcnt: i64,
    /// PPS count of calibration intervals.
    pub calcnt: i64,
    /// PPS count of calibration errors.
    pub errcnt: i64,
    /// PPS count of stability limit exceeded events.
    pub stbcnt: i64,
    /// TAI offset, in seconds.
    pub tai: i64,
}

/// `TIME_ERROR`: the clock is not synchronised to a reliable server.
const TIME_ERROR: i32 = 5;
/// `STA_NANO`: `offset` and `jitter` are in nanoseconds instead of microseconds.
const STA_NANO: i64 = 0x2000;
/// Scaled-ppm fields carry a 16-bit binary fraction (adjtimex(2), NOTES).
const PPM16FRAC: f64 = 1_000_000.0 * 65536.0;
const MICRO: f64 = 1_000_000.0;
const NANO: f64 = 1_000_000_000.0;

/// Adds the `node_timex_*` families for one reading, in node_exporter's order and units.
pub fn emit(t: &KernelTimex, out: &mut MetricSet) {
    let divisor = if t.status & STA_NANO != 0 {
        NANO
    } else {
        MICRO
    };
    let sync = if t.state == TIME_ERROR { 0.0 } else { 1.0 };
    let gauges: [(&'static str, &'static str, f64); 13] = [
        (
            "node_timex_sync_status",
            "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
            sync,
        ),
        (
            "node_timex_offset_seconds",
            "Time offset in between local system and reference clock.",
            t.offset as f64 / divisor,
        ),
        (
            "node_timex_frequency_adjustment_ratio",
            "Local clock frequency adjustment.",
            1.0 + t.freq as f64 / PPM16FRAC,
        ),
        (
            "node_timex_maxerror_seconds",
            "Maximum error in seconds.",
            t.maxerror as f64 / MICRO,
        ),
        (
            "node_timex_estimated_error_seconds",
            "Estimated error in seconds.",
            t.esterror as f64 / MICRO,
        ),
        (
            "node_timex_status",
            "Value of the status array bits.",
            t.status as f64,
        ),
        (
            "node_timex_loop_time_constant",
            "Phase-locked loop time constant.",
            t.constant as f64,
        ),
        (
            "node_timex_tick_seconds",
            "Seconds between clock ticks.",
            t.tick as f64 / MICRO,
        ),
        (
            "node_timex_pps_frequency_hertz",
            "Pulse per second frequency.",
            t.ppsfreq as f64 / PPM16FRAC,
        ),
        (
            "node_timex_pps_jitter_seconds",
            "Pulse per second jitter.",
            t.jitter as f64 / divisor,
        ),
        (
            "node_timex_pps_shift_seconds",
            "Pulse per second interval duration.",
            t.shift as f64,
        ),
        (
            "node_timex_pps_stability_hertz",
            "Pulse per second stability, average of recent frequency changes.",
            t.stabil as f64 / PPM16FRAC,
        ),
        (
            "node_timex_tai_offset_seconds",
            "International Atomic Time (TAI) offset.",
            t.tai as f64,
        ),
    ];
    for (name, help, value) in gauges {
        out.family(name, help, MetricType::Gauge).value(value);
    }
    let counters: [(&'static str, &'static str, i64); 4] = [
        (
            "node_timex_pps_jitter_total",
            "Pulse per second count of jitter limit exceeded events.",
            t.jitcnt,
        ),
        (
            "node_timex_pps_calibration_total",
            "Pulse per second count of calibration intervals.",
            t.calcnt,
        ),
        (
            "node_timex_pps_error_total",
            "Pulse per second count of calibration errors.",
            t.errcnt,
        ),
        (
            "node_timex_pps_stability_exceeded_total",
            "Pulse per second count of stability limit exceeded events.",
            t.stbcnt,
        ),
    ];
    for (name, help, value) in counters {
        out.family(name, help, MetricType::Counter)
            .value(value as f64);
    }
}

/// Reports one reading of a timex source per scrape.
pub struct TimexCollector {
    source: fn() -> Result<KernelTimex, CollectError>,
}

impl TimexCollector {
    /// A collector reading the kernel state through `source` (a wrapper of `adjtimex(2)` with
    /// `modes = 0`, which only reads).
    pub fn new(source: fn() -> Result<KernelTimex, CollectError>) -> Self {
        Self { source }
    }
}

impl BlockingCollector for TimexCollector {
    fn name(&self) -> &str {
        "timex"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        emit(&(self.source)()?, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reading of this development VM (via adjtimex(2) from Python's ctypes) next to what
    /// node_exporter 1.5 reported for it at the same moment.
    #[test]
    fn unsynchronised_vm_reads_like_node_exporter() {
        let t = KernelTimex {
            state: 5,
            maxerror: 16_000_000,
            esterror: 16_000_000,
            status: 64,
            constant: 2,
            tick: 10_000,
            ..KernelTimex::default()
        };
        let c = TimexCollector::new(|| {
            Ok(KernelTimex {
                state: 5,
                maxerror: 16_000_000,
                esterror: 16_000_000,
                status: 64,
                constant: 2,
                tick: 10_000,
                ..KernelTimex::default()
            })
        });
        let mut out = MetricSet::new();
        c.collect(&mut out).unwrap();
        let mut direct = MetricSet::new();
        emit(&t, &mut direct);
        assert_eq!(out, direct);
        for (name, want) in [
            ("node_timex_sync_status", 0.0),
            ("node_timex_estimated_error_seconds", 16.0),
            ("node_timex_maxerror_seconds", 16.0),
            ("node_timex_frequency_adjustment_ratio", 1.0),
            ("node_timex_loop_time_constant", 2.0),
            ("node_timex_status", 64.0),
            ("node_timex_tick_seconds", 0.01),
            ("node_timex_pps_calibration_total", 0.0),
        ] {
            assert_eq!(out.find(name, &[]), Some(want), "{name}");
        }
        assert_eq!(out.families().len(), 17);
    }

    #[test]
    fn nanosecond_resolution_and_scaled_ppm() {
        let t = KernelTimex {
            state: 0,
            offset: -2_500_000,
            status: STA_NANO | 0x1,
            freq: -655_360,
            jitter: 1_000,
            ppsfreq: 65_536,
            stabil: 131_072,
            jitcnt: 3,
            tai: 37,
            ..KernelTimex::default()
        };
        let mut out = MetricSet::new();
        emit(&t, &mut out);
        assert_eq!(out.find("node_timex_sync_status", &[]), Some(1.0));
        assert_eq!(out.find("node_timex_offset_seconds", &[]), Some(-0.0025));
        assert_eq!(out.find("node_timex_pps_jitter_seconds", &[]), Some(1e-6));
        assert_eq!(
            out.find("node_timex_frequency_adjustment_ratio", &[]),
            Some(1.0 - 10.0 / 1e6)
        );
        assert_eq!(out.find("node_timex_pps_frequency_hertz", &[]), Some(1e-6));
        assert_eq!(out.find("node_timex_pps_stability_hertz", &[]), Some(2e-6));
        assert_eq!(out.find("node_timex_pps_jitter_total", &[]), Some(3.0));
        assert_eq!(out.find("node_timex_tai_offset_seconds", &[]), Some(37.0));
        let kind = |n: &str| out.families().iter().find(|f| f.name == n).unwrap().kind;
        assert_eq!(kind("node_timex_pps_error_total"), MetricType::Counter);
        assert_eq!(kind("node_timex_offset_seconds"), MetricType::Gauge);
    }

    #[test]
    fn the_kernel_reading_is_plausible() {
        let t = read_kernel_timex().expect("adjtimex with modes 0 is allowed unprivileged");
        assert!((0..=5).contains(&t.state), "state {}", t.state);
        // USER_HZ-derived tick: 10000 µs at HZ=100, between 900 and 11000 on any kernel.
        assert!((900..=11_000).contains(&t.tick), "tick {}", t.tick);
    }

    #[test]
    fn a_failing_source_fails_the_collector() {
        let c = TimexCollector::new(|| Err(CollectError::Other("adjtimex: EPERM".into())));
        assert!(c.collect(&mut MetricSet::new()).is_err());
    }
}
