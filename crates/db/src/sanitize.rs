//! Turning what a server reports into metric names and values, without trusting it.
//!
//! Servers report names (status variables, settings, INFO fields) that this exporter did not
//! choose: they may hold characters a metric name cannot, repeat after cleaning, or come in
//! the tens of thousands. Values may be text where a number was expected. None of that is an
//! error: the name is cleaned or the row skipped, and each distinct case is logged once per
//! process (at most [`MAX_NOTES`] of them, so a hostile server cannot fill the log).

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Mutex;

/// How many distinct oddities are logged before logging stops.
pub const MAX_NOTES: usize = 256;

static NOTED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Logs `message` at warn level the first time `key` is seen (process-wide). Returns whether
/// it was logged.
pub fn warn_once(key: &str, message: impl FnOnce() -> String) -> bool {
    first_time(key) && {
        tracing::warn!("{}", message());
        true
    }
}

/// Like [`warn_once`] at debug level, for oddities that are normal on some servers (a text
/// value among numbers).
pub fn debug_once(key: &str, message: impl FnOnce() -> String) -> bool {
    first_time(key) && {
        tracing::debug!("{}", message());
        true
    }
}

fn first_time(key: &str) -> bool {
    let mut noted = NOTED.lock().unwrap_or_else(|p| p.into_inner());
    let set = noted.get_or_insert_with(HashSet::new);
    if set.len() >= MAX_NOTES || set.contains(key) {
        return false;
    }
    set.insert(key.to_string());
    true
}

/// A name part as the Go exporters make it: every character outside `[a-zA-Z0-9_]` becomes
/// `_`, and the result is lower case (mysqld_exporter's `validPrometheusName`).
pub fn name_part(s: &str) -> Cow<'_, str> {
    let clean = s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if clean {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect(),
    )
}

/// Whether `s` is a valid Prometheus metric name.
pub fn is_metric_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// [`name_part`], logging once when the server's name had to be changed. `source` names
/// where it came from (`SHOW GLOBAL STATUS`).
pub fn name_part_logged<'a>(source: &str, s: &'a str) -> Cow<'a, str> {
    let part = name_part(s);
    if let Cow::Owned(clean) = &part {
        // Upper case alone is the servers' normal spelling, not worth a line.
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            warn_once(&format!("name:{source}:{s}"), || {
                format!(
                    "{source}: name {s:?} is not a valid metric name part; exported as {clean:?}"
                )
            });
        }
    }
    part
}

/// Logs once (debug) that `source` returned `value` for `name`, which is not a number: the row
/// is skipped. Servers hold many text variables, so this is not a warning.
pub fn not_a_number(source: &str, name: &str, value: &str) {
    debug_once(&format!("nan:{source}:{name}"), || {
        let shown: String = value.chars().take(64).collect();
        format!("{source}: {name} = {shown:?} is not a number; skipped")
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_as_the_go_exporters_clean_them() {
        assert_eq!(name_part("Com_select"), "com_select");
        assert_eq!(
            name_part("innodb_buffer_pool_pages_data"),
            "innodb_buffer_pool_pages_data"
        );
        assert_eq!(name_part("Rpl-semi.sync é"), "rpl_semi_sync__");
        assert!(matches!(name_part("uptime"), Cow::Borrowed(_)));
    }

    #[test]
    fn metric_names_are_checked() {
        assert!(is_metric_name("pg_settings_work_mem_bytes"));
        assert!(!is_metric_name("9lives"));
        assert!(!is_metric_name("a-b"));
        assert!(!is_metric_name(""));
    }

    #[test]
    fn each_oddity_is_logged_once() {
        assert!(warn_once("test:once", || "first".into()));
        assert!(!warn_once("test:once", || "second".into()));
    }
}
