//! The dns prober: one query to the target server over UDP or TCP, built with hickory-proto so
//! class, type and the RD flag are exactly as configured, then rcode and record checks.
//!
//! Records are matched in the text form blackbox's regexes are written against (Go's miekg/dns
//! `RR.String()`): `name.\tTTL\tCLASS\tTYPE\tRDATA`.

use crate::config::{DnsProbe, ProberName, RrValidation};
use crate::failure::{Failure, FailureReason};
use crate::prober::{ProbeRun, Prober};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use watchkeeper_core::metrics::MetricType;
use watchkeeper_core::tls_client::TlsClientOptions;
use watchkeeper_core::BoxFuture;

/// The dns prober.
pub struct DnsProber;

impl Prober for DnsProber {
    fn name(&self) -> ProberName {
        ProberName::Dns
    }

    fn validate_target(&self, target: &str) -> Result<(), String> {
        split_target(target, 53).map(|_| ())
    }

    fn probe<'a>(&'a self, run: &'a mut ProbeRun<'_>) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(probe(run))
    }
}

/// `host` or `host:port` (default 53), as blackbox accepts DNS targets.
fn split_target(target: &str, default_port: u16) -> Result<(String, u16), String> {
    let t = target;
    if t.is_empty() {
        return Err("target is empty".into());
    }
    if t.starts_with('[') {
        if t.contains("]:") {
            return crate::prober::split_host_port(t).map(|(h, p)| (h.to_string(), p));
        }
        return Ok((
            t.trim_start_matches('[').trim_end_matches(']').to_string(),
            53,
        ));
    }
    match t.matches(':').count() {
        0 => Ok((t.to_string(), default_port)),
        1 => crate::prober::split_host_port(t).map(|(h, p)| (h.to_string(), p)),
        // A bare IPv6 address.
        _ => Ok((t.to_string(), default_port)),
    }
}

pub use crate::config::dns_names::{parse_query_class, parse_query_type, parse_rcode};

fn rcode_name(code: u16) -> String {
    let names = [
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
        "NXRRSET", "NOTAUTH", "NOTZONE",
    ];
    names
        .get(usize::from(code))
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("RCODE{code}"))
}

#[derive(Default)]
struct Stats {
    resolve: Duration,
    connect: Duration,
    request: Duration,
    answers: Option<(usize, usize, usize)>,
    succeeded: bool,
    serial: Option<u32>,
}

async fn probe(run: &mut ProbeRun<'_>) -> Result<(), Failure> {
    let mut stats = Stats::default();
    let deadline = run.deadline;
    let result = match tokio::time::timeout_at(deadline, probe_inner(run, &mut stats)).await {
        Ok(r) => r,
        Err(_) => Err(Failure::new(
            FailureReason::Timeout,
            "DNS query timed out (probe deadline reached)",
        )),
    };
    let m = &mut run.metrics;
    let (an, ns, ad) = stats.answers.unwrap_or((0, 0, 0));
    m.gauge(
        "probe_dns_additional_rrs",
        "Returns number of entries in the additional resource record list",
        ad as f64,
    );
    m.gauge(
        "probe_dns_answer_rrs",
        "Returns number of entries in the answer resource record list",
        an as f64,
    );
    m.gauge(
        "probe_dns_authority_rrs",
        "Returns number of entries in the authority resource record list",
        ns as f64,
    );
    let fam = m.family(
        "probe_dns_duration_seconds",
        "Duration of DNS request by phase",
        MetricType::Gauge,
    );
    fam.sample(&[("phase", "connect")], stats.connect.as_secs_f64());
    fam.sample(&[("phase", "request")], stats.request.as_secs_f64());
    fam.sample(&[("phase", "resolve")], stats.resolve.as_secs_f64());
    m.gauge(
        "probe_dns_query_succeeded",
        "Displays whether or not the query was executed successfully",
        if stats.succeeded { 1.0 } else { 0.0 },
    );
    if let Some(serial) = stats.serial {
        m.gauge(
            "probe_dns_serial",
            "Returns the serial number of the zone",
            f64::from(serial),
        );
    }
    result
}

