//! The http prober and the OAuth 2.0 token request through real proxies written here: a SOCKS5
//! server (RFC 1928, with or without RFC 1929 username/password) and an HTTP proxy spoken over
//! TLS (https://) or plain TCP, each recording what it was asked to do.

mod common;

use common::*;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What a test proxy was asked for, one line per request.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn push(&self, s: String) {
        self.0.lock().unwrap().push(s);
    }
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// Connects to a host name or address, IPv4 first (the test targets listen on 127.0.0.1).
async fn connect_upstream(host: &str, port: u16) -> Option<TcpStream> {
    let mut addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await.ok()?.collect();
    addrs.sort_by_key(|a| !a.is_ipv4());
    TcpStream::connect(addrs.first()?).await.ok()
}

/// A SOCKS5 server; with `credentials` it insists on username/password authentication.
/// Records `CONNECT <type> <host>:<port>` for each request it forwards.
async fn start_socks5(credentials: Option<(&'static str, &'static str)>) -> (SocketAddr, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Seen::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut head = [0u8; 2];
                c.read_exact(&mut head).await.ok()?;
                let mut methods = vec![0u8; usize::from(head[1])];
                c.read_exact(&mut methods).await.ok()?;
                let wanted = if credentials.is_some() { 2 } else { 0 };
                if head[0] != 5 || !methods.contains(&wanted) {
                    c.write_all(&[5, 0xff]).await.ok()?;
                    return None;
                }
                c.write_all(&[5, wanted]).await.ok()?;
                if let Some((user, password)) = credentials {
                    let mut v = [0u8; 2];
                    c.read_exact(&mut v).await.ok()?;
                    let mut u = vec![0u8; usize::from(v[1])];
                    c.read_exact(&mut u).await.ok()?;
                    let mut plen = [0u8; 1];
                    c.read_exact(&mut plen).await.ok()?;
                    let mut p = vec![0u8; usize::from(plen[0])];
                    c.read_exact(&mut p).await.ok()?;
                    let ok = v[0] == 1 && u == user.as_bytes() && p == password.as_bytes();
                    c.write_all(&[1, if ok { 0 } else { 1 }]).await.ok()?;
                    if !ok {
                        return None;
                    }
                }
                let mut req = [0u8; 4];
                c.read_exact(&mut req).await.ok()?;
                let (kind, host) = match req[3] {
                    1 => {
                        let mut a = [0u8; 4];
                        c.read_exact(&mut a).await.ok()?;
                        ("ipv4", std::net::Ipv4Addr::from(a).to_string())
                    }
                    4 => {
                        let mut a = [0u8; 16];
                        c.read_exact(&mut a).await.ok()?;
                        ("ipv6", std::net::Ipv6Addr::from(a).to_string())
                    }
                    3 => {
                        let mut n = [0u8; 1];
                        c.read_exact(&mut n).await.ok()?;
                        let mut name = vec![0u8; usize::from(n[0])];
                        c.read_exact(&mut name).await.ok()?;
                        ("domain", String::from_utf8(name).ok()?)
                    }
                    _ => return None,
                };
                let mut port = [0u8; 2];
                c.read_exact(&mut port).await.ok()?;
                let port = u16::from_be_bytes(port);
                log.push(format!("CONNECT {kind} {host}:{port}"));
                let Some(mut up) = connect_upstream(&host, port).await else {
                    c.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await.ok()?;
                    return None;
                };
                c.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await.ok()?;
                tokio::io::copy_bidirectional(&mut c, &mut up).await.ok()?;
                Some(())
            });
        }
    });
    (addr, seen)
}

