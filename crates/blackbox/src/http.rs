//! The http prober: one request (plus redirects) with hyper over rustls, each phase timed.
//!
//! Phases as blackbox_exporter reports them, summed over redirects: `resolve` (name lookup),
//! `connect` (TCP, or TCP plus what the proxy needs: TLS to it, CONNECT, a SOCKS5 handshake), `tls` (handshake), `processing` (request sent
//! until response headers) and `transfer` (reading the body).

mod cookies;

use crate::config::HttpProbe;
use crate::failure::{Failure, FailureReason};
use crate::prober::{tcp_connect, ConnGuard, Io, ProbeRun, Prober};
use crate::tls::{self, TlsFacts};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::io::Read as _;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use url::Url;
use watchkeeper_core::config::Secret;
use watchkeeper_core::metrics::MetricType;
use watchkeeper_core::BoxFuture;

/// Redirects followed before giving up (Go's `http.Client` default).
const MAX_REDIRECTS: u32 = 10;

/// The http prober.
pub struct HttpProber;

impl Prober for HttpProber {
    fn name(&self) -> crate::config::ProberName {
        crate::config::ProberName::Http
    }

    fn validate_target(&self, target: &str) -> Result<(), String> {
        parse_target(target).map(|_| ())
    }

    fn probe<'a>(&'a self, run: &'a mut ProbeRun<'_>) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(probe(run))
    }
}

/// Parses a target the way blackbox does: a missing scheme means `http://`.
pub fn parse_target(target: &str) -> Result<Url, String> {
    let full = if target.contains("://") {
        target.to_string()
    } else {
        format!("http://{target}")
    };
    parse_url_with_scheme(&full, target, ["http", "https"])
}

