//! The grpc prober against a hand-written `grpc.health.v1.Health` server on hyper HTTP/2,
//! plain (prior knowledge) and over TLS.

mod common;

use common::grpc::start_grpc;
use common::*;

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
