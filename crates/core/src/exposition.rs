//! Exposition formats: OpenMetrics 1.0 text and the classic Prometheus text format 0.0.4.
//!
//! Both encoders are written here rather than taken from `prometheus-client`: that crate emits
//! OpenMetrics only, has no summary type, and its collector API re-escapes every label value on
//! every encode, while our sample set is rendered once per scrape and encoded once.

use crate::metrics::{write_value, Family, MetricSet, MetricType};
use std::io::Write as _;

/// Content type of the classic text format.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content type of OpenMetrics 1.0 text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The exposition format chosen for one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// Picks the format from an `Accept` header: OpenMetrics when the client ranks it at least as
    /// high as plain text, the classic format otherwise (curl, Telegraf and older tools).
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let mut best_om = -1.0f32;
        let mut best_text = -1.0f32;
        for part in accept.split(',') {
            let mut params = part.split(';').map(str::trim);
            let media = params.next().unwrap_or("").to_ascii_lowercase();
            let mut q = 1.0f32;
            for p in params {
                if let Some(v) = p.strip_prefix("q=") {
                    q = v.parse().unwrap_or(0.0);
                }
            }
            if media == "application/openmetrics-text" {
                best_om = best_om.max(q);
            } else if media == "text/plain" || media == "*/*" || media == "text/*" {
                best_text = best_text.max(q);
            }
        }
        if best_om > 0.0 && best_om >= best_text {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }

    /// The `Content-Type` header value for this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => TEXT_CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }
}

/// Encodes a sample set in the given format.
pub fn encode(set: &MetricSet, format: Format) -> String {
    let mut out = String::with_capacity(set.sample_count() * 64 + 64);
    match format {
        Format::Text => encode_text(set, &mut out),
        Format::OpenMetrics => encode_openmetrics(set, &mut out),
    }
    out
}

fn encode_text(set: &MetricSet, out: &mut String) {
    for fam in set.families() {
        if fam.samples.is_empty() {
            continue;
        }
        out.push_str("# HELP ");
        out.push_str(&fam.name);
        out.push(' ');
        escape_help(out, &fam.help, false);
        out.push_str("\n# TYPE ");
        out.push_str(&fam.name);
        out.push(' ');
        out.push_str(fam.kind.text_keyword());
        out.push('\n');
        write_samples(out, fam, &fam.name, "");
    }
}

fn encode_openmetrics(set: &MetricSet, out: &mut String) {
    // OpenMetrics family names must be unique: a counter `x_total` is family `x`, so a gauge
    // or untyped family literally named `x` would clash. Such counters are declared `unknown`.
    let plain_names: std::collections::HashSet<&str> = set
        .families()
        .iter()
        .filter(|f| f.kind != MetricType::Counter)
        .map(|f| f.name.as_ref())
        .collect();
    for fam in set.families() {
        if fam.samples.is_empty() {
            continue;
        }
        // OpenMetrics names a counter family without `_total` and requires the suffix on its
        // samples. A counter whose name lacks the suffix would be renamed by that rule, so it is
        // declared `unknown` instead: the series a user already stores keeps its name.
        let (family_name, sample_suffix, keyword) = match fam.kind {
            MetricType::Counter => match fam.name.strip_suffix("_total") {
                Some(base) if !plain_names.contains(base) => (base, "_total", "counter"),
                _ => (fam.name.as_ref(), "", "unknown"),
            },
            MetricType::Gauge => (fam.name.as_ref(), "", "gauge"),
            MetricType::Histogram => (fam.name.as_ref(), "", "histogram"),
            MetricType::Summary => (fam.name.as_ref(), "", "summary"),
            MetricType::Untyped => (fam.name.as_ref(), "", "unknown"),
        };
        out.push_str("# TYPE ");
        out.push_str(family_name);
        out.push(' ');
        out.push_str(keyword);
        out.push_str("\n# HELP ");
        out.push_str(family_name);
        out.push(' ');
        escape_help(out, &fam.help, true);
        out.push('\n');
        write_samples(out, fam, family_name, sample_suffix);
    }
    out.push_str("# EOF\n");
}

fn write_samples(out: &mut String, fam: &Family, name: &str, extra_suffix: &str) {
    for s in &fam.samples {
        out.push_str(name);
        out.push_str(extra_suffix);
        out.push_str(&s.suffix);
        if !s.labels.is_empty() {
            out.push('{');
            out.push_str(&s.labels);
            out.push('}');
        }
        out.push(' ');
        write_value(out, s.value);
        out.push('\n');
    }
}