/// Parses `url` and checks it has one of `schemes` and a host; errors quote `target` as the
/// user wrote it. Shared by the http and websocket probers.
pub fn parse_url_with_scheme(url: &str, target: &str, schemes: [&str; 2]) -> Result<Url, String> {
    let url = Url::parse(url).map_err(|e| format!("Could not parse target URL {target:?}: {e}"))?;
    if !schemes.contains(&url.scheme()) {
        return Err(format!(
            "Could not parse target URL {target:?}: scheme {:?} is not {} or {}",
            url.scheme(),
            schemes[0],
            schemes[1]
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("Could not parse target URL {target:?}: no host"));
    }
    Ok(url)
}

/// Everything the metrics are made of, filled in as the probe goes (so a timeout still reports
/// the phases it reached).
#[derive(Default)]
struct Stats {
    resolve: Duration,
    connect: Duration,
    tls: Duration,
    processing: Duration,
    transfer: Duration,
    status: u16,
    content_length: i64,
    body_len: u64,
    redirects: u32,
    ssl: bool,
    version: f64,
    failed_due_to_regex: bool,
    last_modified: Option<i64>,
    tls_facts: Option<TlsFacts>,
    /// Whether the target's name was resolved: until then blackbox reports only the
    /// `resolve` phase.
    resolved: bool,
}

async fn probe(run: &mut ProbeRun<'_>) -> Result<(), Failure> {
    let mut stats = Stats::default();
    let deadline = run.deadline;
    let result = match tokio::time::timeout_at(deadline, probe_inner(run, &mut stats)).await {
        Ok(r) => r,
        Err(_) => Err(Failure::new(
            FailureReason::Timeout,
            "HTTP request timed out (probe deadline reached)",
        )),
    };
    emit(run, &stats);
    result
}

fn emit(run: &mut ProbeRun<'_>, s: &Stats) {
    let m = &mut run.metrics;
    m.gauge(
        "probe_failed_due_to_regex",
        "Indicates if probe failed due to regex",
        if s.failed_due_to_regex { 1.0 } else { 0.0 },
    );
    m.gauge(
        "probe_http_content_length",
        "Length of http content response",
        s.content_length as f64,
    );
    let fam = m.family(
        "probe_http_duration_seconds",
        "Duration of http request by phase, summed over all redirects",
        MetricType::Gauge,
    );
    for (phase, d) in [
        ("connect", s.connect),
        ("processing", s.processing),
        ("resolve", s.resolve),
        ("tls", s.tls),
        ("transfer", s.transfer),
    ] {
        if s.resolved || phase == "resolve" {
            fam.sample(&[("phase", phase)], d.as_secs_f64());
        }
    }
    if let Some(t) = s.last_modified {
        m.gauge(
            "probe_http_last_modified_timestamp_seconds",
            "Returns the Last-Modified HTTP response header in unixtime",
            t as f64,
        );
    }
    m.gauge(
        "probe_http_redirects",
        "The number of redirects",
        f64::from(s.redirects),
    );
    m.gauge(
        "probe_http_ssl",
        "Indicates if SSL was used for the final redirect",
        if s.ssl { 1.0 } else { 0.0 },
    );
    m.gauge(
        "probe_http_status_code",
        "Response HTTP status code",
        f64::from(s.status),
    );
    m.gauge(
        "probe_http_uncompressed_body_length",
        "Length of uncompressed response body",
        s.body_len as f64,
    );
    m.gauge(
        "probe_http_version",
        "Returns the version of HTTP of the probe response",
        s.version,
    );
    if let Some(f) = &s.tls_facts {
        tls::emit(m, f, true);
    }
}

/// One request to send (changes on redirects).
struct Hop {
    url: Url,
    method: Method,
    body: Option<Bytes>,
    /// The module's `Cookie` header for this request, if it is sent to it.
    cookie: Option<String>,
    /// Whether this is the probe's first request.
    first: bool,
    /// Whether the module's credential headers go with it (same host and port as the request
    /// before, or a subdomain).
    same_host: bool,
}

async fn probe_inner(run: &mut ProbeRun<'_>, stats: &mut Stats) -> Result<(), Failure> {
    let cfg: &HttpProbe = &run.module.http;
    let url = parse_target(run.target).map_err(|m| Failure::new(FailureReason::Local, m))?;
    let method = match &cfg.method {
        Some(m) => Method::from_bytes(m.as_bytes())
            .map_err(|_| Failure::new(FailureReason::Local, format!("invalid method {m:?}")))?,
        None => Method::GET,
    };
    let mut headers = request_headers(run, cfg)?;
    if let Some(o) = &cfg.oauth2 {
        let token = crate::oauth2::authorization(o).await?;
        let mut v = HeaderValue::from_str(token.expose())
            .map_err(|_| Failure::new(FailureReason::OAuth2, "oauth2 token is not header-safe"))?;
        v.set_sensitive(true);
        headers.map.insert(header::AUTHORIZATION, v);
        headers
            .same_host_only
            .retain(|n| *n != header::AUTHORIZATION);
    }
    // As Go's client: credentials in the URL become basic auth unless the module sets its own.
    if !headers.map.contains_key(header::AUTHORIZATION) {
        if let Some(v) = url_basic_auth(&url) {
            headers.map.insert(header::AUTHORIZATION, v);
            headers.url_auth = true;
        }
    }
    let host_override = headers.host.clone();
    let body = match (&cfg.body, &cfg.body_file) {
        (Some(b), _) => Some(Bytes::from(b.clone())),
        (None, Some(path)) => Some(Bytes::from(std::fs::read(path).map_err(|e| {
            Failure::new(
                FailureReason::Local,
                format!("reading body_file {}: {e}", path.display()),
            )
        })?)),
        (None, None) => None,
    };
    let mut configured_cookie = cookies::Configured::take(&mut headers.map);
    let mut hop = Hop {
        first: true,
        same_host: true,
        cookie: configured_cookie.for_hop(None, &url),
        url,
        method,
        body,
    };

    // The first lookup is the `resolve` phase and sets the probe_ip_* metrics.
    let first_host = host_of(&hop.url);
    let mut ip: Option<IpAddr> = None;
    let first_proxy = crate::proxy::proxy_for(cfg, &hop.url)?;
    if first_proxy.is_none() || !cfg.skip_resolve_phase_with_proxy {
        let started = Instant::now();
        let resolved = run
            .resolve(
                &first_host,
                cfg.preferred_ip_protocol,
                cfg.ip_protocol_fallback,
            )
            .await;
        let (addr, took) = resolved.inspect_err(|f| {
            stats.resolve += started.elapsed();
            // A resolved address the SSRF guard refuses still reports every phase.
            stats.resolved = f.reason != FailureReason::Dns;
        })?;
        stats.resolve += took;
        ip = Some(addr);
    }
    stats.resolved = true;
    let mut resolved_host = first_host;
    // As Go's client with a cookie jar: cookies set along the redirects are sent on.
    let mut jar = cookies::Jar::default();

    loop {
        let host = host_of(&hop.url);
        let proxy = crate::proxy::proxy_for(cfg, &hop.url)?;
        if host != resolved_host && (proxy.is_none() || !cfg.skip_resolve_phase_with_proxy) {
            let started = Instant::now();
            let addr = lookup(&host, cfg).await?;
            stats.resolve += started.elapsed();
            run.check_guard(addr)?;
            ip = Some(addr);
            resolved_host = host.clone();
        }
        let is_https = hop.url.scheme() == "https";
        let port = hop
            .url
            .port_or_known_default()
            .unwrap_or(if is_https { 443 } else { 80 });
        run.info(format!(
            "Making HTTP request url={} host={}",
            redact_url(&hop.url),
            host_override.as_deref().unwrap_or(&host)
        ));
        let (resp, conn_guard) = send(
            run,
            cfg,
            &hop,
            &headers,
            &jar,
            ip,
            port,
            proxy.as_ref(),
            stats,
        )
        .await
        .inspect_err(|_| stats.no_response())?;
        jar.store(&hop.url, resp.headers());

        let status = resp.status();
        stats.status = status.as_u16();
        stats.version = version_number(resp.version());
        stats.content_length = content_length(&resp, &hop.method);
        stats.last_modified = resp
            .headers()
            .get(header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_http_date);
        run.info(format!(
            "Received HTTP response status_code={}",
            status.as_u16()
        ));

        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if status.is_redirection() && location.is_some() && status != StatusCode::NOT_MODIFIED {
            let location = location.unwrap_or_default();
            run.info(format!("Received redirect location={location}"));
            if cfg.follows_redirects() {
                stats.redirects += 1;
                if stats.redirects > MAX_REDIRECTS {
                    run.error("Not following redirect: too many redirects");
                    return Err(Failure::new(
                        FailureReason::RedirectLimit,
                        format!("stopped after {MAX_REDIRECTS} redirects"),
                    ));
                }
                // The body of a redirect is not interesting; drain a little and drop the connection.
                let redirect_headers = resp.headers().clone();
                drop(resp);
                drop(conn_guard);
                let next = hop.url.join(&location).map_err(|e| {
                    Failure::new(
                        FailureReason::Protocol,
                        format!("invalid redirect location {location:?}: {e}"),
                    )
                })?;
                if next.scheme() != "http" && next.scheme() != "https" {
                    return Err(Failure::new(
                        FailureReason::Protocol,
                        format!("redirect to unsupported scheme {:?}", next.scheme()),
                    ));
                }
                // As Go's client: 301/302/303 turn a POST into a GET without body.
                let keep_method = matches!(status.as_u16(), 307 | 308)
                    || hop.method == Method::GET
                    || hop.method == Method::HEAD;
                if !keep_method {
                    hop.method = Method::GET;
                    hop.body = None;
                }
                configured_cookie.after_redirect(&redirect_headers);
                hop.cookie = configured_cookie.for_hop(Some(&hop.url), &next);
                hop.same_host = cookies::same_host_or_subdomain(&hop.url, &next);
                hop.first = false;
                hop.url = next;
                continue;
            }
            // blackbox counts a redirect it was told not to follow (Go's CheckRedirect ran),
            // and Go's client hands back that response with its body already closed: the
            // body is not read, so its length is 0 and body checks cannot pass.
            stats.redirects += 1;
            run.info("Not following redirect");
            stats.ssl = is_https;
            let (parts, _) = resp.into_parts();
            drop(conn_guard);
            let body = Body {
                version: parts.version,
                headers: parts.headers,
                bytes: Vec::new(),
                closed: true,
            };
            return check(run, cfg, stats, &body, is_https);
        }

        stats.ssl = is_https;
        let body = read_body(run, cfg, resp, stats).await;
        drop(conn_guard);
        return check(run, cfg, stats, &body?, is_https);
    }
}

async fn lookup(host: &str, cfg: &HttpProbe) -> Result<IpAddr, Failure> {
    crate::prober::lookup(host, cfg.preferred_ip_protocol, cfg.ip_protocol_fallback).await
}

/// `Authorization: Basic` from credentials in `url`, if it has any.
fn url_basic_auth(url: &Url) -> Option<HeaderValue> {
    if url.username().is_empty() {
        return None;
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let raw = format!(
        "{}:{}",
        decode(url.username()),
        decode(url.password().unwrap_or(""))
    );
    let mut v = HeaderValue::from_str(&format!("Basic {}", base64(raw.as_bytes()))).ok()?;
    v.set_sensitive(true);
    Some(v)
}

fn host_of(url: &Url) -> String {
    url.host_str().unwrap_or_default().to_string()
}

/// The URL without credentials, for the log.
fn redact_url(url: &Url) -> String {
    let mut u = url.clone();
    if !u.username().is_empty() || u.password().is_some() {
        let _ = u.set_username("");
        let _ = u.set_password(None);
    }
    u.to_string()
}

/// Headers from the config and credentials, plus the virtual host if one is set.
struct RequestHeaders {
    map: HeaderMap,
    host: Option<String>,
    /// Credential headers the module set in `headers` (`Authorization`, `Www-Authenticate`,
    /// `Cookie2`): as Go's client, not sent after a redirect to another host or port.
    same_host_only: Vec<HeaderName>,
    /// `Authorization` comes from credentials in the target URL: Go sets it on each request
    /// from that request's own URL.
    url_auth: bool,
}

fn request_headers(run: &ProbeRun<'_>, cfg: &HttpProbe) -> Result<RequestHeaders, Failure> {
    let bad = |m: String| Failure::new(FailureReason::Local, m);
    let mut map = HeaderMap::new();
    let mut host = None;
    for (k, v) in &cfg.headers {
        if k.eq_ignore_ascii_case("host") {
            host = Some(v.clone());
            continue;
        }
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| bad(format!("invalid header name {k:?}")))?;
        let value =
            HeaderValue::from_str(v).map_err(|_| bad(format!("invalid value for header {k:?}")))?;
        map.append(name, value);
    }
    if let Some(h) = run.hostname {
        host = Some(h.to_string());
    }
    if !map.contains_key(header::USER_AGENT) {
        map.insert(
            header::USER_AGENT,
            HeaderValue::from_static(concat!("Watchkeeper-Blackbox/", env!("CARGO_PKG_VERSION"))),
        );
    }
    if !cfg.compression.is_empty()
        && cfg.compression != "identity"
        && !map.contains_key(header::ACCEPT_ENCODING)
    {
        if let Ok(v) = HeaderValue::from_str(&cfg.compression) {
            map.insert(header::ACCEPT_ENCODING, v);
        }
    }
    for (k, src) in &cfg.http_headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| bad(format!("invalid header name {k:?} in http_headers")))?;
        let mut values: Vec<(String, bool)> =
            src.values.iter().map(|v| (v.clone(), false)).collect();
        values.extend(src.secrets.iter().map(|s| (s.expose().to_string(), true)));
        for f in &src.files {
            let v = Secret::from_file(f)
                .map_err(|e| bad(format!("reading http_headers file {}: {e}", f.display())))?;
            values.push((v.expose().to_string(), true));
        }
        for (v, sensitive) in values {
            let mut value = HeaderValue::from_str(&v)
                .map_err(|_| bad(format!("invalid value for header {k:?} in http_headers")))?;
            value.set_sensitive(sensitive);
            map.append(name.clone(), value);
        }
    }
    // Go's `shouldCopyHeaderOnRedirect`: these are dropped on a redirect to another host.
    let same_host_only: Vec<HeaderName> = [header::AUTHORIZATION, header::WWW_AUTHENTICATE]
        .into_iter()
        .chain(HeaderName::from_bytes(b"cookie2").ok())
        .filter(|n| map.contains_key(n))
        .collect();
    let mut same_host_only = same_host_only;
    let auth = authorization(cfg)?;
    if let Some(a) = auth {
        // Credentials from basic_auth, bearer_token or authorization go on every request.
        same_host_only.retain(|n| *n != header::AUTHORIZATION);
        let mut v = HeaderValue::from_str(a.expose())
            .map_err(|_| bad("credentials contain invalid header characters".into()))?;
        v.set_sensitive(true);
        map.insert(header::AUTHORIZATION, v);
    }
    Ok(RequestHeaders {
        map,
        host,
        same_host_only,
        url_auth: false,
    })
}

