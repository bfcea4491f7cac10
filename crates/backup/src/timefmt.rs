//! Timestamps as the backup tools print them, to Unix seconds: RFC 3339 with an offset (restic,
//! status files) and naive ISO 8601 read as UTC (borg, which we run with `TZ=UTC`).

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac][Z|±HH:MM]` (a space may stand for `T`). Without an offset
/// the time is taken as UTC.
pub fn parse_timestamp(s: &str) -> Option<f64> {
    let s = s.trim();
    // Timestamps are ASCII; anything else would make the byte offsets below split a character.
    if s.len() < 19 || !s.is_ascii() {
        return None;
    }
    let (date, rest) = s.split_at(10);
    let mut dp = date.split('-');
    let (y, m, d) = (num(dp.next()?)?, num(dp.next()?)?, num(dp.next()?)?);
    if dp.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let rest = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' '))?;
    let (hms, mut tail) = rest.split_at(8.min(rest.len()));
    let mut tp = hms.split(':');
    let (hh, mm, ss) = (num(tp.next()?)?, num(tp.next()?)?, num(tp.next()?)?);
    if hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut frac = 0.0;
    if let Some(f) = tail.strip_prefix('.') {
        let end = f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len());
        if end == 0 {
            return None;
        }
        frac = format!("0.{}", &f[..end]).parse().ok()?;
        tail = &f[end..];
    }
    let offset = match tail {
        "" | "Z" | "z" => 0i64,
        t => {
            let sign = match t.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let t = &t[1..];
            let (oh, om) = match t.split_once(':') {
                Some((h, m)) => (num(h)?, num(m)?),
                None if t.len() == 4 => (num(&t[..2])?, num(&t[2..])?),
                None => (num(t)?, 0),
            };
            // In i64: a long digit string as the offset must not overflow (u32 would).
            sign * (i64::from(oh) * 3600 + i64::from(om) * 60)
        }
    };
    let days = days_from_civil(i64::from(y), m, d);
    let secs = days * 86_400 + i64::from(hh * 3600 + mm * 60 + ss) - offset;
    Some(secs as f64 + frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_tools_formats() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(
            parse_timestamp("2024-02-29T12:00:00Z"),
            Some(1_709_208_000.0)
        );
        assert_eq!(
            parse_timestamp("2024-02-29T13:30:00+01:30"),
            Some(1_709_208_000.0)
        );
        let restic = parse_timestamp("2024-02-29T12:00:00.25+00:00").unwrap();
        assert!((restic - 1_709_208_000.25).abs() < 1e-6);
        assert_eq!(
            parse_timestamp("2024-02-29T12:00:00.000000"),
            Some(1_709_208_000.0)
        );
        assert_eq!(
            parse_timestamp("2024-02-29 12:00:00"),
            Some(1_709_208_000.0)
        );
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp("2024-13-01T00:00:00Z"), None);
    }
}
