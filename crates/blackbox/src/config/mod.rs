//! The `blackbox.yml` model: modules, each with a prober, a timeout and the options of that
//! prober, read exactly as blackbox_exporter 0.23 reads them.
//!
//! Unknown keys are errors (naming file, line, column and key). Options blackbox_exporter
//! documents that we do not implement yet are *modelled* (so the file still loads) and reported
//! by [`Module::unsupported`]: the exporter warns at startup and a probe with such a module is
//! answered with HTTP 400 naming the option.

pub mod dns_names;
pub mod oauth2;
pub mod proxy;

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use watchkeeper_core::config::{ConfigError, PromDuration, Secret};
use watchkeeper_core::tls_client::TlsClientOptions;

/// The whole `blackbox.yml`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Modules by name (the `module` parameter of `/probe`).
    #[serde(default)]
    pub modules: BTreeMap<String, Module>,
}

impl Config {
    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let config: Config = watchkeeper_core::config::load_yaml(path)?;
        config.validate(path)?;
        Ok(config)
    }

    /// Parses and validates text; `path` only names the file in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = watchkeeper_core::config::parse_yaml(text, path)?;
        config.validate(path)?;
        Ok(config)
    }

    /// Checks that need more than one field (blackbox_exporter rejects these at load too).
    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        for (name, m) in &self.modules {
            if m.prober == ProberName::Dns && m.dns.query_name.is_empty() {
                return Err(invalid(format!(
                    "modules.{name}.dns.query_name: required for prober dns"
                )));
            }
            let h = &m.http;
            if h.basic_auth
                .as_ref()
                .is_some_and(|b| b.password.is_some() && b.password_file.is_some())
            {
                return Err(invalid(format!(
                    "modules.{name}.http.basic_auth: at most one of password and password_file may be set"
                )));
            }
            if h.no_proxy.is_some() && h.proxy_url.is_none() {
                return Err(invalid(format!(
                    "modules.{name}.http.no_proxy: needs proxy_url"
                )));
            }
            if h.proxy_from_environment && (h.proxy_url.is_some() || h.no_proxy.is_some()) {
                return Err(invalid(format!(
                    "modules.{name}.http.proxy_from_environment: cannot be combined with proxy_url or no_proxy"
                )));
            }
            if !h.proxy_connect_header.is_empty()
                && h.proxy_url.is_none()
                && !h.proxy_from_environment
            {
                return Err(invalid(format!(
                    "modules.{name}.http.proxy_connect_header: needs proxy_url or proxy_from_environment"
                )));
            }
            if h.body.is_some() && h.body_file.is_some() {
                return Err(invalid(format!(
                    "modules.{name}.http: at most one of body and body_file may be set"
                )));
            }
            if h.bearer_token.is_some() && h.bearer_token_file.is_some() {
                return Err(invalid(format!(
                    "modules.{name}.http: at most one of bearer_token and bearer_token_file may be set"
                )));
            }
            if h.authorization.is_some()
                && (h.bearer_token.is_some() || h.bearer_token_file.is_some())
            {
                return Err(invalid(format!(
                    "modules.{name}.http: authorization cannot be combined with bearer_token or bearer_token_file"
                )));
            }
            let schemes = [
                h.basic_auth.is_some(),
                h.authorization.is_some(),
                h.bearer_token.is_some() || h.bearer_token_file.is_some(),
                h.oauth2.is_some(),
            ];
            if schemes.iter().filter(|s| **s).count() > 1 {
                return Err(invalid(format!(
                    "modules.{name}.http: at most one of basic_auth, authorization, bearer_token/bearer_token_file and oauth2 may be set"
                )));
            }
            if let Some(o) = &h.oauth2 {
                if o.client_secret.is_some() && o.client_secret_file.is_some() {
                    return Err(invalid(format!(
                        "modules.{name}.http.oauth2: at most one of client_secret and client_secret_file may be set"
                    )));
                }
            }
            if h.authorization.is_some() && h.basic_auth.is_some() {
                return Err(invalid(format!(
                    "modules.{name}.http: at most one of basic_auth and authorization may be set"
                )));
            }
            if let Some(a) = &h.authorization {
                if a.credentials.is_some() && a.credentials_file.is_some() {
                    return Err(invalid(format!(
                        "modules.{name}.http.authorization: at most one of credentials and credentials_file may be set"
                    )));
                }
                if a.kind.eq_ignore_ascii_case("basic") {
                    return Err(invalid(format!(
                        "modules.{name}.http.authorization.type: Basic is not allowed, use basic_auth instead"
                    )));
                }
            }
            if let Some(p) = &h.proxy_url {
                match url::Url::parse(p) {
                    Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) => {}
                    _ => {
                        return Err(invalid(format!(
                            "modules.{name}.http.proxy_url: {p:?} is not a valid proxy URL"
                        )))
                    }
                }
            }
        }
        Ok(())
    }

    /// Problems that do not stop loading (blackbox_exporter only notices them when probing):
    /// `tls_config` files that cannot be read or parsed.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, m) in &self.modules {
            let tls = match m.prober {
                ProberName::Http => &m.http.tls_config,
                ProberName::Tcp => &m.tcp.tls_config,
                ProberName::Grpc => &m.grpc.tls_config,
                ProberName::Dns if m.dns.dns_over_tls => &m.dns.tls_config,
                _ => continue,
            };
            if *tls != TlsClientOptions::default() {
                if let Err(e) = tls.build() {
                    out.push(format!(
                        "module {name:?}: {}.{e}; probes with this module will fail",
                        m.prober.as_str()
                    ));
                }
            }
        }
        out
    }

    /// Every module's unsupported options, as `module: what` lines (for the startup warning).
    pub fn unsupported(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, m) in &self.modules {
            for what in m.unsupported() {
                out.push(format!("module {name:?}: {what}"));
            }
        }
        out
    }
}

