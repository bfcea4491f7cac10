//! Endpoint probe results as `ssl_*` samples (ssl_exporter's names and labels), shared by the
//! `/metrics` collector (with a `target` label) and `/probe` (without: Prometheus adds it).

use crate::endpoint::Outcome;
use crate::facts::CertFacts;
use watchkeeper_core::metrics::{MetricSet, MetricType};

/// ssl_exporter's certificate labels.
fn cert_labels(f: &CertFacts) -> [(&'static str, String); 7] {
    let wrap = |v: &[String]| {
        if v.is_empty() {
            String::new()
        } else {
            format!(",{},", v.join(","))
        }
    };
    [
        ("cn", f.info.subject_cn.clone().unwrap_or_default()),
        ("dnsnames", wrap(&f.info.dns_names)),
        ("emails", wrap(&f.info.email_addresses)),
        ("ips", wrap(&f.info.ip_addresses)),
        ("issuer_cn", f.info.issuer_cn.clone().unwrap_or_default()),
        ("ou", f.subject_attr("OU")),
        ("serial_no", f.serial_decimal()),
    ]
}

fn with<'a>(
    target: Option<&'a str>,
    rest: &'a [(&'static str, String)],
) -> Vec<(&'a str, &'a str)> {
    let mut v: Vec<(&str, &str)> = Vec::with_capacity(rest.len() + 1);
    if let Some(t) = target {
        v.push(("target", t));
    }
    v.extend(rest.iter().map(|(k, val)| (*k, val.as_str())));
    v
}

/// Writes one probe's `ssl_*` samples.
pub fn write(out: &mut MetricSet, target: Option<&str>, o: &Outcome) {
    let none: [(&str, String); 0] = [];
    let gauge = |out: &mut MetricSet,
                 name: &'static str,
                 help: &'static str,
                 labels: &[(&'static str, String)],
                 v: f64| {
        out.family(name, help, MetricType::Gauge)
            .sample(&with(target, labels), v);
    };
    gauge(
        out,
        "ssl_probe_success",
        "1 if the handshake completed and the chain verified for the name.",
        &none,
        if o.success() { 1.0 } else { 0.0 },
    );
    gauge(
        out,
        "ssl_probe_duration_seconds",
        "How long the probe took.",
        &none,
        o.duration.as_secs_f64(),
    );
    if let Some((reason, _)) = &o.failure {
        gauge(
            out,
            "ssl_probe_error_info",
            "Why the handshake did not complete (bounded reason).",
            &[("reason", reason.as_str().to_string())],
            1.0,
        );
    }
    if let Some(v) = o.version {
        gauge(
            out,
            "ssl_tls_version_info",
            "The negotiated TLS version.",
            &[("version", v.to_string())],
            1.0,
        );
    }
    for f in &o.chain {
        let l = cert_labels(f);
        gauge(
            out,
            "ssl_cert_not_after",
            "NotAfter of each certificate the server presented, Unix seconds.",
            &l,
            f.info.not_after as f64,
        );
    }
    for f in &o.chain {
        let l = cert_labels(f);
        gauge(
            out,
            "ssl_cert_not_before",
            "NotBefore of each certificate the server presented, Unix seconds.",
            &l,
            f.info.not_before as f64,
        );
    }
    if let Some(v) = &o.verification {
        gauge(
            out,
            "ssl_chain_verified",
            "1 if the presented chain verifies against the system roots or the configured CA.",
            &none,
            if v.chain_ok { 1.0 } else { 0.0 },
        );
        if let Some(why) = v.error {
            gauge(
                out,
                "ssl_verify_error_info",
                "Why the presented chain does not verify (bounded reason).",
                &[("reason", why.to_string())],
                1.0,
            );
        }
        gauge(
            out,
            "ssl_hostname_match",
            "1 if the leaf certificate is valid for the server name.",
            &none,
            if v.hostname_ok { 1.0 } else { 0.0 },
        );
        for f in &v.verified_chain {
            let mut l = vec![("chain_no", "0".to_string())];
            l.extend(cert_labels(f));
            gauge(
                out,
                "ssl_verified_cert_not_after",
                "NotAfter of each certificate of the verified chain, Unix seconds.",
                &l,
                f.info.not_after as f64,
            );
        }
        gauge(
            out,
            "ssl_ocsp_response_stapled",
            "1 if the server stapled an OCSP response.",
            &none,
            if o.ocsp.is_empty() { 0.0 } else { 1.0 },
        );
        if !o.ocsp.is_empty() {
            if let Some(status) = crate::ocsp::cert_status(&o.ocsp) {
                gauge(
                    out,
                    "ssl_ocsp_response_status",
                    "Status of the stapled OCSP response: 0 good, 1 revoked, 2 unknown.",
                    &none,
                    f64::from(status),
                );
            }
        }
    }
    if let Some(leaf) = o.chain.first() {
        gauge(
            out,
            "ssl_cert_key_bits",
            "Size of the leaf certificate's key in bits, by key type.",
            &[("key_type", leaf.key_type.to_string())],
            f64::from(leaf.key_bits),
        );
    }
}
