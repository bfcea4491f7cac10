//! The configuration file as users write it: typed, unknown keys rejected, each value checked
//! while it is parsed so an error names `file:line:column` and the key.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use watchkeeper_core::config::PromDuration;

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Certificate files: glob patterns (`**` allowed) or mappings with a PKCS#12 password.
    #[serde(default)]
    pub files: Vec<FileSource>,
    /// TLS endpoints probed on every scrape.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// Which certificate fields become labels, and how paths are shown.
    #[serde(default)]
    pub labels: LabelOptions,
    /// Concurrency and the default timeout of endpoint probes.
    #[serde(default)]
    pub probe: ProbeOptions,
    /// Named settings for `/probe?target=host:port&module=NAME`.
    #[serde(default)]
    pub modules: BTreeMap<String, Module>,
}

/// One `files:` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileSource {
    /// The glob pattern.
    pub path: String,
    /// A file holding the PKCS#12 password (one line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSourceMap {
    path: GlobPattern,
    #[serde(default, deserialize_with = "readable_file")]
    password_file: Option<PathBuf>,
}

/// A glob pattern checked at parse time.
struct GlobPattern(String);

impl<'de> Deserialize<'de> for GlobPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        check_glob(&s).map_err(de::Error::custom)?;
        Ok(GlobPattern(s))
    }
}

/// Why a glob pattern is refused.
pub fn check_glob(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("files: empty path pattern".into());
    }
    globset::GlobBuilder::new(s)
        .literal_separator(true)
        .build()
        .map(|_| ())
        .map_err(|e| format!("files: invalid glob {s:?}: {}", e.kind()))
}

impl<'de> Deserialize<'de> for FileSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FileSource;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a glob pattern or a mapping with `path` and `password_file`")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<FileSource, E> {
                check_glob(s).map_err(E::custom)?;
                Ok(FileSource {
                    path: s.to_string(),
                    password_file: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<FileSource, A::Error> {
                let m = FileSourceMap::deserialize(de::value::MapAccessDeserializer::new(m))?;
                Ok(FileSource {
                    path: m.path.0,
                    password_file: m.password_file,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A path that must name a readable file when the configuration is loaded, so a wrong path is
/// reported with its line and column (the file's content is checked later, by its user).
fn readable_file<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    let Some(p) = Option::<PathBuf>::deserialize(d)? else {
        return Ok(None);
    };
    match std::fs::File::open(&p) {
        Ok(f) if f.metadata().is_ok_and(|m| m.is_file()) => Ok(Some(p)),
        Ok(_) => Err(de::Error::custom(format!(
            "{}: not a regular file",
            p.display()
        ))),
        Err(e) => Err(de::Error::custom(format!("{}: {e}", p.display()))),
    }
}

/// STARTTLS protocols spoken before the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Starttls {
    /// SMTP `STARTTLS` (RFC 3207).
    Smtp,
    /// IMAP `STARTTLS` (RFC 3501).
    Imap,
    /// POP3 `STLS` (RFC 2595).
    Pop3,
    /// FTP `AUTH TLS` (RFC 4217).
    Ftp,
    /// PostgreSQL `SSLRequest`.
    Postgres,
    /// MySQL/MariaDB `SSLRequest` packet.
    Mysql,
    /// LDAP StartTLS extended operation (RFC 4511).
    Ldap,
    /// XMPP `<starttls/>` (RFC 6120).
    Xmpp,
}

impl Starttls {
    /// The name used in the config and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Starttls::Smtp => "smtp",
            Starttls::Imap => "imap",
            Starttls::Pop3 => "pop3",
            Starttls::Ftp => "ftp",
            Starttls::Postgres => "postgres",
            Starttls::Mysql => "mysql",
            Starttls::Ldap => "ldap",
            Starttls::Xmpp => "xmpp",
        }
    }
}

/// `host:port`, checked at parse time (IPv6 in brackets).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// Host name or IP address (without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl HostPort {
    /// Parses `host:port` or `[v6]:port`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad = || format!("invalid target {s:?}: expected host:port");
        let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
        let host = if let Some(inner) = host.strip_prefix('[') {
            inner.strip_suffix(']').ok_or_else(bad)?
        } else {
            if host.contains(':') {
                return Err(format!(
                    "invalid target {s:?}: write IPv6 addresses as [addr]:port"
                ));
            }
            host
        };
        if host.is_empty() || host.contains(['/', ' ', '?', '#', '@']) {
            return Err(bad());
        }
        let port: u16 = port.parse().map_err(|_| bad())?;
        if port == 0 {
            return Err(format!("invalid target {s:?}: port 0"));
        }
        Ok(Self {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl<'de> Deserialize<'de> for HostPort {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        HostPort::parse(&s).map_err(de::Error::custom)
    }
}

impl Serialize for HostPort {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// How to talk to an endpoint (a `modules:` entry, or an endpoint without its target).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Module {
    /// SNI and the name verified (default: the target's host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// CA bundle (PEM) to verify against instead of the system roots.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "readable_file"
    )]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for servers that require one.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "readable_file"
    )]
    pub cert_file: Option<PathBuf>,
    /// Client key (PEM), with `cert_file`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "readable_file"
    )]
    pub key_file: Option<PathBuf>,
    /// Protocol to upgrade with before the handshake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starttls: Option<Starttls>,
    /// Per-endpoint timeout (default: `probe.timeout`), always cut to the scrape deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<PromDuration>,
}