/// The `Authorization` header value, read from the config or its `_file` each probe (so a
/// rotated token is used without a reload).
fn authorization(cfg: &HttpProbe) -> Result<Option<Secret>, Failure> {
    let read = |p: &std::path::Path, what: &str| {
        Secret::from_file(p).map_err(|e| {
            Failure::new(
                FailureReason::Local,
                format!("reading {what} {}: {e}", p.display()),
            )
        })
    };
    if let Some(b) = &cfg.basic_auth {
        let password = match (&b.password, &b.password_file) {
            (Some(p), _) => p.clone(),
            (None, Some(f)) => read(f, "password_file")?,
            (None, None) => Secret::default(),
        };
        let raw = format!("{}:{}", b.username, password.expose());
        return Ok(Some(Secret::new(format!(
            "Basic {}",
            base64(raw.as_bytes())
        ))));
    }
    if let Some(a) = &cfg.authorization {
        let creds = match (&a.credentials, &a.credentials_file) {
            (Some(c), _) => c.clone(),
            (None, Some(f)) => read(f, "credentials_file")?,
            (None, None) => return Ok(None),
        };
        return Ok(Some(Secret::new(format!("{} {}", a.kind, creds.expose()))));
    }
    let token = match (&cfg.bearer_token, &cfg.bearer_token_file) {
        (Some(t), _) => t.clone(),
        (None, Some(f)) => read(f, "bearer_token_file")?,
        (None, None) => return Ok(None),
    };
    Ok(Some(Secret::new(format!("Bearer {}", token.expose()))))
}

