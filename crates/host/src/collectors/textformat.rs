//! A parser for the Prometheus text exposition format (0.0.4), as the textfile collector reads it.
//!
//! It follows the rules of the Go `expfmt` text parser node_exporter uses: `# HELP` and `# TYPE`
//! lines (a TYPE after the family's samples is an error), label escapes `\\`, `\"` and `\n`,
//! `_bucket`/`_sum`/`_count` samples grouped into a declared histogram or summary, and optional
//! timestamps (reported so the caller can reject them, as node_exporter does). It is stricter in
//! one way: a series that appears twice is an error, not silently dropped.

use std::collections::HashMap;
use std::fmt;
use watchkeeper_core::MetricType;

/// Why a file is not valid text format: the line (1-based) and what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParseError {
    /// The 1-based line number.
    pub line: usize,
    /// What is wrong, phrased for a log line.
    pub msg: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.msg)
    }
}

/// The values of one series (one label set) of a family.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// A counter, gauge or untyped sample.
    Single(f64),
    /// A summary: (quantile, value) pairs in file order, then sum and count.
    Summary {
        quantiles: Vec<(f64, f64)>,
        sum: Option<f64>,
        count: Option<f64>,
    },
    /// A histogram: (upper bound, cumulative count) pairs in file order, then sum and count.
    Histogram {
        buckets: Vec<(f64, f64)>,
        sum: Option<f64>,
        count: Option<f64>,
    },
}

/// One series: its labels sorted by name (without `le`/`quantile`) and its values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub labels: Vec<(String, String)>,
    pub value: Value,
}

/// One metric family as read from the text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParsedFamily {
    pub name: String,
    /// The `# HELP` text, unescaped.
    pub help: Option<String>,
    pub kind: MetricType,
    pub series: Vec<Series>,
}

/// Everything read from one text.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    /// Families in order of first mention; those with no samples are kept (callers drop them).
    pub families: Vec<ParsedFamily>,
    /// Whether any sample carried a timestamp.
    pub has_timestamps: bool,
}

/// Which part of a histogram or summary a sample is.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    Plain,
    Sum,
    Count,
    Bucket,
}

struct Parser {
    parsed: Parsed,
    by_name: HashMap<String, usize>,
    /// Per family: label set (rendered) -> series index, to group and to find duplicates.
    series_index: Vec<HashMap<Vec<(String, String)>, usize>>,
    /// Families that already have samples (a TYPE after them is an error).
    has_samples: Vec<bool>,
    has_type: Vec<bool>,
    /// Per family: the line of its first sample, to point at a name collision.
    first_sample_line: Vec<usize>,
    /// The line being parsed (1-based).
    line_no: usize,
}

/// Parses a whole text.
pub(crate) fn parse(text: &str) -> Result<Parsed, ParseError> {
    let mut p = Parser {
        parsed: Parsed::default(),
        by_name: HashMap::new(),
        series_index: Vec::new(),
        has_samples: Vec::new(),
        has_type: Vec::new(),
        first_sample_line: Vec::new(),
        line_no: 0,
    };
    // A last line without its newline is what a writer that did not rename atomically leaves
    // behind mid-write (`12` of `1234`): Go's parser rejects it, and so do we.
    if !text.is_empty() && !text.ends_with('\n') {
        return Err(ParseError {
            line: text.lines().count(),
            msg: "unexpected end of input stream (no newline at the end of the last line)".into(),
        });
    }
    for (n, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        p.line_no = n + 1;
        p.line(line)
            .map_err(|msg| ParseError { line: n + 1, msg })?;
    }
    p.check_collisions()?;
    Ok(p.parsed)
}

