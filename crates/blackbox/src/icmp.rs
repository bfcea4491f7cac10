//! The icmp prober: ICMP echo over an unprivileged datagram socket (allowed by
//! `net.ipv4.ping_group_range`), falling back to a raw socket (root or CAP_NET_RAW).
//!
//! Extension: `packets: N` sends N echo requests in one probe and reports
//! `probe_icmp_packets_sent`, `probe_icmp_packets_received`, `probe_icmp_packet_loss_ratio` and
//! `probe_icmp_rtt_{min,avg,max,jitter}_seconds` (jitter: mean absolute difference of
//! consecutive round trips). With the default `packets: 1` the output is blackbox's.

use crate::config::{IcmpProbe, ProberName};
use crate::failure::{Failure, FailureReason};
use crate::prober::{ProbeRun, Prober};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use watchkeeper_core::metrics::MetricType;
use watchkeeper_core::BoxFuture;

/// The icmp prober.
pub struct IcmpProber;

impl Prober for IcmpProber {
    fn name(&self) -> ProberName {
        ProberName::Icmp
    }

    fn validate_target(&self, target: &str) -> Result<(), String> {
        if target.is_empty() || target.contains('/') || target.contains(' ') {
            return Err(format!("target {target:?} is not a host name or address"));
        }
        Ok(())
    }

    fn probe<'a>(&'a self, run: &'a mut ProbeRun<'_>) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(probe(run))
    }
}

/// Which socket kind was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `SOCK_DGRAM` + `IPPROTO_ICMP`: the kernel owns the echo id; no IP header on receive.
    Datagram,
    /// `SOCK_RAW`: IPv4 replies carry the IP header (and so the TTL).
    Raw,
}

#[derive(Default)]
struct Stats {
    resolve: Duration,
    setup: Duration,
    rtts: Vec<Duration>,
    sent: u32,
    hop_limit: Option<u8>,
}

async fn probe(run: &mut ProbeRun<'_>) -> Result<(), Failure> {
    let mut stats = Stats::default();
    let deadline = run.deadline;
    let result = match tokio::time::timeout_at(deadline, probe_inner(run, &mut stats)).await {
        Ok(r) => r,
        Err(_) => Err(Failure::new(
            FailureReason::IcmpNoReply,
            "Timeout reading from socket",
        )),
    };
    let packets = run.module.icmp.packets;
    let m = &mut run.metrics;
    let avg = if stats.rtts.is_empty() {
        Duration::ZERO
    } else {
        stats.rtts.iter().sum::<Duration>() / stats.rtts.len() as u32
    };
    let fam = m.family(
        "probe_icmp_duration_seconds",
        "Duration of icmp request by phase",
        MetricType::Gauge,
    );
    fam.sample(&[("phase", "resolve")], stats.resolve.as_secs_f64());
    fam.sample(&[("phase", "rtt")], avg.as_secs_f64());
    fam.sample(&[("phase", "setup")], stats.setup.as_secs_f64());
    if let Some(h) = stats.hop_limit {
        m.gauge(
            "probe_icmp_reply_hop_limit",
            "Replied packet hop limit (TTL for ipv4)",
            f64::from(h),
        );
    }
    if packets > 1 {
        let received = stats.rtts.len() as f64;
        m.gauge(
            "probe_icmp_packets_sent",
            "Echo requests sent in this probe",
            f64::from(stats.sent),
        );
        m.gauge(
            "probe_icmp_packets_received",
            "Echo replies received in this probe",
            received,
        );
        let loss = if stats.sent == 0 {
            1.0
        } else {
            1.0 - received / f64::from(stats.sent)
        };
        m.gauge(
            "probe_icmp_packet_loss_ratio",
            "Share of echo requests without a reply (0-1)",
            loss,
        );
        if !stats.rtts.is_empty() {
            let min = stats.rtts.iter().min().copied().unwrap_or_default();
            let max = stats.rtts.iter().max().copied().unwrap_or_default();
            let jitter = if stats.rtts.len() < 2 {
                0.0
            } else {
                let diffs: f64 = stats
                    .rtts
                    .windows(2)
                    .map(|w| (w[1].as_secs_f64() - w[0].as_secs_f64()).abs())
                    .sum();
                diffs / (stats.rtts.len() - 1) as f64
            };
            m.gauge(
                "probe_icmp_rtt_min_seconds",
                "Shortest echo round trip",
                min.as_secs_f64(),
            );
            m.gauge(
                "probe_icmp_rtt_avg_seconds",
                "Mean echo round trip",
                avg.as_secs_f64(),
            );
            m.gauge(
                "probe_icmp_rtt_max_seconds",
                "Longest echo round trip",
                max.as_secs_f64(),
            );
            m.gauge(
                "probe_icmp_rtt_jitter_seconds",
                "Mean absolute difference between consecutive round trips",
                jitter,
            );
        }
    }
    result
}