/// Standard base64 with padding, shared with core's basic auth.
pub use watchkeeper_core::base64::encode as base64;

#[allow(clippy::too_many_arguments)]
async fn send(
    run: &mut ProbeRun<'_>,
    cfg: &HttpProbe,
    hop: &Hop,
    headers: &RequestHeaders,
    jar: &cookies::Jar,
    ip: Option<IpAddr>,
    port: u16,
    proxy: Option<&Url>,
    stats: &mut Stats,
) -> Result<(http::Response<hyper::body::Incoming>, ConnGuard), Failure> {
    let is_https = hop.url.scheme() == "https";
    let host = host_of(&hop.url);
    let started = Instant::now();
    // TCP to the target, or whatever it takes to get through the proxy.
    let (stream, absolute_form, proxy_authorization): (Box<dyn Io>, bool, _) = match proxy {
        None => {
            let ip =
                ip.ok_or_else(|| Failure::new(FailureReason::Dns, "target was not resolved"))?;
            (Box::new(tcp_connect(ip, port, None).await?), false, None)
        }
        Some(p) => {
            run.info(format!(
                "Connecting through proxy proxy={}",
                crate::tunnel::display(p)
            ));
            let guard = run.guard;
            let check = move |ip: IpAddr| {
                guard
                    .check(ip)
                    .map_err(|m| Failure::new(FailureReason::Denied, m))
            };
            let opts = crate::tunnel::Options {
                tls: &cfg.tls_config,
                connect_headers: &cfg.proxy_connect_header,
                preferred: cfg.preferred_ip_protocol,
                fallback: cfg.ip_protocol_fallback,
                check: &check,
            };
            let d = crate::tunnel::dial(p, &host, port, is_https, &opts).await?;
            (d.stream, d.absolute_form, d.proxy_authorization)
        }
    };
    stats.connect += started.elapsed();

    let sni_host = headers
        .host
        .as_deref()
        .map(|h| strip_port(h).to_string())
        .unwrap_or_else(|| host.clone());
    let (io, h2): (Box<dyn Io>, bool) = if is_https {
        let alpn: &[&[u8]] = if cfg.enable_http2 {
            &[b"h2", b"http/1.1"]
        } else {
            &[b"http/1.1"]
        };
        let (tls_stream, facts, took) =
            tls::handshake(stream, &cfg.tls_config, &sni_host, alpn).await?;
        stats.tls += took;
        let h2 = facts.alpn.as_deref() == Some(b"h2");
        stats.tls_facts_set(facts);
        (Box::new(tls_stream), h2)
    } else {
        stats.tls_clear();
        (Box::new(stream), false)
    };

    // Build the request.
    let authority = headers
        .host
        .clone()
        .unwrap_or_else(|| authority_of(&hop.url));
    let path = match hop.url.query() {
        Some(q) => format!("{}?{q}", hop.url.path()),
        None => hop.url.path().to_string(),
    };
    let uri: Uri = if h2 {
        format!("{}://{authority}{path}", hop.url.scheme()).parse()
    } else if absolute_form {
        let mut u = hop.url.clone();
        let _ = u.set_username("");
        let _ = u.set_password(None);
        u.set_fragment(None);
        u.as_str().parse()
    } else {
        path.parse()
    }
    .map_err(|e| Failure::new(FailureReason::Local, format!("invalid request URI: {e}")))?;
    let mut req = Request::builder().method(hop.method.clone()).uri(uri);
    if let Some(h) = req.headers_mut() {
        *h = headers.map.clone();
        if !hop.same_host {
            for n in &headers.same_host_only {
                h.remove(n);
            }
        }
        if headers.url_auth && !hop.first {
            // Each request's own URL decides (a relative redirect keeps the credentials).
            match url_basic_auth(&hop.url) {
                Some(v) => h.insert(header::AUTHORIZATION, v),
                None => h.remove(header::AUTHORIZATION),
            };
        }
        if !h2 {
            if let Ok(v) = HeaderValue::from_str(&authority) {
                h.insert(header::HOST, v);
            }
        }
        if let Some(a) = proxy_authorization {
            h.insert(header::PROXY_AUTHORIZATION, a);
        }
        if let Some(c) = hop
            .cookie
            .as_deref()
            .and_then(|c| HeaderValue::from_str(c).ok())
        {
            h.insert(header::COOKIE, c);
        }
        jar.add_to(&hop.url, h);
    }
    let body = hop.body.clone().unwrap_or_default();
    let req = req
        .body(Full::new(body))
        .map_err(|e| Failure::new(FailureReason::Local, format!("building request: {e}")))?;

    let sent = Instant::now();
    let io = TokioIo::new(io);
    let (resp, guard) = if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| {
                Failure::new(
                    FailureReason::Protocol,
                    format!("HTTP/2 handshake failed: {e}"),
                )
            })?;
        let guard = ConnGuard(tokio::spawn(async move {
            let _ = conn.await;
        }));
        let resp = sender.send_request(req).await.map_err(hyper_failure)?;
        (resp, guard)
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| {
                Failure::new(
                    FailureReason::Protocol,
                    format!("HTTP handshake failed: {e}"),
                )
            })?;
        let guard = ConnGuard(tokio::spawn(async move {
            let _ = conn.await;
        }));
        let resp = sender.send_request(req).await.map_err(hyper_failure)?;
        (resp, guard)
    };
    stats.processing += sent.elapsed();
    Ok((resp, guard))
}

