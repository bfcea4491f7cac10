//! `filefd`: allocated and maximum file handles from `/proc/sys/fs/file-nr`.

use super::procfile;
use super::CollectorDef;
use crate::options::HostOptions;
use std::path::PathBuf;
use std::sync::Arc;
use watchkeeper_core::collector::Blocking;
use watchkeeper_core::{BlockingCollector, CollectError, MetricSet};

/// Registration of the `filefd` collector.
pub const DEF: CollectorDef = CollectorDef {
    name: "filefd",
    default_enabled: true,
    build: |opts| Ok(Arc::new(Blocking(Arc::new(FilefdCollector::new(opts))))),
};

/// Reads `/proc/sys/fs/file-nr` on each scrape.
pub struct FilefdCollector {
    path: PathBuf,
}

impl FilefdCollector {
    /// A collector reading below `opts.paths`.
    pub fn new(opts: &HostOptions) -> Self {
        Self {
            path: opts.paths.proc("sys/fs/file-nr"),
        }
    }
}

impl BlockingCollector for FilefdCollector {
    fn name(&self) -> &str {
        "filefd"
    }

    fn collect(&self, out: &mut MetricSet) -> Result<(), CollectError> {
        let text = procfile::read(&self.path)?;
        // "allocated  unused(always 0 since 2.6)  maximum"
        let fields: Vec<&str> = text.split_ascii_whitespace().collect();
        let [allocated, _, maximum] = fields[..] else {
            return Err(procfile::malformed(
                &self.path,
                1,
                format!("expected 3 fields, found {}", fields.len()),
            ));
        };
        let allocated = procfile::number(&self.path, 1, "allocated", allocated)?;
        let maximum = procfile::number(&self.path, 1, "maximum", maximum)?;
        out.gauge(
            "node_filefd_allocated",
            "File descriptor statistics: allocated.",
            allocated,
        );
        out.gauge(
            "node_filefd_maximum",
            "File descriptor statistics: maximum.",
            maximum,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::procfile::fixtures;

    #[test]
    fn parses_real_file_nr() {
        let mut out = MetricSet::new();
        FilefdCollector::new(&fixtures::options(""))
            .collect(&mut out)
            .unwrap();
        assert_eq!(out.find("node_filefd_allocated", &[]), Some(1014.0));
        assert_eq!(out.find("node_filefd_maximum", &[]), Some(2465610.0));
    }

    #[test]
    fn huge_maximum_and_wrong_field_count() {
        let mut out = MetricSet::new();
        FilefdCollector::new(&fixtures::options("edge"))
            .collect(&mut out)
            .unwrap();
        // file-max is LONG_MAX on systems that set fs.file-max to "unlimited".
        assert_eq!(
            out.find("node_filefd_maximum", &[]),
            Some(9223372036854775807.0)
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sys/fs")).unwrap();
        std::fs::write(dir.path().join("sys/fs/file-nr"), "12 0\n").unwrap();
        let mut opts = fixtures::options("");
        opts.paths.procfs = dir.path().to_path_buf();
        let err = FilefdCollector::new(&opts)
            .collect(&mut MetricSet::new())
            .unwrap_err();
        assert!(
            err.to_string().contains("expected 3 fields, found 2"),
            "{err}"
        );
    }
}
