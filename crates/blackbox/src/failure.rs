//! Why a probe failed: the fixed set of `probe_failure_info{reason}` values.
//!
//! blackbox_exporter only says `probe_success 0`; the reason is in a debug log nobody scrapes.
//! A small closed enum keeps the label bounded (never error text) while letting an alert say
//! "TLS certificate not trusted" instead of "probe failed".

use std::fmt;
use watchkeeper_core::metrics::{MetricSet, MetricType};

/// One reason a probe failed. The label value is [`FailureReason::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// The target name did not resolve (or not to the wanted address family).
    Dns,
    /// The target refused the connection.
    ConnectRefused,
    /// Any other connection error (unreachable, reset during connect).
    Connect,
    /// The probe ran out of time.
    Timeout,
    /// The TLS handshake failed for a reason other than the certificate.
    TlsHandshake,
    /// The server's certificate was not trusted (unknown CA, expired, wrong name).
    TlsVerify,
    /// `fail_if_ssl`: the response came over TLS.
    TlsPresent,
    /// `fail_if_not_ssl`: the response did not come over TLS.
    TlsMissing,
    /// The HTTP status was not an accepted one.
    StatusCode,
    /// The HTTP version was not an accepted one.
    HttpVersion,
    /// A body regex check failed.
    BodyRegex,
    /// A header regex check failed.
    HeaderRegex,
    /// More redirects than the cap (a loop).
    RedirectLimit,
    /// The body was larger than `body_size_limit`.
    BodyTooLarge,
    /// The server broke the protocol (malformed HTTP, bad compression, bad DNS message).
    Protocol,
    /// A TCP `query_response` step did not see its `expect`.
    QueryResponse,
    /// The DNS rcode was not an accepted one.
    DnsRcode,
    /// A DNS record-section regex check failed.
    DnsRecords,
    /// No ICMP echo reply arrived.
    IcmpNoReply,
    /// The process may not send ICMP echo (no ping_group_range, no CAP_NET_RAW).
    IcmpPermission,
    /// The gRPC health check answered not SERVING, or a gRPC error status.
    GrpcStatus,
    /// The resolved address is blocked by `--probe.deny-cidr` / `--probe.allow-cidr`.
    Denied,
    /// The OAuth 2.0 token could not be obtained.
    OAuth2,
    /// Reading a credential file failed, or another local error.
    Local,
}

impl FailureReason {
    /// Every reason, for documentation and tests.
    pub const ALL: [FailureReason; 24] = [
        FailureReason::Dns,
        FailureReason::ConnectRefused,
        FailureReason::Connect,
        FailureReason::Timeout,
        FailureReason::TlsHandshake,
        FailureReason::TlsVerify,
        FailureReason::TlsPresent,
        FailureReason::TlsMissing,
        FailureReason::StatusCode,
        FailureReason::HttpVersion,
        FailureReason::BodyRegex,
        FailureReason::HeaderRegex,
        FailureReason::RedirectLimit,
        FailureReason::BodyTooLarge,
        FailureReason::Protocol,
        FailureReason::QueryResponse,
        FailureReason::DnsRcode,
        FailureReason::DnsRecords,
        FailureReason::IcmpNoReply,
        FailureReason::IcmpPermission,
        FailureReason::GrpcStatus,
        FailureReason::Denied,
        FailureReason::OAuth2,
        FailureReason::Local,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Dns => "dns",
            FailureReason::ConnectRefused => "connect_refused",
            FailureReason::Connect => "connect",
            FailureReason::Timeout => "timeout",
            FailureReason::TlsHandshake => "tls_handshake",
            FailureReason::TlsVerify => "tls_verify",
            FailureReason::TlsPresent => "tls_present",
            FailureReason::TlsMissing => "tls_missing",
            FailureReason::StatusCode => "status_code",
            FailureReason::HttpVersion => "http_version",
            FailureReason::BodyRegex => "body_regex",
            FailureReason::HeaderRegex => "header_regex",
            FailureReason::RedirectLimit => "redirect_limit",
            FailureReason::BodyTooLarge => "body_too_large",
            FailureReason::Protocol => "protocol",
            FailureReason::QueryResponse => "query_response",
            FailureReason::DnsRcode => "dns_rcode",
            FailureReason::DnsRecords => "dns_records",
            FailureReason::IcmpNoReply => "icmp_no_reply",
            FailureReason::IcmpPermission => "icmp_permission",
            FailureReason::GrpcStatus => "grpc_status",
            FailureReason::Denied => "denied",
            FailureReason::OAuth2 => "oauth2",
            FailureReason::Local => "local",
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed probe: the reason (a label) and a message (the debug log only).
#[derive(Debug, Clone)]
pub struct Failure {
    /// The label value.
    pub reason: FailureReason,
    /// What happened, for the debug log.
    pub message: String,
}

impl Failure {
    /// A failure with a message.
    pub fn new(reason: FailureReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// Classifies an I/O error from connecting (refused vs other).
pub fn from_connect_error(e: &std::io::Error) -> Failure {
    let reason = match e.kind() {
        std::io::ErrorKind::ConnectionRefused => FailureReason::ConnectRefused,
        std::io::ErrorKind::TimedOut => FailureReason::Timeout,
        _ => FailureReason::Connect,
    };
    Failure::new(reason, format!("connect failed: {e}"))
}

/// Classifies an error from a TLS handshake: certificate problems vs the rest.
pub fn from_tls_error(e: &std::io::Error) -> Failure {
    let rustls_err = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let reason = match rustls_err {
        Some(rustls::Error::InvalidCertificate(_)) => FailureReason::TlsVerify,
        _ if e.kind() == std::io::ErrorKind::TimedOut => FailureReason::Timeout,
        _ => FailureReason::TlsHandshake,
    };
    Failure::new(reason, format!("TLS handshake failed: {e}"))
}

/// Adds `probe_failure_info{reason} 1` for a failed probe.
pub fn emit(metrics: &mut MetricSet, reason: FailureReason) {
    metrics
        .family(
            "probe_failure_info",
            "Why the probe failed (one of a fixed set of reasons); absent when it succeeded.",
            MetricType::Gauge,
        )
        .sample(&[("reason", reason.as_str())], 1.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for r in FailureReason::ALL {
            let s = r.as_str();
            assert!(
                s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{s}"
            );
            assert!(seen.insert(s), "duplicate {s}");
        }
    }

    #[test]
    fn refused_is_told_apart() {
        let e = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(from_connect_error(&e).reason, FailureReason::ConnectRefused);
        let e = std::io::Error::from(std::io::ErrorKind::HostUnreachable);
        assert_eq!(from_connect_error(&e).reason, FailureReason::Connect);
    }
}
