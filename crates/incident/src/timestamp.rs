//! Instants as milliseconds since the Unix epoch, read from and written as RFC 3339.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type Millis = i64;

/// Parses an RFC 3339 timestamp (`2026-12-01T21:50:27.123Z`) into milliseconds.
pub fn parse(s: &str) -> Option<Millis> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Formats milliseconds as RFC 3339 in UTC with second precision (`2026-12-01T21:50:27Z`).
pub fn format(ms: Millis) -> String {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// The current wall-clock time.
pub fn now() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Seconds between two instants (never negative), as a metric value.
pub fn seconds_between(from: Millis, to: Millis) -> f64 {
    (to.saturating_sub(from)).max(0) as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_fractions() {
        assert_eq!(parse("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(
            parse("2026-12-01T21:50:27+01:00"),
            parse("2026-12-01T20:50:27Z")
        );
        assert_eq!(
            format(parse("2026-12-01T21:50:27.999Z").unwrap()),
            "2026-12-01T21:50:27Z"
        );
        assert!(parse("yesterday").is_none());
        assert!(parse("0001-01-01T00:00:00Z").unwrap() < 0);
        assert_eq!(seconds_between(2000, 1000), 0.0);
    }
}
