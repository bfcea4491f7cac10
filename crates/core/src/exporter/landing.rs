//! The landing page: what the exporter is, its links, and the configuration in force.

use super::routes::respond;
use super::ServerState;
use crate::page::html_escape;
use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;

pub(super) fn landing(state: &ServerState) -> Response<Full<Bytes>> {
    let spec = &state.spec;
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{bin}</title>\
         <style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}pre{{background:#f4f4f4;padding:1em;overflow:auto}}</style>\
         </head><body>\n<h1>{bin}</h1>\n<p>{desc}</p>\n<p>Version {ver} (revision {rev})</p>\n<ul>\n\
         <li><a href=\"{metrics}\">Metrics</a></li>\n<li><a href=\"/-/healthy\">Health</a></li>\n<li><a href=\"/-/ready\">Readiness</a></li>\n",
        bin = html_escape(spec.binary),
        desc = html_escape(spec.description),
        ver = env!("CARGO_PKG_VERSION"),
        rev = env!("WATCHKEEPER_REVISION"),
        metrics = html_escape(&state.telemetry_path),
    );
    if state.prober.is_some() {
        html.push_str("<li>Probe: <code>/probe?target=…&amp;module=…</code> (add <code>&amp;debug=true</code> for the probe's log)</li>\n");
    }
    for (path, _) in &state.routes {
        html.push_str(&format!(
            "<li><a href=\"{p}\">{p}</a></li>\n",
            p = html_escape(path)
        ));
    }
    html.push_str("</ul>\n");
    for section in &state.landing {
        html.push_str(&section());
    }
    if let Some(r) = &state.reloadable {
        html.push_str("<h2>Configuration</h2>\n<pre>");
        html.push_str(&html_escape(&r.describe()));
        html.push_str("</pre>\n");
    }
    html.push_str("</body></html>\n");
    respond(StatusCode::OK, "text/html; charset=utf-8", html)
}
