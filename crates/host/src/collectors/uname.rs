//! `uname`: `node_uname_info` labelled with the `uname(2)` fields.

use super::CollectorDef;
use std::ffi::CStr;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `uname` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "uname",
    default_enabled: true,
    build: |_| Ok(Arc::new(Blocking(Arc::new(UnameCollector)))),
};

/// Calls `uname(2)` on each scrape (the host name can change at run time).
pub struct UnameCollector;

/// The uname fields, already decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Uname {
    sysname: String,
    release: String,
    version: String,
    machine: String,
    nodename: String,
    domainname: String,
}

fn text(s: &CStr) -> String {
    s.to_string_lossy().into_owned()
}

impl Uname {
    fn current() -> Self {
        let u = rustix::system::uname();
        Self {
            sysname: text(u.sysname()),
            release: text(u.release()),
            version: text(u.version()),
            machine: text(u.machine()),
            nodename: text(u.nodename()),
            domainname: text(u.domainname()),
        }
    }

    fn emit(&self, out: &mut MetricSet) {
        out.family(
            "node_uname_info",
            "Labeled system information as provided by the uname system call.",
            MetricType::Gauge,
        )
        .sample(
            &[
                ("domainname", &self.domainname),
                ("machine", &self.machine),
                ("nodename", &self.nodename),
                ("release", &self.release),
                ("sysname", &self.sysname),
                ("version", &self.version),
            ],
            1.0,
        );
    }
}

impl BlockingCollector for UnameCollector {
    fn name(&self) -> &str {
        "uname"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        Uname::current().emit(out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_this_kernel() {
        let mut out = MetricSet::new();
        UnameCollector.collect(&mut out).unwrap();
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(
            out.find(
                "node_uname_info",
                &[
                    ("sysname", "Linux"),
                    ("release", release.trim()),
                    ("nodename", hostname.trim()),
                ]
            ),
            Some(1.0)
        );
    }

    #[test]
    fn labels_are_escaped() {
        let u = Uname {
            sysname: "Linux".into(),
            release: "6.1".into(),
            version: "#1 SMP \"x\"".into(),
            machine: "x86_64".into(),
            nodename: "h".into(),
            domainname: "(none)".into(),
        };
        let mut out = MetricSet::new();
        u.emit(&mut out);
        assert_eq!(
            out.families()[0].samples[0].labels,
            r##"domainname="(none)",machine="x86_64",nodename="h",release="6.1",sysname="Linux",version="#1 SMP \"x\"""##
        );
    }
}
