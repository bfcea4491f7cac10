//! The optional SSRF guard: `--probe.deny-cidr` / `--probe.allow-cidr`.
//!
//! A probe endpoint reachable from outside lets anyone make the exporter connect anywhere (cloud
//! metadata at 169.254.169.254, admin ports on localhost). The guard checks every address a
//! probe is about to connect to, after resolution and on every redirect, so a name that resolves
//! to a denied address is refused too. Off by default: blackbox_exporter has no such guard.

use ipnet::IpNet;
use std::net::IpAddr;

/// Which addresses probes may connect to.
#[derive(Debug, Clone, Default)]
pub struct SsrfGuard {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
}

impl SsrfGuard {
    /// A guard from the two flag lists; an invalid CIDR is a usage error naming it.
    pub fn new(allow: &[String], deny: &[String]) -> Result<Self, String> {
        let parse = |flag: &str, list: &[String]| -> Result<Vec<IpNet>, String> {
            list.iter()
                .map(|s| {
                    s.parse::<IpNet>()
                        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                        .map_err(|_| format!("{flag}: {s:?} is not a CIDR (like 169.254.0.0/16)"))
                })
                .collect()
        };
        Ok(Self {
            allow: parse("--probe.allow-cidr", allow)?,
            deny: parse("--probe.deny-cidr", deny)?,
        })
    }

    /// Whether the guard does anything.
    pub fn is_active(&self) -> bool {
        !self.allow.is_empty() || !self.deny.is_empty()
    }

    /// `Err` with a log-ready reason if probes may not connect to `ip`.
    ///
    /// A deny entry wins over an allow entry, so `allow 10.0.0.0/8, deny 10.1.0.0/16` works.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        let ip = canonical(ip);
        if let Some(net) = self.deny.iter().find(|n| n.contains(&ip)) {
            return Err(format!("address {ip} is denied by --probe.deny-cidr {net}"));
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|n| n.contains(&ip)) {
            return Err(format!("address {ip} is not in any --probe.allow-cidr"));
        }
        Ok(())
    }
}

/// `::ffff:169.254.169.254` must not slip past a v4 rule.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default() {
        let g = SsrfGuard::default();
        assert!(!g.is_active());
        assert!(g.check("169.254.169.254".parse().unwrap()).is_ok());
    }

    #[test]
    fn deny_wins_and_mapped_addresses_are_caught() {
        let g = SsrfGuard::new(
            &["10.0.0.0/8".into()],
            &["10.1.0.0/16".into(), "169.254.0.0/16".into()],
        )
        .unwrap();
        assert!(g.check("10.2.3.4".parse().unwrap()).is_ok());
        assert!(g.check("10.1.3.4".parse().unwrap()).is_err());
        assert!(g.check("8.8.8.8".parse().unwrap()).is_err());
        let g = SsrfGuard::new(&[], &["169.254.0.0/16".into()]).unwrap();
        assert!(g.check("::ffff:169.254.169.254".parse().unwrap()).is_err());
        assert!(g.check("127.0.0.1".parse().unwrap()).is_ok());
    }

    #[test]
    fn bad_cidr_names_the_flag() {
        let e = SsrfGuard::new(&[], &["nope".into()]).unwrap_err();
        assert_eq!(
            e,
            "--probe.deny-cidr: \"nope\" is not a CIDR (like 169.254.0.0/16)"
        );
    }
}
