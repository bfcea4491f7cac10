//! The grpc prober against a hand-written `grpc.health.v1.Health` server on hyper HTTP/2,
//! plain (prior knowledge) and over TLS.

mod common;

use bytes::Bytes;
use common::*;
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

async fn start_grpc(tls: Option<&ServerCert>) -> SocketAddr {
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

fn modules(ca: &std::path::Path) -> String {
    format!(
        r#"
modules:
  grpc_plain:
    prober: grpc
    timeout: 2s
    grpc:
      preferred_ip_protocol: ip4
  grpc_api:
    prober: grpc
    grpc:
      preferred_ip_protocol: ip4
      service: api
  grpc_db:
    prober: grpc
    grpc:
      preferred_ip_protocol: ip4
      service: db
  grpc_unknown:
    prober: grpc
    grpc:
      preferred_ip_protocol: ip4
      service: nope
  grpc_tls:
    prober: grpc
    grpc:
      preferred_ip_protocol: ip4
      tls: true
      tls_config:
        ca_file: {}
"#,
        ca.display()
    )
}

#[tokio::test]
async fn serving_not_serving_and_unknown_services() {
    let server = start_grpc(None).await;
    let pki = Pki::new("gRPC CA");
    let ex = TestExporter::start(&modules(&pki.ca_file())).await;
    let m = ex.probe_ok("grpc_plain", &server.to_string()).await;
    m.assert_ok();
    assert_eq!(m.val("probe_grpc_status_code", ""), 0.0);
    assert_eq!(m.val("probe_grpc_ssl", ""), 0.0);
    assert_eq!(
        m.val(
            "probe_grpc_healthcheck_response",
            "serving_status=\"SERVING\""
        ),
        1.0
    );
    assert_eq!(
        m.val(
            "probe_grpc_healthcheck_response",
            "serving_status=\"NOT_SERVING\""
        ),
        0.0
    );
    assert!(m.val("probe_grpc_duration_seconds", "phase=\"check\"") > 0.0);

    ex.probe_ok("grpc_api", &format!("grpc://{server}"))
        .await
        .assert_ok();

    let m = ex.probe_ok("grpc_db", &server.to_string()).await;
    m.assert_failed("grpc_status");
    assert_eq!(
        m.val(
            "probe_grpc_healthcheck_response",
            "serving_status=\"NOT_SERVING\""
        ),
        1.0
    );

    let m = ex.probe_ok("grpc_unknown", &server.to_string()).await;
    m.assert_failed("grpc_status");
    assert_eq!(m.val("probe_grpc_status_code", ""), 5.0);
}

#[tokio::test]
async fn over_tls_and_against_a_closed_port() {
    let pki = Pki::new("gRPC CA");
    let cert = pki.leaf(&["127.0.0.1"], false);
    let server = start_grpc(Some(&cert)).await;
    let ex = TestExporter::start(&modules(&pki.ca_file())).await;
    let m = ex.probe_ok("grpc_tls", &server.to_string()).await;
    m.assert_ok();
    assert_eq!(m.val("probe_grpc_ssl", ""), 1.0);
    assert_eq!(
        m.val("probe_ssl_earliest_cert_expiry", ""),
        cert.not_after as f64
    );

    let port = closed_port().await;
    let m = ex
        .probe_ok("grpc_plain", &format!("127.0.0.1:{port}"))
        .await;
    m.assert_failed("connect_refused");
    assert_eq!(m.val("probe_grpc_status_code", ""), 14.0);
}
