//! `SLOWLOG LEN`, `SLOWLOG GET 1` and `LATENCY LATEST` replies, as redis_exporter exports them.

use crate::engine::Out;
use redis::Value;

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// `SLOWLOG LEN` → `redis_slowlog_length`.
pub fn length(reply: &Value, out: &mut Out) {
    if let Some(n) = int(reply) {
        out.gauge("redis_slowlog_length", "Total slowlog", &[], n as f64);
    }
}

/// `SLOWLOG GET 1` → `redis_slowlog_last_id` and `redis_last_slow_execution_duration_seconds`
/// (both 0 when the log is empty).
pub fn last(reply: &Value, out: &mut Out) {
    let Value::Array(entries) = reply else {
        return;
    };
    let (id, usec) = match entries.first() {
        Some(Value::Array(e)) => (
            e.first().and_then(int).unwrap_or(0),
            e.get(2).and_then(int).unwrap_or(0),
        ),
        _ => (0, 0),
    };
    out.gauge(
        "redis_slowlog_last_id",
        "Last id of slowlog",
        &[],
        id as f64,
    );
    out.gauge(
        "redis_last_slow_execution_duration_seconds",
        "The amount of time needed for last slow execution, in seconds",
        &[],
        usec as f64 / 1e6,
    );
}

/// `LATENCY LATEST` → `redis_latency_spike_last{event_name}` (Unix seconds) and
/// `redis_latency_spike_duration_seconds{event_name}`.
pub fn latency(reply: &Value, out: &mut Out) {
    let Value::Array(events) = reply else {
        return;
    };
    for e in events {
        let Value::Array(f) = e else { continue };
        let (Some(name), Some(last), Some(ms)) = (
            f.first().and_then(text),
            f.get(1).and_then(int),
            f.get(2).and_then(int),
        ) else {
            continue;
        };
        let labels = [("event_name", name.as_str())];
        out.gauge(
            "redis_latency_spike_last",
            "When the latency spike last occurred",
            &labels,
            last as f64,
        );
        out.gauge(
            "redis_latency_spike_duration_seconds",
            "Length of the last latency spike in seconds",
            &labels,
            ms as f64 / 1e3,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn slowlog_and_latency_replies() {
        let mut out = Out::new("c");
        length(&Value::Int(3), &mut out);
        last(
            &Value::Array(vec![Value::Array(vec![
                Value::Int(7),
                Value::Int(1_700_000_000),
                Value::Int(25_000),
                Value::Array(vec![bulk("KEYS"), bulk("*")]),
            ])]),
            &mut out,
        );
        latency(
            &Value::Array(vec![Value::Array(vec![
                bulk("command"),
                Value::Int(1_700_000_001),
                Value::Int(250),
                Value::Int(900),
            ])]),
            &mut out,
        );
        let set = out.into_set();
        assert_eq!(set.find("redis_slowlog_length", &[]), Some(3.0));
        assert_eq!(set.find("redis_slowlog_last_id", &[]), Some(7.0));
        assert_eq!(
            set.find("redis_last_slow_execution_duration_seconds", &[]),
            Some(0.025)
        );
        assert_eq!(
            set.find(
                "redis_latency_spike_duration_seconds",
                &[("event_name", "command")]
            ),
            Some(0.25)
        );
        let mut empty = Out::new("c");
        last(&Value::Array(vec![]), &mut empty);
        assert_eq!(
            empty.into_set().find("redis_slowlog_last_id", &[]),
            Some(0.0)
        );
    }
}
