//! `netstat`: selected protocol counters from `/proc/net/netstat`, `/proc/net/snmp` and
//! `/proc/net/snmp6` as untyped `node_netstat_<Proto>_<Field>`.
//!
//! The selection is node_exporter 1.5's default `--collector.netstat.fields`:
//! `^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|
//! TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|
//! OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|
//! RcvbufErrors|SndbufErrors))$`, matched here without a regex.

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `netstat` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "netstat",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(NetstatCollector::new(opts))))),
};

/// Reads the three protocol statistics files on each scrape.
pub struct NetstatCollector {
    netstat: PathBuf,
    snmp: PathBuf,
    snmp6: PathBuf,
}

impl NetstatCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            netstat: opts.paths.proc("net/netstat"),
            snmp: opts.paths.proc("net/snmp"),
            snmp6: opts.paths.proc("net/snmp6"),
        }
    }
}

/// node_exporter 1.5's default field selection for `proto` and `field` (the metric name is
/// `proto_field`).
fn selected(proto: &str, field: &str) -> bool {
    if field.ends_with("_InErrors") || field.ends_with("_InErrs") {
        // `.*_(InErrors|InErrs)` may also match across the protocol/field underscore.
        return true;
    }
    if field == "InErrors" || field == "InErrs" {
        return true;
    }
    match proto {
        "Ip" => field == "Forwarding",
        "Ip6" | "IpExt" => matches!(field, "InOctets" | "OutOctets"),
        "Icmp" | "Icmp6" => matches!(field, "InMsgs" | "OutMsgs"),
        "TcpExt" => {
            field.starts_with("Listen")
                || field.starts_with("Syncookies")
                || matches!(field, "TCPSynRetrans" | "TCPTimeouts")
        }
        "Tcp" => matches!(
            field,
            "ActiveOpens"
                | "InSegs"
                | "OutSegs"
                | "OutRsts"
                | "PassiveOpens"
                | "RetransSegs"
                | "CurrEstab"
        ),
        "Udp" | "Udp6" => matches!(
            field,
            "InDatagrams" | "OutDatagrams" | "NoPorts" | "RcvbufErrors" | "SndbufErrors"
        ),
        _ => false,
    }
}

fn emit(
    out: &mut MetricSet,
    path: &Path,
    line: usize,
    proto: &str,
    field: &str,
    raw: &str,
) -> Result<(), CollectError> {
    if !selected(proto, field) {
        return Ok(());
    }
    let value = procfile::number(path, line, field, raw)?;
    out.family(
        format!("node_netstat_{proto}_{field}"),
        format!("Statistic {proto}{field}."),
        MetricType::Untyped,
    )
    .value(value);
    Ok(())
}

/// Parses the `Proto: Name Name ...` / `Proto: value value ...` line pairs of netstat and snmp.
fn parse_pairs(path: &Path, text: &str, out: &mut MetricSet) -> Result<(), CollectError> {
    let mut lines = text.lines().enumerate();
    while let Some((n, header)) = lines.next() {
        if header.trim().is_empty() {
            continue;
        }
        let Some((_, values)) = lines.next() else {
            return Err(procfile::malformed(
                path,
                n + 1,
                "header line without a value line",
            ));
        };
        let mut names = header.split_ascii_whitespace();
        let mut values_it = values.split_ascii_whitespace();
        let (Some(proto), Some(proto2)) = (names.next(), values_it.next()) else {
            continue;
        };
        if proto != proto2 {
            return Err(procfile::malformed(
                path,
                n + 2,
                format!("value line {proto2} does not follow header {proto}"),
            ));
        }
        let proto = proto.strip_suffix(':').unwrap_or(proto);
        let names: Vec<&str> = names.collect();
        let values: Vec<&str> = values_it.collect();
        if names.len() != values.len() {
            return Err(procfile::malformed(
                path,
                n + 2,
                format!("{proto}: {} names but {} values", names.len(), values.len()),
            ));
        }
        for (field, raw) in names.into_iter().zip(values) {
            emit(out, path, n + 2, proto, field, raw)?;
        }
    }
    Ok(())
}

/// Parses snmp6's `Ip6InReceives 123` lines: the protocol is everything up to the first `6`.
fn parse_snmp6(path: &Path, text: &str, out: &mut MetricSet) -> Result<(), CollectError> {
    for (n, line) in text.lines().enumerate() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(key), Some(raw)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Some(six) = key.find('6') else { continue };
        let (proto, field) = key.split_at(six + 1);
        emit(out, path, n + 1, proto, field, raw)?;
    }
    Ok(())
}