/// The probers a module can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProberName {
    /// HTTP and HTTPS requests.
    Http,
    /// TCP connect, optional TLS and query/response dialogue.
    Tcp,
    /// A DNS query.
    Dns,
    /// ICMP echo.
    Icmp,
    /// gRPC health check.
    Grpc,
    /// A websocket upgrade and message dialogue (newer blackbox_exporter).
    Websocket,
    /// A Unix domain socket (newer blackbox_exporter).
    Unix,
}

impl<'de> Deserialize<'de> for ProberName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "http" => ProberName::Http,
            "tcp" => ProberName::Tcp,
            "dns" => ProberName::Dns,
            "icmp" => ProberName::Icmp,
            "grpc" => ProberName::Grpc,
            "websocket" => ProberName::Websocket,
            "unix" => ProberName::Unix,
            _ => {
                return Err(serde::de::Error::custom(format!(
                    "prober: unknown prober {s:?} (use http, tcp, dns, icmp or grpc)"
                )))
            }
        })
    }
}

impl ProberName {
    /// The name as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            ProberName::Http => "http",
            ProberName::Tcp => "tcp",
            ProberName::Dns => "dns",
            ProberName::Icmp => "icmp",
            ProberName::Grpc => "grpc",
            ProberName::Websocket => "websocket",
            ProberName::Unix => "unix",
        }
    }
}

/// One module.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Module {
    /// Which prober runs.
    pub prober: ProberName,
    /// Upper bound for one probe (0 or absent: the scrape timeout decides).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "module_timeout"
    )]
    pub timeout: Option<PromDuration>,
    /// HTTP options.
    #[serde(default)]
    pub http: HttpProbe,
    /// TCP options.
    #[serde(default)]
    pub tcp: TcpProbe,
    /// DNS options.
    #[serde(default)]
    pub dns: DnsProbe,
    /// ICMP options.
    #[serde(default)]
    pub icmp: IcmpProbe,
    /// gRPC options.
    #[serde(default)]
    pub grpc: GrpcProbe,
    /// Websocket options (newer blackbox_exporter).
    #[serde(default)]
    pub websocket: WebsocketProbe,
    /// Unix socket options (newer blackbox_exporter).
    #[serde(default)]
    pub unix: UnixProbe,
}