/// Serves one HTTP proxy client: `CONNECT` tunnels and absolute-form requests (forwarded as
/// they are: the test target accepts absolute-form). With `auth`, anything without that
/// `Proxy-Authorization` value gets 407. Records the request line, plus ` auth=ok` when the
/// credentials were right.
async fn serve_http_proxy<S: AsyncRead + AsyncWrite + Unpin>(
    mut c: S,
    auth: Option<String>,
    log: Seen,
) -> Option<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if c.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let line = text.lines().next()?.to_string();
    let given = text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("proxy-authorization")
            .then(|| v.trim().to_string())
    });
    let authorised = auth.is_none() || given == auth;
    log.push(if authorised && auth.is_some() {
        format!("{line} auth=ok")
    } else {
        line.clone()
    });
    if !authorised {
        c.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            .await
            .ok()?;
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?;
    let target = parts.next()?;
    if method == "CONNECT" {
        let (host, port) = target.rsplit_once(':')?;
        let mut up = connect_upstream(host.trim_matches(['[', ']']), port.parse().ok()?).await?;
        c.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await
            .ok()?;
        tokio::io::copy_bidirectional(&mut c, &mut up).await.ok()?;
    } else {
        let authority = target.strip_prefix("http://")?.split('/').next()?;
        let (host, port) = authority.rsplit_once(':')?;
        let mut up = connect_upstream(host, port.parse().ok()?).await?;
        up.write_all(&head).await.ok()?;
        tokio::io::copy_bidirectional(&mut c, &mut up).await.ok()?;
    }
    Some(())
}

/// An HTTP proxy on 127.0.0.1:0, over TLS with `cert` (an https:// proxy) or plain.
async fn start_http_proxy(cert: Option<&ServerCert>, auth: Option<String>) -> (SocketAddr, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = cert.map(acceptor);
    let seen = Seen::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((c, _)) = listener.accept().await {
            let (log, auth, acceptor) = (log.clone(), auth.clone(), acceptor.clone());
            tokio::spawn(async move {
                match acceptor {
                    Some(a) => serve_http_proxy(a.accept(c).await.ok()?, auth, log).await,
                    None => serve_http_proxy(c, auth, log).await,
                }
            });
        }
    });
    (addr, seen)
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        watchkeeper_blackbox::http::base64(format!("{user}:{password}").as_bytes())
    )
}

#[tokio::test]
async fn through_a_socks5_proxy_without_authentication() {
    let http = start_http().await;
    let pki = Pki::new("SOCKS test CA");
    let https = start_https(&pki.leaf(&["127.0.0.1"], false)).await;
    let (socks, seen) = start_socks5(None).await;
    let yaml = format!(
        r#"
modules:
  socks:
    prober: http
    http:
      preferred_ip_protocol: ip4
      proxy_url: socks5://{socks}
      tls_config:
        ca_file: {ca}
  socks_h:
    prober: http
    http:
      proxy_url: socks5h://{socks}
      skip_resolve_phase_with_proxy: true
"#,
        ca = pki.ca_file().display()
    );
    let ex = TestExporter::start(&yaml).await;

    let m = ex.probe_ok("socks", &format!("http://{http}/")).await;
    m.assert_ok();
    assert_eq!(m.val("probe_http_status_code", ""), 200.0);
    assert_eq!(m.val("probe_http_ssl", ""), 0.0);

    // TLS to the target runs inside the SOCKS tunnel, checked against the target's name.
    let m = ex.probe_ok("socks", &format!("https://{https}/")).await;
    m.assert_ok();
    assert_eq!(m.val("probe_http_status_code", ""), 200.0);
    assert_eq!(m.val("probe_http_ssl", ""), 1.0);

    // A name is passed to the proxy to resolve, not resolved here.
    let m = ex
        .probe_ok("socks_h", &format!("http://localhost:{}/", http.port()))
        .await;
    m.assert_ok();
    assert_eq!(m.val("probe_http_status_code", ""), 200.0);

    // A failing upstream is the proxy's "connection refused".
    let closed = closed_port().await;
    ex.probe_ok("socks", &format!("http://127.0.0.1:{closed}/"))
        .await
        .assert_failed("connect_refused");

    assert_eq!(
        seen.lines(),
        vec![
            format!("CONNECT ipv4 {http}"),
            format!("CONNECT ipv4 {https}"),
            format!("CONNECT domain localhost:{}", http.port()),
            format!("CONNECT ipv4 127.0.0.1:{closed}"),
        ]
    );
}

