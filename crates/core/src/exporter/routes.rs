//! One request: authentication, then the route (metrics, probe, reload, pages, POST routes).

use super::landing::landing;
use super::{PostRoute, ServerState};
use crate::coalesce::CollectedPage;
use crate::deadline::SCRAPE_TIMEOUT_HEADER;
use crate::exposition::{accepts_gzip, Format};
use crate::page::PageResponse;
use crate::probe::ProbeQuery;
use crate::web_config::{AuthCheck, Credentials, WebSecurity};
use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use std::sync::Arc;
use std::time::Duration;

pub(super) fn respond(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

pub(super) fn text(status: StatusCode, body: impl Into<String>) -> Response<Full<Bytes>> {
    let mut b: String = body.into();
    if !b.ends_with('\n') {
        b.push('\n');
    }
    respond(status, "text/plain; charset=utf-8", b)
}

pub(super) async fn handle(
    state: &Arc<ServerState>,
    security: &Arc<WebSecurity>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    // The scraper's timeout was already running while a bcrypt check waited: that time comes
    // off the budget. Only that time: other requests' budgets stay identical, which is what
    // lets concurrent scrapes share one collection (see `coalesce`).
    let mut spent_on_auth = Duration::ZERO;
    if let Some(limiter) = &security.rate_limit {
        if !limiter.allow() {
            return text(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
        }
    }
    if let Some(auth) = &security.auth {
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok());
        let ok = match auth.check_fast(header) {
            AuthCheck::Decided(ok) => ok,
            AuthCheck::Pending(creds) => {
                let started = std::time::Instant::now();
                let ok = slow_auth(state, security, creds).await;
                spent_on_auth = started.elapsed();
                ok
            }
        };
        if !ok {
            let mut r = text(StatusCode::UNAUTHORIZED, "Unauthorized");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic"),
            );
            return r;
        }
    }

    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let method = req.method().clone();
    if path == "/-/reload" {
        if method != Method::POST && method != Method::PUT {
            return text(
                StatusCode::METHOD_NOT_ALLOWED,
                "This endpoint requires a POST request.",
            );
        }
        let s = Arc::clone(state);
        return match tokio::task::spawn_blocking(move || s.reload()).await {
            Ok(Ok(())) => text(StatusCode::OK, "OK"),
            Ok(Err(e)) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("failed to reload config: {e}"),
            ),
            Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "failed to reload config"),
        };
    }
    if let Some(route) = state.post_routes.iter().find(|r| r.path == path) {
        if method != Method::POST {
            let mut r = text(
                StatusCode::METHOD_NOT_ALLOWED,
                "This endpoint requires a POST request.",
            );
            r.headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
            return r;
        }
        return post(route, &query, req).await;
    }
    if method != Method::GET && method != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
        r.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    if path == state.telemetry_path {
        return metrics(state, &req, spent_on_auth).await;
    }
    match path.as_str() {
        "/-/healthy" => return text(StatusCode::OK, "Healthy"),
        "/-/ready" => return text(StatusCode::OK, "Ready"),
        "/" => return landing(state),
        "/probe" if state.prober.is_some() => {
            // A HEAD must not run a probe (it can be expensive and have side effects).
            if method == Method::HEAD {
                return respond(StatusCode::OK, Format::Text.content_type(), Bytes::new());
            }
            return probe(state, &req, &query, spent_on_auth).await;
        }
        _ => {}
    }
    if let Some((_, page)) = state.routes.iter().find(|(p, _)| *p == path) {
        let PageResponse {
            status,
            content_type,
            body,
        } = page.render(&query);
        return respond(
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            content_type,
            body,
        );
    }
    text(StatusCode::NOT_FOUND, "404 page not found")
}