impl Module {
    /// The module's `timeout`, if set and non-zero.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout.map(|t| t.get()).filter(|t| !t.is_zero())
    }

    /// What this module asks for that we do not implement (empty when fully supported).
    ///
    /// Only options of the module's own prober count: blackbox ignores the other sections.
    pub fn unsupported(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self.prober {
            ProberName::Websocket => {}
            ProberName::Http => {
                let h = &self.http;
                let mut flag = |set: bool, what: &str| {
                    if set {
                        out.push(format!("http.{what} is not supported"));
                    }
                };
                flag(
                    h.fail_if_body_json_matches_cel.is_some(),
                    "fail_if_body_json_matches_cel",
                );
                flag(
                    h.fail_if_body_json_not_matches_cel.is_some(),
                    "fail_if_body_json_not_matches_cel",
                );
                if let Some(scheme) = proxy::unsupported_scheme(h.proxy_url.as_deref()) {
                    out.push(format!(
                        "http.proxy_url with scheme {scheme:?} is not supported"
                    ));
                }
                if let Some(o) = &h.oauth2 {
                    out.extend(o.unsupported());
                }
            }
            ProberName::Tcp => {
                for (i, qr) in self.tcp.query_response.iter().enumerate() {
                    if qr.expect_bytes.is_some() {
                        out.push(format!(
                            "tcp.query_response[{i}].expect_bytes is not supported"
                        ));
                    }
                }
            }
            ProberName::Dns | ProberName::Unix => {}
            ProberName::Icmp => {}
            ProberName::Grpc => {}
        }
        out
    }
}

/// `preferred_ip_protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum IpProtocol {
    /// IPv4.
    #[serde(rename = "ip4")]
    Ip4,
    /// IPv6 (blackbox_exporter's default).
    #[default]
    #[serde(rename = "ip6")]
    Ip6,
}

impl<'de> Deserialize<'de> for IpProtocol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        // Go's net package also accepts the tcp4/udp4 spellings blackbox passes through.
        match s.as_str() {
            "ip4" | "tcp4" | "udp4" => Ok(IpProtocol::Ip4),
            "ip6" | "tcp6" | "udp6" | "" => Ok(IpProtocol::Ip6),
            _ => Err(serde::de::Error::custom(format!(
                "preferred_ip_protocol: {s:?} is not ip4 or ip6"
            ))),
        }
    }
}

fn default_true() -> bool {
    true
}

/// Deserializes a string and checks it, so a bad value is reported at its line and column.
fn checked<'de, D: Deserializer<'de>>(
    d: D,
    check: impl Fn(&str) -> Result<(), String>,
) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    check(&s).map_err(serde::de::Error::custom)?;
    Ok(s)
}

fn module_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PromDuration>, D::Error> {
    let s = String::deserialize(d)?;
    PromDuration::parse(&s)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("timeout: {e}")))
}

fn status_codes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u16>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(i64),
        S(String),
    }
    let raw = Vec::<Raw>::deserialize(d)?;
    raw.into_iter()
        .map(|r| match r {
            Raw::N(n) if (100..=599).contains(&n) => Ok(n as u16),
            Raw::N(n) => Err(format!(
                "valid_status_codes: {n} is not an HTTP status code (100-599)"
            )),
            Raw::S(s) => Err(format!(
                "valid_status_codes: {s:?} is not an HTTP status code (100-599)"
            )),
        })
        .collect::<Result<_, _>>()
        .map_err(serde::de::Error::custom)
}

fn http_versions<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    for s in &v {
        if !matches!(s.as_str(), "HTTP/1.0" | "HTTP/1.1" | "HTTP/2.0" | "HTTP/2") {
            return Err(serde::de::Error::custom(format!(
                "valid_http_versions: unknown version {s:?} (use HTTP/1.0, HTTP/1.1 or HTTP/2.0)"
            )));
        }
    }
    Ok(v)
}

fn compression<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |s| match s {
        "" | "gzip" | "deflate" | "identity" | "br" => Ok(()),
        _ => Err(format!(
            "compression: unknown algorithm {s:?} (use gzip, br, deflate or identity)"
        )),
    })
}

fn transport<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |s| match s {
        "udp" | "tcp" => Ok(()),
        _ => Err(format!("transport_protocol: {s:?} is not udp or tcp")),
    })
}

fn query_type<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |s| {
        dns_names::parse_query_type(s)
            .map(|_| ())
            .ok_or_else(|| format!("query_type: unknown DNS record type {s:?}"))
    })
}

fn query_class<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |s| {
        dns_names::parse_query_class(s).map(|_| ()).ok_or_else(|| {
            format!("query_class: unknown DNS class {s:?} (use IN, CH, HS, NONE or ANY)")
        })
    })
}