async fn probe_inner(run: &mut ProbeRun<'_>, stats: &mut Stats) -> Result<(), Failure> {
    let cfg: &IcmpProbe = &run.module.icmp;
    let (ip, took) = run
        .resolve(
            run.target,
            cfg.preferred_ip_protocol,
            cfg.ip_protocol_fallback,
        )
        .await?;
    stats.resolve = took;

    let setup_started = Instant::now();
    run.info("Creating socket");
    let (socket, kind) = open_socket(ip, cfg.source_ip_address)?;
    if kind == Kind::Raw {
        run.info("Unprivileged ICMP socket not permitted, using a raw socket");
    }
    configure(&socket, ip, cfg)
        .map_err(|e| Failure::new(FailureReason::Local, format!("setting socket options: {e}")))?;
    // Raw IPv4 replies carry their IP header; everything else reports the hop limit only as
    // ancillary data, which must be asked for. Without it the probe still works, as blackbox's
    // does, just without probe_icmp_reply_hop_limit.
    if !(ip.is_ipv4() && kind == Kind::Raw) {
        if let Err(e) = crate::hop_limit::enable(&socket, ip.is_ipv4()) {
            run.info(format!("Cannot read the reply hop limit: {e}"));
        }
    }
    // tokio's UdpSocket only issues send/recv on the descriptor, which is exactly what an ICMP
    // socket (datagram or raw) needs, and gives readiness without unsafe registration code.
    let std_socket: std::net::UdpSocket = socket.into();
    let fd = tokio::net::UdpSocket::from_std(std_socket)
        .map_err(|e| Failure::new(FailureReason::Local, format!("registering socket: {e}")))?;
    stats.setup = setup_started.elapsed();

    let payload = payload(cfg.payload_size);
    let id: u16 = (std::process::id() as u16) ^ (setup_started.elapsed().subsec_nanos() as u16);
    let packets = cfg.packets.max(1);
    // Several requests are spread over up to half the budget (at most a second apart, as ping),
    // so loss and jitter describe the path rather than one burst.
    let spacing = (run.remaining() / (2 * packets)).min(Duration::from_secs(1));
    for seq in 0..packets {
        let seq = seq as u16 ^ (id.rotate_left(7));
        let request = echo_request(ip.is_ipv4(), id, seq, &payload);
        run.info(format!("Writing out packet seq={seq} id={id}"));
        let sent_at = Instant::now();
        let write = fd.send(&request).await;
        if let Err(e) = write {
            return Err(Failure::new(
                FailureReason::Connect,
                format!("Error writing to socket: {e}"),
            ));
        }
        stats.sent += 1;
        // Each request gets an equal share of the time left.
        let remaining = run.remaining();
        let share = remaining / (packets - stats.sent + 1);
        let wait_until = tokio::time::Instant::now() + share;
        let got =
            tokio::time::timeout_at(wait_until, wait_reply(&fd, kind, ip.is_ipv4(), id, seq)).await;
        match got {
            Ok(Ok(hop)) => {
                let rtt = sent_at.elapsed();
                run.info(format!(
                    "Found matching reply packet rtt={:.6}s",
                    rtt.as_secs_f64()
                ));
                stats.rtts.push(rtt);
                if hop.is_some() {
                    stats.hop_limit = hop;
                }
            }
            Ok(Err(e)) => {
                return Err(Failure::new(
                    FailureReason::Connect,
                    format!("Error reading from socket: {e}"),
                ))
            }
            Err(_) => run.info(format!("No reply to seq={seq} in time")),
        }
        if stats.sent < packets {
            tokio::time::sleep_until(tokio::time::Instant::from_std(sent_at) + spacing).await;
        }
    }
    if stats.rtts.is_empty() {
        return Err(Failure::new(
            FailureReason::IcmpNoReply,
            "Timeout reading from socket: no echo reply",
        ));
    }
    Ok(())
}

/// Tries the unprivileged datagram socket, then a raw one; explains when neither is allowed.
fn open_socket(ip: IpAddr, source: Option<IpAddr>) -> Result<(Socket, Kind), Failure> {
    let (domain, proto) = if ip.is_ipv4() {
        (Domain::IPV4, Protocol::ICMPV4)
    } else {
        (Domain::IPV6, Protocol::ICMPV6)
    };
    let dgram_err = match Socket::new(domain, Type::DGRAM, Some(proto)) {
        Ok(s) => return connect(s, ip, source, Kind::Datagram),
        Err(e) => e,
    };
    match Socket::new(domain, Type::RAW, Some(proto)) {
        Ok(s) => connect(s, ip, source, Kind::Raw),
        Err(raw_err) => {
            let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range")
                .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_else(|_| "unknown".into());
            let gid = rustix::process::getegid().as_raw();
            Err(Failure::new(
                FailureReason::IcmpPermission,
                format!(
                    "ICMP is not permitted: unprivileged ICMP sockets need this process's group (gid {gid}) inside \
                     the sysctl net.ipv4.ping_group_range (now \"{range}\"; e.g. sysctl -w net.ipv4.ping_group_range=\"0 2147483647\") \
                     ({dgram_err}), and raw sockets need the capability CAP_NET_RAW ({raw_err})"
                ),
            ))
        }
    }
}

