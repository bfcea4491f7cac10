//! `http.oauth2`: the OAuth 2.0 client-credentials grant, as Prometheus' common HTTP client
//! does it for blackbox_exporter (experimental there too).
//!
//! The token is fetched from `token_url` with HTTP Basic client authentication and cached until
//! shortly before it expires, so a probe normally costs no extra round trip.

use crate::failure::{Failure, FailureReason};
use crate::prober::{tcp_connect, ConnGuard, Io};
use bytes::Bytes;
use http::{header, HeaderValue, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use url::Url;
use watchkeeper_core::config::Secret;

pub use crate::config::oauth2::OAuth2;

/// Tokens are refreshed this long before they expire.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);
/// Without `expires_in`, a token is reused this long.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
/// Most token bytes read (a token response is small; a huge one is a misconfigured URL).
const MAX_RESPONSE: usize = 64 * 1024;

struct Cached {
    config: OAuth2,
    header: Secret,
    valid_until: Instant,
}

static CACHE: Mutex<Vec<Cached>> = Mutex::new(Vec::new());

/// Drops cached tokens (on config reload).
pub fn clear_cache() {
    if let Ok(mut c) = CACHE.lock() {
        c.clear();
    }
}

/// The `Authorization` header value for `cfg`, from the cache or a fresh token request.
pub async fn authorization(cfg: &OAuth2) -> Result<Secret, Failure> {
    if let Ok(cache) = CACHE.lock() {
        if let Some(c) = cache
            .iter()
            .find(|c| c.config == *cfg && c.valid_until > Instant::now())
        {
            return Ok(c.header.clone());
        }
    }
    let (header, lifetime) = fetch(cfg).await?;
    if let Ok(mut cache) = CACHE.lock() {
        cache.retain(|c| c.config != *cfg && c.valid_until > Instant::now());
        cache.push(Cached {
            config: cfg.clone(),
            header: header.clone(),
            valid_until: Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN),
        });
    }
    Ok(header)
}

fn fail(message: impl Into<String>) -> Failure {
    Failure::new(FailureReason::OAuth2, message)
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

async fn fetch(cfg: &OAuth2) -> Result<(Secret, Duration), Failure> {
    let url = Url::parse(&cfg.token_url).map_err(|e| fail(format!("oauth2.token_url: {e}")))?;
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let secret = match (&cfg.client_secret, &cfg.client_secret_file) {
        (Some(s), _) => s.clone(),
        (None, Some(p)) => Secret::from_file(p).map_err(|e| {
            fail(format!(
                "reading oauth2.client_secret_file {}: {e}",
                p.display()
            ))
        })?,
        (None, None) => Secret::default(),
    };
    // The form body: grant type, scopes, extra parameters.
    // (The serializer is not Send, so it lives only in this block.)
    let body = {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        if !cfg.scopes.is_empty() {
            form.append_pair("scope", &cfg.scopes.join(" "));
        }
        for (k, v) in &cfg.endpoint_params {
            form.append_pair(k, v);
        }
        form.finish()
    };
    // RFC 6749 §2.3.1: id and secret are form-encoded before Basic encoding.
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let basic =
        crate::http::base64(format!("{}:{}", enc(&cfg.client_id), enc(secret.expose())).as_bytes());

    let https = url.scheme() == "https";
    let (stream, absolute_form, proxy_auth): (Box<dyn Io>, bool, _) = match &cfg.proxy_url {
        None => {
            let ip = match host.parse::<std::net::IpAddr>() {
                Ok(ip) => ip,
                Err(_) => tokio::net::lookup_host((host.as_str(), port))
                    .await
                    .map_err(|e| fail(format!("resolving oauth2 token_url host {host}: {e}")))?
                    .next()
                    .map(|a| a.ip())
                    .ok_or_else(|| fail(format!("oauth2 token_url host {host} has no address")))?,
            };
            let stream = tcp_connect(ip, port, None)
                .await
                .map_err(|f| fail(format!("oauth2 token request: {}", f.message)))?;
            (Box::new(stream), false, None)
        }
        Some(raw) => {
            let proxy = crate::tunnel::parse(raw)
                .map_err(|f| fail(format!("oauth2.proxy_url: {}", f.message)))?;
            let no_headers = BTreeMap::new();
            // The token endpoint is the module's own configuration, not a probe target, so
            // the SSRF guard does not apply (as for a direct token request); the proxy name
            // resolves like a probe target's by default (IPv6 first, then IPv4).
            let anywhere = |_: std::net::IpAddr| Ok(());
            let opts = crate::tunnel::Options {
                tls: &cfg.tls_config,
                connect_headers: &no_headers,
                preferred: crate::config::IpProtocol::Ip6,
                fallback: true,
                check: &anywhere,
            };
            let d = crate::tunnel::dial(&proxy, &host, port, https, &opts)
                .await
                .map_err(|f| {
                    fail(format!(
                        "oauth2 token request through proxy {}: {}",
                        crate::tunnel::display(&proxy),
                        f.message
                    ))
                })?;
            (d.stream, d.absolute_form, d.proxy_authorization)
        }
    };
    let io: Box<dyn Io> = if https {
        let (s, _, _) = crate::tls::handshake(stream, &cfg.tls_config, &host, &[b"http/1.1"])
            .await
            .map_err(|f| fail(format!("oauth2 token request: {}", f.message)))?;
        Box::new(s)
    } else {
        stream
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| fail(format!("oauth2 token request: {e}")))?;
    let _driver = ConnGuard(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let path = if absolute_form {
        let mut u = url.clone();
        let _ = u.set_username("");
        let _ = u.set_password(None);
        u.set_fragment(None);
        u.to_string()
    } else {
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    };
    let authority = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let mut auth = HeaderValue::from_str(&format!("Basic {basic}"))
        .map_err(|_| fail("oauth2 credentials are not header-safe"))?;
    auth.set_sensitive(true);
    let mut req = Request::post(path)
        .header(header::HOST, authority)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .header(header::AUTHORIZATION, auth)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| fail(format!("oauth2 token request: {e}")))?;
    if let Some(a) = proxy_auth {
        req.headers_mut().insert(header::PROXY_AUTHORIZATION, a);
    }
    let result = async {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| fail(format!("oauth2 token request: {e}")))?;
        let status = resp.status();
        let bytes = http_body_util::Limited::new(resp.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| fail(format!("reading oauth2 token response: {e}")))?
            .to_bytes();
        if !status.is_success() {
            return Err(fail(format!(
                "oauth2 token endpoint answered HTTP {}",
                status.as_u16()
            )));
        }
        let token: TokenResponse = serde_json::from_slice(&bytes)
            .map_err(|e| fail(format!("oauth2 token response is not a token: {e}")))?;
        // Go's oauth2 package normalises the type: "bearer" is sent as "Bearer".
        let kind = match token.token_type.as_deref() {
            None | Some("") => "Bearer".to_string(),
            Some(t) if t.eq_ignore_ascii_case("bearer") => "Bearer".to_string(),
            Some(t) => t.to_string(),
        };
        let lifetime = token
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_LIFETIME);
        Ok((
            Secret::new(format!("{kind} {}", token.access_token)),
            lifetime,
        ))
    }
    .await;
    result
}
