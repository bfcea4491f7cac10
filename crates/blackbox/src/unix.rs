//! The unix prober (newer blackbox_exporter): connect to a Unix domain socket given as the
//! target path, optionally over TLS, then the same `query_response` dialogue as tcp.
//!
//! With the SSRF guard active (`--probe.deny-cidr` / `--probe.allow-cidr`), unix probes are
//! refused: a local socket path is not an address the guard can judge, and a public probe
//! endpoint should not reach local daemons.

use crate::config::{ProberName, UnixProbe};
use crate::failure::{Failure, FailureReason};
use crate::prober::{Io, ProbeRun, Prober};
use crate::tcp::{dialogue, emit_dialogue, DialogueStats};
use crate::tls;
use watchkeeper_core::BoxFuture;

/// The unix prober.
pub struct UnixProber;

impl Prober for UnixProber {
    fn name(&self) -> ProberName {
        ProberName::Unix
    }

    fn validate_target(&self, target: &str) -> Result<(), String> {
        if target.contains('\0') {
            return Err(format!("target {target:?} is not a socket path"));
        }
        Ok(())
    }

    fn probe<'a>(&'a self, run: &'a mut ProbeRun<'_>) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(probe(run))
    }
}

async fn probe(run: &mut ProbeRun<'_>) -> Result<(), Failure> {
    let mut stats = DialogueStats::default();
    let deadline = run.deadline;
    let result = match tokio::time::timeout_at(deadline, probe_inner(run, &mut stats)).await {
        Ok(r) => r,
        Err(_) => Err(Failure::new(
            FailureReason::Timeout,
            "unix probe timed out (probe deadline reached)",
        )),
    };
    emit_dialogue(run, &stats);
    result
}

async fn probe_inner(run: &mut ProbeRun<'_>, stats: &mut DialogueStats) -> Result<(), Failure> {
    let cfg: &UnixProbe = &run.module.unix;
    if run.guard.is_active() {
        return Err(Failure::new(
            FailureReason::Denied,
            "unix socket probes are refused while --probe.deny-cidr/--probe.allow-cidr is set",
        ));
    }
    let path = run.target.strip_prefix("unix://").unwrap_or(run.target);
    run.info(format!(
        "Dialing unix socket path={path} {}",
        if cfg.tls { "with TLS" } else { "without TLS" }
    ));
    let stream = tokio::net::UnixStream::connect(path).await.map_err(|e| {
        let reason = match e.kind() {
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound => {
                FailureReason::ConnectRefused
            }
            _ => FailureReason::Connect,
        };
        let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
            " (permission denied: the exporter's user needs write access to the socket)"
        } else {
            ""
        };
        Failure::new(
            reason,
            format!("Error dialing unix socket {path}: {e}{hint}"),
        )
    })?;
    run.info("Successfully dialed");
    // Over a socket path there is no host name: TLS names the server by tls_config.server_name.
    let server = cfg
        .tls_config
        .server_name
        .clone()
        .unwrap_or_else(|| "localhost".into());
    let mut conn: Box<dyn Io> = Box::new(stream);
    if cfg.tls {
        let (tls_stream, facts, _) = tls::handshake(conn, &cfg.tls_config, &server, &[]).await?;
        stats.tls = Some(facts);
        conn = Box::new(tls_stream);
    }
    dialogue(
        run,
        conn,
        &cfg.query_response,
        &cfg.tls_config,
        &server,
        stats,
    )
    .await
}