/// The sample names a family puts on the page: a histogram `h` also owns `h_bucket`, `h_sum`
/// and `h_count`, a summary `s` owns `s_sum` and `s_count`.
pub(crate) fn exposed_names(name: &str, kind: MetricType) -> Vec<String> {
    let suffixes: &[&str] = match kind {
        MetricType::Histogram => &["", "_bucket", "_sum", "_count"],
        MetricType::Summary => &["", "_sum", "_count"],
        _ => &[""],
    };
    suffixes.iter().map(|s| format!("{name}{s}")).collect()
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

fn valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Parses a sample value or label float the way Go's `strconv.ParseFloat` accepts them
/// (`NaN`, `+Inf`, `-Inf`, `Inf`, decimals and exponents).
fn parse_float(s: &str) -> Option<f64> {
    if s.is_empty() || s.contains('_') {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    // Go reports an out-of-range literal such as `1e400` as an error, not as infinity.
    if v.is_infinite()
        && !s
            .trim_start_matches(['+', '-'])
            .to_ascii_lowercase()
            .starts_with("inf")
    {
        return None;
    }
    Some(v)
}

impl Parser {
    fn family(&mut self, name: &str) -> usize {
        if let Some(&i) = self.by_name.get(name) {
            return i;
        }
        let i = self.parsed.families.len();
        self.parsed.families.push(ParsedFamily {
            name: name.to_string(),
            help: None,
            kind: MetricType::Untyped,
            series: Vec::new(),
        });
        self.by_name.insert(name.to_string(), i);
        self.series_index.push(HashMap::new());
        self.has_samples.push(false);
        self.has_type.push(false);
        self.first_sample_line.push(0);
        i
    }

    fn line(&mut self, line: &str) -> Result<(), String> {
        let trimmed = line.trim_start_matches([' ', '\t']);
        if trimmed.is_empty() {
            return Ok(());
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            return self.comment(comment.trim_start_matches([' ', '\t']));
        }
        self.sample(trimmed)
    }

    fn comment(&mut self, rest: &str) -> Result<(), String> {
        let (keyword, rest) = split_token(rest);
        if keyword != "HELP" && keyword != "TYPE" {
            return Ok(()); // an ordinary comment
        }
        let (name, rest) = split_token(rest);
        if !valid_metric_name(name) {
            return Err(format!("invalid metric name {name:?} in {keyword} line"));
        }
        if !self.by_name.contains_key(name) {
            if let (i, Part::Sum | Part::Count | Part::Bucket) = self.resolve_existing(name) {
                // Go's parser attaches these lines to the histogram or summary they belong to.
                let owner = &self.parsed.families[i].name;
                return Err(format!(
                    "{keyword} line for {name:?}, which is part of {} {owner:?}",
                    self.parsed.families[i].kind.text_keyword()
                ));
            }
        }
        let i = self.family(name);
        if keyword == "HELP" {
            if self.parsed.families[i].help.is_some() {
                return Err(format!("second HELP line for metric name {name:?}"));
            }
            self.parsed.families[i].help = Some(unescape_help(rest)?);
            return Ok(());
        }
        let (kind, extra) = split_token(rest);
        if !extra.is_empty() {
            return Err(format!("unexpected text after TYPE of {name:?}: {extra:?}"));
        }
        // Go's parser looks the type up case-insensitively (`GAUGE` is a gauge).
        let kind = match kind.to_ascii_lowercase().as_str() {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            "untyped" => MetricType::Untyped,
            other => return Err(format!("unknown metric type {other:?}")),
        };
        if self.has_type[i] || self.has_samples[i] {
            return Err(format!(
                "second TYPE line for metric name {name:?}, or TYPE reported after samples"
            ));
        }
        self.has_type[i] = true;
        self.parsed.families[i].kind = kind;
        Ok(())
    }

    /// The family a sample name belongs to, and which part of it the sample is.
    fn resolve(&mut self, name: &str) -> (usize, Part) {
        match self.resolve_existing(name) {
            (usize::MAX, _) => (self.family(name), Part::Plain),
            found => found,
        }
    }

    /// Like [`Self::resolve`] without creating a family: `usize::MAX` when none matches.
    fn resolve_existing(&self, name: &str) -> (usize, Part) {
        if let Some(&i) = self.by_name.get(name) {
            let part = match self.parsed.families[i].kind {
                MetricType::Histogram => Part::Bucket,
                _ => Part::Plain,
            };
            return (i, part);
        }
        for (suffix, part, kinds) in [
            (
                "_sum",
                Part::Sum,
                &[MetricType::Summary, MetricType::Histogram][..],
            ),
            (
                "_count",
                Part::Count,
                &[MetricType::Summary, MetricType::Histogram][..],
            ),
            ("_bucket", Part::Bucket, &[MetricType::Histogram][..]),
        ] {
            if let Some(base) = name.strip_suffix(suffix) {
                if let Some(&i) = self.by_name.get(base) {
                    if kinds.contains(&self.parsed.families[i].kind) {
                        return (i, part);
                    }
                }
            }
        }
        (usize::MAX, Part::Plain)
    }

    /// Refuses a text in which one family's samples would carry the name of another's, such as
    /// a gauge `h_count` beside a histogram `h` (declared before it): the page would show the
    /// same series twice.
    fn check_collisions(&self) -> Result<(), ParseError> {
        let mut owners: HashMap<String, usize> = HashMap::new();
        for (i, fam) in self.parsed.families.iter().enumerate() {
            if !self.has_samples[i] {
                continue;
            }
            for exposed in exposed_names(&fam.name, fam.kind) {
                if let Some(&other) = owners.get(&exposed) {
                    let (a, b) = (&self.parsed.families[other], fam);
                    return Err(ParseError {
                        line: self.first_sample_line[i].max(self.first_sample_line[other]),
                        msg: format!(
                            "{} {:?} and {} {:?} both expose {exposed:?}",
                            a.kind.text_keyword(),
                            a.name,
                            b.kind.text_keyword(),
                            b.name
                        ),
                    });
                }
                owners.insert(exposed, i);
            }
        }
        Ok(())
    }

    fn sample(&mut self, line: &str) -> Result<(), String> {
        let name_end = line
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b':'))
            .unwrap_or(line.len());
        let name = &line[..name_end];
        if !valid_metric_name(name) {
            return Err(format!("invalid metric name at {line:?}"));
        }
        let mut rest = line[name_end..].trim_start_matches([' ', '\t']);
        let mut labels = Vec::new();
        if let Some(after) = rest.strip_prefix('{') {
            rest = parse_labels(after, name, &mut labels)?;
            rest = rest.trim_start_matches([' ', '\t']);
        }
        let (raw_value, rest) = split_token(rest);
        if raw_value.is_empty() {
            return Err(format!("metric {name:?} has no value"));
        }
        let value = parse_float(raw_value)
            .ok_or_else(|| format!("value {raw_value:?} of {name:?} is not a number"))?;
        let (raw_ts, rest) = split_token(rest);
        if !raw_ts.is_empty() {
            raw_ts
                .parse::<i64>()
                .map_err(|_| format!("timestamp {raw_ts:?} of {name:?} is not an integer"))?;
            self.parsed.has_timestamps = true;
        }
        if !rest.is_empty() {
            return Err(format!("spurious string after timestamp: {rest:?}"));
        }

        let (i, part) = self.resolve(name);
        if !self.has_samples[i] {
            self.first_sample_line[i] = self.line_no;
        }
        self.has_samples[i] = true;
        let kind = self.parsed.families[i].kind;
        // The special label of this family, parsed as a float and kept out of the label set.
        let special = match kind {
            MetricType::Histogram => Some("le"),
            MetricType::Summary => Some("quantile"),
            _ => None,
        };
        let mut bound = None;
        if let Some(special) = special {
            if let Some(pos) = labels.iter().position(|(k, _)| k == special) {
                let (_, raw) = labels.remove(pos);
                bound = Some(parse_float(&raw).ok_or_else(|| {
                    format!("expected float as value for {special:?} label, got {raw:?}")
                })?);
            }
        }
        labels.sort();
        if labels.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(format!("duplicate label names for metric {name:?}"));
        }
        let fam = &mut self.parsed.families[i];
        let index = &mut self.series_index[i];
        let series_at = |fam: &mut ParsedFamily, index: &mut HashMap<_, usize>, init: Value| {
            let labels_key = labels.clone();
            *index.entry(labels_key).or_insert_with(|| {
                fam.series.push(Series {
                    labels: labels.clone(),
                    value: init,
                });
                fam.series.len() - 1
            })
        };
        let duplicate = || format!("duplicate sample for {name:?} with labels {labels:?}");
        match kind {
            MetricType::Counter | MetricType::Gauge | MetricType::Untyped => {
                if index.contains_key(&labels) {
                    return Err(duplicate());
                }
                series_at(fam, index, Value::Single(value));
            }
            MetricType::Summary => {
                let s = series_at(
                    fam,
                    index,
                    Value::Summary {
                        quantiles: Vec::new(),
                        sum: None,
                        count: None,
                    },
                );
                let Value::Summary {
                    quantiles,
                    sum,
                    count,
                } = &mut fam.series[s].value
                else {
                    return Err(duplicate());
                };
                match part {
                    Part::Sum => set_once(sum, value).ok_or_else(duplicate)?,
                    Part::Count => set_once(count, value).ok_or_else(duplicate)?,
                    _ => {
                        let q = bound
                            .ok_or_else(|| format!("summary sample {name:?} has no quantile"))?;
                        if quantiles.iter().any(|(have, _)| *have == q) {
                            return Err(duplicate());
                        }
                        quantiles.push((q, value));
                    }
                }
            }
            MetricType::Histogram => {
                let s = series_at(
                    fam,
                    index,
                    Value::Histogram {
                        buckets: Vec::new(),
                        sum: None,
                        count: None,
                    },
                );
                let Value::Histogram {
                    buckets,
                    sum,
                    count,
                } = &mut fam.series[s].value
                else {
                    return Err(duplicate());
                };
                match part {
                    Part::Sum => set_once(sum, value).ok_or_else(duplicate)?,
                    Part::Count => set_once(count, value).ok_or_else(duplicate)?,
                    _ => {
                        let le = bound
                            .ok_or_else(|| format!("histogram bucket {name:?} has no le label"))?;
                        if buckets.iter().any(|(have, _)| *have == le) {
                            return Err(duplicate());
                        }
                        buckets.push((le, value));
                    }
                }
            }
        }
        Ok(())
    }
}

