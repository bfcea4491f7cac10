//! `sysctl` (off by default, as in node_exporter 1.5): selected kernel parameters from
//! `/proc/sys`. `--collector.sysctl.include=vm.swappiness` exports a numeric parameter as
//! `node_sysctl_vm_swappiness` (several values: one sample per `index`);
//! `--collector.sysctl.include=kernel.printk:current,default,minimum,boot_default` names each
//! value of a multi-value parameter; `--collector.sysctl.include-info=kernel.hostname` exports
//! text values as labels of `node_sysctl_info`.

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet, MetricType};

/// Registration of the `sysctl` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "sysctl",
    default_enabled: false,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(SysctlCollector::new(opts))))),
};

/// One numeric parameter and the names of its values, if given.
struct Numeric {
    name: String,
    fields: Vec<String>,
}

/// Reads the selected `/proc/sys` files on each scrape.
pub struct SysctlCollector {
    dir: PathBuf,
    numeric: Vec<Numeric>,
    info: Vec<String>,
}

impl SysctlCollector {
    /// A collector for `opts.sysctl_include` and `opts.sysctl_include_info`.
    pub fn new(opts: &HostOptions) -> Self {
        let numeric = opts
            .sysctl_include
            .iter()
            .map(|spec| match spec.split_once(':') {
                Some((name, fields)) => Numeric {
                    name: name.to_string(),
                    fields: fields.split(',').map(str::to_string).collect(),
                },
                None => Numeric {
                    name: spec.clone(),
                    fields: Vec::new(),
                },
            })
            .collect();
        Self {
            dir: opts.paths.proc("sys"),
            numeric,
            info: opts.sysctl_include_info.clone(),
        }
    }

    fn read(&self, name: &str) -> Result<String, CollectError> {
        procfile::read(&self.dir.join(name.replace('.', "/")))
    }
}

/// `kernel.threads-max` -> `kernel_threads_max`.
fn metric_part(name: &str) -> String {
    name.replace(['.', '-'], "_")
}

impl BlockingCollector for SysctlCollector {
    fn name(&self) -> &str {
        "sysctl"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        for p in &self.numeric {
            let text = self.read(&p.name)?;
            let path = self.dir.join(p.name.replace('.', "/"));
            let values = text
                .split_ascii_whitespace()
                .map(|v| procfile::number(&path, 1, &p.name, v))
                .collect::<Result<Vec<_>, _>>()?;
            let base = format!("node_sysctl_{}", metric_part(&p.name));
            if !p.fields.is_empty() {
                for (i, (field, v)) in p.fields.iter().zip(&values).enumerate() {
                    out.family(
                        format!("{base}_{field}"),
                        format!("sysctl {}, field {i}", p.name),
                        MetricType::Untyped,
                    )
                    .value(*v);
                }
                continue;
            }
            let fam = out.family(base, format!("sysctl {}", p.name), MetricType::Untyped);
            if values.len() == 1 {
                fam.value(values[0]);
            } else {
                for (i, v) in values.iter().enumerate() {
                    fam.sample(&[("index", &i.to_string())], *v);
                }
            }
        }
        for name in &self.info {
            let text = self.read(name)?;
            let fam = out.family("node_sysctl_info", "sysctl info", MetricType::Gauge);
            for (i, v) in text.split_ascii_whitespace().enumerate() {
                fam.sample(
                    &[("index", &i.to_string()), ("name", name), ("value", v)],
                    1.0,
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfile::fixtures;

    #[test]
    fn single_indexed_named_and_info_values() {
        let mut opts = fixtures::options("server");
        opts.sysctl_include = vec![
            "vm.swappiness".into(),
            "kernel.sem_test".into(),
            "kernel.printk:current,default,minimum,boot_default".into(),
        ];
        opts.sysctl_include_info = vec!["kernel.hostname_test".into()];
        let mut out = MetricSet::new();
        SysctlCollector::new(&opts).collect(&mut out).unwrap();
        assert_eq!(out.find("node_sysctl_vm_swappiness", &[]), Some(60.0));
        assert_eq!(
            out.find("node_sysctl_kernel_sem_test", &[("index", "2")]),
            Some(6291456.0)
        );
        assert_eq!(
            out.find("node_sysctl_kernel_printk_boot_default", &[]),
            Some(7.0)
        );
        assert_eq!(
            out.find(
                "node_sysctl_info",
                &[("name", "kernel.hostname_test"), ("value", "Debian")]
            ),
            Some(1.0)
        );
        opts.sysctl_include = vec!["kernel.nope".into()];
        assert!(SysctlCollector::new(&opts)
            .collect(&mut MetricSet::new())
            .is_err());
    }
}
