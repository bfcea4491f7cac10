//! apt_info.py's `origin` label, `Origin:Codename/Archive`, from the Release files apt already
//! fetched into `/var/lib/apt/lists`.
//!
//! `apt-get -s` describes where a version comes from as `Label:Version/Archive` (apt's
//! `RelStr`); the current community script (`apt_info.py`, python-apt) labels the same origin
//! `Origin:Codename/Archive`. Reading the Release files maps one to the other, so dashboards built
//! on the script see identical label values.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// The fields of one Release file that name it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Release {
    /// `Origin:`.
    pub origin: String,
    /// `Label:`.
    pub label: String,
    /// `Suite:` (apt's "archive").
    pub suite: String,
    /// `Version:`.
    pub version: String,
    /// `Codename:`.
    pub codename: String,
}

impl Release {
    /// How `apt-get -s` prints this release.
    fn apt_text(&self) -> String {
        let mut s = String::new();
        if !self.label.is_empty() {
            s.push_str(&self.label);
            s.push(':');
        }
        if !self.version.is_empty() {
            s.push_str(&self.version);
            s.push('/');
        }
        s.push_str(&self.suite);
        s
    }

    /// How apt_info.py labels this release.
    fn script_text(&self) -> String {
        format!("{}:{}/{}", self.origin, self.codename, self.suite)
    }
}

/// Parses the naming fields of a Release or (clear-signed) InRelease file: the first occurrence
/// of each, before the checksum lists.
pub fn parse_release(text: &str) -> Release {
    let mut r = Release::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(": ") else {
            continue;
        };
        let slot = match key {
            "Origin" => &mut r.origin,
            "Label" => &mut r.label,
            "Suite" => &mut r.suite,
            "Version" => &mut r.version,
            "Codename" => &mut r.codename,
            _ => continue,
        };
        if slot.is_empty() {
            *slot = value.trim().to_string();
        }
    }
    r
}

/// Maps apt's `Label:Version/Archive` texts to apt_info.py's `Origin:Codename/Archive`.
#[derive(Debug, Default)]
pub struct OriginNames(HashMap<String, String>);

impl OriginNames {
    /// Reads every `*Release` / `*InRelease` file of `lists` (missing or unreadable: none).
    pub fn read(lists: &Path) -> Self {
        let mut map = HashMap::new();
        let Ok(entries) = std::fs::read_dir(lists) else {
            return Self(map);
        };
        let mut names: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with("_Release") || n.ends_with("_InRelease"))
            })
            .collect();
        names.sort();
        for path in names {
            if let Ok(text) = std::fs::read_to_string(&path) {
                let r = parse_release(&text);
                if !r.suite.is_empty() {
                    map.entry(r.apt_text()).or_insert_with(|| r.script_text());
                }
            }
        }
        Self(map)
    }

    /// The `origin` label for apt's comma-separated description: each part mapped (kept as is
    /// when no Release file matches), deduplicated, sorted and joined by `,` as apt_info.py does.
    pub fn label(&self, apt_origins: &str) -> String {
        let parts: BTreeSet<String> = apt_origins
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| self.0.get(p).cloned().unwrap_or_else(|| p.to_string()))
            .collect();
        parts.into_iter().collect::<Vec<_>>().join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN_SECURITY: &str = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n\
        Origin: Debian\nLabel: Debian-Security\nSuite: stable-security\nVersion: 12\n\
        Codename: bookworm-security\nDate: Sat, 01 Jun 2024 00:00:00 UTC\nSHA256:\n \
        0123 12 main/Release\n";

    #[test]
    fn maps_apt_text_to_the_script_label() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path()
                .join("deb.debian.org_debian-security_dists_bookworm-security_InRelease"),
            DEBIAN_SECURITY,
        )
        .unwrap();
        std::fs::write(
            dir.path()
                .join("deb.debian.org_debian_dists_bookworm_InRelease"),
            "Origin: Debian\nLabel: Debian\nSuite: stable\nVersion: 12.6\nCodename: bookworm\n",
        )
        .unwrap();
        let names = OriginNames::read(dir.path());
        assert_eq!(
            names.label("Debian:12.6/stable, Debian-Security:12/stable-security"),
            "Debian:bookworm-security/stable-security,Debian:bookworm/stable"
        );
        assert_eq!(names.label("Other:1/x"), "Other:1/x");
    }
}