async fn probe_inner(run: &mut ProbeRun<'_>, stats: &mut Stats) -> Result<(), Failure> {
    let cfg: &DnsProbe = &run.module.dns;
    // DNS over TLS listens on 853 unless the target says otherwise.
    let default_port = if cfg.dns_over_tls { 853 } else { 53 };
    let (host, port) = split_target(run.target, default_port)
        .map_err(|m| Failure::new(FailureReason::Local, m))?;
    if cfg.dns_over_tls && cfg.transport_protocol != "tcp" {
        return Err(Failure::new(
            FailureReason::Local,
            "Configuration error: dns_over_tls needs transport_protocol: tcp",
        ));
    }
    let (ip, took) = run
        .resolve(&host, cfg.preferred_ip_protocol, cfg.ip_protocol_fallback)
        .await?;
    stats.resolve = took;

    let qtype = parse_query_type(&cfg.query_type).unwrap_or(RecordType::ANY);
    let qclass = parse_query_class(&cfg.query_class).unwrap_or(DNSClass::IN);
    let name = Name::from_ascii(&cfg.query_name).map_err(|e| {
        Failure::new(
            FailureReason::Local,
            format!("invalid query_name {:?}: {e}", cfg.query_name),
        )
    })?;
    let mut query = Query::query(name, qtype);
    query.set_query_class(qclass);
    let mut msg = Message::new();
    let id: u16 = rand_id();
    msg.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(cfg.recursion_desired)
        .add_query(query);
    let wire = msg
        .to_vec()
        .map_err(|e| Failure::new(FailureReason::Local, format!("encoding query: {e}")))?;
    run.info(format!(
        "Making DNS query target={ip}:{port} transport={} query_name={} type={} class={}",
        cfg.transport_protocol, cfg.query_name, cfg.query_type, cfg.query_class
    ));

    let server = SocketAddr::new(ip, port);
    let tls = cfg.dns_over_tls.then_some((&cfg.tls_config, host.as_str()));
    let reply = if cfg.transport_protocol == "tcp" {
        exchange_tcp(server, cfg.source_ip_address, tls, &wire, stats).await
    } else {
        exchange_udp(server, cfg.source_ip_address, &wire, id, stats).await
    };
    let reply = match reply {
        Ok(r) => r,
        Err(f) => {
            run.error(format!("Error while sending a DNS query err={}", f.message));
            return Err(f);
        }
    };
    let response = Message::from_vec(&reply).map_err(|e| {
        Failure::new(
            FailureReason::Protocol,
            format!("malformed DNS response: {e}"),
        )
    })?;
    if response.id() != id {
        return Err(Failure::new(
            FailureReason::Protocol,
            "DNS response id does not match the query",
        ));
    }
    stats.succeeded = true;
    stats.answers = Some((
        response.answers().len(),
        response.name_servers().len(),
        response.additionals().len(),
    ));
    let rcode = u16::from(response.response_code());
    run.info(format!(
        "Got response rcode={} answers={} authority={} additional={}",
        rcode_name(rcode),
        response.answers().len(),
        response.name_servers().len(),
        response.additionals().len()
    ));
    // As blackbox: probe_dns_serial exists for SOA queries only (0 without an SOA answer).
    if qtype == RecordType::SOA {
        stats.serial = Some(
            response
                .answers()
                .iter()
                .find_map(|r| match r.data() {
                    RData::SOA(soa) => Some(soa.serial()),
                    _ => None,
                })
                .unwrap_or(0),
        );
    }
    let valid: Vec<u16> = if cfg.valid_rcodes.is_empty() {
        vec![0]
    } else {
        cfg.valid_rcodes
            .iter()
            .filter_map(|r| parse_rcode(r))
            .collect()
    };
    if !valid.contains(&rcode) {
        return Err(Failure::new(
            FailureReason::DnsRcode,
            format!(
                "Rcode not valid rcode={} valid_rcodes={:?}",
                rcode_name(rcode),
                cfg.valid_rcodes
            ),
        ));
    }
    for (section, records, v) in [
        ("answer", response.answers(), &cfg.validate_answer_rrs),
        (
            "authority",
            response.name_servers(),
            &cfg.validate_authority_rrs,
        ),
        (
            "additional",
            response.additionals(),
            &cfg.validate_additional_rrs,
        ),
    ] {
        validate_rrs(records, v).map_err(|m| {
            Failure::new(FailureReason::DnsRecords, format!("{section} section: {m}"))
        })?;
    }
    Ok(())
}

