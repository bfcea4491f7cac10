//! The grpc prober: the standard `grpc.health.v1.Health/Check` over HTTP/2 (h2c with prior
//! knowledge, or TLS with ALPN h2), with the two tiny protobuf messages encoded by hand.

use crate::config::{GrpcProbe, ProberName};
use crate::failure::{Failure, FailureReason};
use crate::prober::{split_host_port, tcp_connect, ConnGuard, Io, ProbeRun, Prober};
use crate::tls::{self, TlsFacts};
use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::time::{Duration, Instant};

use watchkeeper_core::metrics::MetricType;
use watchkeeper_core::BoxFuture;

/// gRPC status codes the prober sets itself (transport failures), as grpc-go reports them.
const UNAVAILABLE: u32 = 14;
const DEADLINE_EXCEEDED: u32 = 4;
const UNKNOWN: u32 = 2;

/// The serving status names in enum order (`grpc.health.v1.HealthCheckResponse.ServingStatus`).
const SERVING_STATUS: [&str; 4] = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

/// The grpc prober.
pub struct GrpcProber;

impl Prober for GrpcProber {
    fn name(&self) -> ProberName {
        ProberName::Grpc
    }

    fn validate_target(&self, target: &str) -> Result<(), String> {
        split_host_port(strip_scheme(target)).map(|_| ())
    }

    fn probe<'a>(&'a self, run: &'a mut ProbeRun<'_>) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(probe(run))
    }
}

/// Targets may be written `host:port` or as a URL (`grpc://`, `http://`, `https://`); TLS is
/// decided by the module's `tls`, as in blackbox.
fn strip_scheme(target: &str) -> &str {
    let t = ["grpc://", "grpcs://", "http://", "https://"]
        .iter()
        .find_map(|p| target.strip_prefix(p))
        .unwrap_or(target);
    t.trim_end_matches('/')
}

#[derive(Default)]
struct Stats {
    resolve: Duration,
    check: Duration,
    status_code: u32,
    serving: Option<usize>,
    tls: Option<TlsFacts>,
    /// Whether the target's name was resolved: until then blackbox reports only the `resolve`
    /// phase and no health check response.
    resolved: bool,
}

async fn probe(run: &mut ProbeRun<'_>) -> Result<(), Failure> {
    let mut stats = Stats::default();
    let deadline = run.deadline;
    let check_started = Instant::now();
    let result = match tokio::time::timeout_at(deadline, probe_inner(run, &mut stats)).await {
        Ok(r) => r,
        Err(_) => {
            stats.status_code = DEADLINE_EXCEEDED;
            stats.check = check_started.elapsed().saturating_sub(stats.resolve);
            Err(Failure::new(
                FailureReason::Timeout,
                "gRPC health check timed out (probe deadline reached)",
            ))
        }
    };
    let m = &mut run.metrics;
    let fam = m.family(
        "probe_grpc_duration_seconds",
        "Duration of gRPC request by phase",
        MetricType::Gauge,
    );
    if stats.resolved {
        fam.sample(&[("phase", "check")], stats.check.as_secs_f64());
    }
    fam.sample(&[("phase", "resolve")], stats.resolve.as_secs_f64());
    if stats.resolved {
        let fam = m.family(
            "probe_grpc_healthcheck_response",
            "Response HealthCheck response",
            MetricType::Gauge,
        );
        for (i, name) in SERVING_STATUS.iter().enumerate() {
            fam.sample(
                &[("serving_status", name)],
                if stats.serving == Some(i) { 1.0 } else { 0.0 },
            );
        }
    }
    m.gauge(
        "probe_grpc_ssl",
        "Indicates if SSL was used for the connection",
        if stats.tls.is_some() { 1.0 } else { 0.0 },
    );
    m.gauge(
        "probe_grpc_status_code",
        "Response gRPC status code",
        f64::from(stats.status_code),
    );
    match &stats.tls {
        Some(f) => tls::emit(m, f, false),
        // blackbox registers this gauge for every gRPC probe; without TLS it stays 0.
        None => m.gauge(
            "probe_ssl_earliest_cert_expiry",
            "Returns last SSL chain expiry in unixtime",
            0.0,
        ),
    }
    result
}

async fn probe_inner(run: &mut ProbeRun<'_>, stats: &mut Stats) -> Result<(), Failure> {
    let cfg: &GrpcProbe = &run.module.grpc;
    let (host, port) = split_host_port(strip_scheme(run.target))
        .map_err(|m| Failure::new(FailureReason::Local, m))?;
    let host = host.to_string();
    let (ip, took) = run
        .resolve(&host, cfg.preferred_ip_protocol, cfg.ip_protocol_fallback)
        .await
        .inspect_err(|f| stats.resolved = f.reason != FailureReason::Dns)?;
    stats.resolve = took;
    stats.resolved = true;
    let started = Instant::now();
    let result = check(run, cfg, &host, ip, port, stats).await;
    stats.check = started.elapsed();
    result
}

