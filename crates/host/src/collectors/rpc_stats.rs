//! Parsing the kernel's RPC statistics files `/proc/net/rpc/nfs` and `/proc/net/rpc/nfsd`
//! (net/sunrpc/stats.c, fs/nfsd/stats.c): lines of a keyword followed by numbers. The
//! per-procedure lines (`proc2`, `proc3`, `proc4`, `proc4ops`) start with the number of
//! procedures that follow.

use super::procfile;
use std::collections::HashMap;
use std::path::Path;
use watchkeeper_core::CollectError;

/// The numbers of each line by keyword. A line the kernel does not print reads as zeros, as
/// node_exporter reports it.
pub(crate) struct RpcStats {
    lines: HashMap<String, Vec<f64>>,
}

impl RpcStats {
    /// Parses the whole file; a field that is not a number names its line.
    pub(crate) fn parse(path: &Path, text: &str) -> Result<RpcStats, CollectError> {
        let mut lines = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let mut fields = line.split_ascii_whitespace();
            let Some(key) = fields.next() else {
                continue;
            };
            let values = fields
                .map(|f| procfile::number(path, n + 1, key, f))
                .collect::<Result<Vec<_>, _>>()?;
            lines.insert(key.to_string(), values);
        }
        Ok(RpcStats { lines })
    }

    /// Field `i` (0-based, after the keyword) of line `key`; 0 when absent.
    pub(crate) fn get(&self, key: &str, i: usize) -> f64 {
        self.lines
            .get(key)
            .and_then(|v| v.get(i))
            .copied()
            .unwrap_or(0.0)
    }

    /// Procedure `i` (0-based) of a per-procedure line, skipping its leading count.
    pub(crate) fn procedure(&self, key: &str, i: usize) -> f64 {
        self.get(key, i + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_lines_and_fields_read_as_zero() {
        let s = RpcStats::parse(Path::new("nfs"), "rpc 5 1 2\nproc3 2 7 8\n").unwrap();
        assert_eq!(s.get("rpc", 0), 5.0);
        assert_eq!(s.procedure("proc3", 1), 8.0);
        assert_eq!(s.procedure("proc3", 5), 0.0);
        assert_eq!(s.get("net", 0), 0.0);
        let err = RpcStats::parse(Path::new("nfs"), "net x\n").err().unwrap();
        assert!(err.to_string().contains("nfs:1"), "{err}");
    }
}
