//! Getting through a proxy: the byte stream on which a request reaches its target, shared by
//! the http prober and the OAuth 2.0 token request.
//!
//! As Go's `net/http` (and so blackbox_exporter) does it:
//! - `http://` proxy: absolute-form requests for `http://` targets, a `CONNECT` tunnel for
//!   `https://` ones;
//! - `https://` proxy: the same, over TLS to the proxy (the module's `tls_config`, naming the
//!   proxy host);
//! - `socks5://` and `socks5h://` proxy: an RFC 1928 `CONNECT` naming the target host (the
//!   proxy resolves it), then the request exactly as if connected directly.
//!
//! Credentials in an HTTP(S) proxy URL become `Proxy-Authorization: Basic …` on `CONNECT` and on
//! absolute-form requests; in a SOCKS5 URL they are the RFC 1929 username and password. They
//! never reach a log line or an error: proxies are shown by [`display`].

use crate::config::IpProtocol;
use crate::failure::{Failure, FailureReason};
use crate::prober::{tcp_connect, Io};
use http::HeaderValue;
use std::collections::BTreeMap;
use std::net::IpAddr;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use url::Url;
use watchkeeper_core::config::Secret;
use watchkeeper_core::tls_client::TlsClientOptions;

pub use crate::config::proxy::SCHEMES;

/// Parses a proxy URL as Go does (no scheme means `http://`) and checks its scheme and host.
pub fn parse(raw: &str) -> Result<Url, Failure> {
    let full = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    let url = Url::parse(&full)
        .map_err(|e| Failure::new(FailureReason::Local, format!("invalid proxy URL: {e}")))?;
    if !SCHEMES.contains(&url.scheme()) {
        return Err(Failure::new(
            FailureReason::Local,
            format!(
                "proxy scheme {:?} is not supported (use http, https, socks5 or socks5h)",
                url.scheme()
            ),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Failure::new(
            FailureReason::Local,
            "invalid proxy URL: no host",
        ));
    }
    Ok(url)
}

pub use crate::config::proxy::{scheme_of, unsupported_scheme};

/// A proxy for logs: scheme, host and port, never the credentials.
pub fn display(proxy: &Url) -> String {
    let host = match proxy.host() {
        Some(url::Host::Ipv6(a)) => format!("[{a}]"),
        Some(h) => h.to_string(),
        None => String::new(),
    };
    format!("{}://{host}:{}", proxy.scheme(), default_port(proxy))
}

fn default_port(proxy: &Url) -> u16 {
    proxy.port().unwrap_or(match proxy.scheme() {
        "https" => 443,
        "socks5" | "socks5h" => 1080,
        _ => 80,
    })
}

/// How to reach the proxy itself.
pub struct Options<'a> {
    /// TLS settings for an `https://` proxy (the server name is always the proxy's host).
    pub tls: &'a TlsClientOptions,
    /// Extra headers for `CONNECT` (`proxy_connect_header`).
    pub connect_headers: &'a BTreeMap<String, Vec<Secret>>,
    /// Address family rules for resolving the proxy's name.
    pub preferred: IpProtocol,
    /// Whether the other family may be used.
    pub fallback: bool,
    /// Refuses addresses the SSRF guard denies.
    pub check: &'a (dyn Fn(IpAddr) -> Result<(), Failure> + Send + Sync),
}

/// A stream to the target through a proxy.
pub struct Dialed {
    /// Where the request (or the target's TLS handshake) goes.
    pub stream: Box<dyn Io>,
    /// Send the request in absolute form (`GET http://host/path`) to an HTTP(S) proxy.
    pub absolute_form: bool,
    /// `Proxy-Authorization` for an absolute-form request, from the proxy URL's credentials.
    pub proxy_authorization: Option<HeaderValue>,
}