fn set_once(slot: &mut Option<f64>, value: f64) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

/// The next blank-separated token and the rest after the blanks that follow it.
fn split_token(s: &str) -> (&str, &str) {
    let end = s.bytes().position(is_blank).unwrap_or(s.len());
    (&s[..end], s[end..].trim_start_matches([' ', '\t']))
}

/// Parses `name="value",...}` (after the `{`) into `out`; returns the text after the `}`.
fn parse_labels<'a>(
    mut s: &'a str,
    metric: &str,
    out: &mut Vec<(String, String)>,
) -> Result<&'a str, String> {
    loop {
        s = s.trim_start_matches([' ', '\t']);
        if let Some(rest) = s.strip_prefix('}') {
            return Ok(rest);
        }
        let name_end = s
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || b == b'_'))
            .unwrap_or(s.len());
        let name = &s[..name_end];
        if !valid_label_name(name) {
            return Err(format!("invalid label name for metric {metric:?}"));
        }
        if name == "__name__" {
            return Err(format!(
                "label name \"__name__\" is reserved (metric {metric:?})"
            ));
        }
        s = s[name_end..].trim_start_matches([' ', '\t']);
        s = s
            .strip_prefix('=')
            .ok_or_else(|| format!("expected '=' after label name {name:?} of {metric:?}"))?;
        s = s.trim_start_matches([' ', '\t']);
        s = s.strip_prefix('"').ok_or_else(|| {
            format!("expected '\"' to start the value of label {name:?} of {metric:?}")
        })?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                None => {
                    return Err(format!(
                        "unterminated value of label {name:?} of {metric:?}"
                    ))
                }
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => {
                        return Err(format!(
                            "invalid escape sequence '\\{}' in label {name:?} of {metric:?}",
                            other.map_or(String::new(), |(_, c)| c.to_string())
                        ))
                    }
                },
                Some((_, c)) => value.push(c),
            }
        };
        out.push((name.to_string(), value));
        s = s[end + 1..].trim_start_matches([' ', '\t']);
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return Err(format!(
                "expected ',' or '}}' after label {name:?} of {metric:?}"
            ));
        }
    }
}

