//! A minimal per-probe cookie jar, as blackbox_exporter's Go client keeps one for each probe:
//! a `Set-Cookie` on a redirect is sent with the requests that follow it (a login redirect
//! followed by a page that needs the session cookie).
//!
//! RFC 6265 storage and matching the way Go's `net/http/cookiejar` does it: host-only and
//! domain cookies, default and explicit paths, `Secure`, `Max-Age` and `Expires` (expired
//! cookies are dropped), longest path first. Not kept: anything between probes, and the public
//! suffix list (a `Domain` attribute must name the request host or a parent with a dot in it,
//! so `Domain=com` is refused but `Domain=co.uk` from `a.co.uk` would be accepted).

use http::{header, HeaderMap, HeaderValue};
use std::time::{Duration, SystemTime};
use url::Url;

/// Cookies stored during one probe.
#[derive(Debug, Default)]
pub struct Jar {
    cookies: Vec<Cookie>,
    /// Creation order, for Go's tie-break between cookies of equal path length.
    next_seq: u64,
}

#[derive(Debug, Clone)]
struct Cookie {
    name: String,
    value: String,
    /// The host for a host-only cookie, else the domain (lowercase, no leading dot).
    domain: String,
    host_only: bool,
    path: String,
    secure: bool,
    expires: Option<SystemTime>,
    seq: u64,
}

impl Jar {
    /// Stores the cookies a response to `url` sets.
    pub fn store(&mut self, url: &Url, headers: &HeaderMap) {
        let Some(host) = canonical_host(url) else {
            return;
        };
        let now = SystemTime::now();
        for value in headers.get_all(header::SET_COOKIE) {
            let Ok(line) = value.to_str() else { continue };
            let Some(parsed) = parse_set_cookie(line, now) else {
                continue;
            };
            let Some((domain, host_only)) = domain_and_type(&host, parsed.domain.as_deref()) else {
                continue;
            };
            let path = match parsed.path {
                Some(p) if p.starts_with('/') => p,
                _ => default_path(url.path()),
            };
            self.cookies
                .retain(|c| !(c.name == parsed.name && c.domain == domain && c.path == path));
            if parsed.expires.is_some_and(|t| t <= now) {
                continue; // Max-Age <= 0 or Expires in the past: a deletion
            }
            self.next_seq += 1;
            self.cookies.push(Cookie {
                name: parsed.name,
                value: parsed.value,
                domain,
                host_only,
                path,
                secure: parsed.secure,
                expires: parsed.expires,
                seq: self.next_seq,
            });
        }
    }

    /// Adds a `Cookie` header with the cookies for `url` (after any the module configured).
    pub fn add_to(&self, url: &Url, headers: &mut HeaderMap) {
        let Some(host) = canonical_host(url) else {
            return;
        };
        let https = url.scheme() == "https";
        let now = SystemTime::now();
        let mut matching: Vec<&Cookie> = self
            .cookies
            .iter()
            .filter(|c| c.expires.is_none_or(|t| t > now))
            .filter(|c| https || !c.secure)
            .filter(|c| {
                if c.host_only {
                    host == c.domain
                } else {
                    host == c.domain || host.ends_with(&format!(".{}", c.domain))
                }
            })
            .filter(|c| path_matches(url.path(), &c.path))
            .collect();
        if matching.is_empty() {
            return;
        }
        matching.sort_by(|a, b| b.path.len().cmp(&a.path.len()).then(a.seq.cmp(&b.seq)));
        let mut line: Vec<String> = headers
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .map(|v| vec![v.to_string()])
            .unwrap_or_default();
        line.extend(matching.iter().map(|c| format!("{}={}", c.name, c.value)));
        if let Ok(v) = HeaderValue::from_str(&line.join("; ")) {
            headers.insert(header::COOKIE, v);
        }
    }
}

/// The module's own `Cookie` header, carried across redirects as Go's client carries it: sent
/// again only to the same host and port (or a subdomain), and a cookie of the same name set by
/// a redirect replaces it (the jar's copy is then sent).
#[derive(Debug, Default)]
pub struct Configured {
    header: Option<String>,
}

