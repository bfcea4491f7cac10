//! What the exporter reports about one certificate: core's [`CertificateInfo`] plus the facts
//! that prevent incidents (key type and size, signature algorithm) and the raw names used to
//! place it in a chain.

use watchkeeper_core::certificate::CertificateInfo;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;
use x509_parser::x509::X509Name;

/// Where a certificate sits in its chain (`chain_position` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// The end-entity certificate.
    Leaf,
    /// A CA certificate that is not self-signed.
    Intermediate,
    /// A self-signed CA certificate.
    Root,
}

impl Position {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Position::Leaf => "leaf",
            Position::Intermediate => "intermediate",
            Position::Root => "root",
        }
    }
}

/// Keys shorter than this (RSA, DSA) are flagged weak.
pub const MIN_RSA_BITS: u32 = 2048;

/// One parsed certificate.
#[derive(Debug, Clone)]
pub struct CertFacts {
    /// Names, validity, serial, fingerprint.
    pub info: CertificateInfo,
    /// `rsa`, `ecdsa`, `ed25519`, `ed448`, `dsa` or `unknown`.
    pub key_type: &'static str,
    /// Key size in bits (0 when unknown).
    pub key_bits: u32,
    /// Signature algorithm short name (`sha256WithRSAEncryption`, `ecdsa-with-SHA256`).
    pub signature_algorithm: String,
    /// Subject attributes as (abbreviation, value), most significant first.
    pub subject_attrs: Vec<(String, String)>,
    /// Issuer attributes likewise.
    pub issuer_attrs: Vec<(String, String)>,
    /// Subject and issuer are the same name.
    pub self_signed: bool,
    /// DER of the subject name (to find issuers).
    pub subject_raw: Vec<u8>,
    /// DER of the issuer name.
    pub issuer_raw: Vec<u8>,
}

impl CertFacts {
    /// Parses one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let info = CertificateInfo::from_der(der).map_err(|e| e.to_string())?;
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
        let (key_type, key_bits) = key_of(&cert);
        let registry = x509_parser::objects::oid_registry();
        let sig_oid = &cert.signature_algorithm.algorithm;
        let signature_algorithm = x509_parser::objects::oid2sn(sig_oid, registry)
            .map(str::to_string)
            .unwrap_or_else(|_| sig_oid.to_id_string());
        let subject_raw = cert.subject().as_raw().to_vec();
        let issuer_raw = cert.issuer().as_raw().to_vec();
        Ok(CertFacts {
            info,
            key_type,
            key_bits,
            signature_algorithm,
            subject_attrs: attrs(cert.subject()),
            issuer_attrs: attrs(cert.issuer()),
            self_signed: subject_raw == issuer_raw,
            subject_raw,
            issuer_raw,
        })
    }

    /// The position of a certificate found in a file (no chain order to go by).
    pub fn standalone_position(&self) -> Position {
        match (self.info.is_ca, self.self_signed) {
            (true, true) => Position::Root,
            (true, false) => Position::Intermediate,
            (false, _) => Position::Leaf,
        }
    }

    /// The position of the `index`th certificate a server presented.
    pub fn presented_position(&self, index: usize) -> Position {
        if index == 0 {
            Position::Leaf
        } else if self.self_signed {
            Position::Root
        } else {
            Position::Intermediate
        }
    }

    /// Signed with SHA-1, MD5 or MD2.
    pub fn weak_signature(&self) -> bool {
        let s = self.signature_algorithm.to_ascii_lowercase();
        s.contains("sha1") || s.contains("sha-1") || s.contains("md5") || s.contains("md2")
    }

    /// An RSA or DSA key under [`MIN_RSA_BITS`].
    pub fn weak_key(&self) -> bool {
        matches!(self.key_type, "rsa" | "dsa") && self.key_bits < MIN_RSA_BITS
    }

    /// The values of one attribute of the subject, comma-joined.
    pub fn subject_attr(&self, abbrev: &str) -> String {
        join_attr(&self.subject_attrs, abbrev)
    }

    /// The values of one attribute of the issuer, comma-joined.
    pub fn issuer_attr(&self, abbrev: &str) -> String {
        join_attr(&self.issuer_attrs, abbrev)
    }

    /// The serial number in decimal, as Go's `big.Int.String()` prints it (the
    /// x509-certificate-exporter and ssl_exporter label format).
    pub fn serial_decimal(&self) -> String {
        hex_to_decimal(&self.info.serial)
    }
}

fn join_attr(attrs: &[(String, String)], abbrev: &str) -> String {
    let mut out = String::new();
    for (k, v) in attrs {
        if k == abbrev {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(v);
        }
    }
    out
}

fn attrs(name: &X509Name<'_>) -> Vec<(String, String)> {
    let registry = x509_parser::objects::oid_registry();
    let mut out = Vec::new();
    for rdn in name.iter() {
        for attr in rdn.iter() {
            let key = x509_parser::objects::oid2abbrev(attr.attr_type(), registry)
                .map(str::to_string)
                .unwrap_or_else(|_| attr.attr_type().to_id_string());
            if let Ok(v) = attr.as_str() {
                out.push((key, v.to_string()));
            }
        }
    }
    out
}

fn key_of(cert: &X509Certificate<'_>) -> (&'static str, u32) {
    let spki = cert.public_key();
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        "1.3.101.112" => return ("ed25519", 256),
        "1.3.101.113" => return ("ed448", 456),
        _ => {}
    }
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => ("rsa", rsa.key_size() as u32),
        Ok(PublicKey::EC(point)) => ("ecdsa", point.key_size() as u32),
        Ok(PublicKey::DSA(y)) => ("dsa", (y.len() * 8) as u32),
        _ => ("unknown", 0),
    }
}

/// Lowercase hex (any length) to decimal.
pub fn hex_to_decimal(hex: &str) -> String {
    // Base-1e9 limbs, least significant first.
    let mut limbs: Vec<u64> = vec![0];
    for c in hex.chars() {
        let Some(d) = c.to_digit(16) else { continue };
        let mut carry = u64::from(d);
        for limb in limbs.iter_mut() {
            let v = *limb * 16 + carry;
            *limb = v % 1_000_000_000;
            carry = v / 1_000_000_000;
        }
        if carry > 0 {
            limbs.push(carry);
        }
    }
    let mut out = String::new();
    for (i, limb) in limbs.iter().rev().enumerate() {
        if i == 0 {
            out.push_str(&limb.to_string());
        } else {
            out.push_str(&format!("{limb:09}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_print_in_decimal() {
        assert_eq!(hex_to_decimal("00"), "0");
        assert_eq!(hex_to_decimal("01ab"), "427");
        assert_eq!(hex_to_decimal("ffffffffffffffff"), "18446744073709551615");
        assert_eq!(
            hex_to_decimal("0123456789abcdef0123456789abcdef"),
            "1512366075204170929049582354406559215"
        );
    }

    #[test]
    fn facts_of_a_generated_certificate() {
        let mut p = rcgen::CertificateParams::new(vec!["a.test".into()]).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "a.test");
        p.distinguished_name
            .push(rcgen::DnType::OrganizationalUnitName, "ops");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        let f = CertFacts::from_der(cert.der()).unwrap();
        assert_eq!(f.key_type, "ecdsa");
        assert_eq!(f.key_bits, 256);
        assert_eq!(f.signature_algorithm, "ecdsa-with-SHA256");
        assert!(f.self_signed);
        assert_eq!(f.standalone_position(), Position::Leaf);
        assert_eq!(f.subject_attr("OU"), "ops");
        assert!(!f.weak_key() && !f.weak_signature());
    }
}