impl Stats {
    /// A request that got no response (Go's client returned an error, so blackbox reports an
    /// empty response): what an earlier hop of the redirect chain answered is forgotten.
    fn no_response(&mut self) {
        self.status = 0;
        self.version = 0.0;
        self.content_length = 0;
        self.last_modified = None;
        self.tls_facts = None;
    }

    fn tls_facts_set(&mut self, f: TlsFacts) {
        self.tls_facts = Some(f);
    }
    fn tls_clear(&mut self) {
        self.tls_facts = None;
    }
}

fn hyper_failure(e: hyper::Error) -> Failure {
    let reason = if e.is_timeout() {
        FailureReason::Timeout
    } else {
        FailureReason::Protocol
    };
    let detail = std::error::Error::source(&e)
        .map(|s| format!("{e}: {s}"))
        .unwrap_or_else(|| e.to_string());
    Failure::new(reason, format!("Error for HTTP request: {detail}"))
}

/// `host[:port]` as the Host header carries it (default ports omitted, v6 bracketed).
fn authority_of(url: &Url) -> String {
    let host = match url.host() {
        Some(url::Host::Ipv6(a)) => format!("[{a}]"),
        Some(h) => h.to_string(),
        None => String::new(),
    };
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    }
}

fn strip_port(hostport: &str) -> &str {
    if let Some(rest) = hostport.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => hostport,
    }
}