impl Configured {
    /// Takes the `Cookie` header out of the module's headers (the jar adds it back per hop).
    pub fn take(headers: &mut HeaderMap) -> Self {
        let header = headers
            .remove(header::COOKIE)
            .and_then(|v| v.to_str().ok().map(str::to_string));
        Self { header }
    }

    /// Drops the configured cookies a redirect response sets anew; the rest, if any change,
    /// are rewritten sorted (Go's `makeHeadersCopier`).
    pub fn after_redirect(&mut self, response: &HeaderMap) {
        let Some(header) = &self.header else { return };
        let set: Vec<String> = response
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|l| {
                l.split(';')
                    .next()?
                    .split_once('=')
                    .map(|(n, _)| n.trim().to_string())
            })
            .collect();
        let pairs: Vec<&str> = header
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        let name = |p: &str| p.split_once('=').map_or(p, |(n, _)| n).trim().to_string();
        if !pairs.iter().any(|p| set.contains(&name(p))) {
            return;
        }
        let mut kept: Vec<&str> = pairs
            .into_iter()
            .filter(|p| !set.contains(&name(p)))
            .collect();
        kept.sort_unstable();
        self.header = Some(kept.join("; "));
    }

    /// The header for a request to `next` after one to `previous` (`None` for the first).
    pub fn for_hop(&self, previous: Option<&Url>, next: &Url) -> Option<String> {
        let header = self.header.as_deref().filter(|h| !h.is_empty())?;
        if previous.is_some_and(|prev| !same_host_or_subdomain(prev, next)) {
            return None;
        }
        Some(header.to_string())
    }
}

/// Whether a redirect from `previous` to `next` keeps credential headers (Go's
/// `shouldCopyHeaderOnRedirect`): the same host and port, or a subdomain of the previous host.
pub fn same_host_or_subdomain(previous: &Url, next: &Url) -> bool {
    match (canonical_addr(previous), canonical_addr(next)) {
        (Some(p), Some(n)) => n == p || n.ends_with(&format!(".{p}")),
        _ => false,
    }
}

/// `host:port` with the scheme's default port, as Go compares hosts for sensitive headers.
fn canonical_addr(url: &Url) -> Option<String> {
    let host = canonical_host(url)?;
    Some(format!("{host}:{}", url.port_or_known_default()?))
}

/// What one `Set-Cookie` line says.
struct SetCookie {
    name: String,
    value: String,
    domain: Option<String>,
    path: Option<String>,
    secure: bool,
    expires: Option<SystemTime>,
}

/// Parses a `Set-Cookie` value as Go's `readSetCookies` does; `None` for an unusable one.
fn parse_set_cookie(line: &str, now: SystemTime) -> Option<SetCookie> {
    let mut parts = line.split(';');
    let (name, value) = parts.next()?.trim().split_once('=')?;
    let name = name.trim();
    if name.is_empty() || !name.bytes().all(is_token) {
        return None;
    }
    let value = value.trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    if !value
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && !b"\";\\".contains(&b))
    {
        return None;
    }
    let mut c = SetCookie {
        name: name.to_string(),
        value: value.to_string(),
        domain: None,
        path: None,
        secure: false,
        expires: None,
    };
    let mut max_age: Option<i64> = None;
    let mut expires: Option<SystemTime> = None;
    for attr in parts {
        let attr = attr.trim();
        let (key, val) = attr.split_once('=').unwrap_or((attr, ""));
        let val = val.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "secure" => c.secure = true,
            "domain" if !val.is_empty() => c.domain = Some(val.to_string()),
            "path" => c.path = Some(val.to_string()),
            "max-age" => {
                // Go ignores a malformed value and one with a leading zero (other than "0").
                if let Ok(secs) = val.parse::<i64>() {
                    if secs == 0 || !val.starts_with('0') {
                        max_age = Some(secs);
                    }
                }
            }
            "expires" => {
                expires = crate::http::parse_http_date(val).map(|t| {
                    if t >= 0 {
                        SystemTime::UNIX_EPOCH + Duration::from_secs(t.unsigned_abs())
                    } else {
                        SystemTime::UNIX_EPOCH - Duration::from_secs(t.unsigned_abs())
                    }
                });
            }
            _ => {}
        }
    }
    // Max-Age wins over Expires; a zero or negative Max-Age deletes.
    c.expires = match max_age {
        Some(secs) if secs <= 0 => Some(SystemTime::UNIX_EPOCH),
        Some(secs) => Some(now + Duration::from_secs(secs.unsigned_abs())),
        None => expires,
    };
    Some(c)
}

