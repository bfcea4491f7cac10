//! Accepting connections: plain or TLS, HTTP/1.1 or HTTP/2 by ALPN, graceful shutdown, signals.

use super::routes::handle;
use super::ServerState;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub(super) async fn signal_loop(state: Arc<ServerState>, shutdown: watch::Sender<bool>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot install signal handlers; SIGHUP reload disabled");
        return;
    };
    let mut stop_rx = shutdown.subscribe();
    loop {
        tokio::select! {
            _ = hup.recv() => {
                let s = Arc::clone(&state);
                // Reloading reads files; keep it off the async workers.
                let _ = tokio::task::spawn_blocking(move || s.reload()).await;
            }
            _ = term.recv() => { let _ = shutdown.send(true); return; }
            _ = int.recv() => { let _ = shutdown.send(true); return; }
            _ = stopped(&mut stop_rx) => return,
        }
    }
}

/// Resolves once shutdown was requested (the watch guard is dropped inside, keeping callers `Send`).
pub(super) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

pub(super) async fn accept_loop(
    listener: TcpListener,
    state: Arc<ServerState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                match accepted {
                    Ok((stream, peer)) => {
                        let Ok(permit) = Arc::clone(&state.connections).try_acquire_owned() else {
                            tracing::warn!(peer = %peer, "too many open connections; closing a new one");
                            continue;
                        };
                        let _ = stream.set_nodelay(true);
                        let st = Arc::clone(&state);
                        let sd = shutdown.clone();
                        conns.spawn(async move {
                            serve_connection(stream, peer, st, sd).await;
                            drop(permit);
                        });
                    }
                    Err(e) => {
                        // Out of file descriptors and similar: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = stopped(&mut shutdown) => break,
        }
    }
    // Stop accepting at once; open connections drain below.
    drop(listener);
    while conns.join_next().await.is_some() {}
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    state: Arc<ServerState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let security = state.security();
    match &security.tls {
        None => {
            let svc = service(Arc::clone(&state));
            let builder = connection_builder(false);
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            drive(conn, &mut shutdown).await;
        }
        Some(tls) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(tls));
            let tls_stream = match tokio::time::timeout(
                Duration::from_secs(10),
                acceptor.accept(stream),
            )
            .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(peer = %peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(peer = %peer, "TLS handshake timed out");
                    return;
                }
            };
            if !security.client_allowed_sans.is_empty() {
                let allowed = tls_stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .is_some_and(|leaf| {
                        crate::certificate::has_any_san(
                            leaf.as_ref(),
                            &security.client_allowed_sans,
                        )
                    });
                if !allowed {
                    tracing::info!(peer = %peer, "client certificate SAN not in client_allowed_sans");
                    return;
                }
            }
            // HTTP/2 only when TLS negotiated it by ALPN, which the web config offers only with
            // `http2` enabled; an h2 preface on an HTTP/1.1 connection is refused.
            let h2 = tls_stream.get_ref().1.alpn_protocol() == Some(b"h2");
            let svc = service(Arc::clone(&state));
            let builder = connection_builder(h2);
            let conn = builder.serve_connection(TokioIo::new(tls_stream), svc);
            drive(conn, &mut shutdown).await;
        }
    }
}

/// The HTTP server for one connection: HTTP/1.1, or HTTP/2 when `h2` (negotiated by TLS
/// ALPN). As with the exporter-toolkit, plaintext connections never speak HTTP/2 (no h2c):
/// `http_server_config.http2` is documented as TLS-only, and a proxy or scanner that sends an
/// h2 preface to a plaintext port gets an HTTP/1.1 error instead of a second protocol.
fn connection_builder(h2: bool) -> hyper_util::server::conn::auto::Builder<TokioExecutor> {
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    if h2 {
        builder = builder.http2_only();
        builder
            .http2()
            .timer(hyper_util::rt::TokioTimer::new())
            .keep_alive_interval(Some(Duration::from_secs(30)))
            .keep_alive_timeout(Duration::from_secs(20));
    } else {
        builder = builder.http1_only();
        // Without a timer hyper drops its header-read timeout: a client could hold a
        // connection open forever without sending a request.
        builder
            .http1()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30));
    }
    builder
}

async fn drive<C>(conn: C, shutdown: &mut watch::Receiver<bool>)
where
    C: std::future::Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>>
        + GracefulConn,
{
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stopped(shutdown) => {
            conn.as_mut().graceful();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
        }
    }
}

/// The one method we need from hyper-util's auto connection, named so `drive` stays generic.
trait GracefulConn {
    fn graceful(self: std::pin::Pin<&mut Self>);
}

impl<I, S, E> GracefulConn for hyper_util::server::conn::auto::Connection<'_, I, S, E>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<Full<Bytes>>>,
    S::Future: 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, Full<Bytes>>,
{
    fn graceful(self: std::pin::Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

fn service(
    state: Arc<ServerState>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl std::future::Future<Output = Result<Response<Full<Bytes>>, Infallible>>
                 + Send
                 + 'static,
> + Clone {
    hyper::service::service_fn(move |req| {
        let state = Arc::clone(&state);
        // Read per request, not per connection: after a reload that removes a user, a
        // keep-alive connection must not go on with the old credentials.
        let security = state.security();
        async move {
            let mut resp = handle(&state, &security, req).await;
            for (k, v) in &security.headers {
                resp.headers_mut().insert(k.clone(), v.clone());
            }
            Ok::<_, Infallible>(resp)
        }
    })
}
