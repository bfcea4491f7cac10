//! The in-memory sample set one scrape produces.
//!
//! Collectors write families and samples here; the exposition module turns the whole set into
//! OpenMetrics or the classic text format. Label values are escaped once, when a sample is added,
//! because both formats use the same label syntax and a set is encoded at least once.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};

/// The type of a metric family, as declared on its `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// A monotonically increasing value. Its name should end in `_total`.
    Counter,
    /// A value that can go up and down.
    Gauge,
    /// A classic histogram: `_bucket{le}`, `_sum` and `_count` samples.
    Histogram,
    /// A summary: quantile samples plus `_sum` and `_count`.
    Summary,
    /// No declared type (node_exporter's "untyped").
    Untyped,
}

impl MetricType {
    /// The keyword used on the classic text format's `# TYPE` line.
    pub fn text_keyword(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
            MetricType::Untyped => "untyped",
        }
    }
}

/// One sample: an optional name suffix (`_bucket`, `_sum`, `_count` for histograms and
/// summaries), its rendered label set and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Appended to the family name for this sample (empty for plain counters and gauges).
    pub suffix: Cow<'static, str>,
    /// Label pairs already rendered as `a="x",b="y"` (escaped, without braces).
    pub labels: String,
    /// The sample value.
    pub value: f64,
}

/// A metric family: a name, help text, type and its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The full metric name as it appears in the classic text format (counters keep `_total`).
    pub name: Cow<'static, str>,
    /// The help text (one line).
    pub help: Cow<'static, str>,
    /// The declared type.
    pub kind: MetricType,
    /// The samples, in insertion order.
    pub samples: Vec<Sample>,
}

impl Family {
    /// Adds a sample with the given labels.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.sample_with_suffix("", labels, value)
    }

    /// Adds a sample without labels.
    pub fn value(&mut self, value: f64) -> &mut Self {
        self.sample_with_suffix("", &[], value)
    }

    /// Adds a sample whose name is the family name plus `suffix` (histogram and summary parts).
    pub fn sample_with_suffix(
        &mut self,
        suffix: impl Into<Cow<'static, str>>,
        labels: &[(&str, &str)],
        value: f64,
    ) -> &mut Self {
        let mut rendered = String::with_capacity(labels.len() * 16);
        for (name, value) in labels {
            push_label(&mut rendered, name, value);
        }
        self.samples.push(Sample {
            suffix: suffix.into(),
            labels: rendered,
            value,
        });
        self
    }

    /// Adds a sample whose labels were rendered by [`LabelSet`].
    pub fn sample_rendered(&mut self, labels: &LabelSet, value: f64) -> &mut Self {
        self.samples.push(Sample {
            suffix: Cow::Borrowed(""),
            labels: labels.0.clone(),
            value,
        });
        self
    }
}

/// A label set built incrementally, for collectors whose label names are not known statically.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSet(String);

impl LabelSet {
    /// An empty label set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one label pair.
    pub fn push(&mut self, name: &str, value: &str) -> &mut Self {
        push_label(&mut self.0, name, value);
        self
    }

    /// The rendered form `a="x",b="y"`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn push_label(out: &mut String, name: &str, value: &str) {
    if !out.is_empty() {
        out.push(',');
    }
    out.push_str(name);
    out.push_str("=\"");
    escape_label_value(out, value);
    out.push('"');
}