#[tokio::test]
async fn through_a_socks5_proxy_with_username_and_password() {
    let http = start_http().await;
    let (socks, seen) = start_socks5(Some(("probe", "p@ss:word"))).await;
    let yaml = format!(
        r#"
modules:
  right:
    prober: http
    http:
      preferred_ip_protocol: ip4
      proxy_url: socks5://probe:p%40ss%3Aword@{socks}
  wrong:
    prober: http
    http:
      preferred_ip_protocol: ip4
      proxy_url: socks5://probe:hunter2@{socks}
  none:
    prober: http
    http:
      preferred_ip_protocol: ip4
      proxy_url: socks5://{socks}
"#
    );
    let ex = TestExporter::start(&yaml).await;
    let m = ex.probe_ok("right", &format!("http://{http}/")).await;
    m.assert_ok();
    assert_eq!(m.val("probe_http_status_code", ""), 200.0);
    assert_eq!(seen.count(), 1);

    let body = ex.probe_debug("wrong", &format!("http://{http}/")).await;
    let m = Metrics(body.clone());
    m.assert_failed("connect");
    assert!(
        body.contains("rejected the username and password"),
        "{body}"
    );
    assert!(!body.contains("hunter2"), "{body}");

    ex.probe_ok("none", &format!("http://{http}/"))
        .await
        .assert_failed("connect");
    // Neither failed attempt got as far as a CONNECT.
    assert_eq!(seen.count(), 1);
    let (_, landing) = get(ex.addr, "/", &[]).await;
    assert!(!landing.contains("hunter2") && !landing.contains("p%40ss"));
}

#[tokio::test]
async fn through_an_https_proxy_with_credentials() {
    let http = start_http().await;
    let pki = Pki::new("HTTPS proxy test CA");
    let https = start_https(&pki.leaf(&["127.0.0.1"], false)).await;
    let (proxy, seen) = start_http_proxy(
        Some(&pki.leaf(&["localhost"], false)),
        Some(basic("probe", "p@ss")),
    )
    .await;
    let yaml = format!(
        r#"
modules:
  via_https_proxy:
    prober: http
    http:
      preferred_ip_protocol: ip4
      proxy_url: https://probe:p%40ss@localhost:{port}
      tls_config:
        ca_file: {ca}
  wrong_password:
    prober: http
    http:
      preferred_ip_protocol: ip4
      proxy_url: https://probe:hunter2@localhost:{port}
      tls_config:
        ca_file: {ca}
  untrusted_proxy:
    prober: http
    http:
      preferred_ip_protocol: ip4
      proxy_url: https://probe:p%40ss@localhost:{port}
  unsupported_scheme:
    prober: http
    http:
      proxy_url: socks4://localhost:{port}
"#,
        port = proxy.port(),
        ca = pki.ca_file().display()
    );
    let ex = TestExporter::start(&yaml).await;

    // An http:// target: an absolute-form request over TLS to the proxy.
    let m = ex
        .probe_ok("via_https_proxy", &format!("http://{http}/"))
        .await;
    m.assert_ok();
    assert_eq!(m.val("probe_http_status_code", ""), 200.0);
    assert_eq!(m.val("probe_http_ssl", ""), 0.0);

    // An https:// target: CONNECT over TLS to the proxy, then TLS to the target inside.
    let body = ex
        .probe_debug("via_https_proxy", &format!("https://{https}/"))
        .await;
    let m = Metrics(body.clone());
    m.assert_ok();
    assert_eq!(m.val("probe_http_status_code", ""), 200.0);
    assert_eq!(m.val("probe_http_ssl", ""), 1.0);
    // The target's certificate is the one reported, not the proxy's.
    assert!(body.contains("subject=\"CN=127.0.0.1\""), "{body}");
    assert!(
        body.contains(&format!(
            "Connecting through proxy proxy=https://localhost:{}",
            proxy.port()
        )),
        "{body}"
    );
    assert!(!body.contains("p@ss") && !body.contains("p%40ss"), "{body}");

    assert_eq!(
        seen.lines(),
        vec![
            format!("GET http://{http}/ HTTP/1.1 auth=ok"),
            format!("CONNECT {https} HTTP/1.1 auth=ok"),
        ]
    );

    ex.probe_ok("wrong_password", &format!("https://{https}/"))
        .await
        .assert_failed("connect");
    ex.probe_ok("wrong_password", &format!("http://{http}/"))
        .await
        .assert_failed("status_code");
    // The proxy's certificate is checked like any other.
    ex.probe_ok("untrusted_proxy", &format!("http://{http}/"))
        .await
        .assert_failed("tls_verify");
    assert_eq!(seen.count(), 4);

    let (status, body) = ex
        .probe(&format!(
            "module=unsupported_scheme&target={}",
            enc(&format!("http://{http}/"))
        ))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("socks4"), "{body}");
    let (_, landing) = get(ex.addr, "/", &[]).await;
    assert!(!landing.contains("hunter2") && !landing.contains("p%40ss"));
}

