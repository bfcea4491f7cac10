//! TLS for the http, tcp and grpc probers: client configurations (built from core's
//! `tls_config` model and cached, since loading the system roots per probe would dominate a
//! probe's cost), the timed handshake, and the `probe_ssl_*` / `probe_tls_*` metrics.

mod chain;
mod dn;

use crate::failure::{self, Failure, FailureReason};
use rustls::pki_types::ServerName;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;
use watchkeeper_core::certificate::CertificateInfo;
use watchkeeper_core::metrics::{MetricSet, MetricType};
use watchkeeper_core::tls_client::TlsClientOptions;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Cached configurations live this long, so a rotated `ca_file` is picked up without a reload.
const CACHE_TTL: Duration = Duration::from_secs(300);
/// Bound on distinct cached configurations (modules x ALPN variants).
const CACHE_MAX: usize = 64;

type CacheEntry = (
    TlsClientOptions,
    Vec<Vec<u8>>,
    Instant,
    Arc<rustls::ClientConfig>,
);

static CACHE: Mutex<Vec<CacheEntry>> = Mutex::new(Vec::new());

/// Drops every cached configuration (on config reload).
pub fn clear_cache() {
    if let Ok(mut c) = CACHE.lock() {
        c.clear();
    }
    chain::clear_roots();
}

/// The client configuration for `opts` offering `alpn`.
pub fn client_config(
    opts: &TlsClientOptions,
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ClientConfig>, Failure> {
    let alpn: Vec<Vec<u8>> = alpn.iter().map(|a| a.to_vec()).collect();
    if let Ok(cache) = CACHE.lock() {
        if let Some((_, _, _, cfg)) = cache
            .iter()
            .find(|(o, a, at, _)| o == opts && *a == alpn && at.elapsed() < CACHE_TTL)
        {
            return Ok(Arc::clone(cfg));
        }
    }
    let base = opts.build().map_err(|e| {
        Failure::new(
            FailureReason::Local,
            format!("Error creating TLS configuration: {e}"),
        )
    })?;
    let mut cfg = (*base).clone();
    cfg.alpn_protocols = alpn.clone();
    let cfg = Arc::new(cfg);
    if let Ok(mut cache) = CACHE.lock() {
        cache.retain(|(o, a, at, _)| at.elapsed() < CACHE_TTL && !(o == opts && *a == alpn));
        if cache.len() >= CACHE_MAX {
            cache.remove(0);
        }
        cache.push((opts.clone(), alpn, Instant::now(), Arc::clone(&cfg)));
    }
    Ok(cfg)
}

/// What the probers report about a TLS session.
#[derive(Debug, Clone)]
pub struct TlsFacts {
    /// `TLS 1.2` / `TLS 1.3`.
    pub version: &'static str,
    /// Go's name of the cipher suite.
    pub cipher: String,
    /// The presented chain, leaf first.
    pub chain: Vec<CertificateInfo>,
    /// Whether the chain was verified during the handshake.
    pub verified: bool,
    /// The verified chain's earliest expiry (Unix seconds), root included when it comes from
    /// `ca_file`; `None` when not verified.
    pub verified_chain_expiry: Option<i64>,
    /// The leaf's subject as Go prints it (`probe_ssl_last_chain_info{subject}`).
    pub leaf_subject: String,
    /// The leaf's issuer as Go prints it.
    pub leaf_issuer: String,
    /// The negotiated ALPN protocol.
    pub alpn: Option<Vec<u8>>,
}

/// Performs a TLS handshake over `stream`, naming `host` (or `tls_config.server_name`).
pub async fn handshake<S>(
    stream: S,
    opts: &TlsClientOptions,
    host: &str,
    alpn: &[&[u8]],
) -> Result<(TlsStream<S>, TlsFacts, Duration), Failure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = client_config(opts, alpn)?;
    let name: ServerName<'static> = opts
        .server_name_for(host)
        .map_err(|e| Failure::new(FailureReason::Local, e.to_string()))?;
    let started = Instant::now();
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(|e| failure::from_tls_error(&e))?;
    let took = started.elapsed();
    let facts = facts(stream.get_ref().1, opts);
    Ok((stream, facts, took))
}