fn version_number(v: Version) -> f64 {
    match v {
        Version::HTTP_09 => 0.9,
        Version::HTTP_10 => 1.0,
        Version::HTTP_11 => 1.1,
        Version::HTTP_2 => 2.0,
        Version::HTTP_3 => 3.0,
        _ => 0.0,
    }
}

fn version_name(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "unknown",
    }
}

/// Go's `resp.ContentLength`: for HEAD the header's value; otherwise 0 for a status that has
/// no body (1xx, 204, 304), else the header's value; -1 when the length is not known upfront.
fn content_length<B>(resp: &http::Response<B>, method: &Method) -> i64 {
    let status = resp.status();
    if *method != Method::HEAD
        && (status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED)
    {
        return 0;
    }
    resp.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(-1)
}

/// The response as the checks see it.
struct Body {
    version: Version,
    headers: HeaderMap,
    bytes: Vec<u8>,
    /// The body was never readable (a redirect not followed): body checks fail.
    closed: bool,
}

async fn read_body(
    run: &mut ProbeRun<'_>,
    cfg: &HttpProbe,
    resp: http::Response<hyper::body::Incoming>,
    stats: &mut Stats,
) -> Result<Body, Failure> {
    let limit = cfg.body_size_limit.map(|b| b.0).filter(|&n| n > 0);
    let (parts, mut incoming) = resp.into_parts();
    let started = Instant::now();
    let mut raw: Vec<u8> = Vec::new();
    let decompress = matches!(cfg.compression.as_str(), "gzip" | "deflate" | "br");
    let result = loop {
        match incoming.frame().await {
            None => break Ok(()),
            Some(Err(e)) => break Err(hyper_failure(e)),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    raw.extend_from_slice(&data);
                    // Counted as it arrives: a body cut short by the deadline reports what
                    // was read, as blackbox's byte counter does.
                    if !decompress {
                        stats.body_len = raw.len() as u64;
                    }
                    // Without decompression the limit applies to what is read; with it, the
                    // compressed size bounds memory and the limit is checked after inflating.
                    if let Some(l) = limit {
                        if raw.len() as u64 > l {
                            stats.body_len = l;
                            if !decompress {
                                break Err(Failure::new(
                                    FailureReason::BodyTooLarge,
                                    format!("Failed to read HTTP response body: body exceeds body_size_limit of {l} bytes"),
                                ));
                            }
                        }
                    }
                }
            }
        }
    };
    stats.transfer += started.elapsed();
    result?;
    let bytes = if decompress {
        let max = limit.unwrap_or(u64::MAX);
        let mut out = Vec::new();
        let reader: Box<dyn std::io::Read> = match cfg.compression.as_str() {
            "gzip" => Box::new(flate2::read::GzDecoder::new(&raw[..])),
            // 4 KiB is the decoder's input buffer; the whole body is already in memory.
            "br" => Box::new(brotli_decompressor::Decompressor::new(&raw[..], 4096)),
            _ => Box::new(flate2::read::DeflateDecoder::new(&raw[..])),
        };
        reader
            .take(max.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| {
                Failure::new(
                    FailureReason::Protocol,
                    format!("Failed to decompress response body: {e}"),
                )
            })?;
        if out.len() as u64 > max {
            stats.body_len = max;
            return Err(Failure::new(
                FailureReason::BodyTooLarge,
                format!("Failed to read HTTP response body: uncompressed body exceeds body_size_limit of {max} bytes"),
            ));
        }
        out
    } else {
        raw
    };
    stats.body_len = bytes.len() as u64;
    run.info(format!("Read response body bytes={}", bytes.len()));
    Ok(Body {
        version: parts.version,
        headers: parts.headers,
        bytes,
        closed: false,
    })
}

