//! The [`Prober`] trait, the registry of probers, and what every probe shares: the run state
//! (metrics, debug log, deadline), target resolution with blackbox's address-family rules, and
//! the outer loop that turns a prober's result into `probe_success` and friends.

use crate::config::{IpProtocol, Module, ProberName};
use crate::failure::{self, Failure, FailureReason};
use crate::ssrf::SsrfGuard;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use watchkeeper_core::metrics::{MetricSet, MetricType};
use watchkeeper_core::probe::ProbeLog;
use watchkeeper_core::BoxFuture;

/// One prober: checks a target of one kind.
pub trait Prober: Send + Sync + 'static {
    /// The `prober:` value it serves.
    fn name(&self) -> ProberName;

    /// Checks the target's syntax before probing; `Err` becomes an HTTP 400 with that line.
    fn validate_target(&self, target: &str) -> Result<(), String>;

    /// Runs the probe, adding metrics and log lines to `run`. `Ok` means success.
    fn probe<'a>(&'a self, run: &'a mut ProbeRun<'_>) -> BoxFuture<'a, Result<(), Failure>>;
}

/// A byte stream a probe talks over (TCP, or TLS on top of it), boxed so a prober can upgrade
/// it mid-way (STARTTLS) or choose at run time.
pub trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// Aborts the task driving a hyper connection when the probe is done with it (or is dropped at
/// its deadline), so a server that never answers cannot keep a task alive.
pub struct ConnGuard(pub tokio::task::JoinHandle<()>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Every prober, one registration line each.
static PROBERS: &[&dyn Prober] = &[
    &crate::http::HttpProber,
    &crate::tcp::TcpProber,
    &crate::dns::DnsProber,
    &crate::icmp::IcmpProber,
    &crate::grpc::GrpcProber,
    &crate::unix::UnixProber,
    &crate::websocket::WebsocketProber,
];

/// The prober serving `name`, if any.
pub fn prober_for(name: ProberName) -> Option<&'static dyn Prober> {
    PROBERS.iter().copied().find(|p| p.name() == name)
}

/// The state of one probe while it runs.
pub struct ProbeRun<'a> {
    /// The `target` parameter.
    pub target: &'a str,
    /// The module.
    pub module: &'a Module,
    /// The `hostname` parameter (Host header and SNI for HTTP).
    pub hostname: Option<&'a str>,
    /// When the probe must be done.
    pub deadline: tokio::time::Instant,
    /// Where connections may go.
    pub guard: &'a SsrfGuard,
    /// The metrics produced so far (kept even when the probe times out).
    pub metrics: MetricSet,
    /// The debug log.
    pub log: ProbeLog,
}

impl<'a> ProbeRun<'a> {
    /// A run starting now with `budget` to finish.
    pub fn new(
        target: &'a str,
        module: &'a Module,
        hostname: Option<&'a str>,
        budget: Duration,
        guard: &'a SsrfGuard,
    ) -> Self {
        Self {
            target,
            module,
            hostname,
            deadline: tokio::time::Instant::now() + budget,
            guard,
            metrics: MetricSet::new(),
            log: ProbeLog::new(),
        }
    }

    /// Logs progress.
    pub fn info(&mut self, message: impl std::fmt::Display) {
        self.log.info(message);
    }

    /// Logs a problem.
    pub fn error(&mut self, message: impl std::fmt::Display) {
        self.log.error(message);
    }

    /// Time left before the deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline
            .saturating_duration_since(tokio::time::Instant::now())
    }

    /// Sets an unlabelled gauge (creating the family).
    pub fn gauge(&mut self, name: &'static str, help: &'static str, value: f64) {
        self.metrics.gauge(name, help, value);
    }

    /// Resolves `host` to one address following blackbox's rules (`preferred_ip_protocol`,
    /// `ip_protocol_fallback`), emits `probe_dns_lookup_time_seconds`, `probe_ip_protocol`,
    /// `probe_ip_addr_hash` (both 0 when resolution fails, as blackbox registers them before
    /// resolving), and applies the SSRF guard. Returns the address and lookup time.
    pub async fn resolve(
        &mut self,
        host: &str,
        preferred: IpProtocol,
        fallback: bool,
    ) -> Result<(IpAddr, Duration), Failure> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.info(format!(
            "Resolving target address target={host} ip_protocol={}",
            match preferred {
                IpProtocol::Ip4 => "ip4",
                IpProtocol::Ip6 => "ip6",
            }
        ));
        let started = Instant::now();
        let chosen = choose(host, preferred, fallback).await;
        let took = started.elapsed();
        self.lookup_time(took);
        let (protocol, hash) = match &chosen {
            Ok(ip) => (if ip.is_ipv4() { 4.0 } else { 6.0 }, ip_hash(*ip)),
            Err(_) => (0.0, 0.0),
        };
        self.gauge(
            "probe_ip_protocol",
            "Specifies whether probe ip protocol is IP4 or IP6",
            protocol,
        );
        self.gauge(
            "probe_ip_addr_hash",
            "Specifies the hash of IP address. It's useful to detect if the IP address changes.",
            hash,
        );
        let ip = chosen?;
        self.info(format!("Resolved target address target={host} ip={ip}"));
        self.check_guard(ip)?;
        Ok((ip, took))
    }

    fn lookup_time(&mut self, took: Duration) {
        self.gauge(
            "probe_dns_lookup_time_seconds",
            "Returns the time taken for probe dns lookup in seconds",
            took.as_secs_f64(),
        );
    }

    /// Applies the SSRF guard to an address about to be connected to.
    pub fn check_guard(&mut self, ip: IpAddr) -> Result<(), Failure> {
        self.guard
            .check(ip)
            .map_err(|m| Failure::new(FailureReason::Denied, m))
    }
}

