//! Just enough of an OCSP response (RFC 6960) to read the status of a stapled one.

/// One DER element: (tag, content, rest).
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let first = *b.get(1)?;
    let (len, at) = if first & 0x80 == 0 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = b.get(2..2 + n)?;
        (
            bytes.iter().fold(0usize, |a, &x| a << 8 | usize::from(x)),
            2 + n,
        )
    };
    let end = at.checked_add(len)?;
    Some((tag, b.get(at..end)?, b.get(end..)?))
}

/// The certStatus of the first SingleResponse: 0 good, 1 revoked, 2 unknown. `None` when the
/// response is not successful or cannot be read.
pub fn cert_status(der: &[u8]) -> Option<u8> {
    // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, responseBytes [0] EXPLICIT ... }
    let (0x30, resp, _) = tlv(der)? else {
        return None;
    };
    let (0x0a, status, rest) = tlv(resp)? else {
        return None;
    };
    if status != [0] {
        return None;
    }
    let (0xa0, explicit, _) = tlv(rest)? else {
        return None;
    };
    // ResponseBytes ::= SEQUENCE { responseType OID, response OCTET STRING }
    let (0x30, rb, _) = tlv(explicit)? else {
        return None;
    };
    let (0x06, _, rest) = tlv(rb)? else {
        return None;
    };
    let (0x04, basic, _) = tlv(rest)? else {
        return None;
    };
    // BasicOCSPResponse ::= SEQUENCE { tbsResponseData SEQUENCE { [0] version?, responderID,
    // producedAt, responses SEQUENCE OF SingleResponse, ... }, ... }
    let (0x30, basic, _) = tlv(basic)? else {
        return None;
    };
    let (0x30, mut tbs, _) = tlv(basic)? else {
        return None;
    };
    let (tag, _, rest) = tlv(tbs)?;
    if tag == 0xa0 {
        tbs = rest;
        let (_, _, rest) = tlv(tbs)?; // responderID
        tbs = rest;
    } else {
        tbs = rest; // that was the responderID
    }
    let (0x18, _, rest) = tlv(tbs)? else {
        return None;
    }; // producedAt
    let (0x30, responses, _) = tlv(rest)? else {
        return None;
    };
    let (0x30, single, _) = tlv(responses)? else {
        return None;
    };
    let (0x30, _, rest) = tlv(single)? else {
        return None;
    }; // certID
    let (tag, _, _) = tlv(rest)?;
    match tag {
        0x80 => Some(0),
        0xa1 => Some(1),
        0x82 => Some(2),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a minimal successful response with the given certStatus element.
    pub fn response(status: &[u8]) -> Vec<u8> {
        fn wrap(tag: u8, body: &[u8]) -> Vec<u8> {
            let mut v = vec![tag];
            if body.len() < 128 {
                v.push(body.len() as u8);
            } else {
                v.push(0x82);
                v.extend_from_slice(&(body.len() as u16).to_be_bytes());
            }
            v.extend_from_slice(body);
            v
        }
        let cert_id = wrap(0x30, &[]);
        let this_update = wrap(0x18, b"20260101000000Z");
        let single = wrap(
            0x30,
            &[cert_id, status.to_vec(), this_update.clone()].concat(),
        );
        let responses = wrap(0x30, &single);
        let responder = wrap(0xa2, &wrap(0x04, &[1, 2, 3]));
        let tbs = wrap(0x30, &[responder, this_update, responses].concat());
        let basic = wrap(0x30, &[tbs, wrap(0x30, &[]), wrap(0x03, &[0])].concat());
        let rb = wrap(
            0x30,
            &[
                wrap(0x06, &[0x2b, 6, 1, 5, 5, 7, 48, 1, 1]),
                wrap(0x04, &basic),
            ]
            .concat(),
        );
        wrap(0x30, &[wrap(0x0a, &[0]), wrap(0xa0, &rb)].concat())
    }

    #[test]
    fn reads_the_status() {
        assert_eq!(cert_status(&response(&[0x80, 0])), Some(0));
        assert_eq!(cert_status(&response(&[0xa1, 0])), Some(1));
        assert_eq!(cert_status(&response(&[0x82, 0])), Some(2));
        assert_eq!(cert_status(b"garbage"), None);
        assert_eq!(cert_status(&[0x30, 0x03, 0x0a, 0x01, 0x01]), None);
    }
}