#[tokio::test]
async fn a_plain_http_proxy_gets_the_url_credentials_on_connect_too() {
    let pki = Pki::new("HTTP proxy test CA");
    let https = start_https(&pki.leaf(&["127.0.0.1"], false)).await;
    let (proxy, seen) = start_http_proxy(None, Some(basic("probe", "secret"))).await;
    let yaml = format!(
        r#"
modules:
  m:
    prober: http
    http:
      preferred_ip_protocol: ip4
      proxy_url: http://probe:secret@{proxy}
      tls_config:
        ca_file: {ca}
"#,
        ca = pki.ca_file().display()
    );
    let ex = TestExporter::start(&yaml).await;
    ex.probe_ok("m", &format!("https://{https}/"))
        .await
        .assert_ok();
    assert_eq!(
        seen.lines(),
        vec![format!("CONNECT {https} HTTP/1.1 auth=ok")]
    );
}

#[tokio::test]
async fn oauth2_token_requests_go_through_the_proxy() {
    let target = start_http().await;
    let (http_proxy, http_seen) = start_http_proxy(None, Some(basic("tok", "en"))).await;
    let (socks, socks_seen) = start_socks5(None).await;
    let yaml = format!(
        r#"
modules:
  via_http_proxy:
    prober: http
    http:
      preferred_ip_protocol: ip4
      oauth2:
        client_id: id
        client_secret: s3cret
        scopes: [probe, read]
        token_url: http://{target}/token
        proxy_url: http://tok:en@{http_proxy}
  via_socks:
    prober: http
    http:
      preferred_ip_protocol: ip4
      oauth2:
        client_id: id
        client_secret: s3cret
        scopes: [probe, read]
        token_url: http://{target}/token
        proxy_url: socks5://{socks}
  via_dead_proxy:
    prober: http
    http:
      preferred_ip_protocol: ip4
      oauth2:
        client_id: id
        client_secret: s3cret
        token_url: http://{target}/token
        proxy_url: socks5://127.0.0.1:{closed}
"#,
        closed = closed_port().await
    );
    let ex = TestExporter::start(&yaml).await;
    // The probe itself goes direct; only the token request uses oauth2.proxy_url.
    ex.probe_ok("via_http_proxy", &format!("http://{target}/auth"))
        .await
        .assert_ok();
    assert_eq!(
        http_seen.lines(),
        vec![format!("POST http://{target}/token HTTP/1.1 auth=ok")]
    );
    ex.probe_ok("via_socks", &format!("http://{target}/auth"))
        .await
        .assert_ok();
    assert_eq!(socks_seen.lines(), vec![format!("CONNECT ipv4 {target}")]);
    ex.probe_ok("via_dead_proxy", &format!("http://{target}/auth"))
        .await
        .assert_failed("oauth2");
}
