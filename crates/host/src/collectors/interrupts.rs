//! `interrupts` (off by default, as in node_exporter 1.5): interrupt counts per CPU from
//! `/proc/interrupts` (Documentation/filesystems/proc.rst), labelled by the interrupt (`type`),
//! its controller (`info`) and its devices. Lines without a count per CPU (`ERR`, `MIS`) are
//! left out, as node_exporter does.

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `interrupts` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "interrupts",
    default_enabled: false,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(InterruptsCollector::new(opts))))),
};

/// Reads `/proc/interrupts` on each scrape.
pub struct InterruptsCollector {
    path: PathBuf,
}

impl InterruptsCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            path: opts.paths.proc("interrupts"),
        }
    }
}

impl BlockingCollector for InterruptsCollector {
    fn name(&self) -> &str {
        "interrupts"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = procfile::read(&self.path)?;
        let mut lines = text.lines().enumerate();
        let cpus: Vec<String> = lines
            .next()
            .map(|(_, header)| {
                header
                    .split_ascii_whitespace()
                    .map(|c| c.trim_start_matches("CPU").to_string())
                    .collect()
            })
            .unwrap_or_default();
        let fam = out.family(
            "node_interrupts_total",
            "Interrupt details.",
            MetricType::Counter,
        );
        for (n, line) in lines {
            let fields: Vec<&str> = line.split_ascii_whitespace().collect();
            if fields.len() < cpus.len() + 1 {
                continue;
            }
            let irq = fields[0].trim_end_matches(':');
            let rest = &fields[cpus.len() + 1..];
            let (info, devices) = if irq.bytes().all(|b| b.is_ascii_digit()) {
                (
                    rest.first().copied().unwrap_or("").to_string(),
                    rest.get(1..).unwrap_or(&[]).join(" "),
                )
            } else {
                (rest.join(" "), String::new())
            };
            for (cpu, count) in cpus.iter().zip(&fields[1..]) {
                let v = procfile::number(&self.path, n + 1, irq, count)?;
                fam.sample(
                    &[
                        ("cpu", cpu),
                        ("devices", &devices),
                        ("info", &info),
                        ("type", irq),
                    ],
                    v,
                );
            }
        }
        out.prune_empty();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfile::fixtures;

    #[test]
    fn labels_irqs_and_system_interrupts() {
        let mut out = MetricSet::new();
        InterruptsCollector::new(&fixtures::options("server"))
            .collect(&mut out)
            .unwrap();
        assert_eq!(
            out.find(
                "node_interrupts_total",
                &[
                    ("cpu", "1"),
                    ("type", "24"),
                    ("info", "PCI-MSI"),
                    ("devices", "524288-edge eth0-TxRx-0")
                ]
            ),
            Some(234567.0)
        );
        assert_eq!(
            out.find(
                "node_interrupts_total",
                &[
                    ("cpu", "0"),
                    ("type", "LOC"),
                    ("info", "Local timer interrupts")
                ]
            ),
            Some(1234567.0)
        );
        assert_eq!(out.sample_count(), 14);
    }
}