fn escape_help(out: &mut String, help: &str, quote: bool) {
    // Almost every help text needs no escaping; check once instead of pushing char by char.
    // A byte scan: `str::contains(&[char])` goes through the generic char searcher.
    let special = |b: &u8| *b == b'\\' || *b == b'\n' || (quote && *b == b'"');
    if !help.as_bytes().iter().any(special) {
        out.push_str(help);
        return;
    }
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// True when an `Accept-Encoding` header allows gzip.
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|h| {
        h.split(',').any(|part| {
            let mut it = part.split(';').map(str::trim);
            let enc = it.next().unwrap_or("");
            // Any spelling of a zero qvalue ("0", "0.0", "0.00", "Q=0.000") refuses the coding.
            let q_zero = it.any(|p| {
                p.get(..2)
                    .filter(|k| k.eq_ignore_ascii_case("q="))
                    .and_then(|_| p[2..].trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (enc.eq_ignore_ascii_case("gzip") || enc == "*") && !q_zero
        })
    })
}

/// Gzips a response body. Fast compression: scrapes are frequent and mostly on local networks,
/// so CPU matters more than the last few percent of size.
pub fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    enc.write_all(body)?;
    enc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_set() -> MetricSet {
        let mut set = MetricSet::new();
        set.family(
            "node_cpu_seconds_total",
            "Seconds the CPUs spent in each mode.",
            MetricType::Counter,
        )
        .sample(&[("cpu", "0"), ("mode", "idle")], 12.5);
        set.family(
            "node_vmstat_pgfault",
            "/proc/vmstat information field pgfault.",
            MetricType::Untyped,
        )
        .value(7.0);
        set.family(
            "odd_counter",
            "A counter without the suffix.",
            MetricType::Counter,
        )
        .value(3.0);
        set.gauge("node_load1", "1m load average.", 0.5);
        set
    }

    #[test]
    fn text_format_keeps_names_and_types() {
        let text = encode(&sample_set(), Format::Text);
        assert_eq!(
            text,
            "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n\
             # TYPE node_cpu_seconds_total counter\n\
             node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12.5\n\
             # HELP node_vmstat_pgfault /proc/vmstat information field pgfault.\n\
             # TYPE node_vmstat_pgfault untyped\n\
             node_vmstat_pgfault 7\n\
             # HELP odd_counter A counter without the suffix.\n\
             # TYPE odd_counter counter\n\
             odd_counter 3\n\
             # HELP node_load1 1m load average.\n\
             # TYPE node_load1 gauge\n\
             node_load1 0.5\n"
        );
    }

    #[test]
    fn openmetrics_strips_total_from_counter_families_and_ends_with_eof() {
        let om = encode(&sample_set(), Format::OpenMetrics);
        assert!(om.contains("# TYPE node_cpu_seconds counter\n"));
        assert!(om.contains("node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12.5\n"));
        assert!(om.contains("# TYPE node_vmstat_pgfault unknown\n"));
        assert!(om.contains("# TYPE odd_counter unknown\nodd_counter 3\n") || om.contains("# TYPE odd_counter unknown\n# HELP odd_counter A counter without the suffix.\nodd_counter 3\n"));
        assert!(om.ends_with("# EOF\n"));
    }

    #[test]
    fn openmetrics_family_names_stay_unique() {
        let mut set = MetricSet::new();
        set.gauge("x", "A gauge.", 1.0);
        set.counter("x_total", "A counter whose family would be x.", 2.0);
        let om = encode(&set, Format::OpenMetrics);
        assert!(om.contains("# TYPE x gauge\n"), "{om}");
        assert!(om.contains("# TYPE x_total unknown\n"), "{om}");
        assert!(om.contains("x_total 2\n"), "{om}");
    }

    #[test]
    fn negotiation_follows_prometheus_accept_header() {
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prom)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(
            Format::negotiate(Some("text/plain;version=0.0.4")),
            Format::Text
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0.2,text/plain;q=0.9")),
            Format::Text
        );
    }

    #[test]
    fn gzip_acceptance() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("deflate, gzip;q=1.0, *;q=0.5")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(None));
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read as _;
        let body = encode(&sample_set(), Format::Text);
        let z = gzip(body.as_bytes()).unwrap();
        let mut dec = flate2::read::GzDecoder::new(&z[..]);
        let mut back = String::new();
        dec.read_to_string(&mut back).unwrap();
        assert_eq!(back, body);
    }
}