fn facts(conn: &rustls::ClientConnection, opts: &TlsClientOptions) -> TlsFacts {
    let verified = !opts.insecure_skip_verify;
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2",
        Some(rustls::ProtocolVersion::TLSv1_1) => "TLS 1.1",
        Some(rustls::ProtocolVersion::TLSv1_0) => "TLS 1.0",
        _ => "unknown",
    };
    let cipher = conn
        .negotiated_cipher_suite()
        .map(|s| go_cipher_name(s.suite()))
        .unwrap_or_default();
    let presented = conn.peer_certificates().unwrap_or_default();
    let chain = presented
        .iter()
        .filter_map(|c| CertificateInfo::from_der(c).ok())
        .collect();
    let (leaf_subject, leaf_issuer) = presented
        .first()
        .and_then(|der| X509Certificate::from_der(der).ok())
        .map(|(_, leaf)| (dn::go_name(leaf.subject()), dn::go_name(leaf.issuer())))
        .unwrap_or_default();
    let verified_chain_expiry = verified
        .then(|| {
            // The roots the chain was verified against, when they come from a file.
            let roots = opts
                .ca_file
                .as_deref()
                .map(chain::roots)
                .unwrap_or_default();
            chain::earliest_expiry(presented, &roots)
        })
        .flatten();
    TlsFacts {
        version,
        cipher,
        chain,
        verified,
        verified_chain_expiry,
        leaf_subject,
        leaf_issuer,
        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
    }
}

/// rustls spells TLS 1.3 suites `TLS13_…`; Go (and so blackbox's label) spells them `TLS_…`.
fn go_cipher_name(suite: rustls::CipherSuite) -> String {
    let name = suite
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("{suite:?}"));
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name,
    }
}

/// Go's zero `time.Time` in Unix seconds: blackbox's last chain expiry when no chain was
/// verified.
const GO_ZERO_TIME: f64 = -62_135_596_800.0;

/// Adds blackbox's TLS metrics for a session. `chain_expiry`: whether this prober reports
/// `probe_ssl_last_chain_expiry_timestamp_seconds` (blackbox's gRPC prober does not).
pub fn emit(metrics: &mut MetricSet, facts: &TlsFacts, chain_expiry: bool) {
    let earliest = facts.chain.iter().map(|c| c.not_after).min();
    if let Some(t) = earliest {
        metrics.gauge(
            "probe_ssl_earliest_cert_expiry",
            "Returns last SSL chain expiry in unixtime",
            t as f64,
        );
    }
    if chain_expiry {
        // Without verification blackbox has no verified chain and reports Go's zero time.
        let last_chain = facts
            .verified_chain_expiry
            .map_or(GO_ZERO_TIME, |t| t as f64);
        metrics.gauge(
            "probe_ssl_last_chain_expiry_timestamp_seconds",
            "Returns last SSL chain expiry in timestamp",
            last_chain,
        );
    }
    if let Some(leaf) = facts.chain.first() {
        // blackbox lists the leaf's DNS names only (Go's `cert.DNSNames`), not IPs or emails.
        let san = leaf.dns_names.join(",");
        metrics
            .family(
                "probe_ssl_last_chain_info",
                "Contains SSL leaf certificate information",
                MetricType::Gauge,
            )
            .sample(
                &[
                    ("fingerprint_sha256", &leaf.fingerprint_sha256),
                    ("subject", &facts.leaf_subject),
                    ("issuer", &facts.leaf_issuer),
                    ("subjectalternative", &san),
                ],
                1.0,
            );
    }
    metrics
        .family(
            "probe_tls_version_info",
            "Returns the TLS version used or NaN when unknown",
            MetricType::Gauge,
        )
        .sample(&[("version", facts.version)], 1.0);
    if !facts.cipher.is_empty() {
        metrics
            .family(
                "probe_tls_cipher_info",
                "Returns the TLS cipher negotiated during handshake",
                MetricType::Gauge,
            )
            .sample(&[("cipher", &facts.cipher)], 1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_names_follow_go() {
        assert_eq!(
            go_cipher_name(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256),
            "TLS_AES_128_GCM_SHA256"
        );
        assert_eq!(
            go_cipher_name(rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        );
    }
}
