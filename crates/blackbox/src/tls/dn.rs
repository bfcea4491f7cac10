//! Distinguished names as Go's `pkix.Name.String()` prints them, for the `subject` and `issuer`
//! labels of `probe_ssl_last_chain_info`.
//!
//! Go does not print a name in certificate order: it parses it into fixed fields and prints
//! them most specific first (`SERIALNUMBER, CN, OU, O, POSTALCODE, STREET, L, ST, C`), values
//! of one field joined with `+`, then the attributes it has no field for (in reverse order, as
//! `OID=#hex` of their DER encoding), escaping values as RFC 2253 asks.
//!
//! This lives here rather than in `watchkeeper_core::certificate` (whose `subject` keeps
//! certificate order) because only blackbox compatibility needs Go's exact spelling; core may
//! host it later.

use x509_parser::x509::{AttributeTypeAndValue, X509Name};

/// The attributes Go parses into named fields, in the order `ToRDNSequence` appends them, with
/// the short names `String()` prints.
const FIELDS: [(&str, &str); 9] = [
    ("2.5.4.6", "C"),
    ("2.5.4.8", "ST"),
    ("2.5.4.7", "L"),
    ("2.5.4.9", "STREET"),
    ("2.5.4.17", "POSTALCODE"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.3", "CN"),
    ("2.5.4.5", "SERIALNUMBER"),
];

/// Fields Go keeps one value of (the last one seen).
const SINGLE: [&str; 2] = ["2.5.4.3", "2.5.4.5"];

/// `name` the way Go's `pkix.Name.String()` spells it.
pub fn go_name(name: &X509Name<'_>) -> String {
    let mut fields: Vec<Vec<String>> = vec![Vec::new(); FIELDS.len()];
    let mut extra: Vec<String> = Vec::new();
    for atv in name.iter_attributes() {
        let oid = atv.attr_type().to_id_string();
        match FIELDS.iter().position(|(o, _)| *o == oid) {
            Some(i) => {
                // Go drops values of known fields that are not strings.
                let Ok(value) = atv.as_str() else { continue };
                if SINGLE.contains(&oid.as_str()) {
                    fields[i].clear();
                }
                fields[i].push(value.to_string());
            }
            None => extra.push(format!("{oid}=#{}", hex(&marshal_value(atv)))),
        }
    }
    // Go builds [extra..., C, ST, ..., SERIALNUMBER] and prints it back to front.
    let mut rdns: Vec<String> = extra;
    for (i, values) in fields.iter().enumerate() {
        if values.is_empty() {
            continue;
        }
        let short = FIELDS[i].1;
        let rdn: Vec<String> = values
            .iter()
            .map(|v| format!("{short}={}", escape(v)))
            .collect();
        rdns.push(rdn.join("+"));
    }
    rdns.reverse();
    rdns.join(",")
}

/// RFC 2253 escaping as Go does it: `,+"\<>;` anywhere, a space at either end, `#` first.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.len().saturating_sub(1);
    for (k, c) in value.char_indices() {
        let needs = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => k == 0 || k == last,
            '#' => k == 0,
            _ => false,
        };
        if needs {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The DER Go's `asn1.Marshal` produces for an attribute value it parsed: a string becomes a
/// PrintableString when every character allows it, else a UTF8String; anything else keeps its
/// original encoding.
fn marshal_value(atv: &AttributeTypeAndValue<'_>) -> Vec<u8> {
    let (tag, body): (u8, Vec<u8>) = match atv.as_str() {
        Ok(s) => {
            let tag = if s.bytes().all(printable) { 0x13 } else { 0x0c };
            (tag, s.as_bytes().to_vec())
        }
        Err(_) => {
            let any = atv.attr_value();
            // Universal tags below 31 fit the short form; others keep the raw value only.
            let tag = u8::try_from(any.header.tag().0).unwrap_or(0x04)
                | if any.header.is_constructed() { 0x20 } else { 0 };
            (tag, any.data.to_vec())
        }
    };
    let mut out = vec![tag];
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend(body);
    out
}

/// ASN.1 PrintableString's alphabet (Go rejects `*` and `&` when choosing the type).
fn printable(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::{FromDer, X509Certificate};

    fn subject_of(dn: rcgen::DistinguishedName) -> String {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name = dn;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        let (_, parsed) = X509Certificate::from_der(cert.der()).unwrap();
        go_name(parsed.subject())
    }

    #[test]
    fn fixed_order_and_escaping_like_go() {
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::OrganizationName, "Watch Bench, Inc.");
        dn.push(rcgen::DnType::CountryName, "DE");
        dn.push(rcgen::DnType::CommonName, "selfsigned.bench");
        dn.push(rcgen::DnType::OrganizationalUnitName, "Probes+Tests");
        dn.push(rcgen::DnType::StateOrProvinceName, "Hamburg");
        dn.push(rcgen::DnType::LocalityName, " Altona");
        // Value blackbox_exporter 0.23 reports for the same certificate.
        assert_eq!(
            subject_of(dn),
            r"CN=selfsigned.bench,OU=Probes\+Tests,O=Watch Bench\, Inc.,L=\ Altona,ST=Hamburg,C=DE"
        );
    }

    #[test]
    fn unknown_attributes_come_last_as_hex() {
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(
            rcgen::DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
            "ops@bench.test",
        );
        dn.push(rcgen::DnType::CommonName, "x");
        assert_eq!(
            subject_of(dn),
            "CN=x,1.2.840.113549.1.9.1=#0c0e6f70734062656e63682e74657374"
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(escape("#a#"), r"\#a#");
        assert_eq!(escape("a b "), r"a b\ ");
        assert_eq!(escape(r#"x"<>;\"#), r#"x\"\<\>\;\\"#);
    }
}
