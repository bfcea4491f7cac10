//! `textfile`: metrics from `*.prom` files in `--collector.textfile.directory`.
//!
//! Every file is parsed on each scrape. A file that cannot be read or parsed, carries
//! timestamps, or contradicts a file read before it (another type for the same family, or the
//! same series again) is skipped whole and logged with its path and the reason; the other files
//! are still served, and `node_textfile_scrape_error` is 1. A family found in several files is
//! merged, with node_exporter's help text `Metric read from <file>, <file>`.
//! `node_textfile_mtime_seconds{file}` reports each file that was served.

use super::textformat::{self, ParsedFamily, Value};
use super::CollectorDef;
use crate::options::HostOptions;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::metrics::{escape_label_value, Sample};
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `textfile` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "textfile",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(TextfileCollector::new(opts))))),
};

/// Reads the textfile directory on each scrape.
pub struct TextfileCollector {
    dir: Option<PathBuf>,
}

impl TextfileCollector {
    /// A collector for `opts.textfile_directory` (none: only `node_textfile_scrape_error 0`).
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            dir: opts.textfile_directory.clone(),
        }
    }
}

/// A family merged from one or more files.
struct Merged {
    family: ParsedFamily,
    /// The files it was read from, in reading order.
    files: Vec<String>,
    /// Series identities (rendered labels) already present, to refuse duplicates across files.
    keys: HashSet<String>,
}

/// The rendered label set of a series, used both for output and as its identity.
fn render_labels(labels: &[(String, String)], extra: Option<(&str, &str)>) -> String {
    let mut out = String::new();
    let pairs = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra);
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        escape_label_value(&mut out, v);
        out.push('"');
    }
    out
}

/// What was read from the directory: merged families, served files with their mtimes, and
/// whether anything failed.
#[derive(Default)]
struct Gathered {
    merged: Vec<Merged>,
    index: HashMap<String, usize>,
    /// Every sample name on the page -> the family that owns it (`h_count` -> histogram `h`).
    exposed: HashMap<String, String>,
    mtimes: Vec<(String, f64)>,
    errored: bool,
}

