//! `basic_auth_users`: bcrypt checks, cached verdicts, constant-time comparison.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Basic auth against bcrypt hashes.
///
/// bcrypt is slow by design (tens of milliseconds per check), far too slow to run on every
/// scrape, so every verdict — right or wrong — is cached under a SHA-256 digest of user, hash and
/// password (never the password itself), as exporter-toolkit does. A cache miss needs the
/// expensive check; callers run at most one at a time ([`BasicAuth::check_slow`]), so a flood of
/// random passwords costs one core, not all of them. Unknown users are checked against a dummy
/// hash so they take as long as known ones.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    verdicts: Mutex<std::collections::HashMap<[u8; 32], bool>>,
}

/// A valid bcrypt hash of a random string, so unknown users cost one bcrypt run too.
pub(super) const DUMMY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

/// More distinct credentials than this and the cache starts over (bounded memory under a flood).
pub(super) const VERDICT_CACHE_LIMIT: usize = 4096;

/// The outcome of the cheap part of an auth check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthCheck {
    /// Decided from the cache (or a malformed header).
    Decided(bool),
    /// Needs a bcrypt run: call [`BasicAuth::check_slow`] with this.
    Pending(Credentials),
}

/// Decoded basic-auth credentials awaiting the slow check.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    user: String,
    password: crate::config::Secret,
    key: [u8; 32],
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl BasicAuth {
    /// Auth over the given user to bcrypt-hash map.
    pub fn new(users: BTreeMap<String, String>) -> Self {
        Self {
            users,
            verdicts: Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The cheap part: decode the header and consult the cache. Never runs bcrypt.
    pub fn check_fast(&self, header: Option<&str>) -> AuthCheck {
        let Some((user, password)) = header.and_then(parse_basic) else {
            return AuthCheck::Decided(false);
        };
        let hash = self
            .users
            .get(&user)
            .map(String::as_str)
            .unwrap_or(DUMMY_HASH);
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for part in [user.as_bytes(), hash.as_bytes(), password.as_bytes()] {
            ctx.update(&(part.len() as u64).to_le_bytes());
            ctx.update(part);
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(ctx.finish().as_ref());
        if let Some(v) = self.verdicts.lock().ok().and_then(|c| c.get(&key).copied()) {
            return AuthCheck::Decided(v);
        }
        AuthCheck::Pending(Credentials {
            user,
            password: crate::config::Secret::new(password),
            key,
        })
    }

    /// The expensive part: one bcrypt verification, whose verdict is cached.
    pub fn check_slow(&self, c: &Credentials) -> bool {
        let (hash, known_user) = match self.users.get(&c.user) {
            Some(h) => (h.as_str(), true),
            None => (DUMMY_HASH, false),
        };
        let ok = bcrypt::verify(c.password.expose(), hash).unwrap_or(false) && known_user;
        if let Ok(mut cache) = self.verdicts.lock() {
            if cache.len() >= VERDICT_CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(c.key, ok);
        }
        ok
    }

    /// Checks an `Authorization` header value, running bcrypt on a cache miss.
    pub fn check_header(&self, header: Option<&str>) -> bool {
        match self.check_fast(header) {
            AuthCheck::Decided(v) => v,
            AuthCheck::Pending(c) => self.check_slow(&c),
        }
    }

    /// Checks a user name and password.
    pub fn check(&self, user: &str, password: &str) -> bool {
        let raw = format!("{user}:{password}");
        self.check_header(Some(&format!(
            "Basic {}",
            crate::base64::encode(raw.as_bytes())
        )))
    }
}

pub(super) fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = crate::base64::decode(rest.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}
