//! Which proxy a request goes through: `proxy_url` minus `no_proxy`, or the environment
//! (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`) with `proxy_from_environment`, as Prometheus'
//! common HTTP client decides.

use crate::config::HttpProbe;
use crate::failure::Failure;
use std::net::IpAddr;
use url::Url;

/// The proxy for a request to `url`, if any.
pub fn proxy_for(cfg: &HttpProbe, url: &Url) -> Result<Option<Url>, Failure> {
    let (proxy, no_proxy) = if cfg.proxy_from_environment {
        let var = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
        };
        let proxy = if url.scheme() == "https" {
            var(&["HTTPS_PROXY", "https_proxy"])
        } else {
            var(&["HTTP_PROXY", "http_proxy"])
        };
        (proxy, var(&["NO_PROXY", "no_proxy"]).unwrap_or_default())
    } else {
        (
            cfg.proxy_url.clone(),
            cfg.no_proxy.clone().unwrap_or_default(),
        )
    };
    let Some(proxy) = proxy else {
        return Ok(None);
    };
    let host = url.host_str().unwrap_or_default();
    if excluded(&no_proxy, host) {
        return Ok(None);
    }
    crate::tunnel::parse(&proxy).map(Some)
}

/// `no_proxy` matching: `*`, exact hosts, domain suffixes (`example.com` and `.example.com`
/// both cover subdomains), IP addresses and CIDRs; ports in entries are ignored.
pub fn excluded(no_proxy: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let ip = host.parse::<IpAddr>().ok();
    no_proxy
        .split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            if let (Some(ip), Ok(net)) = (ip, entry.parse::<ipnet::IpNet>()) {
                return net.contains(&ip);
            }
            let name = strip_port(&entry);
            if let (Some(ip), Ok(e)) = (
                ip,
                name.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>(),
            ) {
                return ip == e;
            }
            let domain = name.trim_start_matches('.');
            host == domain || host.ends_with(&format!(".{domain}"))
        })
}

fn strip_port(entry: &str) -> &str {
    match entry.rsplit_once(':') {
        Some((h, p))
            if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':') =>
        {
            h
        }
        _ => entry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_entries() {
        let list = "localhost, .internal.example, example.org, 10.0.0.0/8, 192.168.1.1, db:5432";
        assert!(excluded(list, "localhost"));
        assert!(excluded(list, "a.internal.example"));
        assert!(excluded(list, "example.org"));
        assert!(excluded(list, "www.example.org"));
        assert!(!excluded(list, "notexample.org"));
        assert!(excluded(list, "10.1.2.3"));
        assert!(excluded(list, "192.168.1.1"));
        assert!(excluded(list, "db"));
        assert!(!excluded(list, "192.168.1.2"));
        assert!(excluded("*", "anything"));
        assert!(!excluded("", "anything"));
    }
}
