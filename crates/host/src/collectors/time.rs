//! `time`: the system clock, the local time zone and the kernel's clock sources.
//!
//! Emits `node_time_seconds`, `node_time_zone_offset_seconds{time_zone}` and
//! `node_time_clocksource_{available,current}_info{clocksource,device}` as node_exporter 1.5 does.
//! The time zone is resolved once, like Go's `time.Local`: `TZ` if set, else `/etc/localtime`
//! (a TZif file), else UTC.

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `time` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "time",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(TimeCollector::new(opts))))),
};

/// Reports the clock, the zone and sysfs clock sources.
pub struct TimeCollector {
    clocksource_dir: PathBuf,
    zone: Zone,
}

impl TimeCollector {
    /// A collector reading clock sources below `opts.paths.sysfs`, with the process's zone.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            clocksource_dir: opts.paths.sys("devices/system/clocksource"),
            zone: Zone::local(),
        }
    }

    fn clocksources(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let entries = match std::fs::read_dir(&self.clocksource_dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(CollectError::io(self.clocksource_dir.display(), e)),
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| {
                n.strip_prefix("clocksource")
                    .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            })
            .collect();
        // node_exporter numbers the devices by their position in the sorted glob, so
        // clocksource10 is device "2" when clocksource0..2 exist: keep that numbering.
        names.sort();
        let mut read = Vec::with_capacity(names.len());
        for name in &names {
            let dir = self.clocksource_dir.join(name);
            let available = procfile::read(&dir.join("available_clocksource"))?;
            let current = procfile::read(&dir.join("current_clocksource"))?;
            read.push((available, current));
        }
        let fam = out.family(
            "node_time_clocksource_available_info",
            "Available clocksources read from '/sys/devices/system/clocksource'.",
            MetricType::Gauge,
        );
        let mut devices = Vec::with_capacity(read.len());
        for (i, (available, _)) in read.iter().enumerate() {
            let device = i.to_string();
            for cs in available.split_ascii_whitespace() {
                fam.sample(&[("clocksource", cs), ("device", &device)], 1.0);
            }
            devices.push(device);
        }
        let fam = out.family(
            "node_time_clocksource_current_info",
            "Current clocksource read from '/sys/devices/system/clocksource'.",
            MetricType::Gauge,
        );
        for ((_, current), device) in read.iter().zip(&devices) {
            fam.sample(&[("clocksource", current.trim()), ("device", device)], 1.0);
        }
        Ok(())
    }
}

impl BlockingCollector for TimeCollector {
    fn name(&self) -> &str {
        "time"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        out.gauge(
            "node_time_seconds",
            "System time in seconds since epoch (1970).",
            now,
        );
        let (name, offset) = self.zone.at(now.floor() as i64);
        out.family(
            "node_time_zone_offset_seconds",
            "System time zone offset in seconds.",
            MetricType::Gauge,
        )
        .sample(&[("time_zone", name)], f64::from(offset));
        self.clocksources(out)?;
        // node_exporter leaves the info families out when sysfs has no clock source.
        out.prune_empty();
        Ok(())
    }
}

/// A local time zone: its offset (seconds east of UTC) and abbreviation at any instant.
#[derive(Debug, Clone, PartialEq)]
struct Zone {
    /// Transition instants (Unix seconds, ascending) and the index of the type from then on.
    transitions: Vec<(i64, usize)>,
    /// (UT offset, is DST, abbreviation).
    types: Vec<(i32, bool, String)>,
    /// The footer's zone when it has no daylight saving rule, used after the last transition.
    fixed_after: Option<(String, i32)>,
}

impl Zone {
    fn utc() -> Self {
        Zone {
            transitions: Vec::new(),
            types: vec![(0, false, "UTC".to_string())],
            fixed_after: None,
        }
    }

    /// The process's zone, resolved the way Go resolves `time.Local`.
    fn local() -> Self {
        let file = match std::env::var("TZ") {
            Err(_) => PathBuf::from("/etc/localtime"),
            Ok(tz) => {
                let tz = tz.strip_prefix(':').unwrap_or(&tz).to_string();
                if tz.is_empty() || tz == "UTC" {
                    return Self::utc();
                }
                if tz.starts_with('/') {
                    PathBuf::from(tz)
                } else {
                    Path::new("/usr/share/zoneinfo").join(tz)
                }
            }
        };
        match std::fs::read(&file) {
            Ok(data) => Self::parse(&data).unwrap_or_else(|| {
                tracing::warn!(file = %file.display(), "not a TZif time zone file, using UTC");
                Self::utc()
            }),
            Err(_) => Self::utc(),
        }
    }