fn rcodes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    for s in &v {
        if dns_names::parse_rcode(s).is_none() {
            return Err(serde::de::Error::custom(format!(
                "valid_rcodes: unknown DNS rcode {s:?}"
            )));
        }
    }
    Ok(v)
}

fn ttl<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let v = u32::deserialize(d)?;
    if v > 255 {
        return Err(serde::de::Error::custom(format!(
            "ttl: {v} is outside the range 0..255"
        )));
    }
    Ok(Some(v))
}

fn packets<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if !(1..=100).contains(&v) {
        return Err(serde::de::Error::custom(format!(
            "packets: {v} is outside the range 1..100"
        )));
    }
    Ok(v)
}

/// A regular expression as written in the config (compiled at load, shown as written).
#[derive(Debug, Clone)]
pub struct ConfigRegex(pub regex::Regex);

impl<'de> Deserialize<'de> for ConfigRegex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        regex::Regex::new(&s).map(ConfigRegex).map_err(|e| {
            // The regex crate draws a caret diagram; keep only its final "error: …" line.
            let full = one_line(&e.to_string());
            let detail = full.rsplit("error: ").next().unwrap_or(&full);
            serde::de::Error::custom(format!("invalid regular expression {s:?}: {detail}"))
        })
    }
}

impl Serialize for ConfigRegex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A byte size as blackbox writes it: `1024`, `10KB`, `10MB`, `1GiB` (powers of 1024, as
/// Prometheus' `Base2Bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses a size.
    pub fn parse(s: &str) -> Result<ByteSize, String> {
        let t = s.trim();
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("invalid size {s:?}: expected a number"));
        }
        let n: u64 = t[..digits]
            .parse()
            .map_err(|_| format!("invalid size {s:?}: number too large"))?;
        let mult: u64 = match t[digits..].trim() {
            "" | "B" => 1,
            "KB" | "KiB" | "K" => 1 << 10,
            "MB" | "MiB" | "M" => 1 << 20,
            "GB" | "GiB" | "G" => 1 << 30,
            "TB" | "TiB" | "T" => 1 << 40,
            "PB" | "PiB" | "P" => 1 << 50,
            other => {
                return Err(format!(
                    "invalid size {s:?}: unknown unit {other:?} (use B, KB, MB, GB, TB)"
                ))
            }
        };
        n.checked_mul(mult)
            .map(ByteSize)
            .ok_or_else(|| format!("invalid size {s:?}: too large"))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(ByteSize(n)),
            Raw::S(s) => ByteSize::parse(&s)
                .map_err(|e| serde::de::Error::custom(format!("body_size_limit: {e}"))),
        }
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