impl BlockingCollector for NetstatCollector {
    fn name(&self) -> &str {
        "netstat"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        parse_pairs(&self.netstat, &procfile::read(&self.netstat)?, out)?;
        parse_pairs(&self.snmp, &procfile::read(&self.snmp)?, out)?;
        // IPv6 may be disabled; node_exporter then skips snmp6 too.
        if let Some(text) = procfile::read_optional(&self.snmp6)? {
            parse_snmp6(&self.snmp6, &text, out)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfile::fixtures;

    const DEFAULT_FIELDS: &str = "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$";

    #[test]
    fn parses_real_files_with_the_default_selection() {
        let mut out = MetricSet::new();
        NetstatCollector::new(&fixtures::options(""))
            .collect(&mut out)
            .unwrap();
        // Every exported name matches node_exporter's regex, and every name the regex selects
        // from the fixture is exported (checked against an unfiltered parse).
        let re = regex::Regex::new(DEFAULT_FIELDS).unwrap();
        let names: Vec<String> = out.families().iter().map(|f| f.name.to_string()).collect();
        for name in &names {
            assert!(
                re.is_match(name.strip_prefix("node_netstat_").unwrap()),
                "{name}"
            );
        }
        let expected = all_keys().into_iter().filter(|k| re.is_match(k)).count();
        assert_eq!(names.len(), expected);
        assert_eq!(out.find("node_netstat_Ip_Forwarding", &[]), Some(2.0));
        assert_eq!(out.find("node_netstat_Icmp_InMsgs", &[]), Some(3.0));
        assert_eq!(out.find("node_netstat_Icmp_OutMsgs", &[]), Some(2.0));
        assert!(out.find("node_netstat_IpExt_InOctets", &[]).is_some());
        assert!(out.find("node_netstat_Ip6_InOctets", &[]).is_some());
        assert!(out.find("node_netstat_Udp6_NoPorts", &[]).is_some());
        assert!(out.find("node_netstat_TcpExt_ListenDrops", &[]).is_some());
        assert!(out.find("node_netstat_Tcp_CurrEstab", &[]).is_some());
        assert!(out.find("node_netstat_TcpExt_TCPOFOQueue", &[]).is_none());
        let fam = out
            .families()
            .iter()
            .find(|f| f.name == "node_netstat_Ip_Forwarding")
            .unwrap();
        assert_eq!(fam.help, "Statistic IpForwarding.");
        assert_eq!(fam.kind, MetricType::Untyped);
    }

    /// Every `Proto_Field` key in the fixture, parsed independently of the collector.
    fn all_keys() -> Vec<String> {
        let mut keys = Vec::new();
        for f in ["net/netstat", "net/snmp"] {
            let text = std::fs::read_to_string(fixtures::path("proc").join(f)).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            for pair in lines.chunks(2) {
                let mut h = pair[0].split_whitespace();
                let proto = h.next().unwrap().trim_end_matches(':');
                keys.extend(h.map(|n| format!("{proto}_{n}")));
            }
        }
        let text = std::fs::read_to_string(fixtures::path("proc/net/snmp6")).unwrap();
        for line in text.lines() {
            let key = line.split_whitespace().next().unwrap();
            let six = key.find('6').unwrap();
            keys.push(format!("{}_{}", &key[..=six], &key[six + 1..]));
        }
        keys
    }

    #[test]
    fn selection_matches_the_default_regex() {
        let re = regex::Regex::new(DEFAULT_FIELDS).unwrap();
        for (proto, field) in [
            ("Udp", "InErrors"),
            ("UdpLite6", "InErrors"),
            ("Tcp", "InErrs"),
            ("TcpExt", "ListenOverflows"),
            ("TcpExt", "TCPOFOQueue"),
            ("Tcp", "MaxConn"),
            ("Ip", "InReceives"),
            ("IpExt", "InOctets"),
            ("Ip6", "OutOctets"),
            ("Icmp6", "InMsgs"),
            ("Udp6", "SndbufErrors"),
            ("UdpLite", "NoPorts"),
            ("Ip", "Forwarding"),
            ("Foo", "Bar_InErrs"),
        ] {
            assert_eq!(
                selected(proto, field),
                re.is_match(&format!("{proto}_{field}")),
                "{proto}_{field}"
            );
        }
    }

    #[test]
    fn mismatched_counts_are_an_error_naming_the_line() {
        let text = "Tcp: A B\nTcp: 1 2\nUdp: InErrors NoPorts\nUdp: 1\n";
        let err =
            parse_pairs(Path::new("/proc/net/snmp"), text, &mut MetricSet::new()).unwrap_err();
        assert!(
            err.to_string().contains("snmp:4: field") || err.to_string().contains("snmp:4"),
            "{err}"
        );
        let mut out = MetricSet::new();
        parse_pairs(
            Path::new("/proc/net/snmp"),
            "Tcp: MaxConn CurrEstab\nTcp: -1 4\n",
            &mut out,
        )
        .unwrap();
        assert_eq!(out.find("node_netstat_Tcp_CurrEstab", &[]), Some(4.0));
        assert_eq!(out.sample_count(), 1);
    }
}