    /// Parses a TZif file (RFC 8536), preferring the 64-bit data of version 2 and later.
    fn parse(data: &[u8]) -> Option<Self> {
        let (version, counts) = tzif_header(data)?;
        let [isut, isstd, leap, timecnt, typecnt, charcnt] = counts;
        let v1_len = timecnt * 5 + typecnt * 6 + charcnt + leap * 8 + isstd + isut;
        let (body, counts, time_size) = if version >= b'2' {
            let second = data.get(44 + v1_len..)?;
            let (_, counts) = tzif_header(second)?;
            (&second[44..], counts, 8)
        } else {
            (&data[44..], counts, 4)
        };
        let [isut, isstd, leap, timecnt, typecnt, charcnt] = counts;
        if typecnt == 0 {
            return None;
        }
        let times = body.get(..timecnt * time_size)?;
        let idx = body.get(timecnt * time_size..timecnt * (time_size + 1))?;
        let types_at = timecnt * (time_size + 1);
        let types_raw = body.get(types_at..types_at + typecnt * 6)?;
        let chars = body.get(types_at + typecnt * 6..types_at + typecnt * 6 + charcnt)?;
        let mut transitions = Vec::with_capacity(timecnt);
        for (i, &t) in idx.iter().enumerate() {
            let raw = &times[i * time_size..(i + 1) * time_size];
            let at = if time_size == 8 {
                i64::from_be_bytes(raw.try_into().ok()?)
            } else {
                i64::from(i32::from_be_bytes(raw.try_into().ok()?))
            };
            if usize::from(t) >= typecnt {
                return None;
            }
            transitions.push((at, usize::from(t)));
        }
        let mut types = Vec::with_capacity(typecnt);
        for t in types_raw.chunks_exact(6) {
            let offset = i32::from_be_bytes([t[0], t[1], t[2], t[3]]);
            let abbr_start = usize::from(t[5]);
            let abbr = chars.get(abbr_start..)?;
            let end = abbr.iter().position(|&b| b == 0).unwrap_or(abbr.len());
            types.push((
                offset,
                t[4] != 0,
                String::from_utf8_lossy(&abbr[..end]).into_owned(),
            ));
        }
        let footer_at = types_at + typecnt * 6 + charcnt + leap * (time_size + 4) + isstd + isut;
        let fixed_after = if version >= b'2' {
            body.get(footer_at..)
                .and_then(|f| std::str::from_utf8(f).ok())
                .and_then(|f| f.trim_matches('\n').lines().next().map(str::to_string))
                .and_then(|f| posix_fixed_zone(&f))
        } else {
            None
        };
        Some(Zone {
            transitions,
            types,
            fixed_after,
        })
    }

    /// The abbreviation and UT offset in effect at Unix time `t`.
    fn at(&self, t: i64) -> (&str, i32) {
        let ty = match self.transitions.partition_point(|(at, _)| *at <= t) {
            0 => {
                // Before the first transition: the first standard-time type (RFC 8536 3.2).
                self.types.iter().position(|(_, dst, _)| !dst).unwrap_or(0)
            }
            n => {
                if n == self.transitions.len() {
                    if let Some((name, offset)) = &self.fixed_after {
                        return (name, *offset);
                    }
                }
                self.transitions[n - 1].1
            }
        };
        let (offset, _, name) = &self.types[ty];
        (name, *offset)
    }
}

fn tzif_header(data: &[u8]) -> Option<(u8, [usize; 6])> {
    if data.get(..4)? != b"TZif" {
        return None;
    }
    let version = *data.get(4)?;
    let mut counts = [0usize; 6];
    for (i, c) in counts.iter_mut().enumerate() {
        let raw = data.get(20 + i * 4..24 + i * 4)?;
        *c = u32::from_be_bytes(raw.try_into().ok()?) as usize;
    }
    Some((version, counts))
}