/// The address `resolve` picks, with its failure messages.
async fn choose(host: &str, preferred: IpProtocol, fallback: bool) -> Result<IpAddr, Failure> {
    let candidates: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => match tokio::net::lookup_host((host, 0u16)).await {
            Ok(addrs) => addrs.map(|a| a.ip()).collect(),
            Err(e) => {
                return Err(Failure::new(
                    FailureReason::Dns,
                    format!("Resolution with IP protocol failed: {e}"),
                ))
            }
        },
    };
    let wants_v4 = preferred == IpProtocol::Ip4;
    let pick = |v4: bool| candidates.iter().copied().find(|ip| ip.is_ipv4() == v4);
    match pick(wants_v4) {
        Some(ip) => Ok(ip),
        None if fallback => pick(!wants_v4).ok_or_else(|| Failure::new(
            FailureReason::Dns,
            format!("Resolution with IP protocol failed: no address for {host}"),
        )),
        None => Err(Failure::new(
            FailureReason::Dns,
            format!("Resolution with IP protocol failed: no suitable address for {host} (ip_protocol_fallback is off)"),
        )),
    }
}

/// Resolves `host` to one address by blackbox's family rules without emitting metrics (for
/// redirects, proxies and probers whose blackbox counterpart reports no resolution metrics).
pub async fn lookup(host: &str, preferred: IpProtocol, fallback: bool) -> Result<IpAddr, Failure> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip);
    }
    let addrs: Vec<IpAddr> = tokio::net::lookup_host((host, 0u16))
        .await
        .map_err(|e| Failure::new(FailureReason::Dns, format!("resolving {host}: {e}")))?
        .map(|a| a.ip())
        .collect();
    let v4 = preferred == IpProtocol::Ip4;
    addrs
        .iter()
        .find(|a| a.is_ipv4() == v4)
        .or_else(|| if fallback { addrs.first() } else { None })
        .copied()
        .ok_or_else(|| {
            Failure::new(
                FailureReason::Dns,
                format!("no suitable address for {host}"),
            )
        })
}

/// FNV-1a (32 bit) over the address bytes, as blackbox_exporter computes `probe_ip_addr_hash`.
pub fn ip_hash(ip: IpAddr) -> f64 {
    let bytes: Vec<u8> = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    f64::from(h)
}

/// What a finished probe produced.
#[derive(Debug)]
pub struct ProbeOutcome {
    /// All metrics, including `probe_success`, `probe_duration_seconds` and, on failure,
    /// `probe_failure_info`.
    pub metrics: MetricSet,
    /// The debug log.
    pub log: ProbeLog,
    /// Whether it succeeded.
    pub success: bool,
    /// Why it failed.
    pub failure: Option<Failure>,
    /// How long it took.
    pub duration: Duration,
}

/// Checks a request before probing: the module must be fully supported and the target
/// well-formed for its prober. `Err` is the one-line HTTP 400 reason.
pub fn validate(
    module_name: &str,
    module: &Module,
    target: &str,
) -> Result<&'static dyn Prober, String> {
    let unsupported = module.unsupported();
    if !unsupported.is_empty() {
        return Err(format!(
            "module {module_name:?} uses options this exporter does not support: {}",
            unsupported.join("; ")
        ));
    }
    let Some(prober) = prober_for(module.prober) else {
        return Err(format!("Unknown prober {:?}", module.prober.as_str()));
    };
    if target.is_empty() {
        return Err("Target parameter is missing".into());
    }
    prober.validate_target(target)?;
    Ok(prober)
}

