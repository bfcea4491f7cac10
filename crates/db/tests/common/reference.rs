//! The Debian Go exporters as references: start one against a local server, scrape it, and
//! reduce a scrape to what must match (family types, label names, sample values).

use super::{eventually, have_binary, http};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// family -> (type, label names without target/server)
pub type Shape = BTreeMap<String, (String, BTreeSet<String>)>;

/// Label names that name the scraped server: ours is `target`, the Go exporters' `server`.
const SERVER_LABELS: [&str; 2] = ["target", "server"];

/// A sample line taken apart: name, labels (name, value) and value.
pub type SampleLine<'a> = (&'a str, Vec<(String, String)>, f64);

/// Splits a sample line into name, labels and value.
pub fn parse_line(line: &str) -> Option<SampleLine<'_>> {
    if line.starts_with('#') || line.is_empty() {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    let value = match value {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    let (name, labels) = match series.split_once('{') {
        Some((n, l)) => (n, l.strip_suffix('}').unwrap_or(l)),
        None => (series, ""),
    };
    let mut out = Vec::new();
    let mut rest = labels;
    while let Some((k, after)) = rest.split_once("=\"") {
        // Find the closing quote, skipping escaped ones.
        let bytes = after.as_bytes();
        let mut i = 0;
        while i < bytes.len() && bytes[i] != b'"' {
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        let i = i.min(after.len());
        out.push((
            k.trim_start_matches(',').to_string(),
            after[..i].to_string(),
        ));
        rest = after.get(i + 1..).unwrap_or("");
    }
    Some((name, out, value))
}

/// The families of a scrape with their types and label names.
pub fn shape(text: &str) -> Shape {
    let mut out: Shape = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split_whitespace();
            if let (Some(name), Some(kind)) = (it.next(), it.next()) {
                out.entry(name.to_string()).or_default().0 = kind.to_string();
            }
            continue;
        }
        let Some((name, labels, _)) = parse_line(line) else {
            continue;
        };
        let names = labels
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| !SERVER_LABELS.contains(&k.as_str()));
        out.entry(name.to_string()).or_default().1.extend(names);
    }
    out
}

/// Sample values keyed by `name{labels}` with the server label removed and labels sorted.
pub fn values(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some((name, mut labels, value)) = parse_line(line) else {
            continue;
        };
        labels.retain(|(k, _)| !SERVER_LABELS.contains(&k.as_str()));
        labels.sort();
        let rendered: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        out.insert(format!("{name}{{{}}}", rendered.join(",")), value);
    }
    out
}

/// A running reference exporter; killed on drop.
pub struct Reference {
    child: Child,
    port: u16,
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Reference {
    /// Starts `bin` (listening on `port`) and waits for its first good scrape; `None` (after a
    /// notice, or a panic in CI) when the binary is missing.
    pub async fn start(
        bin: &str,
        port: u16,
        args: &[String],
        env: &[(&str, &str)],
    ) -> Option<(Reference, String)> {
        if !have_binary(bin) {
            return None;
        }
        let mut cmd = Command::new(bin);
        cmd.args(args).stdout(Stdio::null()).stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let r = Reference {
            child: cmd.spawn().expect("start reference exporter"),
            port,
        };
        let body = eventually(Duration::from_secs(10), || r.try_scrape())
            .await
            .expect("reference exporter answers");
        Some((r, body))
    }

    async fn try_scrape(&self) -> Option<String> {
        let addr = format!("127.0.0.1:{}", self.port).parse().ok()?;
        std::net::TcpStream::connect(addr).ok()?;
        let (status, body) = http(addr, "GET", "/metrics", None).await;
        (status == 200).then_some(body)
    }

    /// Scrapes `/metrics` once more.
    pub async fn scrape(&self) -> String {
        self.try_scrape().await.expect("reference exporter scrape")
    }
}