/// `http:` options.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    /// Accepted status codes (empty: any 2xx).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "status_codes"
    )]
    pub valid_status_codes: Vec<u16>,
    /// Accepted protocol versions as Go spells them (`HTTP/1.1`, `HTTP/2.0`).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "http_versions"
    )]
    pub valid_http_versions: Vec<String>,
    /// Request method (default GET).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Request headers (a `Host` entry sets the virtual host).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        serialize_with = "redacted_headers"
    )]
    pub headers: BTreeMap<String, String>,
    /// Most bytes of (uncompressed) body read; 0 means no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_size_limit: Option<ByteSize>,
    /// Decompress the body with this algorithm (gzip, br, deflate, identity).
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "compression"
    )]
    pub compression: String,
    /// Follow redirects (up to 10).
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    /// The pre-0.20 spelling, still accepted: `true` disables following.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_follow_redirects: Option<bool>,
    /// Fail when the final response came over TLS.
    #[serde(default)]
    pub fail_if_ssl: bool,
    /// Fail when the final response did not come over TLS.
    #[serde(default)]
    pub fail_if_not_ssl: bool,
    /// Fail when the body matches any of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fail_if_body_matches_regexp: Vec<ConfigRegex>,
    /// Fail when the body does not match each of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fail_if_body_not_matches_regexp: Vec<ConfigRegex>,
    /// Fail when a header matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fail_if_header_matches: Vec<HeaderMatch>,
    /// Fail when a header does not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fail_if_header_not_matches: Vec<HeaderMatch>,
    /// TLS client settings.
    #[serde(default)]
    pub tls_config: TlsClientOptions,
    /// Basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// A bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<Secret>,
    /// A file holding the bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<PathBuf>,
    /// An `Authorization` header with a type and credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    /// A proxy: `http://`, `https://`, `socks5://` or `socks5h://` (`host:port` means http).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "redacted_url"
    )]
    pub proxy_url: Option<String>,
    /// With a proxy, do not resolve the target ourselves.
    #[serde(default)]
    pub skip_resolve_phase_with_proxy: bool,
    /// Offer HTTP/2 over TLS (ALPN).
    #[serde(default = "default_true")]
    pub enable_http2: bool,
    /// Address family tried first.
    #[serde(default)]
    pub preferred_ip_protocol: IpProtocol,
    /// Try the other family when the preferred one has no address.
    #[serde(default = "default_true")]
    pub ip_protocol_fallback: bool,
    /// Request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// OAuth 2.0 client credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<oauth2::OAuth2>,
    /// Hosts, domains and CIDRs (comma-separated) not sent through `proxy_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<String>,
    /// Use `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` from the environment.
    #[serde(default)]
    pub proxy_from_environment: bool,
    /// Headers sent with the proxy's CONNECT request (values are secrets).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub proxy_connect_header: BTreeMap<String, Vec<Secret>>,
    /// Request body read from a file at each probe (newer blackbox_exporter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_file: Option<PathBuf>,
    /// Not supported yet (newer blackbox_exporter).
    #[serde(default, skip_serializing)]
    pub fail_if_body_json_matches_cel: Option<IgnoredAny>,
    /// Not supported yet (newer blackbox_exporter).
    #[serde(default, skip_serializing)]
    pub fail_if_body_json_not_matches_cel: Option<IgnoredAny>,
    /// Prometheus common's headers with secret and file values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub http_headers: BTreeMap<String, HeaderSources>,
}

impl Default for HttpProbe {
    fn default() -> Self {
        Self {
            valid_status_codes: Vec::new(),
            valid_http_versions: Vec::new(),
            method: None,
            headers: BTreeMap::new(),
            body_size_limit: None,
            compression: String::new(),
            follow_redirects: true,
            no_follow_redirects: None,
            fail_if_ssl: false,
            fail_if_not_ssl: false,
            fail_if_body_matches_regexp: Vec::new(),
            fail_if_body_not_matches_regexp: Vec::new(),
            fail_if_header_matches: Vec::new(),
            fail_if_header_not_matches: Vec::new(),
            tls_config: TlsClientOptions::default(),
            basic_auth: None,
            bearer_token: None,
            bearer_token_file: None,
            authorization: None,
            proxy_url: None,
            skip_resolve_phase_with_proxy: false,
            enable_http2: true,
            preferred_ip_protocol: IpProtocol::Ip6,
            ip_protocol_fallback: true,
            body: None,
            oauth2: None,
            no_proxy: None,
            proxy_from_environment: false,
            proxy_connect_header: BTreeMap::new(),
            body_file: None,
            fail_if_body_json_matches_cel: None,
            fail_if_body_json_not_matches_cel: None,
            http_headers: BTreeMap::new(),
        }
    }
}

impl HttpProbe {
    /// Whether redirects are followed, honouring the deprecated `no_follow_redirects`.
    pub fn follows_redirects(&self) -> bool {
        match self.no_follow_redirects {
            Some(true) => false,
            _ => self.follow_redirects,
        }
    }
}

/// Header values that carry credentials are shown as `<redacted>` on the landing page.
fn redacted_headers<S: Serializer>(h: &BTreeMap<String, String>, s: S) -> Result<S::Ok, S::Error> {
    let shown: BTreeMap<&str, &str> = h
        .iter()
        .map(|(k, v)| {
            let lower = k.to_ascii_lowercase();
            let secret = ["auth", "cookie", "token", "key", "secret", "password"]
                .iter()
                .any(|w| lower.contains(w));
            (k.as_str(), if secret { "<redacted>" } else { v.as_str() })
        })
        .collect();
    shown.serialize(s)
}

/// A proxy URL without its password.
pub(crate) fn redacted_url<S: Serializer>(u: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    let shown = u.as_deref().map(|raw| match url::Url::parse(raw) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("<redacted>"));
            parsed.to_string()
        }
        _ => raw.to_string(),
    });
    shown.serialize(s)
}