/// Connects to `host:port` through `proxy`. `tunnel`: the target speaks TLS (an `https://`
/// URL), so an HTTP(S) proxy is asked for a `CONNECT` tunnel instead of absolute-form requests.
pub async fn dial(
    proxy: &Url,
    host: &str,
    port: u16,
    tunnel: bool,
    opts: &Options<'_>,
) -> Result<Dialed, Failure> {
    let phost = proxy
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let pip = crate::prober::lookup(&phost, opts.preferred, opts.fallback).await?;
    (opts.check)(pip)?;
    let tcp = tcp_connect(pip, default_port(proxy), None).await?;
    let target = host.trim_start_matches('[').trim_end_matches(']');
    match proxy.scheme() {
        "socks5" | "socks5h" => {
            let mut s = tcp;
            socks5_connect(&mut s, proxy, target, port).await?;
            Ok(Dialed {
                stream: Box::new(s),
                absolute_form: false,
                proxy_authorization: None,
            })
        }
        scheme => {
            let auth = basic_credentials(proxy);
            let mut stream: Box<dyn Io> = if scheme == "https" {
                // Go clones the client's TLS config for the proxy; the name checked is the
                // proxy's, since `server_name` is meant for the target.
                let tls = TlsClientOptions {
                    server_name: None,
                    ..opts.tls.clone()
                };
                let (s, _, _) = crate::tls::handshake(tcp, &tls, &phost, &[b"http/1.1"])
                    .await
                    .map_err(|f| Failure::new(f.reason, format!("TLS to proxy: {}", f.message)))?;
                Box::new(s)
            } else {
                Box::new(tcp)
            };
            if tunnel {
                connect_tunnel(
                    &mut stream,
                    target,
                    port,
                    opts.connect_headers,
                    auth.as_ref(),
                )
                .await?;
                return Ok(Dialed {
                    stream,
                    absolute_form: false,
                    proxy_authorization: None,
                });
            }
            Ok(Dialed {
                stream,
                absolute_form: true,
                proxy_authorization: auth,
            })
        }
    }
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// `Basic base64(user:password)` from the proxy URL, if it has a user.
fn basic_credentials(proxy: &Url) -> Option<HeaderValue> {
    if proxy.username().is_empty() {
        return None;
    }
    let raw = format!(
        "{}:{}",
        decode(proxy.username()),
        decode(proxy.password().unwrap_or(""))
    );
    let mut v =
        HeaderValue::from_str(&format!("Basic {}", crate::http::base64(raw.as_bytes()))).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// Opens a `CONNECT` tunnel through an HTTP proxy (plain or TLS) to `host:port`.
async fn connect_tunnel<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    host: &str,
    port: u16,
    extra: &BTreeMap<String, Vec<Secret>>,
    auth: Option<&HeaderValue>,
) -> Result<(), Failure> {
    let target = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    for (name, values) in extra {
        // As Go: the URL's credentials replace a configured Proxy-Authorization.
        if auth.is_some() && name.eq_ignore_ascii_case("proxy-authorization") {
            continue;
        }
        for v in values {
            if name.contains(['\r', '\n']) || v.expose().contains(['\r', '\n']) {
                return Err(Failure::new(
                    FailureReason::Local,
                    "proxy_connect_header contains a line break",
                ));
            }
            req.push_str(&format!("{name}: {}\r\n", v.expose()));
        }
    }
    if let Some(a) = auth.and_then(|a| a.to_str().ok()) {
        req.push_str(&format!("Proxy-Authorization: {a}\r\n"));
    }
    req.push_str("\r\n");
    let io_err =
        |e: std::io::Error| Failure::new(FailureReason::Connect, format!("proxy CONNECT: {e}"));
    s.write_all(req.as_bytes()).await.map_err(io_err)?;
    s.flush().await.map_err(io_err)?;
    let mut buf = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    // Byte by byte so nothing of the tunnelled stream is consumed; the reply is a few lines.
    while !buf.ends_with(b"\r\n\r\n") {
        if buf.len() > 8192 {
            return Err(Failure::new(
                FailureReason::Protocol,
                "proxy CONNECT reply too long",
            ));
        }
        let n = s.read(&mut byte).await.map_err(io_err)?;
        if n == 0 {
            return Err(Failure::new(
                FailureReason::Connect,
                "proxy closed the connection during CONNECT",
            ));
        }
        buf.push(byte[0]);
    }
    let status_line = String::from_utf8_lossy(&buf);
    let ok = status_line
        .split_whitespace()
        .nth(1)
        .is_some_and(|c| c.starts_with('2'));
    if !ok {
        let first = status_line.lines().next().unwrap_or_default().to_string();
        return Err(Failure::new(
            FailureReason::Connect,
            format!("proxy refused CONNECT: {first}"),
        ));
    }
    Ok(())
}

/// RFC 1928 method numbers.
const NO_AUTH: u8 = 0x00;
const USER_PASS: u8 = 0x02;
const NO_ACCEPTABLE: u8 = 0xff;

/// The SOCKS5 greeting, optional RFC 1929 authentication and `CONNECT` to `host:port`.
async fn socks5_connect<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    proxy: &Url,
    host: &str,
    port: u16,
) -> Result<(), Failure> {
    let io_err =
        |e: std::io::Error| Failure::new(FailureReason::Connect, format!("SOCKS5 proxy: {e}"));
    let bad = |m: &str| Failure::new(FailureReason::Protocol, format!("SOCKS5 proxy: {m}"));
    let credentials = (!proxy.username().is_empty()).then(|| {
        (
            decode(proxy.username()),
            decode(proxy.password().unwrap_or("")),
        )
    });
    // Offering both methods with credentials lets a proxy that needs none accept (as Go does).
    let greeting: &[u8] = if credentials.is_some() {
        &[5, 2, NO_AUTH, USER_PASS]
    } else {
        &[5, 1, NO_AUTH]
    };
    s.write_all(greeting).await.map_err(io_err)?;
    let mut choice = [0u8; 2];
    s.read_exact(&mut choice).await.map_err(io_err)?;
    if choice[0] != 5 {
        return Err(bad(&format!("unexpected version {} in reply", choice[0])));
    }
    match (choice[1], &credentials) {
        (NO_AUTH, _) => {}
        (USER_PASS, Some((user, password))) => {
            if user.len() > 255 || password.len() > 255 {
                return Err(Failure::new(
                    FailureReason::Local,
                    "SOCKS5 proxy: username and password must be at most 255 bytes each",
                ));
            }
            let mut msg = vec![1, user.len() as u8];
            msg.extend_from_slice(user.as_bytes());
            msg.push(password.len() as u8);
            msg.extend_from_slice(password.as_bytes());
            s.write_all(&msg).await.map_err(io_err)?;
            let mut status = [0u8; 2];
            s.read_exact(&mut status).await.map_err(io_err)?;
            if status[1] != 0 {
                return Err(Failure::new(
                    FailureReason::Connect,
                    "SOCKS5 proxy rejected the username and password",
                ));
            }
        }
        (NO_ACCEPTABLE, _) | (USER_PASS, None) => {
            let why = if credentials.is_some() {
                "SOCKS5 proxy accepts none of the offered authentication methods"
            } else {
                "SOCKS5 proxy requires authentication (no username in proxy_url)"
            };
            return Err(Failure::new(FailureReason::Connect, why));
        }
        (other, _) => {
            return Err(bad(&format!(
                "chose authentication method {other}, which was not offered"
            )))
        }
    }

    // CONNECT: an IP literal as IPv4/IPv6, anything else as a domain name for the proxy to
    // resolve.
    let mut req = vec![5, 1, 0];
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => {
            req.push(1);
            req.extend_from_slice(&a.octets());
        }
        Ok(IpAddr::V6(a)) => {
            req.push(4);
            req.extend_from_slice(&a.octets());
        }
        Err(_) => {
            let name = host.as_bytes();
            if name.is_empty() || name.len() > 255 {
                return Err(Failure::new(
                    FailureReason::Local,
                    format!("SOCKS5 proxy: host name {host:?} is not 1-255 bytes"),
                ));
            }
            req.push(3);
            req.push(name.len() as u8);
            req.extend_from_slice(name);
        }
    }
    req.extend_from_slice(&port.to_be_bytes());
    s.write_all(&req).await.map_err(io_err)?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await.map_err(io_err)?;
    if head[0] != 5 {
        return Err(bad(&format!("unexpected version {} in reply", head[0])));
    }
    if head[1] != 0 {
        let reason = match head[1] {
            1 => "general SOCKS server failure",
            2 => "connection not allowed by ruleset",
            3 => "network unreachable",
            4 => "host unreachable",
            5 => "connection refused",
            6 => "TTL expired",
            7 => "command not supported",
            8 => "address type not supported",
            _ => "unknown error",
        };
        let kind = if head[1] == 5 {
            FailureReason::ConnectRefused
        } else {
            FailureReason::Connect
        };
        return Err(Failure::new(
            kind,
            format!("SOCKS5 proxy could not connect to the target: {reason}"),
        ));
    }
    // The bound address is of no use to us, but must be read off the stream.
    let addr_len = match head[3] {
        1 => 4,
        4 => 16,
        3 => {
            let mut n = [0u8; 1];
            s.read_exact(&mut n).await.map_err(io_err)?;
            usize::from(n[0])
        }
        t => return Err(bad(&format!("unknown address type {t} in reply"))),
    };
    let mut rest = vec![0u8; addr_len + 2];
    s.read_exact(&mut rest).await.map_err(io_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_parse_like_go() {
        assert_eq!(parse("proxy:3128").unwrap().scheme(), "http");
        assert_eq!(parse("socks5h://p").unwrap().scheme(), "socks5h");
        assert_eq!(parse("ftp://p").unwrap_err().reason, FailureReason::Local);
        assert!(parse("socks4://p").is_err());
    }

    #[test]
    fn display_hides_credentials_and_shows_the_port() {
        let u = parse("socks5://user:hunter2@127.0.0.1").unwrap();
        assert_eq!(display(&u), "socks5://127.0.0.1:1080");
        let u = parse("https://u:p%40ss@[::1]:8443").unwrap();
        assert_eq!(display(&u), "https://[::1]:8443");
    }

    #[test]
    fn basic_credentials_are_percent_decoded() {
        let u = parse("http://us%3Aer:p%40ss@proxy").unwrap();
        let v = basic_credentials(&u).unwrap();
        assert!(v.is_sensitive());
        assert_eq!(
            v.to_str().unwrap(),
            format!("Basic {}", crate::http::base64(b"us:er:p@ss"))
        );
        assert!(basic_credentials(&parse("http://proxy").unwrap()).is_none());
    }
}