/// Unescapes a HELP text: `\\` and `\n` are the only escapes.
fn unescape_help(s: &str) -> Result<String, String> {
    if !s.contains('\\') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            other => {
                return Err(format!(
                    "invalid escape sequence '\\{}' in HELP",
                    other.map_or(String::new(), String::from)
                ))
            }
        }
    }
    Ok(out)
}

/// Formats a float label value (`le`, `quantile`) as Go's `strconv.FormatFloat(v, 'g', -1, 64)`
/// does, so a bucket's series is named exactly as node_exporter names it (`1.0` becomes `1`,
/// `0.00001` becomes `1e-05`).
pub(crate) fn go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..21).contains(&exp) {
        format!("{v}")
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn families_help_type_labels_and_escapes() {
        let p = parse(concat!(
            "# A comment\n",
            "# HELP job_runs_total Runs of a job, with a \\\\ and a \\n.\n",
            "# TYPE job_runs_total counter\n",
            "job_runs_total{job=\"backup\",path=\"C:\\\\x \\\"y\\\"\\nz\"} 12\n",
            "job_runs_total{ job = \"other\" , } 3 \n",
            "\n",
            "free_form{b=\"2\",a=\"1\"} -Inf\n",
            "bare 1e3\n",
        ))
        .unwrap();
        assert!(!p.has_timestamps);
        assert_eq!(p.families.len(), 3);
        let f = &p.families[0];
        assert_eq!(f.kind, MetricType::Counter);
        assert_eq!(
            f.help.as_deref(),
            Some("Runs of a job, with a \\ and a \n.")
        );
        assert_eq!(
            f.series[0].labels,
            [
                ("job".to_string(), "backup".to_string()),
                ("path".to_string(), "C:\\x \"y\"\nz".to_string())
            ]
        );
        assert_eq!(f.series[0].value, Value::Single(12.0));
        assert_eq!(f.series[1].value, Value::Single(3.0));
        let f = &p.families[1];
        assert_eq!(f.kind, MetricType::Untyped);
        assert_eq!(f.series[0].labels[0].0, "a"); // sorted
        assert_eq!(f.series[0].value, Value::Single(f64::NEG_INFINITY));
        assert_eq!(p.families[2].series[0].value, Value::Single(1000.0));
    }

    #[test]
    fn histograms_and_summaries_group_their_samples() {
        let p = parse(concat!(
            "# TYPE lat histogram\n",
            "lat_bucket{op=\"r\",le=\"0.5\"} 1\n",
            "lat_bucket{op=\"r\",le=\"1.0\"} 2\n",
            "lat_bucket{op=\"r\",le=\"+Inf\"} 3\n",
            "lat_sum{op=\"r\"} 4.5\n",
            "lat_count{op=\"r\"} 3\n",
            "# TYPE q summary\n",
            "q{quantile=\"0.99\"} 7\n",
            "q_sum 10\n",
            "q_count 2\n",
            "lat_total 5\n",
        ))
        .unwrap();
        let lat = &p.families[0];
        assert_eq!(lat.series.len(), 1);
        assert_eq!(
            lat.series[0].value,
            Value::Histogram {
                buckets: vec![(0.5, 1.0), (1.0, 2.0), (f64::INFINITY, 3.0)],
                sum: Some(4.5),
                count: Some(3.0)
            }
        );
        assert_eq!(
            p.families[1].series[0].value,
            Value::Summary {
                quantiles: vec![(0.99, 7.0)],
                sum: Some(10.0),
                count: Some(2.0)
            }
        );
        // A name that is not a histogram part is its own untyped family.
        assert_eq!(p.families[2].name, "lat_total");
    }

    #[test]
    fn timestamps_are_reported() {
        assert!(parse("x 1 1700000000000\n").unwrap().has_timestamps);
        assert!(err("x 1 soon\n").contains("timestamp \"soon\""));
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        assert_eq!(
            err("ok 1\nbad{ 1\n"),
            "line 2: invalid label name for metric \"bad\""
        );
        assert_eq!(
            err("x 1\n# TYPE x gauge\n"),
            "line 2: second TYPE line for metric name \"x\", or TYPE reported after samples"
        );
        assert_eq!(
            err("# TYPE x gauge\n# TYPE x gauge\n").split(':').next(),
            Some("line 2")
        );
        assert!(err("# TYPE x nonsense\n").contains("unknown metric type"));
        assert!(err("# HELP x a\n# HELP x b\n").contains("second HELP"));
        assert!(err("x{a=\"1\\t\"} 1\n").contains("invalid escape sequence"));
        assert!(
            err("x{a=\"1\"\n").contains("unterminated") || err("x{a=\"1\"\n").contains("expected")
        );
        assert!(err("x{a=\"1\",a=\"2\"} 1\n").contains("duplicate label names"));
        assert!(err("x{__name__=\"y\"} 1\n").contains("reserved"));
        assert!(err("x one\n").contains("not a number"));
        assert!(err("x\n").contains("has no value"));
        assert!(err("x 1 2 3\n").contains("spurious"));
        assert!(err("x 1\nx 2\n").contains("duplicate sample"));
        assert!(err("3x 1\n").contains("invalid metric name"));
        assert!(err("# TYPE h histogram\nh_bucket 1\n").contains("no le label"));
        assert!(err("# TYPE h histogram\nh_bucket{le=\"x\"} 1\n").contains("expected float"));
        assert!(err("# TYPE s summary\ns 1\n").contains("no quantile"));
    }

    #[test]
    fn follows_go_on_case_range_and_truncation() {
        let p = parse("# TYPE up GAUGE\nup 1\n").unwrap();
        assert_eq!(p.families[0].kind, MetricType::Gauge);
        assert!(err("big 1e400\n").contains("not a number"));
        assert_eq!(
            parse("i Inf\n").unwrap().families[0].series[0].value,
            Value::Single(f64::INFINITY)
        );
        assert_eq!(
            err("a 1\nb 12"),
            "line 2: unexpected end of input stream (no newline at the end of the last line)"
        );
        assert!(parse("").unwrap().families.is_empty());
        // Windows line ends are accepted.
        assert_eq!(
            parse("w 5\r\n").unwrap().families[0].series[0].value,
            Value::Single(5.0)
        );
    }

    #[test]
    fn arbitrary_mutations_never_panic() {
        let base = concat!(
            "# HELP h Help \\ text\n\n# TYPE h histogram\n",
            "h_bucket{a=\"x\\\"y\",le=\"0.5\"} 1\nh_sum 2\nh_count 3\n",
            "# TYPE s summary\ns{quantile=\"0.9\"} 1 123\nü{é=\"✓\"} 1\n",
        );
        let alphabet: Vec<char> = "{}=\",\\#\n \t_:aé1.+-eIN".chars().collect();
        // A small deterministic generator (xorshift): no dependency, reproducible failures.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..5000 {
            let mut chars: Vec<char> = base.chars().collect();
            for _ in 0..(next() % 4 + 1) {
                let at = (next() as usize) % chars.len();
                match next() % 3 {
                    0 => {
                        chars.remove(at);
                    }
                    1 => chars.insert(at, alphabet[(next() as usize) % alphabet.len()]),
                    _ => chars[at] = alphabet[(next() as usize) % alphabet.len()],
                }
            }
            let text: String = chars.into_iter().collect();
            let _ = parse(&text);
            let _ = parse(&text[..text.char_indices().nth(text.chars().count() / 2).unwrap().0]);
        }
    }

    #[test]
    fn names_owned_by_a_histogram_or_summary_cannot_be_reused() {
        assert_eq!(
            err("# TYPE h histogram\nh_sum 1\n# TYPE h_count gauge\n"),
            "line 3: TYPE line for \"h_count\", which is part of histogram \"h\""
        );
        assert_eq!(
            err("# TYPE s_sum gauge\ns_sum 1\n# TYPE s summary\ns{quantile=\"0.5\"} 2\n"),
            "line 4: gauge \"s_sum\" and summary \"s\" both expose \"s_sum\""
        );
        // Without a TYPE, `h_sum` is just another untyped family.
        assert_eq!(parse("h 1\nh_sum 2\n").unwrap().families.len(), 2);
    }

    #[test]
    fn go_float_formatting() {
        assert_eq!(go_float(1.0), "1");
        assert_eq!(go_float(0.5), "0.5");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(2.5e-7), "2.5e-07");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(123456.0), "123456");
        assert_eq!(go_float(f64::INFINITY), "+Inf");
    }
}