impl Gathered {
    /// Checks that a parsed file agrees with what was merged so far; then merges it.
    fn add_file(&mut self, path: &str, families: Vec<ParsedFamily>) -> Result<(), String> {
        let mut new_keys: Vec<Vec<String>> = Vec::with_capacity(families.len());
        for fam in &families {
            let keys: Vec<String> = fam
                .series
                .iter()
                .map(|s| render_labels(&s.labels, None))
                .collect();
            for exposed in textformat::exposed_names(&fam.name, fam.kind) {
                match self.exposed.get(&exposed) {
                    Some(owner) if *owner != fam.name => {
                        return Err(format!(
                            "metric {} would expose {exposed}, which belongs to {owner} from {}",
                            fam.name,
                            self.index
                                .get(owner)
                                .map_or(String::new(), |&i| self.merged[i].files.join(", "))
                        ));
                    }
                    _ => {}
                }
            }
            if let Some(&i) = self.index.get(&fam.name) {
                let existing = &self.merged[i];
                if existing.family.kind != fam.kind {
                    return Err(format!(
                        "metric {} is {} here but {} in {}",
                        fam.name,
                        fam.kind.text_keyword(),
                        existing.family.kind.text_keyword(),
                        existing.files.join(", ")
                    ));
                }
                if let Some(dup) = keys.iter().find(|k| existing.keys.contains(*k)) {
                    return Err(format!(
                        "series {}{{{}}} was already read from {}",
                        fam.name,
                        dup,
                        existing.files.join(", ")
                    ));
                }
            }
            new_keys.push(keys);
        }
        for (fam, keys) in families.into_iter().zip(new_keys) {
            for exposed in textformat::exposed_names(&fam.name, fam.kind) {
                self.exposed.insert(exposed, fam.name.clone());
            }
            match self.index.get(&fam.name) {
                Some(&i) => {
                    let m = &mut self.merged[i];
                    m.files.push(path.to_string());
                    m.keys.extend(keys);
                    m.family.series.extend(fam.series);
                }
                None => {
                    self.index.insert(fam.name.clone(), self.merged.len());
                    self.merged.push(Merged {
                        family: fam,
                        files: vec![path.to_string()],
                        keys: keys.into_iter().collect(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Reads and merges one file; the error is the reason it was skipped.
    fn read_file(&mut self, path: &Path) -> Result<(), String> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| format!("reading: {e}"))?;
        let parsed = textformat::parse(&text).map_err(|e| format!("parsing: {e}"))?;
        if parsed.has_timestamps {
            return Err("contains unsupported client-side timestamps, skipping entire file".into());
        }
        let families: Vec<ParsedFamily> = parsed
            .families
            .into_iter()
            .filter(|f| !f.series.is_empty())
            .collect();
        // Stat after parsing, so a file that failed never looks fresh.
        let mtime = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .map_err(|e| format!("stat: {e}"))?;
        self.add_file(&shown, families)?;
        let secs = mtime
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs() as f64);
        self.mtimes.push((shown, secs));
        Ok(())
    }

    fn emit(self, out: &mut MetricSet) {
        for m in self.merged {
            let help = match (&m.family.help, m.files.len()) {
                (Some(help), 1) => help.clone(),
                _ => format!("Metric read from {}", m.files.join(", ")),
            };
            let fam = out.family(m.family.name, help, m.family.kind);
            for series in m.family.series {
                push_series(&mut fam.samples, &series.labels, series.value);
            }
        }
        if !self.mtimes.is_empty() {
            let fam = out.family(
                "node_textfile_mtime_seconds",
                "Unixtime mtime of textfiles successfully read.",
                MetricType::Gauge,
            );
            for (file, mtime) in &self.mtimes {
                fam.sample(&[("file", file)], *mtime);
            }
        }
    }
}

fn sample(suffix: &'static str, labels: String, value: f64) -> Sample {
    Sample {
        suffix: suffix.into(),
        labels,
        value,
    }
}

/// Adds the samples of one series the way node_exporter re-exposes it: histogram buckets sorted
/// by bound with `+Inf` added when missing, then `_sum` and `_count` (0 when absent).
fn push_series(samples: &mut Vec<Sample>, labels: &[(String, String)], value: Value) {
    match value {
        Value::Single(v) => samples.push(sample("", render_labels(labels, None), v)),
        Value::Summary {
            quantiles,
            sum,
            count,
        } => {
            for (q, v) in quantiles {
                let q = textformat::go_float(q);
                samples.push(sample("", render_labels(labels, Some(("quantile", &q))), v));
            }
            samples.push(sample(
                "_sum",
                render_labels(labels, None),
                sum.unwrap_or(0.0),
            ));
            samples.push(sample(
                "_count",
                render_labels(labels, None),
                count.unwrap_or(0.0),
            ));
        }
        Value::Histogram {
            mut buckets,
            sum,
            count,
        } => {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            let count = count.unwrap_or(0.0);
            if buckets.last().is_none_or(|(le, _)| *le != f64::INFINITY) {
                buckets.push((f64::INFINITY, count));
            }
            for (le, v) in buckets {
                let le = textformat::go_float(le);
                samples.push(sample(
                    "_bucket",
                    render_labels(labels, Some(("le", &le))),
                    v,
                ));
            }
            samples.push(sample(
                "_sum",
                render_labels(labels, None),
                sum.unwrap_or(0.0),
            ));
            samples.push(sample("_count", render_labels(labels, None), count));
        }
    }
}

impl BlockingCollector for TextfileCollector {
    fn name(&self) -> &str {
        "textfile"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let mut gathered = Gathered::default();
        if let Some(dir) = &self.dir {
            match std::fs::read_dir(dir) {
                Ok(entries) => {
                    let mut files: Vec<PathBuf> = entries
                        .flatten()
                        .map(|e| e.path())
                        .filter(|p| {
                            p.file_name()
                                .and_then(|n| n.to_str())
                                .is_some_and(|n| n.ends_with(".prom"))
                        })
                        .collect();
                    // Files are read in name order, so merging and "read before" are stable.
                    files.sort();
                    for path in files {
                        if let Err(reason) = gathered.read_file(&path) {
                            tracing::error!(
                                file = %path.display(),
                                error = %reason,
                                "failed to collect textfile data"
                            );
                            gathered.errored = true;
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(
                        path = %dir.display(),
                        error = %e,
                        "failed to read textfile collector directory"
                    );
                    gathered.errored = true;
                }
            }
        }
        let errored = gathered.errored;
        gathered.emit(out);
        out.gauge(
            "node_textfile_scrape_error",
            "1 if there was an error opening or reading a file, 0 otherwise",
            if errored { 1.0 } else { 0.0 },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfile::fixtures;
    use watchkeeper_core::exposition::{encode, Format};

    fn collect(dir: Option<PathBuf>) -> MetricSet {
        let mut opts = fixtures::options("");
        opts.textfile_directory = dir;
        let mut out = MetricSet::new();
        TextfileCollector::new(&opts).collect(&mut out).unwrap();
        out
    }

    fn file(name: &str) -> String {
        fixtures::path("textfile/mixed")
            .join(name)
            .display()
            .to_string()
    }

    #[test]
    fn no_directory_configured_reports_only_no_error() {
        let out = collect(None);
        assert_eq!(out.families().len(), 1);
        assert_eq!(out.find("node_textfile_scrape_error", &[]), Some(0.0));
    }

    #[test]
    fn good_files_are_served_and_bad_ones_reported() {
        let out = collect(Some(fixtures::path("textfile/mixed")));
        assert_eq!(out.find("node_textfile_scrape_error", &[]), Some(1.0));
        // Served: good.prom, histogram.prom and merge.prom; skipped: broken.prom (syntax),
        // timestamps.prom, conflict.prom (a type that contradicts good.prom), and
        // not-a-metric.txt is not read at all.
        let served: Vec<_> = out
            .families()
            .iter()
            .find(|f| f.name == "node_textfile_mtime_seconds")
            .unwrap()
            .samples
            .iter()
            .map(|s| s.labels.clone())
            .collect();
        assert_eq!(
            served,
            [
                format!("file=\"{}\"", file("good.prom")),
                format!("file=\"{}\"", file("histogram.prom")),
                format!("file=\"{}\"", file("merge.prom")),
            ]
        );
        assert_eq!(
            out.find("backup_last_success_timestamp_seconds", &[("job", "db")]),
            Some(1700000000.0)
        );
        assert_eq!(
            out.find("backup_last_success_timestamp_seconds", &[("job", "files")]),
            Some(1700000500.0)
        );
        assert_eq!(
            out.find("app_note", &[("text", "a \"quoted\"\\path\nline")]),
            Some(1.0)
        );
        // Nothing of the skipped files leaks through, not even their valid first lines.
        assert_eq!(out.find("broken_first_line_ok", &[]), None);
        assert_eq!(out.find("with_timestamp", &[]), None);
        assert_eq!(out.find("conflict_extra", &[]), None);
    }

    #[test]
    fn exposition_matches_node_exporter() {
        let out = collect(Some(fixtures::path("textfile/mixed")));
        let text = encode(&out, Format::Text);
        let good = file("good.prom");
        let merge = file("merge.prom");
        let histogram = file("histogram.prom");
        for expected in [
            // A family merged from two files gets node_exporter's help.
            format!("# HELP backup_last_success_timestamp_seconds Metric read from {good}, {merge}\n# TYPE backup_last_success_timestamp_seconds gauge\n"),
            "# HELP app_note A note with a \\\\ and a \\n in its help.\n# TYPE app_note untyped\n".to_string(),
            format!("# HELP rpc_latency_seconds Metric read from {histogram}\n# TYPE rpc_latency_seconds histogram\n"),
            // Buckets are sorted by bound, `1.0` re-rendered as `1`, +Inf added with the count.
            concat!(
                "rpc_latency_seconds_bucket{method=\"get\",le=\"1e-05\"} 0\n",
                "rpc_latency_seconds_bucket{method=\"get\",le=\"0.5\"} 3\n",
                "rpc_latency_seconds_bucket{method=\"get\",le=\"1\"} 5\n",
                "rpc_latency_seconds_bucket{method=\"get\",le=\"+Inf\"} 6\n",
                "rpc_latency_seconds_sum{method=\"get\"} 4.25\n",
                "rpc_latency_seconds_count{method=\"get\"} 6\n",
            ).to_string(),
            concat!(
                "rpc_size_bytes{quantile=\"0.5\"} 120\n",
                "rpc_size_bytes{quantile=\"0.99\"} 900\n",
                "rpc_size_bytes_sum 5000\n",
                "rpc_size_bytes_count 30\n",
            ).to_string(),
        ] {
            assert!(text.contains(&expected), "missing\n{expected}\nin\n{text}");
        }
    }

    #[test]
    fn a_file_cannot_reuse_a_name_another_files_histogram_owns() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.prom"),
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\nh_sum 1\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("b.prom"), "h_count 7\nother 1\n").unwrap();
        let out = collect(Some(dir.path().to_path_buf()));
        assert_eq!(out.find("node_textfile_scrape_error", &[]), Some(1.0));
        assert_eq!(out.find("h_count", &[]), Some(1.0));
        assert_eq!(out.find("other", &[]), None);
    }

    #[test]
    fn unreadable_entries_and_invalid_utf8_are_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ok.prom"), "ok_metric 1\n").unwrap();
        std::fs::create_dir(dir.path().join("a-directory.prom")).unwrap();
        std::fs::write(dir.path().join("latin1.prom"), b"caf\xe9 1\n").unwrap();
        let out = collect(Some(dir.path().to_path_buf()));
        assert_eq!(out.find("node_textfile_scrape_error", &[]), Some(1.0));
        assert_eq!(out.find("ok_metric", &[]), Some(1.0));
        let served = &out
            .families()
            .iter()
            .find(|f| f.name == "node_textfile_mtime_seconds")
            .unwrap()
            .samples;
        assert_eq!(served.len(), 1);
    }

    #[test]
    fn a_missing_directory_is_a_reported_error_not_a_failure() {
        let out = collect(Some(fixtures::path("textfile/does-not-exist")));
        assert_eq!(out.find("node_textfile_scrape_error", &[]), Some(1.0));
        assert_eq!(out.families().len(), 1);
    }

    #[test]
    fn an_all_good_directory_has_no_error_and_fresh_mtimes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.prom"),
            "# TYPE a counter\na_total 1\na 2\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("empty.prom"), "").unwrap();
        let out = collect(Some(dir.path().to_path_buf()));
        assert_eq!(out.find("node_textfile_scrape_error", &[]), Some(0.0));
        assert_eq!(out.find("a", &[]), Some(2.0));
        assert_eq!(out.find("a_total", &[]), Some(1.0));
        let now = std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let path = dir.path().join("empty.prom").display().to_string();
        let mtime = out
            .find("node_textfile_mtime_seconds", &[("file", &path)])
            .unwrap();
        assert!((now - mtime).abs() < 120.0);
    }
}