/// One `endpoints:` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// The `target`/`source` label (default: `target` as written). Needed when one `host:port`
    /// is listed twice, e.g. with two server names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where to connect.
    pub target: HostPort,
    /// How.
    #[serde(flatten)]
    pub module: Module,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointMap {
    #[serde(default)]
    name: Option<String>,
    target: HostPort,
    #[serde(default)]
    server_name: Option<String>,
    #[serde(default, deserialize_with = "readable_file")]
    ca_file: Option<PathBuf>,
    #[serde(default, deserialize_with = "readable_file")]
    cert_file: Option<PathBuf>,
    #[serde(default, deserialize_with = "readable_file")]
    key_file: Option<PathBuf>,
    #[serde(default)]
    starttls: Option<Starttls>,
    #[serde(default)]
    timeout: Option<PromDuration>,
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Endpoint;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("host:port or a mapping with `target`")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Endpoint, E> {
                Ok(Endpoint {
                    name: None,
                    target: HostPort::parse(s).map_err(E::custom)?,
                    module: Module::default(),
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<Endpoint, A::Error> {
                let m = EndpointMap::deserialize(de::value::MapAccessDeserializer::new(m))?;
                Ok(Endpoint {
                    name: m.name,
                    target: m.target,
                    module: Module {
                        server_name: m.server_name,
                        ca_file: m.ca_file,
                        cert_file: m.cert_file,
                        key_file: m.key_file,
                        starttls: m.starttls,
                        timeout: m.timeout,
                    },
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Label options: bounded cardinality, chosen by the user.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LabelOptions {
    /// Subject attributes exposed as `subject_<attr>` labels (CN, O, OU, C, L, ST).
    #[serde(default = "cn_only")]
    pub subject: Vec<DnAttribute>,
    /// Issuer attributes exposed as `issuer_<attr>` labels.
    #[serde(default = "cn_only")]
    pub issuer: Vec<DnAttribute>,
    /// Leading path components removed from `filepath`/`source` labels.
    #[serde(default)]
    pub trim_path_components: usize,
}

fn cn_only() -> Vec<DnAttribute> {
    vec![DnAttribute::CN]
}

impl Default for LabelOptions {
    fn default() -> Self {
        Self {
            subject: cn_only(),
            issuer: cn_only(),
            trim_path_components: 0,
        }
    }
}

/// A distinguished-name attribute that may become a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[allow(clippy::upper_case_acronyms)]
pub enum DnAttribute {
    /// Common name.
    CN,
    /// Organization.
    O,
    /// Organizational unit.
    OU,
    /// Country.
    C,
    /// Locality.
    L,
    /// State or province.
    ST,
}

impl DnAttribute {
    /// The abbreviation used in labels and in x509-parser's registry.
    pub fn as_str(self) -> &'static str {
        match self {
            DnAttribute::CN => "CN",
            DnAttribute::O => "O",
            DnAttribute::OU => "OU",
            DnAttribute::C => "C",
            DnAttribute::L => "L",
            DnAttribute::ST => "ST",
        }
    }
}

/// Endpoint probing limits.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeOptions {
    /// Endpoints probed at once during one scrape.
    #[serde(default = "default_concurrency")]
    pub concurrency: Concurrency,
    /// Default per-endpoint timeout.
    #[serde(default = "default_timeout")]
    pub timeout: PromDuration,
}

fn default_concurrency() -> Concurrency {
    Concurrency(16)
}

fn default_timeout() -> PromDuration {
    PromDuration(std::time::Duration::from_secs(10))
}

impl Default for ProbeOptions {
    fn default() -> Self {
        Self {
            concurrency: default_concurrency(),
            timeout: default_timeout(),
        }
    }
}

/// A concurrency limit between 1 and 1024.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Concurrency(pub usize);

impl<'de> Deserialize<'de> for Concurrency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u64::deserialize(d)?;
        if !(1..=1024).contains(&n) {
            return Err(de::Error::custom(format!(
                "probe.concurrency: {n} is out of range (1 to 1024)"
            )));
        }
        Ok(Concurrency(n as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use watchkeeper_core::config::parse_yaml;

    fn parse(text: &str) -> Result<RawConfig, String> {
        parse_yaml::<RawConfig>(text, Path::new("tls.yml")).map_err(|e| e.to_string())
    }

    #[test]
    fn issue_example_parses() {
        let c = parse(
            "files:\n  - /etc/ssl/private/*.pem\n  - /etc/kubernetes/**/*.crt\n  - path: /etc/x.p12\n    password_file: /etc/passwd\nendpoints:\n  - 127.0.0.1:8443\n  - target: mail.example.com:25\n    starttls: smtp\n    server_name: mail.example.com\n    ca_file: /etc/passwd\n  - '[::1]:443'\n",
        )
        .unwrap();
        assert_eq!(c.files.len(), 3);
        assert_eq!(
            c.files[2].password_file.as_deref(),
            Some(Path::new("/etc/passwd"))
        );
        assert_eq!(c.endpoints[0].target.to_string(), "127.0.0.1:8443");
        assert_eq!(c.endpoints[1].module.starttls, Some(Starttls::Smtp));
        assert_eq!(c.endpoints[2].target.host, "::1");
        assert_eq!(c.endpoints[2].target.to_string(), "[::1]:443");
        assert_eq!(c.labels.subject, vec![DnAttribute::CN]);
        assert_eq!(c.probe.concurrency, Concurrency(16));
    }

    #[test]
    fn errors_name_line_and_key() {
        let cases = [
            (
                "endpoints:\n  - target: a:1\n    startls: smtp\n",
                "tls.yml:3:",
                "startls",
            ),
            (
                "endpoints:\n  - localhost\n",
                "tls.yml:2:",
                "expected host:port",
            ),
            (
                "endpoints:\n  - target: a:1\n    starttls: smtpx\n",
                "tls.yml:3:",
                "smtpx",
            ),
            ("files:\n  - '/etc/[a'\n", "tls.yml:2:", "invalid glob"),
            (
                "files:\n  - path: /x\n    pasword_file: /y\n",
                "tls.yml:3:",
                "pasword_file",
            ),
            ("labels:\n  subject: [CN, XX]\n", "tls.yml:2:", "XX"),
            ("probe:\n  concurrency: 0\n", "tls.yml:2:", "out of range"),
            (
                "probe:\n  timeout: 5 minutes\n",
                "tls.yml:2:",
                "invalid duration",
            ),
            ("endpoint: []\n", "tls.yml:1:", "endpoint"),
            (
                "endpoints:\n  - 'a:70000'\n",
                "tls.yml:2:",
                "expected host:port",
            ),
            (
                "endpoints:\n  - target: a:1\n    ca_file: /nonexistent/ca.pem\n",
                "tls.yml:3:",
                "/nonexistent/ca.pem: No such file",
            ),
            (
                "modules:\n  m:\n    key_file: /etc\n",
                "tls.yml:3:",
                "/etc: not a regular file",
            ),
            (
                "files:\n  - path: /x.p12\n    password_file: /nonexistent/pw\n",
                "tls.yml:3:",
                "/nonexistent/pw",
            ),
        ];
        for (text, at, what) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.starts_with(at), "{text:?}: {err}");
            assert!(err.contains(what), "{text:?}: {err}");
        }
    }
}