/// RFC 7230 token characters (cookie names).
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The request host, lowercase, without brackets or a trailing dot; `None` for schemes other
/// than http(s).
fn canonical_host(url: &Url) -> Option<String> {
    if url.scheme() != "http" && url.scheme() != "https" {
        return None;
    }
    let host = match url.host()? {
        url::Host::Ipv6(a) => a.to_string(),
        h => h.to_string().to_ascii_lowercase(),
    };
    Some(host.trim_end_matches('.').to_string())
}

/// Where a cookie with `domain` (the attribute, if any) set by `host` belongs, and whether it is
/// host-only; `None` when the host may not set it (Go's `domainAndType`).
fn domain_and_type(host: &str, domain: Option<&str>) -> Option<(String, bool)> {
    let Some(domain) = domain else {
        return Some((host.to_string(), true));
    };
    if host.parse::<std::net::IpAddr>().is_ok() {
        // An IP address has no subdomains: the attribute must name it exactly.
        return (host == domain).then(|| (host.to_string(), true));
    }
    let domain = domain.strip_prefix('.').unwrap_or(domain);
    if domain.is_empty() || domain.starts_with('.') || domain.ends_with('.') || !domain.is_ascii() {
        return None;
    }
    let domain = domain.to_ascii_lowercase();
    if !domain.contains('.') {
        // A top-level domain stands in for the public suffix list: only its own host may use it,
        // and then the cookie is host-only.
        return (host == domain).then(|| (host.to_string(), true));
    }
    if host != domain && !host.ends_with(&format!(".{domain}")) {
        return None;
    }
    Some((domain, false))
}

/// RFC 6265 default path: the request path up to its last `/`, or `/`.
fn default_path(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => path[..i].to_string(),
    }
}