/// One `http_headers` entry (Prometheus common): values, secret values and files whose
/// contents are sent as values (read at each probe).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderSources {
    /// Plain values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Secret values (shown redacted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<Secret>,
    /// Files holding values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<PathBuf>,
}

/// `fail_if_header_matches` / `fail_if_header_not_matches` entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    /// Header name (case-insensitive).
    pub header: String,
    /// Pattern applied to each value.
    pub regexp: ConfigRegex,
    /// A missing header does not fail the check.
    #[serde(default)]
    pub allow_missing: bool,
}

/// `basic_auth`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// User name.
    #[serde(default)]
    pub username: String,
    /// Password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// File holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

/// `authorization`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// Scheme (default `Bearer`).
    #[serde(default = "default_bearer", rename = "type")]
    pub kind: String,
    /// Credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Secret>,
    /// File holding the credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
}

fn default_bearer() -> String {
    "Bearer".into()
}

/// `tcp:` options.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TcpProbe {
    /// Address family tried first.
    #[serde(default)]
    pub preferred_ip_protocol: IpProtocol,
    /// Try the other family when the preferred one has no address.
    #[serde(default = "default_true")]
    pub ip_protocol_fallback: bool,
    /// Local address to connect from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip_address: Option<IpAddr>,
    /// The dialogue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query_response: Vec<QueryResponse>,
    /// TLS from the first byte.
    #[serde(default)]
    pub tls: bool,
    /// TLS client settings (for `tls` and `starttls`).
    #[serde(default)]
    pub tls_config: TlsClientOptions,
}

impl Default for TcpProbe {
    fn default() -> Self {
        Self {
            preferred_ip_protocol: IpProtocol::Ip6,
            ip_protocol_fallback: true,
            source_ip_address: None,
            query_response: Vec::new(),
            tls: false,
            tls_config: TlsClientOptions::default(),
        }
    }
}

/// One `query_response` step.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueryResponse {
    /// A line matching this must arrive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<ConfigRegex>,
    /// Labels for `probe_expect_info`, values may use `${1}` from `expect`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<ExpectLabel>,
    /// A line to send (`${1}` expands groups of this step's `expect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<String>,
    /// Upgrade the connection to TLS here.
    #[serde(default)]
    pub starttls: bool,
    /// Not supported yet (newer blackbox_exporter).
    #[serde(default, skip_serializing)]
    pub expect_bytes: Option<IgnoredAny>,
}

/// `websocket:` options (newer blackbox_exporter).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebsocketProbe {
    /// Client settings for the upgrade request.
    #[serde(default)]
    pub http_config: WebsocketHttpConfig,
    /// The message dialogue (`expect` reads one message, `send` writes one text message).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query_response: Vec<QueryResponse>,
}

/// `websocket.http_config`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebsocketHttpConfig {
    /// TLS client settings for `wss://`.
    #[serde(default)]
    pub tls_config: TlsClientOptions,
    /// Basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// A bearer token (used when there is no basic_auth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<Secret>,
    /// Extra headers: a value or a list of values each.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        serialize_with = "redacted_header_values"
    )]
    pub http_headers: BTreeMap<String, OneOrMany>,
}

/// A header value or a list of them.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One value.
    One(String),
    /// Several values.
    Many(Vec<String>),
}

fn redacted_header_values<S: Serializer>(
    h: &BTreeMap<String, OneOrMany>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let flat: BTreeMap<String, String> = h
        .iter()
        .map(|(k, v)| {
            let joined = match v {
                OneOrMany::One(v) => v.clone(),
                OneOrMany::Many(v) => v.join(", "),
            };
            (k.clone(), joined)
        })
        .collect();
    redacted_headers(&flat, s)
}

/// `unix:` options (newer blackbox_exporter): a Unix domain socket dialogue.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UnixProbe {
    /// The dialogue, as for tcp.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query_response: Vec<QueryResponse>,
    /// TLS from the first byte.
    #[serde(default)]
    pub tls: bool,
    /// TLS client settings (`server_name` names the server; default `localhost`).
    #[serde(default)]
    pub tls_config: TlsClientOptions,
}