/// A query id; unpredictable enough for a probe (not a resolver: no cache to poison).
fn rand_id() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos ^ (nanos >> 16)) as u16 ^ (std::process::id() as u16)
}

fn unspecified(server: SocketAddr, source: Option<IpAddr>) -> SocketAddr {
    let ip = source.unwrap_or(if server.is_ipv4() {
        IpAddr::from([0u8; 4])
    } else {
        IpAddr::from([0u16; 8])
    });
    SocketAddr::new(ip, 0)
}

async fn exchange_udp(
    server: SocketAddr,
    source: Option<IpAddr>,
    wire: &[u8],
    id: u16,
    stats: &mut Stats,
) -> Result<Vec<u8>, Failure> {
    let started = Instant::now();
    let sock = tokio::net::UdpSocket::bind(unspecified(server, source))
        .await
        .map_err(|e| Failure::new(FailureReason::Connect, format!("binding UDP socket: {e}")))?;
    sock.connect(server)
        .await
        .map_err(|e| crate::failure::from_connect_error(&e))?;
    stats.connect = started.elapsed();
    let started = Instant::now();
    sock.send(wire)
        .await
        .map_err(|e| crate::failure::from_connect_error(&e))?;
    let mut buf = vec![0u8; 65_535];
    loop {
        let n = sock.recv(&mut buf).await.map_err(|e| {
            stats.request = started.elapsed();
            crate::failure::from_connect_error(&e)
        })?;
        // Ignore stray datagrams (late answers to someone else's query on a reused port).
        if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
            stats.request = started.elapsed();
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn exchange_tcp(
    server: SocketAddr,
    source: Option<IpAddr>,
    tls: Option<(&TlsClientOptions, &str)>,
    wire: &[u8],
    stats: &mut Stats,
) -> Result<Vec<u8>, Failure> {
    let started = Instant::now();
    let stream = crate::prober::tcp_connect(server.ip(), server.port(), source).await?;
    // The TLS handshake counts as part of `connect`, as in blackbox (Go dials "tcp-tls").
    let mut stream: Box<dyn crate::prober::Io> = match tls {
        Some((opts, host)) => Box::new(crate::tls::handshake(stream, opts, host, &[]).await?.0),
        None => Box::new(stream),
    };
    stats.connect = started.elapsed();
    let started = Instant::now();
    let len = u16::try_from(wire.len())
        .map_err(|_| Failure::new(FailureReason::Local, "query too large"))?;
    let mut framed = Vec::with_capacity(wire.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(wire);
    let io =
        |e: std::io::Error| Failure::new(FailureReason::Protocol, format!("DNS over TCP: {e}"));
    stream.write_all(&framed).await.map_err(io)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.map_err(io)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await.map_err(io)?;
    stats.request = started.elapsed();
    Ok(buf)
}

/// A record as Go's miekg/dns prints it (what blackbox users write their regexes against).
pub fn record_text(r: &Record) -> String {
    let rdata = match r.data() {
        RData::TXT(txt) => txt
            .iter()
            .map(|s| format!("\"{}\"", String::from_utf8_lossy(s)))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    };
    format!(
        "{}\t{}\t{}\t{}\t{}",
        r.name(),
        r.ttl(),
        r.dns_class(),
        r.record_type(),
        rdata
    )
}

/// blackbox's `validRRs`: the four regex lists applied to one section.
fn validate_rrs(records: &[Record], v: &RrValidation) -> Result<(), String> {
    if records.is_empty() && !v.fail_if_not_matches_regexp.is_empty() {
        return Err("no records but fail_if_not_matches_regexp is set".into());
    }
    if records.is_empty() && !v.fail_if_none_matches_regexp.is_empty() {
        return Err("no records but fail_if_none_matches_regexp is set".into());
    }
    let mut any_match = false;
    let mut all_match = true;
    for r in records {
        let text = record_text(r);
        for re in &v.fail_if_matches_regexp {
            if re.0.is_match(&text) {
                return Err(format!(
                    "record {text:?} matched fail_if_matches_regexp {:?}",
                    re.0.as_str()
                ));
            }
        }
        for re in &v.fail_if_not_matches_regexp {
            if !re.0.is_match(&text) {
                return Err(format!(
                    "record {text:?} did not match fail_if_not_matches_regexp {:?}",
                    re.0.as_str()
                ));
            }
        }
        for re in &v.fail_if_all_match_regexp {
            if !re.0.is_match(&text) {
                all_match = false;
            }
        }
        for re in &v.fail_if_none_matches_regexp {
            if re.0.is_match(&text) {
                any_match = true;
            }
        }
    }
    if !v.fail_if_all_match_regexp.is_empty() && all_match && !records.is_empty() {
        return Err("all records matched fail_if_all_match_regexp".into());
    }
    if !v.fail_if_none_matches_regexp.is_empty() && !any_match {
        return Err("no record matched fail_if_none_matches_regexp".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::A;

    #[test]
    fn names_parse() {
        assert_eq!(parse_query_type("aaaa"), Some(RecordType::AAAA));
        assert_eq!(parse_query_type("ANY"), Some(RecordType::ANY));
        assert!(parse_query_type("NOPE").is_none());
        assert_eq!(parse_query_class("in"), Some(DNSClass::IN));
        assert_eq!(parse_rcode("NXDOMAIN"), Some(3));
        assert!(parse_rcode("WHAT").is_none());
    }

    #[test]
    fn targets_default_to_port_53() {
        assert_eq!(
            split_target("127.0.0.1", 53).unwrap(),
            ("127.0.0.1".into(), 53)
        );
        assert_eq!(
            split_target("127.0.0.1:5353", 53).unwrap(),
            ("127.0.0.1".into(), 5353)
        );
        assert_eq!(
            split_target("[::1]:5353", 53).unwrap(),
            ("::1".into(), 5353)
        );
        assert_eq!(split_target("::1", 853).unwrap(), ("::1".into(), 853));
        assert!(split_target("a:99999", 53).is_err());
    }

    #[test]
    fn record_text_is_go_shaped_and_validation_follows_blackbox() {
        let r = Record::from_rdata(
            Name::from_ascii("www.example.org.").unwrap(),
            300,
            RData::A(A::new(127, 0, 0, 1)),
        );
        assert_eq!(record_text(&r), "www.example.org.\t300\tIN\tA\t127.0.0.1");
        let re = |s: &str| crate::config::ConfigRegex(regex::Regex::new(s).unwrap());
        let v = RrValidation {
            fail_if_none_matches_regexp: vec![re("127\\.0\\.0\\.2")],
            ..Default::default()
        };
        assert!(validate_rrs(std::slice::from_ref(&r), &v).is_err());
        let v = RrValidation {
            fail_if_not_matches_regexp: vec![re(
                "www\\.example\\.org\\.\t300\tIN\tA\t127\\.0\\.0\\.1",
            )],
            ..Default::default()
        };
        assert!(validate_rrs(std::slice::from_ref(&r), &v).is_ok());
        assert!(validate_rrs(&[], &v).is_err());
    }
}