async fn check(
    run: &mut ProbeRun<'_>,
    cfg: &GrpcProbe,
    host: &str,
    ip: std::net::IpAddr,
    port: u16,
    stats: &mut Stats,
) -> Result<(), Failure> {
    let stream = tcp_connect(ip, port, None)
        .await
        .inspect_err(|_| stats.status_code = UNAVAILABLE)?;
    let io: Box<dyn Io> = if cfg.tls {
        let (s, facts, _) = tls::handshake(stream, &cfg.tls_config, host, &[b"h2"])
            .await
            .inspect_err(|_| stats.status_code = UNAVAILABLE)?;
        stats.tls = Some(facts);
        Box::new(s)
    } else {
        Box::new(stream)
    };
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .map_err(|e| {
                stats.status_code = UNAVAILABLE;
                Failure::new(
                    FailureReason::Protocol,
                    format!("HTTP/2 handshake failed: {e}"),
                )
            })?;
    let _guard = ConnGuard(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let scheme = if cfg.tls { "https" } else { "http" };
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let req = Request::builder()
        .method("POST")
        .uri(format!(
            "{scheme}://{authority}/grpc.health.v1.Health/Check"
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header(
            "user-agent",
            concat!("Watchkeeper-Blackbox/", env!("CARGO_PKG_VERSION")),
        )
        .body(Full::new(Bytes::from(encode_request(&cfg.service))))
        .map_err(|e| Failure::new(FailureReason::Local, format!("building request: {e}")))?;
    run.info(format!("Checking health service={:?}", cfg.service));
    let resp = sender.send_request(req).await.map_err(|e| {
        stats.status_code = UNAVAILABLE;
        Failure::new(FailureReason::Protocol, format!("gRPC request failed: {e}"))
    })?;
    let http_status = resp.status();
    let headers = resp.headers().clone();
    let collected = resp.into_body().collect().await.map_err(|e| {
        stats.status_code = UNAVAILABLE;
        Failure::new(
            FailureReason::Protocol,
            format!("reading gRPC response: {e}"),
        )
    })?;
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let body = collected.to_bytes();
    if !http_status.is_success() {
        stats.status_code = UNKNOWN;
        return Err(Failure::new(
            FailureReason::GrpcStatus,
            format!("gRPC server answered HTTP {}", http_status.as_u16()),
        ));
    }
    // Trailers-only responses put grpc-status in the headers.
    let status = grpc_status(&trailers)
        .or_else(|| grpc_status(&headers))
        .unwrap_or(UNKNOWN);
    stats.status_code = status;
    if status != 0 {
        let message = trailers
            .get("grpc-message")
            .or_else(|| headers.get("grpc-message"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        return Err(Failure::new(
            FailureReason::GrpcStatus,
            format!("gRPC health check failed status_code={status} message={message:?}"),
        ));
    }
    let serving = decode_response(&body)
        .ok_or_else(|| Failure::new(FailureReason::Protocol, "malformed HealthCheckResponse"))?;
    stats.serving = Some(serving.min(3) as usize);
    let name = SERVING_STATUS
        .get(serving as usize)
        .copied()
        .unwrap_or("UNKNOWN");
    run.info(format!("Health check answered serving_status={name}"));
    if serving != 1 {
        return Err(Failure::new(
            FailureReason::GrpcStatus,
            format!("gRPC health check not SERVING: {name}"),
        ));
    }
    Ok(())
}

fn grpc_status(h: &HeaderMap) -> Option<u32> {
    h.get("grpc-status")?.to_str().ok()?.trim().parse().ok()
}

/// A length-prefixed gRPC message holding `HealthCheckRequest { string service = 1; }`.
fn encode_request(service: &str) -> Vec<u8> {
    let mut msg = Vec::new();
    if !service.is_empty() {
        msg.push(0x0a); // field 1, wire type 2 (length-delimited)
        put_varint(&mut msg, service.len() as u64);
        msg.extend_from_slice(service.as_bytes());
    }
    let mut out = Vec::with_capacity(5 + msg.len());
    out.push(0); // not compressed
    out.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    out.extend_from_slice(&msg);
    out
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The `status` of a length-prefixed `HealthCheckResponse` (0, UNKNOWN, when absent).
fn decode_response(frame: &[u8]) -> Option<u64> {
    if frame.len() < 5 || frame[0] != 0 {
        return None;
    }
    let len = u32::from_be_bytes([frame[1], frame[2], frame[3], frame[4]]) as usize;
    let msg = frame.get(5..5 + len)?;
    let mut pos = 0;
    let mut status = 0;
    while pos < msg.len() {
        let key = get_varint(msg, &mut pos)?;
        match (key >> 3, key & 7) {
            (1, 0) => status = get_varint(msg, &mut pos)?,
            // Skip unknown fields so a newer server's additions do not break the check.
            (_, 0) => {
                get_varint(msg, &mut pos)?;
            }
            (_, 2) => {
                let l = get_varint(msg, &mut pos)? as usize;
                pos = pos.checked_add(l)?;
            }
            (_, 1) => pos += 8,
            (_, 5) => pos += 4,
            _ => return None,
        }
    }
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_encoding() {
        assert_eq!(encode_request(""), vec![0, 0, 0, 0, 0]);
        assert_eq!(
            encode_request("ab"),
            vec![0, 0, 0, 0, 4, 0x0a, 2, b'a', b'b']
        );
    }

    #[test]
    fn response_decoding() {
        assert_eq!(decode_response(&[0, 0, 0, 0, 2, 0x08, 1]), Some(1));
        assert_eq!(decode_response(&[0, 0, 0, 0, 0]), Some(0));
        // An unknown string field before the status is skipped.
        assert_eq!(
            decode_response(&[0, 0, 0, 0, 5, 0x12, 1, b'x', 0x08, 2]),
            Some(2)
        );
        assert_eq!(decode_response(&[1, 0, 0, 0, 0]), None);
        assert_eq!(decode_response(&[0, 0, 0, 0, 9, 0x08]), None);
    }

    #[test]
    fn targets() {
        assert_eq!(strip_scheme("grpc://a:1/"), "a:1");
        assert_eq!(strip_scheme("a:1"), "a:1");
    }
}
