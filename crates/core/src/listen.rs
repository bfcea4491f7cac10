//! Listen addresses in the Go exporters' syntax: `:10150`, `127.0.0.1:10150`, `[::1]:10150`,
//! `localhost:10150`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use tokio::net::TcpListener;

/// Why a listen address was refused; the message names the address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid listen address {address:?}: {why}")]
pub struct ListenAddressError {
    /// The address as given.
    pub address: String,
    /// What is wrong with it.
    pub why: &'static str,
}

/// A parsed `--web.listen-address`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddress {
    /// `:PORT`: every interface (dual-stack where the host has IPv6).
    AllInterfaces(u16),
    /// A literal IP and port.
    Socket(SocketAddr),
    /// A host name to resolve, and a port.
    Host(String, u16),
}

impl ListenAddress {
    /// Parses one address; the error is one line naming the address.
    pub fn parse(s: &str) -> Result<Self, ListenAddressError> {
        let bad = |why: &'static str| ListenAddressError {
            address: s.to_string(),
            why,
        };
        let Some((host, port)) = s.rsplit_once(':') else {
            return Err(bad("expected HOST:PORT or :PORT"));
        };
        let port: u16 = port
            .parse()
            .map_err(|_| bad("the port must be a number from 0 to 65535"))?;
        if host.is_empty() {
            return Ok(Self::AllInterfaces(port));
        }
        let unbracketed = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Ok(Self::Socket(SocketAddr::new(ip, port)));
        }
        if host.contains(['[', ']', ' ', '/']) || host.contains(':') {
            return Err(bad("not an IP address or host name"));
        }
        Ok(Self::Host(host.to_string(), port))
    }

    /// Binds the address.
    pub async fn bind(&self) -> std::io::Result<Vec<TcpListener>> {
        match self {
            Self::AllInterfaces(port) => {
                // `[::]` is dual-stack on Linux unless IPv6 is disabled; then fall back.
                match TcpListener::bind(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), *port)).await
                {
                    Ok(l) => Ok(vec![l]),
                    Err(_) => Ok(vec![
                        TcpListener::bind(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), *port))
                            .await?,
                    ]),
                }
            }
            Self::Socket(addr) => Ok(vec![TcpListener::bind(addr).await?]),
            Self::Host(host, port) => {
                let mut out = Vec::new();
                let mut last_err = None;
                for addr in tokio::net::lookup_host((host.as_str(), *port)).await? {
                    match TcpListener::bind(addr).await {
                        Ok(l) => out.push(l),
                        Err(e) => last_err = Some(e),
                    }
                }
                match (out.is_empty(), last_err) {
                    (true, Some(e)) => Err(e),
                    (true, None) => Err(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("{host} resolves to no address"),
                    )),
                    _ => Ok(out),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_addresses_parse() {
        assert_eq!(
            ListenAddress::parse(":10150"),
            Ok(ListenAddress::AllInterfaces(10150))
        );
        assert_eq!(
            ListenAddress::parse("127.0.0.1:0"),
            Ok(ListenAddress::Socket("127.0.0.1:0".parse().unwrap()))
        );
        assert_eq!(
            ListenAddress::parse("[::1]:9"),
            Ok(ListenAddress::Socket("[::1]:9".parse().unwrap()))
        );
        assert_eq!(
            ListenAddress::parse("localhost:80"),
            Ok(ListenAddress::Host("localhost".into(), 80))
        );
        for bad in ["10150", ":http", "1.2.3.4:70000", "a b:1", ":"] {
            let err = ListenAddress::parse(bad).unwrap_err();
            assert!(
                err.to_string().starts_with("invalid listen address"),
                "{err}"
            );
        }
    }
}
