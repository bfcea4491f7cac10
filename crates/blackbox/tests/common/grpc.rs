//! A hand-written `grpc.health.v1.Health` server on hyper HTTP/2, plain (prior knowledge) or TLS.

use super::{acceptor, ServerCert};
use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use tokio::net::TcpListener;

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// "" and "api" are SERVING, "db" is NOT_SERVING, anything else is NOT_FOUND (status 5).
async fn health(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    // Length-prefixed HealthCheckRequest: field 1 (0x0a), length, service.
    let service = if body.len() > 7 && body[5] == 0x0a {
        String::from_utf8_lossy(&body[7..7 + usize::from(body[6])]).into_owned()
    } else {
        String::new()
    };
    let trailers_only = |code: &str| {
        Response::builder()
            .header("content-type", "application/grpc")
            .header("grpc-status", code)
            .header("grpc-message", "unknown service")
            .body(http_body_util::Empty::new().map_err(|e| match e {}).boxed())
            .unwrap()
    };
    if path != "/grpc.health.v1.Health/Check" {
        return Ok(trailers_only("12"));
    }
    let status: u8 = match service.as_str() {
        "" | "api" => 1,
        "db" => 2,
        _ => return Ok(trailers_only("5")),
    };
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", "0".parse().unwrap());
    let frames = vec![
        Ok::<_, Infallible>(Frame::data(Bytes::from(vec![0, 0, 0, 0, 2, 0x08, status]))),
        Ok(Frame::trailers(trailers)),
    ];
    Ok(Response::builder()
        .header("content-type", "application/grpc")
        .body(StreamBody::new(futures_util::stream::iter(frames)).boxed())
        .unwrap())
}

pub async fn start_grpc(tls: Option<&ServerCert>) -> SocketAddr {
    let acceptor = tls.map(|c| {
        let mut cfg = (**acceptor(c).config()).clone();
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(cfg))
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                let svc = hyper::service::service_fn(health);
                match acceptor {
                    Some(a) => {
                        if let Ok(s) = a.accept(stream).await {
                            let _ = builder.serve_connection(TokioIo::new(s), svc).await;
                        }
                    }
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                    }
                }
            });
        }
    });
    addr
}
