//! Values of `SHOW GLOBAL STATUS` / `VARIABLES` / `SLAVE STATUS` rows as mysqld_exporter reads
//! them (its `parseStatus`): numbers, `ON`/`OFF`-style words, and two date formats.

use crate::civil::unix_seconds;

/// The number a status or variable value stands for, or `None` (the row is then skipped).
///
/// `YES`/`ON`/`Primary` are 1; `NO`/`OFF`/`DISABLED`/`Connecting`/`non-Primary`/`Disconnected`
/// are 0 (any case); `Jan 02 15:04:05 2006 GMT` and `2006-01-02 15:04:05` are Unix seconds
/// (UTC); anything else must parse as a decimal number.
pub fn parse_status(raw: &str) -> Option<f64> {
    let lower = raw.to_ascii_lowercase();
    match lower.as_str() {
        "yes" | "on" | "primary" => return Some(1.0),
        "no" | "off" | "disabled" | "connecting" | "non-primary" | "disconnected" => {
            return Some(0.0)
        }
        _ => {}
    }
    if let Some(t) = openssl_date(&lower).or_else(|| sql_datetime(&lower)) {
        return Some(t);
    }
    go_float(&lower)
}

/// Go's `strconv.ParseFloat` on the forms servers print: optional sign, digits, one dot,
/// optional exponent; also `inf`/`nan` words, which no server prints as a status.
fn go_float(s: &str) -> Option<f64> {
    if s.is_empty() || s.bytes().any(|b| b.is_ascii_whitespace()) {
        return None;
    }
    let body = s.trim_start_matches(['+', '-']);
    if !body.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// `jan 02 15:04:05 2006 gmt` (certificate dates in `Ssl_server_not_after`), as UTC.
fn openssl_date(s: &str) -> Option<f64> {
    let parts: Vec<&str> = s.split(' ').collect();
    let [mon, day, time, year, zone] = parts[..] else {
        return None;
    };
    let month = MONTHS.iter().position(|m| *m == mon)? as u32 + 1;
    if day.len() != 2 || zone.is_empty() || !zone.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let (h, m, sec) = clock(time)?;
    unix_seconds(year.parse().ok()?, month, day.parse().ok()?, h, m, sec)
}

/// `2006-01-02 15:04:05`, as UTC.
fn sql_datetime(s: &str) -> Option<f64> {
    let (date, time) = s.split_once(' ')?;
    let mut d = date.split('-');
    let (y, mo, da) = (d.next()?, d.next()?, d.next()?);
    if d.next().is_some() || y.len() != 4 || mo.len() != 2 || da.len() != 2 {
        return None;
    }
    let (h, m, sec) = clock(time)?;
    unix_seconds(
        y.parse().ok()?,
        mo.parse().ok()?,
        da.parse().ok()?,
        h,
        m,
        sec,
    )
}

fn clock(t: &str) -> Option<(u32, u32, u32)> {
    let mut it = t.split(':');
    let (h, m, s) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || [h, m, s].iter().any(|p| p.len() != 2) {
        return None;
    }
    Some((h.parse().ok()?, m.parse().ok()?, s.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_become_one_or_zero() {
        assert_eq!(parse_status("ON"), Some(1.0));
        assert_eq!(parse_status("OFF"), Some(0.0));
        assert_eq!(parse_status("Yes"), Some(1.0));
        assert_eq!(parse_status("DISABLED"), Some(0.0));
        assert_eq!(parse_status("Primary"), Some(1.0));
        assert_eq!(parse_status("Disconnected"), Some(0.0));
        assert_eq!(parse_status("Connecting"), Some(0.0));
    }

    #[test]
    fn numbers_parse_and_text_is_skipped() {
        assert_eq!(parse_status("42"), Some(42.0));
        assert_eq!(parse_status("0.000123"), Some(0.000123));
        assert_eq!(
            parse_status("18446744073709551615"),
            Some(1.8446744073709552e19)
        );
        assert_eq!(parse_status("-1"), Some(-1.0));
        assert_eq!(parse_status(""), None);
        assert_eq!(parse_status("utf8mb4"), None);
        assert_eq!(parse_status("AUTH_MASTER"), None);
        assert_eq!(parse_status("NULL"), None);
        assert_eq!(parse_status("inf"), None);
        assert_eq!(parse_status(" 1"), None);
    }

    #[test]
    fn dates_become_unix_seconds() {
        assert_eq!(
            parse_status("Jan 02 15:04:05 2006 GMT"),
            Some(1_136_214_245.0)
        );
        assert_eq!(parse_status("2006-01-02 15:04:05"), Some(1_136_214_245.0));
        assert_eq!(parse_status("Jan  2 15:04:05 2006 GMT"), None);
        assert_eq!(parse_status("1970-01-01 00:00:00"), Some(0.0));
    }
}