/// RFC 6265 path-match.
fn path_matches(request: &str, cookie: &str) -> bool {
    request == cookie
        || (request.starts_with(cookie)
            && (cookie.ends_with('/') || request[cookie.len()..].starts_with('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jar_after(url: &str, set_cookies: &[&str]) -> Jar {
        let mut h = HeaderMap::new();
        for c in set_cookies {
            h.append(header::SET_COOKIE, HeaderValue::from_str(c).unwrap());
        }
        let mut jar = Jar::default();
        jar.store(&Url::parse(url).unwrap(), &h);
        jar
    }

    fn sent(jar: &Jar, url: &str) -> Option<String> {
        let mut h = HeaderMap::new();
        jar.add_to(&Url::parse(url).unwrap(), &mut h);
        h.get(header::COOKIE)
            .map(|v| v.to_str().unwrap().to_string())
    }

    #[test]
    fn host_only_cookie_follows_to_the_same_host() {
        let jar = jar_after(
            "http://127.0.0.1:80/login",
            &["session=abc; Path=/; HttpOnly"],
        );
        assert_eq!(
            sent(&jar, "http://127.0.0.1:81/home").as_deref(),
            Some("session=abc")
        );
        assert_eq!(sent(&jar, "http://localhost/home"), None);
    }

    #[test]
    fn paths_secure_and_expiry() {
        let jar = jar_after(
            "http://a.test/dir/page",
            &[
                "a=1",
                "b=2; Path=/other",
                "c=3; Secure",
                "d=4; Max-Age=0",
                "e=5; Expires=Sun, 06 Nov 1994 08:49:37 GMT",
                "f=6; Path=/dir/sub",
            ],
        );
        assert_eq!(sent(&jar, "http://a.test/dir/x").as_deref(), Some("a=1"));
        assert_eq!(
            sent(&jar, "https://a.test/dir/x").as_deref(),
            Some("a=1; c=3")
        );
        assert_eq!(
            sent(&jar, "http://a.test/dir/sub/y").as_deref(),
            Some("f=6; a=1")
        );
        assert_eq!(sent(&jar, "http://a.test/directory"), None);
        assert_eq!(sent(&jar, "http://a.test/other").as_deref(), Some("b=2"));
    }

    #[test]
    fn domains() {
        let jar = jar_after(
            "http://www.bench.test/",
            &[
                "a=1; Domain=bench.test",
                "b=2; Domain=example.com",
                "c=3; Domain=test",
            ],
        );
        assert_eq!(sent(&jar, "http://api.bench.test/").as_deref(), Some("a=1"));
        assert_eq!(sent(&jar, "http://example.com/"), None);
        assert_eq!(sent(&jar, "http://other.test/"), None);
        let jar = jar_after(
            "http://127.0.0.1/",
            &["a=1; Domain=127.0.0.1", "b=2; Domain=1"],
        );
        assert_eq!(sent(&jar, "http://127.0.0.1/").as_deref(), Some("a=1"));
    }

    #[test]
    fn replaced_and_deleted() {
        let mut jar = jar_after("http://a.test/", &["s=1"]);
        let url = Url::parse("http://a.test/").unwrap();
        let mut h = HeaderMap::new();
        h.append(header::SET_COOKIE, HeaderValue::from_static("s=2"));
        jar.store(&url, &h);
        assert_eq!(sent(&jar, "http://a.test/").as_deref(), Some("s=2"));
        let mut h = HeaderMap::new();
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_static("s=; Max-Age=-1"),
        );
        jar.store(&url, &h);
        assert_eq!(sent(&jar, "http://a.test/"), None);
    }

    #[test]
    fn configured_cookie_header_comes_first() {
        let jar = jar_after("http://a.test/", &["s=1"]);
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("mine=x"));
        jar.add_to(&Url::parse("http://a.test/").unwrap(), &mut h);
        assert_eq!(h.get(header::COOKIE).unwrap(), "mine=x; s=1");
    }

    #[test]
    fn configured_cookies_follow_go_across_redirects() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("z=1; session=old; a=2"),
        );
        let mut c = Configured::take(&mut h);
        assert!(h.get(header::COOKIE).is_none());
        let a = Url::parse("http://127.0.0.1:80/").unwrap();
        let sub = Url::parse("http://x.bench.test/").unwrap();
        assert_eq!(
            c.for_hop(None, &a).as_deref(),
            Some("z=1; session=old; a=2")
        );
        // Same host and port only (or a subdomain).
        assert_eq!(
            c.for_hop(Some(&a), &Url::parse("http://127.0.0.1/x").unwrap())
                .as_deref(),
            Some("z=1; session=old; a=2")
        );
        assert_eq!(
            c.for_hop(Some(&a), &Url::parse("http://127.0.0.1:81/").unwrap()),
            None
        );
        assert!(c
            .for_hop(Some(&Url::parse("http://bench.test/").unwrap()), &sub)
            .is_some());
        // A redirect that sets `session` drops the configured one; the rest is sorted.
        let mut resp = HeaderMap::new();
        resp.append(header::SET_COOKIE, HeaderValue::from_static("other=1"));
        c.after_redirect(&resp);
        assert_eq!(
            c.for_hop(None, &a).as_deref(),
            Some("z=1; session=old; a=2")
        );
        resp.append(
            header::SET_COOKIE,
            HeaderValue::from_static("session=new; Path=/"),
        );
        c.after_redirect(&resp);
        assert_eq!(c.for_hop(None, &a).as_deref(), Some("a=2; z=1"));
    }

    #[test]
    fn malformed_lines_are_ignored() {
        let jar = jar_after(
            "http://a.test/",
            &["novalue", "=x", "bad name=1", "ok=\"quoted\""],
        );
        assert_eq!(sent(&jar, "http://a.test/").as_deref(), Some("ok=quoted"));
    }
}