/// The checks, in blackbox's order: status, headers, body, version, TLS.
fn check(
    run: &mut ProbeRun<'_>,
    cfg: &HttpProbe,
    stats: &mut Stats,
    body: &Body,
    is_https: bool,
) -> Result<(), Failure> {
    let code = stats.status;
    let status_ok = if cfg.valid_status_codes.is_empty() {
        (200..300).contains(&code)
    } else {
        cfg.valid_status_codes.contains(&code)
    };
    if !status_ok {
        let wanted = if cfg.valid_status_codes.is_empty() {
            "2xx".to_string()
        } else {
            format!("{:?}", cfg.valid_status_codes)
        };
        return Err(Failure::new(
            FailureReason::StatusCode,
            format!("Invalid HTTP response status code status_code={code} wanted={wanted}"),
        ));
    }
    // blackbox flags header-regex failures in probe_failed_due_to_regex too.
    if let Err(f) = check_headers(cfg, &body.headers) {
        stats.failed_due_to_regex = true;
        return Err(f);
    }
    // Go's gzip reader reads the stream header as it is created: on the closed body of a
    // redirect not followed that fails (the other decoders read nothing until asked).
    if body.closed && cfg.compression == "gzip" {
        return Err(Failure::new(
            FailureReason::Protocol,
            "Failed to get decompressor for HTTP response body: the body of a redirect that is not followed is not read",
        ));
    }
    if !cfg.fail_if_body_matches_regexp.is_empty()
        || !cfg.fail_if_body_not_matches_regexp.is_empty()
    {
        if body.closed {
            stats.failed_due_to_regex = true;
            return Err(Failure::new(
                FailureReason::BodyRegex,
                "Error reading HTTP body: the body of a redirect that is not followed is not read",
            ));
        }
        let text = String::from_utf8_lossy(&body.bytes);
        for re in &cfg.fail_if_body_matches_regexp {
            if re.0.is_match(&text) {
                stats.failed_due_to_regex = true;
                return Err(Failure::new(
                    FailureReason::BodyRegex,
                    format!("Body matched regular expression regexp={}", re.0.as_str()),
                ));
            }
        }
        for re in &cfg.fail_if_body_not_matches_regexp {
            if !re.0.is_match(&text) {
                stats.failed_due_to_regex = true;
                return Err(Failure::new(
                    FailureReason::BodyRegex,
                    format!(
                        "Body did not match regular expression regexp={}",
                        re.0.as_str()
                    ),
                ));
            }
        }
    }
    if !cfg.valid_http_versions.is_empty() {
        let name = version_name(body.version);
        let ok = cfg
            .valid_http_versions
            .iter()
            .any(|v| v == name || (v == "HTTP/2" && name == "HTTP/2.0"));
        if !ok {
            return Err(Failure::new(
                FailureReason::HttpVersion,
                format!("Invalid HTTP version number version={name}"),
            ));
        }
    }
    if is_https && cfg.fail_if_ssl {
        return Err(Failure::new(
            FailureReason::TlsPresent,
            "Final request was over SSL",
        ));
    }
    if !is_https && cfg.fail_if_not_ssl {
        return Err(Failure::new(
            FailureReason::TlsMissing,
            "Final request was not over SSL",
        ));
    }
    run.info("HTTP checks passed");
    Ok(())
}