fn connect(
    s: Socket,
    ip: IpAddr,
    source: Option<IpAddr>,
    kind: Kind,
) -> Result<(Socket, Kind), Failure> {
    if let Some(src) = source {
        s.bind(&SockAddr::from(SocketAddr::new(src, 0)))
            .map_err(|e| {
                Failure::new(
                    FailureReason::Connect,
                    format!("binding source address {src}: {e}"),
                )
            })?;
    }
    s.set_nonblocking(true)
        .and_then(|()| s.connect(&SockAddr::from(SocketAddr::new(ip, 0))))
        .map_err(|e| {
            Failure::new(
                FailureReason::Connect,
                format!("connecting ICMP socket: {e}"),
            )
        })?;
    Ok((s, kind))
}

fn configure(s: &Socket, ip: IpAddr, cfg: &IcmpProbe) -> std::io::Result<()> {
    let ttl = cfg.ttl.unwrap_or(64);
    if ip.is_ipv4() {
        s.set_ttl_v4(ttl)?;
        if cfg.dont_fragment {
            rustix::net::sockopt::set_ip_mtu_discover(
                s,
                rustix::net::sockopt::Ipv4PathMtuDiscovery::DO,
            )?;
        }
    } else {
        s.set_unicast_hops_v6(ttl)?;
    }
    Ok(())
}

/// blackbox's payload: its name, or `payload_size` bytes.
fn payload(size: Option<usize>) -> Vec<u8> {
    match size {
        Some(n) => (0..n)
            .map(|i| b"Prometheus Blackbox Exporter"[i % 28])
            .collect(),
        None => b"Prometheus Blackbox Exporter".to_vec(),
    }
}

/// An echo request (type 8 for IPv4, 128 for IPv6; the kernel fills the ICMPv6 checksum).
fn echo_request(v4: bool, id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + payload.len());
    p.push(if v4 { 8 } else { 128 });
    p.push(0);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(payload);
    if v4 {
        let sum = checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Waits for the echo reply to `seq`; returns the reply's hop limit (TTL) when known: from the
/// IP header of a raw IPv4 socket, else from the ancillary data the socket was asked for.
async fn wait_reply(
    fd: &tokio::net::UdpSocket,
    kind: Kind,
    v4: bool,
    id: u16,
    seq: u16,
) -> std::io::Result<Option<u8>> {
    use std::os::fd::AsFd;
    let mut buf = [0u8; 2048];
    loop {
        let (n, from_control) = fd
            .async_io(tokio::io::Interest::READABLE, || {
                crate::hop_limit::recv(fd.as_fd(), &mut buf)
            })
            .await?;
        if let Some(from_header) = match_reply(&buf[..n], kind, v4, id, seq) {
            return Ok(from_header.or(from_control));
        }
    }
}

/// `Some(ttl)` if `packet` is the reply we wait for; the inner TTL is only known from a raw
/// IPv4 socket's IP header.
fn match_reply(packet: &[u8], kind: Kind, v4: bool, id: u16, seq: u16) -> Option<Option<u8>> {
    let (icmp, ttl) = if v4 && kind == Kind::Raw {
        let ihl = usize::from(packet.first()? & 0x0f) * 4;
        (packet.get(ihl..)?, packet.get(8).copied())
    } else {
        (packet, None)
    };
    let reply_type = if v4 { 0 } else { 129 };
    if icmp.len() < 8 || icmp[0] != reply_type {
        return None;
    }
    let got_id = u16::from_be_bytes([icmp[4], icmp[5]]);
    let got_seq = u16::from_be_bytes([icmp[6], icmp[7]]);
    // Datagram sockets rewrite the id to the socket's own; the kernel already filtered by it.
    if got_seq != seq || (kind == Kind::Raw && got_id != id) {
        return None;
    }
    Some(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_a_request_verifies_to_zero() {
        let p = echo_request(true, 0x1234, 1, b"abc");
        assert_eq!(checksum(&p), 0);
    }

    #[test]
    fn replies_are_matched_by_sequence_and_id() {
        let mut reply = echo_request(true, 7, 9, b"x");
        reply[0] = 0;
        assert_eq!(match_reply(&reply, Kind::Datagram, true, 1, 9), Some(None));
        assert_eq!(match_reply(&reply, Kind::Datagram, true, 1, 8), None);
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 57, 1, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
        ];
        ip.extend_from_slice(&reply);
        assert_eq!(match_reply(&ip, Kind::Raw, true, 7, 9), Some(Some(57)));
        assert_eq!(match_reply(&ip, Kind::Raw, true, 8, 9), None);
    }
}
