//! Which proxy URL schemes the probers can dial (`proxy_url` of http and oauth2).

use url::Url;

/// The proxy schemes this exporter speaks (Go's `net/http` set).
pub const SCHEMES: [&str; 4] = ["http", "https", "socks5", "socks5h"];

/// The scheme of `proxy_url` when it is one no prober can dial (`None` when it is supported or
/// unset), for the startup warning and the probe-time 400.
pub fn unsupported_scheme(proxy_url: Option<&str>) -> Option<String> {
    proxy_url
        .and_then(scheme_of)
        .filter(|s| !SCHEMES.contains(&s.as_str()))
}

/// The scheme of a configured proxy URL, for the unsupported-option check (`None` when the URL
/// does not parse; loading reports that).
pub fn scheme_of(raw: &str) -> Option<String> {
    if !raw.contains("://") {
        return Some("http".into());
    }
    Url::parse(raw).ok().map(|u| u.scheme().to_string())
}
