//! Label sets of the `x509_cert_*` families, rendered once per certificate (files are cached,
//! so a warm scrape copies strings and never re-renders or re-escapes).

use crate::config::LabelOptions;
use crate::facts::{CertFacts, Position};
use std::path::{Component, Path};
use watchkeeper_core::metrics::{LabelSet, MetricSet, MetricType};

/// Where a certificate came from.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// `file` or `endpoint`.
    pub kind: &'static str,
    /// The (trimmed) file path, or the endpoint's `host:port`.
    pub source: &'a str,
    /// For kubeconfig data: (`cluster`/`user`, name).
    pub embedded: Option<(&'a str, &'a str)>,
}

/// A certificate ready to be written to a page.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The identity labels.
    pub base: LabelSet,
    /// Identity plus `key_type`.
    pub key: LabelSet,
    /// Identity plus `signature_algorithm`.
    pub signature: LabelSet,
    /// Unix seconds.
    pub not_before: i64,
    /// Unix seconds.
    pub not_after: i64,
    /// Key size in bits.
    pub key_bits: u32,
    /// SHA-1/MD5 signature.
    pub weak_signature: bool,
    /// RSA/DSA key under 2048 bits.
    pub weak_key: bool,
}

/// Renders one certificate's label sets.
pub fn render(
    facts: &CertFacts,
    position: Position,
    origin: Origin<'_>,
    opts: &LabelOptions,
) -> Rendered {
    let mut base = LabelSet::new();
    base.push("source_kind", origin.kind);
    base.push("source", origin.source);
    if origin.kind == "file" {
        // x509-certificate-exporter's labels, so its dashboards keep working.
        base.push("filename", file_name(origin.source));
        base.push("filepath", origin.source);
    }
    if let Some((kind, key)) = origin.embedded {
        base.push("embedded_kind", kind);
        base.push("embedded_key", key);
    }
    base.push("chain_position", position.as_str());
    base.push("serial_number", &facts.serial_decimal());
    for a in &opts.subject {
        base.push(
            &format!("subject_{}", a.as_str()),
            &facts.subject_attr(a.as_str()),
        );
    }
    for a in &opts.issuer {
        base.push(
            &format!("issuer_{}", a.as_str()),
            &facts.issuer_attr(a.as_str()),
        );
    }
    let mut key = base.clone();
    key.push("key_type", facts.key_type);
    let mut signature = base.clone();
    signature.push("signature_algorithm", &facts.signature_algorithm);
    Rendered {
        base,
        key,
        signature,
        not_before: facts.info.not_before,
        not_after: facts.info.not_after,
        key_bits: facts.key_bits,
        weak_signature: facts.weak_signature(),
        weak_key: facts.weak_key(),
    }
}

/// The last component of a shown path.
fn file_name(shown: &str) -> &str {
    shown.rsplit('/').next().unwrap_or(shown)
}

/// A path as shown in labels, without its first `trim` components.
pub fn display_path(path: &Path, trim: usize) -> String {
    if trim == 0 {
        return path.display().to_string();
    }
    let normal: Vec<_> = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    // The file name always stays.
    let skip = trim.min(normal.len().saturating_sub(1));
    normal[skip..].join("/")
}

/// Writes the `x509_cert_*` families for `certs`; `now` decides `x509_cert_expired`.
pub fn write_certs<'a>(
    out: &mut MetricSet,
    certs: impl Iterator<Item = &'a Rendered> + Clone,
    now: i64,
) {
    let f = out.family(
        "x509_cert_not_before",
        "Start of validity of the certificate, Unix seconds.",
        MetricType::Gauge,
    );
    for c in certs.clone() {
        f.sample_rendered(&c.base, c.not_before as f64);
    }
    let f = out.family(
        "x509_cert_not_after",
        "End of validity of the certificate, Unix seconds (days left: (x509_cert_not_after - time()) / 86400).",
        MetricType::Gauge,
    );
    for c in certs.clone() {
        f.sample_rendered(&c.base, c.not_after as f64);
    }
    let f = out.family(
        "x509_cert_expired",
        "1 if the certificate has expired.",
        MetricType::Gauge,
    );
    for c in certs.clone() {
        f.sample_rendered(&c.base, if c.not_after < now { 1.0 } else { 0.0 });
    }
    let f = out.family(
        "x509_cert_key_bits",
        "Size of the certificate's public key in bits, by key type.",
        MetricType::Gauge,
    );
    for c in certs.clone() {
        f.sample_rendered(&c.key, f64::from(c.key_bits));
    }
    let f = out.family(
        "x509_cert_signature_algorithm_info",
        "The algorithm the certificate is signed with (always 1).",
        MetricType::Gauge,
    );
    for c in certs.clone() {
        f.sample_rendered(&c.signature, 1.0);
    }
    let f = out.family(
        "x509_cert_weak_signature",
        "1 if the certificate is signed with SHA-1, MD5 or MD2.",
        MetricType::Gauge,
    );
    for c in certs.clone() {
        f.sample_rendered(&c.base, if c.weak_signature { 1.0 } else { 0.0 });
    }
    let f = out.family(
        "x509_cert_weak_key",
        "1 if the certificate's key is RSA or DSA under 2048 bits.",
        MetricType::Gauge,
    );
    for c in certs {
        f.sample_rendered(&c.base, if c.weak_key { 1.0 } else { 0.0 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_keeps_the_file_name() {
        let p = Path::new("/etc/ssl/private/a.pem");
        assert_eq!(display_path(p, 0), "/etc/ssl/private/a.pem");
        assert_eq!(display_path(p, 1), "ssl/private/a.pem");
        assert_eq!(display_path(p, 9), "a.pem");
    }
}
