//! `http.oauth2` options (the client-credentials grant itself is in `crate::oauth2`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use watchkeeper_core::config::Secret;
use watchkeeper_core::tls_client::TlsClientOptions;

/// `oauth2` options.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    /// Client id.
    pub client_id: String,
    /// Client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    /// File holding the client secret (read at each token fetch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<PathBuf>,
    /// Scopes asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// The token endpoint.
    pub token_url: String,
    /// Extra form parameters for the token request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoint_params: BTreeMap<String, String>,
    /// TLS settings for the token endpoint.
    #[serde(default)]
    pub tls_config: TlsClientOptions,
    /// A proxy for the token request (`http://`, `https://`, `socks5://`, `socks5h://`);
    /// shown without its password.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::config::redacted_url"
    )]
    pub proxy_url: Option<String>,
}

impl OAuth2 {
    /// Options this implementation does not cover.
    pub fn unsupported(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(scheme) = super::proxy::unsupported_scheme(self.proxy_url.as_deref()) {
            out.push(format!(
                "http.oauth2.proxy_url with scheme {scheme:?} is not supported"
            ));
        }
        out
    }
}