/// `fail_if_header_matches` and `fail_if_header_not_matches`.
fn check_headers(cfg: &HttpProbe, headers: &HeaderMap) -> Result<(), Failure> {
    for m in &cfg.fail_if_header_matches {
        let values: Vec<&str> = headers
            .get_all(m.header.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            if m.allow_missing {
                continue;
            }
            return Err(Failure::new(
                FailureReason::HeaderRegex,
                format!("Missing required header header={}", m.header),
            ));
        }
        if values.iter().any(|v| m.regexp.0.is_match(v)) {
            return Err(Failure::new(
                FailureReason::HeaderRegex,
                format!(
                    "Header matched regular expression header={} regexp={}",
                    m.header,
                    m.regexp.0.as_str()
                ),
            ));
        }
    }
    for m in &cfg.fail_if_header_not_matches {
        let values: Vec<&str> = headers
            .get_all(m.header.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            if m.allow_missing {
                continue;
            }
            return Err(Failure::new(
                FailureReason::HeaderRegex,
                format!("Missing required header header={}", m.header),
            ));
        }
        if !values.iter().any(|v| m.regexp.0.is_match(v)) {
            return Err(Failure::new(
                FailureReason::HeaderRegex,
                format!(
                    "Header did not match regular expression header={} regexp={}",
                    m.header,
                    m.regexp.0.as_str()
                ),
            ));
        }
    }
    Ok(())
}

/// Parses an HTTP date (RFC 1123, RFC 850 or asctime) to Unix seconds.
pub fn parse_http_date(s: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts: Vec<&str> = s.split([' ', ',', '-']).filter(|p| !p.is_empty()).collect();
    // RFC 1123: Sun, 06 Nov 1994 08:49:37 GMT -> [Sun, 06, Nov, 1994, 08:49:37, GMT]
    // RFC 850:  Sunday, 06-Nov-94 08:49:37 GMT -> [Sunday, 06, Nov, 94, 08:49:37, GMT]
    // asctime:  Sun Nov  6 08:49:37 1994 -> [Sun, Nov, 6, 08:49:37, 1994]
    let (day, mon, year, time) = match parts.as_slice() {
        [_, d, m, y, t, "GMT"] => (*d, *m, *y, *t),
        [_, m, d, t, y] => (*d, *m, *y, *t),
        _ => return None,
    };
    let day: i64 = day.parse().ok()?;
    let month = MONTHS.iter().position(|m| *m == mon)? as i64 + 1;
    let mut year: i64 = year.parse().ok()?;
    if year < 100 {
        year += if year < 70 { 2000 } else { 1900 };
    }
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi, sec) = (hms.next()??, hms.next()??, hms.next()??);
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + mi * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_like_blackbox() {
        assert_eq!(
            parse_target("example.com").unwrap().as_str(),
            "http://example.com/"
        );
        assert!(parse_target("http://[::1").is_err());
        assert!(parse_target("http://a:99999/").is_err());
        assert!(parse_target("ftp://a/").is_err());
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784111777)
        );
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(784111777)
        );
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(784111777));
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b""), "");
    }

    #[test]
    fn content_length_as_go_reports_it() {
        let resp = |status: u16, len: Option<&str>| {
            let mut b = http::Response::builder().status(status);
            if let Some(l) = len {
                b = b.header(header::CONTENT_LENGTH, l);
            }
            b.body(()).unwrap()
        };
        assert_eq!(content_length(&resp(200, Some("11")), &Method::GET), 11);
        assert_eq!(content_length(&resp(200, None), &Method::GET), -1);
        // No body allowed: 0 whatever the header says, except for HEAD.
        assert_eq!(content_length(&resp(204, None), &Method::GET), 0);
        assert_eq!(content_length(&resp(304, Some("5")), &Method::GET), 0);
        assert_eq!(content_length(&resp(204, None), &Method::HEAD), -1);
        assert_eq!(content_length(&resp(200, Some("7")), &Method::HEAD), 7);
    }

    #[test]
    fn authority_keeps_explicit_ports() {
        assert_eq!(
            authority_of(&Url::parse("http://a:8080/x").unwrap()),
            "a:8080"
        );
        assert_eq!(
            authority_of(&Url::parse("https://[::1]/").unwrap()),
            "[::1]"
        );
        assert_eq!(strip_port("a:80"), "a");
        assert_eq!(strip_port("[::1]:80"), "::1");
    }
}
