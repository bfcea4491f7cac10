//! A small authoritative DNS responder (UDP and TCP) built on hickory-proto.

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

use super::{acceptor, ServerCert};

fn soa() -> Record {
    Record::from_rdata(
        Name::from_ascii("example.test.").unwrap(),
        3600,
        RData::SOA(SOA::new(
            Name::from_ascii("ns.example.test.").unwrap(),
            Name::from_ascii("admin.example.test.").unwrap(),
            2024010101,
            7200,
            900,
            1209600,
            300,
        )),
    )
}

/// The zone: `example.test` (A, AAAA, SOA), `refused.test` (REFUSED), `norecurse.test`
/// (REFUSED when RD is set), `silent.test` (no answer at all), everything else NXDOMAIN.
fn answer(query: &Message) -> Option<Message> {
    let q = query.queries().first()?.clone();
    let name = q.name().to_ascii().to_lowercase();
    let mut resp = Message::new();
    resp.set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .set_authoritative(true)
        .set_recursion_desired(query.recursion_desired())
        .add_query(q.clone());
    let owner = q.name().clone();
    match name.as_str() {
        "example.test." => {
            let want = q.query_type();
            if want == RecordType::A || want == RecordType::ANY {
                resp.add_answer(Record::from_rdata(
                    owner.clone(),
                    300,
                    RData::A(A::new(127, 0, 0, 1)),
                ));
            }
            if want == RecordType::AAAA || want == RecordType::ANY {
                resp.add_answer(Record::from_rdata(
                    owner.clone(),
                    300,
                    RData::AAAA(AAAA::new(0, 0, 0, 0, 0, 0, 0, 1)),
                ));
            }
            if want == RecordType::SOA || want == RecordType::ANY {
                resp.add_answer(soa());
            }
            resp.add_additional(Record::from_rdata(
                Name::from_ascii("ns.example.test.").unwrap(),
                300,
                RData::A(A::new(127, 0, 0, 53)),
            ));
        }
        "refused.test." => {
            resp.set_response_code(ResponseCode::Refused);
        }
        "norecurse.test." => {
            if query.recursion_desired() {
                resp.set_response_code(ResponseCode::Refused);
            } else {
                resp.add_answer(Record::from_rdata(
                    owner,
                    60,
                    RData::A(A::new(127, 0, 0, 2)),
                ));
            }
        }
        "silent.test." => return None,
        _ => {
            resp.set_response_code(ResponseCode::NXDomain);
            resp.add_name_server(soa());
        }
    }
    Some(resp)
}

/// Starts the responder on UDP and TCP at the same 127.0.0.1 port.
pub async fn start_dns() -> SocketAddr {
    // Find a port free for both protocols.
    let (udp, tcp) = loop {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = udp.local_addr().unwrap().port();
        if let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)).await {
            break (udp, tcp);
        }
    };
    let addr = udp.local_addr().unwrap();
    let udp = Arc::new(udp);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                continue;
            };
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            if let Some(resp) = answer(&query) {
                let _ = udp.send_to(&resp.to_vec().unwrap(), peer).await;
            }
        }
    });
    tokio::spawn(async move {
        while let Ok((mut s, _)) = tcp.accept().await {
            tokio::spawn(async move {
                let mut len = [0u8; 2];
                s.read_exact(&mut len).await.ok()?;
                let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
                s.read_exact(&mut buf).await.ok()?;
                let query = Message::from_vec(&buf).ok()?;
                let resp = answer(&query)?.to_vec().ok()?;
                s.write_all(&(resp.len() as u16).to_be_bytes()).await.ok()?;
                s.write_all(&resp).await.ok()?;
                Some(())
            });
        }
    });
    addr
}

/// The same zone over DNS over TLS (RFC 7858) on 127.0.0.1:0.
pub async fn start_dot(cert: &ServerCert) -> SocketAddr {
    let acceptor = acceptor(cert);
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = tcp.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let mut s = acceptor.accept(s).await.ok()?;
                let mut len = [0u8; 2];
                s.read_exact(&mut len).await.ok()?;
                let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
                s.read_exact(&mut buf).await.ok()?;
                let query = Message::from_vec(&buf).ok()?;
                let resp = answer(&query)?.to_vec().ok()?;
                s.write_all(&(resp.len() as u16).to_be_bytes()).await.ok()?;
                s.write_all(&resp).await.ok()?;
                s.shutdown().await.ok()?;
                Some(())
            });
        }
    });
    addr
}
