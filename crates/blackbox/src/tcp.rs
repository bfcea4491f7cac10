//! The tcp prober: connect, optional TLS, then the `query_response` dialogue (`expect` a line
//! matching a regex, `send` a line with `${1}` taken from that match, `starttls` to upgrade),
//! which is enough to check SMTP, IMAP, POP3, SSH and IRC banners and STARTTLS certificates.

use crate::config::{ProberName, QueryResponse, TcpProbe};
use crate::failure::{Failure, FailureReason};
use crate::prober::{split_host_port, tcp_connect, Io, ProbeRun, Prober};
use crate::tls::{self, TlsFacts};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use watchkeeper_core::metrics::{LabelSet, MetricType};
use watchkeeper_core::tls_client::TlsClientOptions;
use watchkeeper_core::BoxFuture;

/// Longest line kept while waiting for a match (bufio.Scanner's default limit).
const MAX_LINE: usize = 64 * 1024;

/// The tcp prober.
pub struct TcpProber;

impl Prober for TcpProber {
    fn name(&self) -> ProberName {
        ProberName::Tcp
    }

    fn validate_target(&self, target: &str) -> Result<(), String> {
        split_host_port(target).map(|_| ())
    }

    fn probe<'a>(&'a self, run: &'a mut ProbeRun<'_>) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(probe(run))
    }
}

/// What a `query_response` dialogue reports (shared with the unix prober).
#[derive(Default)]
pub(crate) struct DialogueStats {
    pub(crate) failed_due_to_regex: bool,
    pub(crate) tls: Option<TlsFacts>,
    pub(crate) expect_labels: Option<LabelSet>,
}

async fn probe(run: &mut ProbeRun<'_>) -> Result<(), Failure> {
    let mut stats = DialogueStats::default();
    let deadline = run.deadline;
    let result = match tokio::time::timeout_at(deadline, probe_inner(run, &mut stats)).await {
        Ok(r) => r,
        Err(_) => Err(Failure::new(
            FailureReason::Timeout,
            "TCP probe timed out (probe deadline reached)",
        )),
    };
    emit_dialogue(run, &stats);
    result
}

/// `probe_failed_due_to_regex`, `probe_expect_info` and the TLS metrics of a dialogue.
pub(crate) fn emit_dialogue(run: &mut ProbeRun<'_>, stats: &DialogueStats) {
    let m = &mut run.metrics;
    m.gauge(
        "probe_failed_due_to_regex",
        "Indicates if probe failed due to regex",
        if stats.failed_due_to_regex { 1.0 } else { 0.0 },
    );
    if let Some(labels) = &stats.expect_labels {
        m.family(
            "probe_expect_info",
            "Explicit content matched",
            MetricType::Gauge,
        )
        .sample_rendered(labels, 1.0);
    }
    if let Some(f) = &stats.tls {
        tls::emit(m, f, true);
    }
}

async fn probe_inner(run: &mut ProbeRun<'_>, stats: &mut DialogueStats) -> Result<(), Failure> {
    let cfg: &TcpProbe = &run.module.tcp;
    let (host, port) =
        split_host_port(run.target).map_err(|m| Failure::new(FailureReason::Local, m))?;
    let host = host.to_string();
    let (ip, _) = run
        .resolve(&host, cfg.preferred_ip_protocol, cfg.ip_protocol_fallback)
        .await?;
    run.info(format!(
        "Dialing TCP {}",
        if cfg.tls { "with TLS" } else { "without TLS" }
    ));
    let stream = match tcp_connect(ip, port, cfg.source_ip_address).await {
        Ok(s) => s,
        Err(f) => {
            run.error(format!("Error dialing TCP err={}", f.message));
            return Err(f);
        }
    };
    run.info("Successfully dialed");
    let mut conn: Box<dyn Io> = Box::new(stream);
    if cfg.tls {
        let (tls_stream, facts, _) = tls::handshake(conn, &cfg.tls_config, &host, &[]).await?;
        stats.tls = Some(facts);
        conn = Box::new(tls_stream);
    }
    dialogue(
        run,
        conn,
        &cfg.query_response,
        &cfg.tls_config,
        &host,
        stats,
    )
    .await
}