/// Reads a POST body up to the route's limit (a slow sender is cut off by the same 30 s the
/// header read gets) and hands it to the route's handler.
async fn post(route: &PostRoute, query: &str, req: Request<Incoming>) -> Response<Full<Bytes>> {
    use http_body_util::BodyExt;
    let too_large = || text(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
    let declared = header_str(&req, "content-length").and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > route.max_body as u64) {
        return too_large();
    }
    let limited = http_body_util::Limited::new(req.into_body(), route.max_body);
    let body = match tokio::time::timeout(Duration::from_secs(30), limited.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
        Ok(Err(_)) => return text(StatusCode::BAD_REQUEST, "Cannot read the request body"),
        Err(_) => {
            return text(
                StatusCode::REQUEST_TIMEOUT,
                "Request body not received in time",
            )
        }
    };
    let PageResponse {
        status,
        content_type,
        body,
    } = route.handler.post(query, body).await;
    respond(
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        content_type,
        body,
    )
}

/// One bcrypt run, serialised and bounded in time, off the async workers.
async fn slow_auth(state: &ServerState, security: &Arc<WebSecurity>, creds: Credentials) -> bool {
    let attempt = async {
        let _permit = state.bcrypt_gate.acquire().await.ok()?;
        let sec = Arc::clone(security);
        tokio::task::spawn_blocking(move || sec.auth.as_ref().is_some_and(|a| a.check_slow(&creds)))
            .await
            .ok()
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(10), attempt).await,
        Ok(Some(true))
    )
}

fn header_str<'a>(req: &'a Request<Incoming>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn gate_closed() -> Response<Full<Bytes>> {
    text(
        StatusCode::SERVICE_UNAVAILABLE,
        "Limit of concurrent requests reached, try again later.",
    )
}

async fn metrics(
    state: &Arc<ServerState>,
    req: &Request<Incoming>,
    spent_on_auth: Duration,
) -> Response<Full<Bytes>> {
    let _permit = match &state.gate {
        Some(g) => match g.try_acquire() {
            Ok(p) => Some(p),
            Err(_) => return gate_closed(),
        },
        None => None,
    };
    let budget = state
        .scrape_timeout
        .less(spent_on_auth)
        .budget(header_str(req, SCRAPE_TIMEOUT_HEADER), None);
    let collecting = Arc::clone(state);
    let page = state
        .coalescer
        .page(budget, move |deadline| async move {
            collecting.collect(deadline).await
        })
        .await;
    let Some(page) = page else {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The collection ended without a page; see the exporter's log.",
        );
    };
    page_response(state, req, &page)
}

/// The page in the format and encoding the request asks for.
fn page_response(
    state: &ServerState,
    req: &Request<Incoming>,
    page: &CollectedPage,
) -> Response<Full<Bytes>> {
    let format = match Format::negotiate(header_str(req, "accept")) {
        Format::OpenMetrics if !state.openmetrics => Format::Text,
        f => f,
    };
    let (body, gzipped) = page.body(format, accepts_gzip(header_str(req, "accept-encoding")));
    let mut r = respond(StatusCode::OK, format.content_type(), body);
    if gzipped {
        r.headers_mut().insert(
            header::CONTENT_ENCODING,
            header::HeaderValue::from_static("gzip"),
        );
    }
    r
}

async fn probe(
    state: &Arc<ServerState>,
    req: &Request<Incoming>,
    query: &str,
    spent_on_auth: Duration,
) -> Response<Full<Bytes>> {
    let Some(prober) = &state.prober else {
        return text(StatusCode::NOT_FOUND, "404 page not found");
    };
    let _permit = match &state.gate {
        Some(g) => match g.try_acquire() {
            Ok(p) => Some(p),
            Err(_) => return gate_closed(),
        },
        None => None,
    };
    let q = ProbeQuery {
        params: ProbeQuery::parse_params(query),
        timeout_header: header_str(req, SCRAPE_TIMEOUT_HEADER).map(str::to_string),
        scrape_timeout: state.scrape_timeout.less(spent_on_auth),
        spent: spent_on_auth,
    };
    let debug = q
        .get("debug")
        .is_some_and(|d| d.eq_ignore_ascii_case("true"));
    match prober.probe(q).await {
        Ok(report) if debug => text(StatusCode::OK, report.debug_text()),
        Ok(report) => page_response(state, req, &CollectedPage::new(report.metrics)),
        Err(rejection) => text(StatusCode::BAD_REQUEST, rejection.0),
    }
}
