//! The verified chain's earliest expiry, for `probe_ssl_last_chain_expiry_timestamp_seconds`.
//!
//! Go's verified chain ends in a root from the trust store, which the server usually does not
//! present; when that root expires before the certificates it signed, blackbox reports the
//! root's expiry. rustls does not expose the chain it built, so it is rebuilt here the way Go
//! builds one: from the leaf, issuer by issuer (matching subject and issuer names byte for
//! byte), trying the roots of `tls_config.ca_file` before the presented intermediates. With the
//! system roots (no `ca_file`) the presented chain stands in.

use rustls::pki_types::CertificateDer;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use x509_parser::prelude::{FromDer, X509Certificate};

type RootsEntry = (PathBuf, Instant, Arc<Vec<CertificateDer<'static>>>);

/// `ca_file` contents, kept as long as the client configurations built from them.
static ROOTS: Mutex<Vec<RootsEntry>> = Mutex::new(Vec::new());

/// Forgets the cached roots (on config reload).
pub fn clear_roots() {
    if let Ok(mut r) = ROOTS.lock() {
        r.clear();
    }
}

/// The certificates of a `ca_file` (empty when it cannot be read: the presented chain then
/// stands in), cached like the client configurations.
pub fn roots(path: &Path) -> Arc<Vec<CertificateDer<'static>>> {
    if let Ok(cache) = ROOTS.lock() {
        if let Some((_, _, certs)) = cache
            .iter()
            .find(|(p, at, _)| p == path && at.elapsed() < super::CACHE_TTL)
        {
            return Arc::clone(certs);
        }
    }
    let certs = Arc::new(watchkeeper_core::certificate::load_pem_file(path).unwrap_or_default());
    if let Ok(mut cache) = ROOTS.lock() {
        cache.retain(|(p, at, _)| at.elapsed() < super::CACHE_TTL && p != path);
        if cache.len() >= super::CACHE_MAX {
            cache.remove(0);
        }
        cache.push((path.to_path_buf(), Instant::now(), Arc::clone(&certs)));
    }
    certs
}

/// Longest chain followed (Go's limit on intermediates is of this order).
const MAX_DEPTH: usize = 10;

/// The earliest `notAfter` (Unix seconds) of the chain from the presented leaf to a root in
/// `roots`, or of the presented chain when no root is found. `None` without a parsable leaf.
pub fn earliest_expiry(
    presented: &[CertificateDer<'_>],
    roots: &[CertificateDer<'_>],
) -> Option<i64> {
    let presented: Vec<X509Certificate<'_>> = presented.iter().filter_map(|d| parse(d)).collect();
    let roots: Vec<X509Certificate<'_>> = roots.iter().filter_map(|d| parse(d)).collect();
    let leaf = presented.first()?;
    let expiry = |c: &X509Certificate<'_>| c.validity().not_after.timestamp();
    let mut earliest = expiry(leaf);
    let mut current = leaf;
    for _ in 0..MAX_DEPTH {
        let issuer = current.issuer().as_raw();
        if let Some(root) = roots.iter().find(|r| r.subject().as_raw() == issuer) {
            return Some(earliest.min(expiry(root)));
        }
        if current.subject().as_raw() == issuer {
            break; // self-signed and not a known root
        }
        let Some(next) = presented[1..]
            .iter()
            .find(|c| c.subject().as_raw() == issuer && !std::ptr::eq(*c, current))
        else {
            break;
        };
        earliest = earliest.min(expiry(next));
        current = next;
    }
    // No root found: the presented chain's earliest expiry.
    presented.iter().map(expiry).min()
}

fn parse<'a>(der: &'a [u8]) -> Option<X509Certificate<'a>> {
    X509Certificate::from_der(der).ok().map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

    fn ca(cn: &str, year: i32) -> (CertificateParams, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, cn);
        p.not_after = rcgen::date_time_ymd(year, 1, 1);
        (p, key)
    }

    #[test]
    fn the_root_counts_when_it_expires_first() {
        let (root, root_key) = ca("Root", 2031);
        let root_der = root.self_signed(&root_key).unwrap().der().clone();
        let (int, int_key) = ca("Intermediate", 2035);
        let int_der = int
            .signed_by(&int_key, &Issuer::from_params(&root, &root_key))
            .unwrap()
            .der()
            .clone();
        let key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec!["a.test".to_string()]).unwrap();
        leaf.not_after = rcgen::date_time_ymd(2040, 1, 1);
        let leaf_der = leaf
            .signed_by(&key, &Issuer::from_params(&int, &int_key))
            .unwrap()
            .der()
            .clone();
        let presented = [leaf_der.clone(), int_der.clone()];
        let y2031 = 1_924_992_000;
        let y2035 = 2_051_222_400;
        assert_eq!(
            earliest_expiry(&presented, std::slice::from_ref(&root_der)),
            Some(y2031)
        );
        // Without the root: the presented chain.
        assert_eq!(earliest_expiry(&presented, &[]), Some(y2035));
        // The intermediate as a root ends the chain there.
        assert_eq!(earliest_expiry(&presented, &[int_der]), Some(y2035));
        assert_eq!(earliest_expiry(&[], &[root_der]), None);
    }
}
