//! Extra pages an exporter serves besides `/metrics` (e.g. the blackbox exporter's `/logs`).

/// A rendered page.
#[derive(Debug, Clone)]
pub struct PageResponse {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type` header value.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

impl PageResponse {
    /// A 200 HTML page.
    pub fn html(body: String) -> Self {
        Self {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body,
        }
    }

    /// A plain-text page with the given status.
    pub fn text(status: u16, body: String) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body,
        }
    }
}

/// A GET route registered with [`crate::exporter::Exporter::route`].
pub trait Page: Send + Sync + 'static {
    /// Renders the page for the raw query string (without `?`).
    fn render(&self, query: &str) -> PageResponse;
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
