//! Why a source failed: a fixed set of `reason` label values, and the per-source error counters.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// The `reason` label of `x509_source_errors_total` (a fixed, bounded set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// The file vanished between listing and reading.
    NotFound,
    /// Permission denied.
    PermissionDenied,
    /// Any other read error.
    ReadError,
    /// Larger than the size limit.
    TooLarge,
    /// A symbolic link loop (a directory that contains itself).
    SymlinkLoop,
    /// Readable, but no certificate in it.
    NoCertificate,
    /// A PEM block is truncated or not base64.
    PemInvalid,
    /// A certificate's DER encoding does not parse.
    CertificateInvalid,
    /// Neither PEM, DER, PKCS#12 nor a kubeconfig.
    UnknownFormat,
    /// PKCS#12 with a wrong password, or password-protected and no password configured.
    Pkcs12Password,
    /// PKCS#12 structure that cannot be decoded.
    Pkcs12Invalid,
    /// A kubeconfig whose YAML or base64 data is broken.
    KubeconfigInvalid,
    /// The configured password file cannot be read.
    PasswordFile,
    /// The endpoint's host name does not resolve.
    Resolve,
    /// The TCP connection failed.
    Connect,
    /// The endpoint did not answer within its timeout.
    Timeout,
    /// The STARTTLS exchange failed (unexpected answer, or not offered).
    Starttls,
    /// The TLS handshake failed (garbage, alert, no common version).
    Handshake,
}

impl Reason {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NotFound => "not_found",
            Reason::PermissionDenied => "permission_denied",
            Reason::ReadError => "read_error",
            Reason::TooLarge => "too_large",
            Reason::SymlinkLoop => "symlink_loop",
            Reason::NoCertificate => "no_certificate",
            Reason::PemInvalid => "pem_invalid",
            Reason::CertificateInvalid => "certificate_invalid",
            Reason::UnknownFormat => "unknown_format",
            Reason::Pkcs12Password => "pkcs12_password",
            Reason::Pkcs12Invalid => "pkcs12_invalid",
            Reason::KubeconfigInvalid => "kubeconfig_invalid",
            Reason::PasswordFile => "password_file",
            Reason::Resolve => "resolve",
            Reason::Connect => "connect",
            Reason::Timeout => "timeout",
            Reason::Starttls => "starttls",
            Reason::Handshake => "handshake",
        }
    }

    /// The reason of an I/O error.
    pub fn of_io(e: &std::io::Error) -> Reason {
        use std::io::ErrorKind;
        match e.kind() {
            ErrorKind::NotFound => Reason::NotFound,
            ErrorKind::PermissionDenied => Reason::PermissionDenied,
            _ if e.raw_os_error() == Some(40) => Reason::SymlinkLoop, // ELOOP
            _ => Reason::ReadError,
        }
    }
}

/// At most this many (source, reason) pairs are counted; beyond it new pairs are dropped (and
/// logged), so a directory of churning broken files cannot grow the page without bound.
pub const MAX_ERROR_SERIES: usize = 10_000;

/// `x509_source_errors_total`, kept across scrapes and reloads.
#[derive(Debug, Default)]
pub struct ErrorCounters {
    counts: Mutex<BTreeMap<(String, Reason), u64>>,
}

impl ErrorCounters {
    /// Counts one failure of `source`. Logs the first failure of each (source, reason) pair with
    /// its detail; later ones are only counted, so a broken file is one log line, not one per
    /// scrape.
    pub fn record(&self, source: &str, reason: Reason, detail: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let key = (source.to_string(), reason);
        if let Some(n) = counts.get_mut(&key) {
            *n += 1;
            return;
        }
        tracing::warn!(
            source,
            reason = reason.as_str(),
            error = detail,
            "certificate source failed"
        );
        if counts.len() >= MAX_ERROR_SERIES {
            return;
        }
        counts.insert(key, 1);
    }

    /// Every counter, in a stable order.
    pub fn snapshot(&self) -> Vec<(String, Reason, u64)> {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts
            .iter()
            .map(|((s, r), n)| (s.clone(), *r, *n))
            .collect()
    }
}