/// Escapes a label value for both text formats: backslash, double quote and newline.
pub fn escape_label_value(out: &mut String, value: &str) {
    // A byte scan: `str::contains` with a char array goes through the generic char searcher.
    if !value
        .as_bytes()
        .iter()
        .any(|b| matches!(b, b'\\' | b'"' | b'\n'))
    {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// FNV-1a of a family name.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A hasher for keys that already are hashes (`u64` from [`name_hash`]).
#[derive(Default)]
struct PrehashedKey(u64);

impl Hasher for PrehashedKey {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by `HashMap<u64, _>`; anything else still hashes correctly.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// All families one scrape (or one probe) produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricSet {
    families: Vec<Family>,
}

impl MetricSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a new family and returns it for adding samples.
    ///
    /// If a family of that name already exists in this set it is returned instead, so a collector
    /// may add to a family from several places.
    pub fn family(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        kind: MetricType,
    ) -> &mut Family {
        let name = name.into();
        // Families are few per collector, and recent ones are the likeliest match.
        if let Some(i) = self.families.iter().rposition(|f| f.name == name) {
            return &mut self.families[i];
        }
        self.families.push(Family {
            name,
            help: help.into(),
            kind,
            samples: Vec::new(),
        });
        let last = self.families.len() - 1;
        &mut self.families[last]
    }

    /// Shorthand for a gauge family with one unlabelled sample.
    pub fn gauge(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        value: f64,
    ) {
        self.family(name, help, MetricType::Gauge).value(value);
    }

    /// Shorthand for a counter family with one unlabelled sample.
    pub fn counter(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        value: f64,
    ) {
        self.family(name, help, MetricType::Counter).value(value);
    }

    /// Moves every family of `other` into this set, merging families with the same name.
    pub fn merge(&mut self, other: MetricSet) {
        self.merge_all(std::iter::once(other));
    }

    /// Moves every family of every set into this one, merging families with the same name
    /// (one hash lookup per family, however many sets there are).
    pub fn merge_all(&mut self, others: impl IntoIterator<Item = MetricSet>) {
        // Keyed by a hash of the name rather than the name itself: no name is cloned, and FNV
        // over a short name costs a fraction of SipHash. A 64-bit collision between two
        // different names is checked for and falls back to a linear search.
        let mut index: HashMap<u64, usize, BuildHasherDefault<PrehashedKey>> =
            HashMap::with_capacity_and_hasher(self.families.len() + 64, Default::default());
        for (i, f) in self.families.iter().enumerate() {
            index.entry(name_hash(&f.name)).or_insert(i);
        }
        for other in others {
            for fam in other.families {
                let h = name_hash(&fam.name);
                let at = match index.get(&h) {
                    Some(&i) if self.families[i].name == fam.name => Some(i),
                    Some(_) => self.families.iter().position(|f| f.name == fam.name),
                    None => None,
                };
                match at {
                    Some(i) => self.families[i].samples.extend(fam.samples),
                    None => {
                        index.entry(h).or_insert(self.families.len());
                        self.families.push(fam);
                    }
                }
            }
        }
    }

    /// The families in insertion order.
    pub fn families(&self) -> &[Family] {
        &self.families
    }

    /// Drops families that ended up with no samples.
    pub fn prune_empty(&mut self) {
        self.families.retain(|f| !f.samples.is_empty());
    }

    /// The value of the first sample of `name` whose rendered labels contain every given pair.
    ///
    /// Meant for tests and for the `probe` subcommand's summary line, not for the scrape path.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut wanted = Vec::with_capacity(labels.len());
        for (k, v) in labels {
            let mut s = String::new();
            push_label(&mut s, k, v);
            wanted.push(s);
        }
        for fam in &self.families {
            for s in &fam.samples {
                let full_matches = if s.suffix.is_empty() {
                    fam.name == name
                } else {
                    name.strip_prefix(fam.name.as_ref()) == Some(s.suffix.as_ref())
                };
                if full_matches
                    && wanted
                        .iter()
                        .all(|w| s.labels.split(',').any(|l| l == w) || s.labels == *w)
                {
                    return Some(s.value);
                }
            }
        }
        None
    }

    /// Number of samples in the set.
    pub fn sample_count(&self) -> usize {
        self.families.iter().map(|f| f.samples.len()).sum()
    }
}

/// Formats a sample value the way Prometheus parsers expect (`NaN`, `+Inf`, `-Inf`, shortest
/// round-trip decimal otherwise).
pub fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        // Integral values are the common case (counters, bytes): skip float formatting.
        let _ = write!(out, "{}", v as i64);
    } else if v.abs() < 1e-4 || v.abs() >= 1e21 {
        // Plain decimal would spell out hundreds of digits (5e-324); exponent form is shortest.
        let _ = write!(out, "{v:e}");
    } else {
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_once_at_insert() {
        let mut set = MetricSet::new();
        set.family("x", "h", MetricType::Gauge)
            .sample(&[("path", "a\"b\\c\nd")], 1.0);
        assert_eq!(set.families()[0].samples[0].labels, r#"path="a\"b\\c\nd""#);
    }

    #[test]
    fn family_of_same_name_is_reused() {
        let mut set = MetricSet::new();
        set.family("x", "h", MetricType::Gauge)
            .sample(&[("a", "1")], 1.0);
        set.family("x", "h", MetricType::Gauge)
            .sample(&[("a", "2")], 2.0);
        assert_eq!(set.families().len(), 1);
        assert_eq!(set.find("x", &[("a", "2")]), Some(2.0));
    }

    #[test]
    fn values_format_like_prometheus() {
        let cases = [
            (1.0, "1"),
            (0.25, "0.25"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (-3.0, "-3"),
            (1e20, "100000000000000000000"),
            (5e-324, "5e-324"),
            (1.5e300, "1.5e300"),
            (0.000_012_5, "1.25e-5"),
            (0.0, "0"),
        ];
        for (v, want) in cases {
            let mut s = String::new();
            write_value(&mut s, v);
            assert_eq!(s, want);
        }
    }

    #[test]
    fn merge_joins_families_by_name() {
        let mut a = MetricSet::new();
        a.gauge("g", "h", 1.0);
        let mut b = MetricSet::new();
        b.family("g", "h", MetricType::Gauge)
            .sample(&[("x", "y")], 2.0);
        b.counter("c_total", "h", 3.0);
        a.merge(b);
        assert_eq!(a.families().len(), 2);
        assert_eq!(a.sample_count(), 3);
    }
}