/// A `labels` entry of a `query_response` step.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectLabel {
    /// Label name.
    pub name: String,
    /// Label value template.
    pub value: String,
}

/// `dns:` options.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnsProbe {
    /// Address family tried first.
    #[serde(default)]
    pub preferred_ip_protocol: IpProtocol,
    /// Try the other family when the preferred one has no address.
    #[serde(default = "default_true")]
    pub ip_protocol_fallback: bool,
    /// Local address to query from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip_address: Option<IpAddr>,
    /// `udp` or `tcp`.
    #[serde(default = "default_udp", deserialize_with = "transport")]
    pub transport_protocol: String,
    /// DNS over TLS (needs `transport_protocol: tcp`; default port 853).
    #[serde(default)]
    pub dns_over_tls: bool,
    /// TLS settings for DNS over TLS.
    #[serde(default)]
    pub tls_config: TlsClientOptions,
    /// The name asked for.
    #[serde(default)]
    pub query_name: String,
    /// Record type (default ANY).
    #[serde(default = "default_any", deserialize_with = "query_type")]
    pub query_type: String,
    /// Class (default IN).
    #[serde(default = "default_in", deserialize_with = "query_class")]
    pub query_class: String,
    /// The RD flag.
    #[serde(default = "default_true")]
    pub recursion_desired: bool,
    /// Accepted rcodes (default NOERROR).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "rcodes"
    )]
    pub valid_rcodes: Vec<String>,
    /// Checks on the answer section.
    #[serde(default)]
    pub validate_answer_rrs: RrValidation,
    /// Checks on the authority section.
    #[serde(default)]
    pub validate_authority_rrs: RrValidation,
    /// Checks on the additional section.
    #[serde(default)]
    pub validate_additional_rrs: RrValidation,
}

fn default_udp() -> String {
    "udp".into()
}
fn default_any() -> String {
    "ANY".into()
}
fn default_in() -> String {
    "IN".into()
}

impl Default for DnsProbe {
    fn default() -> Self {
        Self {
            preferred_ip_protocol: IpProtocol::Ip6,
            ip_protocol_fallback: true,
            source_ip_address: None,
            transport_protocol: default_udp(),
            dns_over_tls: false,
            tls_config: TlsClientOptions::default(),
            query_name: String::new(),
            query_type: default_any(),
            query_class: default_in(),
            recursion_desired: true,
            valid_rcodes: Vec::new(),
            validate_answer_rrs: RrValidation::default(),
            validate_authority_rrs: RrValidation::default(),
            validate_additional_rrs: RrValidation::default(),
        }
    }
}

/// Regex checks on one section of a DNS response.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RrValidation {
    /// Fail if any record matches any of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fail_if_matches_regexp: Vec<ConfigRegex>,
    /// Fail if every record matches one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fail_if_all_match_regexp: Vec<ConfigRegex>,
    /// Fail if any record does not match one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fail_if_not_matches_regexp: Vec<ConfigRegex>,
    /// Fail if no record matches one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fail_if_none_matches_regexp: Vec<ConfigRegex>,
}

/// `icmp:` options.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IcmpProbe {
    /// Address family tried first.
    #[serde(default)]
    pub preferred_ip_protocol: IpProtocol,
    /// Try the other family when the preferred one has no address.
    #[serde(default = "default_true")]
    pub ip_protocol_fallback: bool,
    /// Local address to send from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip_address: Option<IpAddr>,
    /// Set the DF bit (IPv4).
    #[serde(default)]
    pub dont_fragment: bool,
    /// Payload size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_size: Option<usize>,
    /// Outgoing TTL / hop limit (blackbox's default 64).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "ttl"
    )]
    pub ttl: Option<u32>,
    /// Extension: echo requests per probe, for loss, min/avg/max RTT and jitter (default 1).
    #[serde(default = "default_packets", deserialize_with = "packets")]
    pub packets: u32,
}

fn default_packets() -> u32 {
    1
}

impl Default for IcmpProbe {
    fn default() -> Self {
        Self {
            preferred_ip_protocol: IpProtocol::Ip6,
            ip_protocol_fallback: true,
            source_ip_address: None,
            dont_fragment: false,
            payload_size: None,
            ttl: None,
            packets: 1,
        }
    }
}

