//! DNS names in `blackbox.yml` (record types, classes, rcodes) as the probe module reads them.

use hickory_proto::rr::{DNSClass, RecordType};
use std::str::FromStr;

/// A record type name (`A`, `AAAA`, `ANY`, …).
pub fn parse_query_type(s: &str) -> Option<RecordType> {
    RecordType::from_str(&s.to_ascii_uppercase()).ok()
}

/// A class name (`IN`, `CH`, `HS`, `ANY`, `NONE`).
pub fn parse_query_class(s: &str) -> Option<DNSClass> {
    DNSClass::from_str(&s.to_ascii_uppercase()).ok()
}

/// An rcode name as Go's miekg/dns spells them, to its number.
pub fn parse_rcode(s: &str) -> Option<u16> {
    Some(match s.to_ascii_uppercase().as_str() {
        "NOERROR" => 0,
        "FORMERR" => 1,
        "SERVFAIL" => 2,
        "NXDOMAIN" => 3,
        "NOTIMP" => 4,
        "REFUSED" => 5,
        "YXDOMAIN" => 6,
        "YXRRSET" => 7,
        "NXRRSET" => 8,
        "NOTAUTH" => 9,
        "NOTZONE" => 10,
        "BADSIG" | "BADVERS" => 16,
        "BADKEY" => 17,
        "BADTIME" => 18,
        "BADMODE" => 19,
        "BADNAME" => 20,
        "BADALG" => 21,
        "BADTRUNC" => 22,
        "BADCOOKIE" => 23,
        _ => return None,
    })
}