/// Runs one probe under `budget` and assembles its metrics.
pub async fn run(
    prober: &dyn Prober,
    module: &Module,
    target: &str,
    hostname: Option<&str>,
    budget: Duration,
    guard: &SsrfGuard,
) -> ProbeOutcome {
    let started = Instant::now();
    let mut run = ProbeRun::new(target, module, hostname, budget, guard);
    run.info(format!(
        "Beginning probe probe={} timeout_seconds={}",
        module.prober.as_str(),
        budget.as_secs_f64()
    ));
    let deadline = run.deadline;
    let result = match tokio::time::timeout_at(deadline, prober.probe(&mut run)).await {
        Ok(r) => r,
        Err(_) => Err(Failure::new(
            FailureReason::Timeout,
            format!("probe timed out after {:.3}s", budget.as_secs_f64()),
        )),
    };
    let duration = started.elapsed();
    let success = result.is_ok();
    match &result {
        Ok(()) => run.info(format!(
            "Probe succeeded duration_seconds={}",
            duration.as_secs_f64()
        )),
        Err(f) => {
            let msg = format!("{} (reason={})", f.message, f.reason);
            run.error(msg);
            run.error(format!(
                "Probe failed duration_seconds={}",
                duration.as_secs_f64()
            ));
        }
    }
    let mut metrics = run.metrics;
    metrics.gauge(
        "probe_duration_seconds",
        "Returns how long the probe took to complete in seconds",
        duration.as_secs_f64(),
    );
    metrics
        .family(
            "probe_success",
            "Displays whether or not the probe was a success",
            MetricType::Gauge,
        )
        .value(if success { 1.0 } else { 0.0 });
    if let Err(f) = &result {
        failure::emit(&mut metrics, f.reason);
    }
    ProbeOutcome {
        metrics: sorted(metrics),
        log: run.log,
        success,
        failure: result.err(),
        duration,
    }
}

/// The families in name order, as blackbox_exporter's registry prints them.
fn sorted(metrics: MetricSet) -> MetricSet {
    let mut families: Vec<_> = metrics.families().to_vec();
    families.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = MetricSet::new();
    for f in families {
        out.family(f.name, f.help, f.kind).samples = f.samples;
    }
    out
}

/// Splits `host:port` (with `[v6]:port`), as the tcp, dns and grpc probers take targets.
pub fn split_host_port(target: &str) -> Result<(&str, u16), String> {
    let (host, port) = if let Some(rest) = target.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return Err(format!("target {target:?}: missing ']' in address"));
        };
        let host = &rest[..end];
        let after = &rest[end + 1..];
        let Some(port) = after.strip_prefix(':') else {
            return Err(format!("target {target:?}: missing port"));
        };
        (host, port)
    } else {
        match target.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, p),
            Some(_) => {
                return Err(format!(
                    "target {target:?}: too many colons in address (use [v6]:port)"
                ))
            }
            None => return Err(format!("target {target:?}: missing port in address")),
        }
    };
    if host.is_empty() {
        return Err(format!("target {target:?}: missing host"));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| format!("target {target:?}: port {port:?} is not a number in 0..65535"))?;
    Ok((host, port))
}

/// Connects TCP to `ip:port`, from `source` if given.
pub async fn tcp_connect(
    ip: IpAddr,
    port: u16,
    source: Option<IpAddr>,
) -> Result<tokio::net::TcpStream, Failure> {
    let addr = std::net::SocketAddr::new(ip, port);
    let socket = if ip.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(|e| failure::from_connect_error(&e))?;
    if let Some(src) = source {
        socket
            .bind(std::net::SocketAddr::new(src, 0))
            .map_err(|e| {
                Failure::new(
                    FailureReason::Connect,
                    format!("binding source address {src}: {e}"),
                )
            })?;
    }
    let stream = socket
        .connect(addr)
        .await
        .map_err(|e| failure::from_connect_error(&e))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_hash_matches_blackbox() {
        // Value blackbox_exporter 0.23 reports for 127.0.0.1.
        assert_eq!(ip_hash("127.0.0.1".parse().unwrap()), 3668918509.0);
    }

    #[test]
    fn host_port_split() {
        assert_eq!(split_host_port("a:1").unwrap(), ("a", 1));
        assert_eq!(split_host_port("[::1]:53").unwrap(), ("::1", 53));
        assert!(split_host_port("a:99999").unwrap_err().contains("port"));
        assert!(split_host_port("a").is_err());
        assert!(split_host_port("::1:53").is_err());
    }
}