/// Runs the `query_response` steps over `conn`; `host` names the server for STARTTLS.
pub(crate) async fn dialogue(
    run: &mut ProbeRun<'_>,
    mut conn: Box<dyn Io>,
    steps: &[QueryResponse],
    tls_config: &TlsClientOptions,
    host: &str,
    stats: &mut DialogueStats,
) -> Result<(), Failure> {
    let mut reader = LineReader::default();
    for (i, qr) in steps.iter().enumerate() {
        run.info(format!("Processing query response entry entry_number={i}"));
        let mut send = qr.send.clone();
        if let Some(expect) = &qr.expect {
            let re = &expect.0;
            let line = loop {
                match reader.next_line(&mut conn).await {
                    Ok(Some(line)) => {
                        run.info(format!("Read line line={line:?}"));
                        if re.is_match(&line) {
                            break line;
                        }
                    }
                    Ok(None) => {
                        stats.failed_due_to_regex = true;
                        return Err(Failure::new(
                            FailureReason::QueryResponse,
                            format!(
                                "Regexp did not match regexp={:?} (connection closed)",
                                re.as_str()
                            ),
                        ));
                    }
                    Err(e) => {
                        return Err(Failure::new(
                            FailureReason::QueryResponse,
                            format!("Error reading from connection err={e}"),
                        ));
                    }
                }
            };
            run.info(format!(
                "Regexp matched regexp={:?} line={line:?}",
                re.as_str()
            ));
            // The line matched, so the captures exist.
            if let Some(caps) = re.captures(&line) {
                if let Some(template) = &qr.send {
                    let mut expanded = String::new();
                    caps.expand(template, &mut expanded);
                    send = Some(expanded);
                }
                if !qr.labels.is_empty() {
                    let mut set = LabelSet::new();
                    for l in &qr.labels {
                        let mut value = String::new();
                        caps.expand(&l.value, &mut value);
                        set.push(&l.name, &value);
                    }
                    stats.expect_labels = Some(set);
                }
            }
        }
        if let Some(s) = send.filter(|s| !s.is_empty()) {
            run.info(format!("Sending line line={s:?}"));
            let mut bytes = s.into_bytes();
            bytes.push(b'\n');
            conn.write_all(&bytes).await.map_err(|e| {
                Failure::new(
                    FailureReason::QueryResponse,
                    format!("Failed to send err={e}"),
                )
            })?;
        }
        if qr.starttls {
            run.info("Starting TLS");
            // As blackbox: anything already buffered from the plain connection is discarded.
            reader = LineReader::default();
            let (tls_stream, facts, _) = tls::handshake(conn, tls_config, host, &[]).await?;
            stats.tls = Some(facts);
            conn = Box::new(tls_stream);
            run.info("TLS upgrade succeeded");
        }
    }
    let _ = conn.shutdown().await;
    Ok(())
}

/// Reads `\n`-terminated lines (a trailing `\r` dropped, as Go's `bufio.Scanner`).
#[derive(Default)]
struct LineReader {
    buf: Vec<u8>,
    eof: bool,
}

impl LineReader {
    async fn next_line<R: AsyncRead + Unpin + ?Sized>(
        &mut self,
        r: &mut R,
    ) -> std::io::Result<Option<String>> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            if self.eof {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                let line = std::mem::take(&mut self.buf);
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            if self.buf.len() > MAX_LINE {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "line too long",
                ));
            }
            let mut chunk = [0u8; 4096];
            let n = r.read(&mut chunk).await?;
            if n == 0 {
                self.eof = true;
            } else {
                self.buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_split_like_bufio_scanner() {
        let data: &[u8] = b"220 hello\r\n250-a\n last";
        let mut r = data;
        let mut lr = LineReader::default();
        assert_eq!(
            lr.next_line(&mut r).await.unwrap().as_deref(),
            Some("220 hello")
        );
        assert_eq!(
            lr.next_line(&mut r).await.unwrap().as_deref(),
            Some("250-a")
        );
        assert_eq!(
            lr.next_line(&mut r).await.unwrap().as_deref(),
            Some(" last")
        );
        assert_eq!(lr.next_line(&mut r).await.unwrap(), None);
    }
}