/// A POSIX TZ string without a daylight saving part (`JST-9`, `<+03>-3`, `UTC0`) as (name,
/// offset east of UTC); `None` for strings with a DST rule.
fn posix_fixed_zone(tz: &str) -> Option<(String, i32)> {
    let (name, rest) = if let Some(quoted) = tz.strip_prefix('<') {
        let end = quoted.find('>')?;
        (&quoted[..end], &quoted[end + 1..])
    } else {
        let end = tz
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(tz.len());
        (&tz[..end], &tz[end..])
    };
    if name.is_empty() {
        return None;
    }
    let (sign, digits) = match rest.as_bytes().first()? {
        b'+' => (1, &rest[1..]),
        b'-' => (-1, &rest[1..]),
        _ => (1, rest),
    };
    let mut seconds = 0i32;
    let mut unit = 3600;
    for (i, part) in digits.split(':').enumerate() {
        if i > 2 || part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            // A DST part (letters after the offset) or garbage: not a fixed zone.
            return None;
        }
        seconds += part.parse::<i32>().ok()? * unit;
        unit /= 60;
    }
    // POSIX offsets count west of Greenwich.
    Some((name.to_string(), -sign * seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfile::fixtures;

    fn zone(name: &str) -> Zone {
        Zone::parse(&std::fs::read(fixtures::path("zoneinfo").join(name)).unwrap()).unwrap()
    }

    #[test]
    fn berlin_switches_between_cet_and_cest() {
        let z = zone("Berlin");
        assert_eq!(z.at(1_704_067_200), ("CET", 3600)); // 2024-01-01
        assert_eq!(z.at(1_719_792_000), ("CEST", 7200)); // 2024-07-01
                                                         // Before the first transition: local mean time, the first standard type.
        assert_eq!(z.at(-5_000_000_000).1, 3208);
        // The footer has a DST rule, so no fixed zone after the last transition.
        assert!(z.fixed_after.is_none());
    }

    #[test]
    fn tokyo_uses_its_footer_after_the_last_transition() {
        let z = zone("Tokyo");
        assert_eq!(z.fixed_after, Some(("JST".to_string(), 32400)));
        assert_eq!(z.at(1_719_792_000), ("JST", 32400));
    }

    #[test]
    fn truncated_or_corrupt_zone_files_never_panic() {
        let data = std::fs::read(fixtures::path("zoneinfo/Berlin")).unwrap();
        for len in 0..data.len() {
            if let Some(z) = Zone::parse(&data[..len]) {
                let _ = z.at(1_719_792_000);
            }
        }
        let mut corrupt = data.clone();
        for i in (0..corrupt.len()).step_by(7) {
            corrupt[i] = corrupt[i].wrapping_add(0x5b);
            if let Some(z) = Zone::parse(&corrupt) {
                let _ = z.at(0);
            }
        }
    }

    #[test]
    fn posix_fixed_zones() {
        assert_eq!(posix_fixed_zone("UTC0"), Some(("UTC".into(), 0)));
        assert_eq!(
            posix_fixed_zone("<+0330>-3:30"),
            Some(("+0330".into(), 12600))
        );
        assert_eq!(posix_fixed_zone("EST5"), Some(("EST".into(), -18000)));
        assert_eq!(posix_fixed_zone("EST5EDT,M3.2.0,M11.1.0"), None);
        assert_eq!(posix_fixed_zone(""), None);
        assert!(Zone::parse(b"not a zone file").is_none());
        assert!(Zone::parse(b"TZif2").is_none());
    }

    #[test]
    fn real_clocksource_and_clock() {
        let mut c = TimeCollector::new(&fixtures::options(""));
        c.zone = zone("Tokyo");
        let mut out = MetricSet::new();
        c.collect(&mut out).unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let reported = out.find("node_time_seconds", &[]).unwrap();
        assert!((now - reported).abs() < 60.0, "{now} vs {reported}");
        assert_eq!(
            out.find("node_time_zone_offset_seconds", &[("time_zone", "JST")]),
            Some(32400.0)
        );
        // available_clocksource "kvm-clock tsc", current "tsc" on the machine copied.
        let avail = |cs| {
            out.find(
                "node_time_clocksource_available_info",
                &[("clocksource", cs), ("device", "0")],
            )
        };
        assert_eq!(avail("kvm-clock"), Some(1.0));
        assert_eq!(avail("tsc"), Some(1.0));
        assert_eq!(
            out.find(
                "node_time_clocksource_current_info",
                &[("clocksource", "tsc"), ("device", "0")]
            ),
            Some(1.0)
        );
    }

    #[test]
    fn devices_are_numbered_by_sorted_position() {
        let c = TimeCollector::new(&fixtures::options("edge"));
        let mut out = MetricSet::new();
        c.collect(&mut out).unwrap();
        // clocksource0, clocksource1, clocksource10, clocksource2 -> devices 0..3;
        // clocksource10 (device 2) is the one whose current source differs.
        assert_eq!(
            out.find(
                "node_time_clocksource_current_info",
                &[("clocksource", "arch_sys_counter"), ("device", "2")]
            ),
            Some(1.0)
        );
        let fam = out
            .families()
            .iter()
            .find(|f| f.name == "node_time_clocksource_available_info")
            .unwrap();
        assert_eq!(fam.samples.len(), 12);
    }

    #[test]
    fn no_clocksource_directory_still_reports_the_clock() {
        let mut opts = fixtures::options("");
        opts.paths.sysfs = fixtures::path("no-such-sys");
        let mut out = MetricSet::new();
        TimeCollector::new(&opts).collect(&mut out).unwrap();
        let names: Vec<_> = out.families().iter().map(|f| f.name.as_ref()).collect();
        assert_eq!(
            names,
            ["node_time_seconds", "node_time_zone_offset_seconds"]
        );
    }
}
