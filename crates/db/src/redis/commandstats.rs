//! `INFO commandstats`, `latencystats` and `errorstats`: per command call counts, time,
//! rejected and failed calls, latency percentiles (Redis 7) and error replies by type.

use super::info::sub_fields;
use crate::engine::Out;
use std::collections::HashMap;
use watchkeeper_core::metrics::MetricType;

/// `calls` and `usec` of one command, for the latency summary's `_count` and `_sum`.
#[derive(Default, Clone, Copy)]
struct Calls {
    calls: f64,
    usec: f64,
}

fn num(fields: &HashMap<&str, &str>, k: &str) -> Option<f64> {
    fields.get(k).and_then(|v| v.parse::<f64>().ok())
}

/// Writes the per-command, latency and error families of an `INFO ALL` answer.
pub fn to_samples(info: &HashMap<&str, &str>, out: &mut Out) {
    let mut calls: HashMap<&str, Calls> = HashMap::new();
    let mut entries: Vec<(&str, &str)> = info.iter().map(|(k, v)| (*k, *v)).collect();
    entries.sort_unstable();
    for (k, v) in &entries {
        let Some(cmd) = k.strip_prefix("cmdstat_") else {
            continue;
        };
        let f: HashMap<&str, &str> = sub_fields(v).collect();
        let labels = [("cmd", cmd)];
        let (Some(n), Some(usec)) = (num(&f, "calls"), num(&f, "usec")) else {
            crate::sanitize::not_a_number("INFO commandstats", k, v);
            continue;
        };
        calls.insert(cmd, Calls { calls: n, usec });
        out.counter(
            "redis_commands_total",
            "Total number of calls per command",
            &labels,
            n,
        );
        out.counter(
            "redis_commands_duration_seconds_total",
            "Total amount of time in seconds spent per command",
            &labels,
            usec / 1e6,
        );
        if let Some(r) = num(&f, "rejected_calls") {
            out.counter(
                "redis_commands_rejected_calls_total",
                "Total number of errors within command execution per command",
                &labels,
                r,
            );
        }
        if let Some(r) = num(&f, "failed_calls") {
            out.counter(
                "redis_commands_failed_calls_total",
                "Total number of errors prior command execution per command",
                &labels,
                r,
            );
        }
    }
    for (k, v) in &entries {
        let Some(cmd) = k.strip_prefix("latency_percentiles_usec_") else {
            continue;
        };
        const NAME: &str = "redis_latency_percentiles_usec";
        const HELP: &str = "A summary of latency percentile distribution per command";
        let mut any = false;
        for (p, value) in sub_fields(v) {
            let (Some(q), Ok(x)) = (p.strip_prefix('p'), value.parse::<f64>()) else {
                continue;
            };
            any = true;
            out.add_with_suffix(
                NAME,
                HELP,
                MetricType::Summary,
                "",
                &[("cmd", cmd), ("quantile", q)],
                x,
            );
        }
        if any {
            let c = calls.get(cmd).copied().unwrap_or_default();
            out.add_with_suffix(
                NAME,
                HELP,
                MetricType::Summary,
                "_sum",
                &[("cmd", cmd)],
                c.usec,
            );
            out.add_with_suffix(
                NAME,
                HELP,
                MetricType::Summary,
                "_count",
                &[("cmd", cmd)],
                c.calls,
            );
        }
    }
    for (k, v) in &entries {
        let Some(err) = k.strip_prefix("errorstat_") else {
            continue;
        };
        let f: HashMap<&str, &str> = sub_fields(v).collect();
        if let Some(n) = num(&f, "count") {
            out.counter(
                "redis_errors_total",
                "Total number of errors per error type",
                &[("err", err)],
                n,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_latency_and_errors() {
        let text = "# Commandstats\r\ncmdstat_get:calls=4,usec=20,usec_per_call=5.00,rejected_calls=1,failed_calls=2\r\ncmdstat_client|setname:calls=2,usec=12,usec_per_call=6.00,rejected_calls=0,failed_calls=0\r\ncmdstat_bad:calls=x,usec=1\r\n# Latencystats\r\nlatency_percentiles_usec_get:p50=1.003,p99=3.007,p99.9=4.015\r\n# Errorstats\r\nerrorstat_ERR:count=13\r\n";
        let info = super::super::info::parse_info(text);
        let mut out = Out::new("c");
        to_samples(&info, &mut out);
        let set = out.into_set();
        assert_eq!(
            set.find("redis_commands_total", &[("cmd", "get")]),
            Some(4.0)
        );
        assert_eq!(
            set.find("redis_commands_total", &[("cmd", "client|setname")]),
            Some(2.0)
        );
        assert_eq!(
            set.find("redis_commands_duration_seconds_total", &[("cmd", "get")]),
            Some(20e-6)
        );
        assert_eq!(
            set.find("redis_commands_rejected_calls_total", &[("cmd", "get")]),
            Some(1.0)
        );
        assert_eq!(
            set.find("redis_commands_failed_calls_total", &[("cmd", "get")]),
            Some(2.0)
        );
        assert_eq!(set.find("redis_commands_total", &[("cmd", "bad")]), None);
        assert_eq!(
            set.find(
                "redis_latency_percentiles_usec",
                &[("cmd", "get"), ("quantile", "99.9")]
            ),
            Some(4.015)
        );
        assert_eq!(
            set.find("redis_latency_percentiles_usec_count", &[("cmd", "get")]),
            Some(4.0)
        );
        assert_eq!(
            set.find("redis_latency_percentiles_usec_sum", &[("cmd", "get")]),
            Some(20.0)
        );
        assert_eq!(
            set.find("redis_errors_total", &[("err", "ERR")]),
            Some(13.0)
        );
    }
}