/// `grpc:` options.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcProbe {
    /// The service asked about (empty: the server as a whole).
    #[serde(default)]
    pub service: String,
    /// Address family tried first.
    #[serde(default)]
    pub preferred_ip_protocol: IpProtocol,
    /// Try the other family when the preferred one has no address.
    #[serde(default = "default_true")]
    pub ip_protocol_fallback: bool,
    /// Connect with TLS.
    #[serde(default)]
    pub tls: bool,
    /// TLS client settings.
    #[serde(default)]
    pub tls_config: TlsClientOptions,
}

impl Default for GrpcProbe {
    fn default() -> Self {
        Self {
            service: String::new(),
            preferred_ip_protocol: IpProtocol::Ip6,
            ip_protocol_fallback: true,
            tls: false,
            tls_config: TlsClientOptions::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("blackbox.yml")).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_match_blackbox() {
        let c = parse("modules:\n  http_2xx:\n    prober: http\n").unwrap();
        let m = &c.modules["http_2xx"];
        assert!(m.http.follows_redirects());
        assert!(m.http.enable_http2);
        assert_eq!(m.http.preferred_ip_protocol, IpProtocol::Ip6);
        assert!(m.http.ip_protocol_fallback);
        assert_eq!(m.dns.query_type, "ANY");
        assert!(m.unsupported().is_empty());
    }

    #[test]
    fn sizes_parse_as_base2() {
        assert_eq!(ByteSize::parse("10MB").unwrap().0, 10 << 20);
        assert_eq!(ByteSize::parse("1024").unwrap().0, 1024);
        assert_eq!(ByteSize::parse("1KiB").unwrap().0, 1024);
        assert!(ByteSize::parse("ten").is_err());
        assert!(ByteSize::parse("5XB").is_err());
    }

    #[test]
    fn unsupported_options_load_but_are_listed() {
        let c = parse(
            "modules:\n  ws:\n    prober: websocket\n  o:\n    prober: http\n    http:\n      fail_if_body_json_matches_cel: x\n",
        )
        .unwrap();
        assert!(c.modules["ws"].unsupported().is_empty());
        assert_eq!(
            c.modules["o"].unsupported(),
            vec!["http.fail_if_body_json_matches_cel is not supported"]
        );
    }

    #[test]
    fn proxy_schemes_beyond_go_s_are_listed_as_unsupported() {
        let c = parse(
            "modules:\n  ok:\n    prober: http\n    http:\n      proxy_url: socks5h://u:p@proxy:1080\n      oauth2:\n        client_id: id\n        token_url: https://auth/token\n        proxy_url: https://proxy:3128\n  old:\n    prober: http\n    http:\n      proxy_url: socks4://proxy:1080\n      oauth2:\n        client_id: id\n        token_url: https://auth/token\n        proxy_url: ftp://proxy\n",
        )
        .unwrap();
        assert!(c.modules["ok"].unsupported().is_empty());
        assert_eq!(
            c.modules["old"].unsupported(),
            vec![
                "http.proxy_url with scheme \"socks4\" is not supported",
                "http.oauth2.proxy_url with scheme \"ftp\" is not supported",
            ]
        );
    }

    #[test]
    fn secrets_are_redacted_when_shown() {
        let c = parse(
            "modules:\n  m:\n    prober: http\n    http:\n      headers:\n        Authorization: Bearer abc123\n        Accept: text/plain\n      proxy_url: http://u:hunter2@proxy:3128\n      basic_auth:\n        username: u\n        password: hunter3\n  n:\n    prober: http\n    http:\n      bearer_token: hunter4\n  o:\n    prober: http\n    http:\n      oauth2:\n        client_id: id\n        token_url: https://auth/token\n        proxy_url: socks5://u:hunter5@proxy:1080\n",
        )
        .unwrap();
        let shown = watchkeeper_core::config::to_yaml(&c);
        for secret in ["abc123", "hunter2", "hunter3", "hunter4", "hunter5"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("text/plain"), "{shown}");
    }

    #[test]
    fn deprecated_no_follow_redirects_is_honoured() {
        let c =
            parse("modules:\n  m:\n    prober: http\n    http:\n      no_follow_redirects: true\n")
                .unwrap();
        assert!(!c.modules["m"].http.follows_redirects());
    }
}
