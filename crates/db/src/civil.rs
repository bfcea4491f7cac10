//! Calendar arithmetic for the text dates servers print (no time zone database needed: every
//! date this crate reads is UTC or carries its offset).

/// Seconds since the Unix epoch of a UTC civil time, or `None` when a field is out of range
/// (Howard Hinnant's days-from-civil).
pub fn unix_seconds(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<f64> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    // A year a server can print but the arithmetic below cannot hold (it would overflow i64):
    // no real timestamp is a billion years away.
    if !(-1_000_000_000..=1_000_000_000).contains(&y) {
        return None;
    }
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((mo + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + i64::from(h * 3600 + mi * 60 + s)) as f64)
}

/// A PostgreSQL `timestamptz` in ISO output (`2026-12-01 21:27:41.123456+00`, offsets like
/// `+05:30` or `-03`), as Unix seconds.
pub fn pg_timestamp(s: &str) -> Option<f64> {
    let (date, rest) = s.trim().split_once(' ')?;
    let mut d = date.split('-');
    let (y, mo, da) = (d.next()?, d.next()?, d.next()?);
    if d.next().is_some() {
        return None;
    }
    let zone_at = rest.find(['+', '-']).unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(zone_at);
    let mut c = clock.split(':');
    let (h, mi, sec) = (c.next()?, c.next()?, c.next()?);
    let sec: f64 = sec.parse().ok()?;
    let whole = sec.trunc();
    let base = unix_seconds(
        y.parse().ok()?,
        mo.parse().ok()?,
        da.parse().ok()?,
        h.parse().ok()?,
        mi.parse().ok()?,
        whole as u32,
    )?;
    let offset = if zone.is_empty() {
        0.0
    } else {
        let sign = if zone.starts_with('-') { -1.0 } else { 1.0 };
        let mut parts = zone[1..].split(':');
        let mut total = 0.0;
        for unit in [3600.0, 60.0, 1.0] {
            if let Some(p) = parts.next() {
                total += p.parse::<f64>().ok()? * unit;
            }
        }
        sign * total
    };
    Some(base + (sec - whole) - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_times_and_pg_timestamps() {
        assert_eq!(unix_seconds(1970, 1, 1, 0, 0, 0), Some(0.0));
        assert_eq!(unix_seconds(2006, 1, 2, 15, 4, 5), Some(1_136_214_245.0));
        assert_eq!(unix_seconds(2006, 13, 2, 15, 4, 5), None);
        assert_eq!(
            pg_timestamp("2006-01-02 15:04:05+00"),
            Some(1_136_214_245.0)
        );
        assert_eq!(
            pg_timestamp("2006-01-02 15:04:05.5+00"),
            Some(1_136_214_245.5)
        );
        assert_eq!(
            pg_timestamp("2006-01-02 20:34:05+05:30"),
            Some(1_136_214_245.0)
        );
        assert_eq!(
            pg_timestamp("2006-01-02 12:04:05-03"),
            Some(1_136_214_245.0)
        );
        assert_eq!(pg_timestamp("yesterday"), None);
    }
}
