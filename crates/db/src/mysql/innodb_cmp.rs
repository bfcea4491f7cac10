//! `information_schema.innodb_cmp` and `innodb_cmpmem` (mysqld_exporter's default
//! `info_schema.innodb_cmp` and `info_schema.innodb_cmpmem` collectors), in one query.

use crate::engine::{Cell, Out, Row};

/// Both tables in one round trip; `kind` tells the rows apart (`cmpmem` rows carry the buffer
/// pool instance, `cmp` rows NULL there).
pub const SQL: &str = "SELECT 'cmp' AS kind, page_size, NULL AS buffer_pool_instance, \
 compress_ops, compress_ops_ok, compress_time, uncompress_ops, uncompress_time \
 FROM information_schema.innodb_cmp \
 UNION ALL SELECT 'cmpmem', page_size, buffer_pool_instance, \
 pages_used, pages_free, relocation_ops, relocation_time, NULL \
 FROM information_schema.innodb_cmpmem";

const CMP: [(&str, &str); 5] = [
    (
        "mysql_info_schema_innodb_cmp_compress_ops_total",
        "Number of times a B-tree page of the size PAGE_SIZE has been compressed.",
    ),
    (
        "mysql_info_schema_innodb_cmp_compress_ops_ok_total",
        "Number of times a B-tree page of the size PAGE_SIZE has been successfully compressed.",
    ),
    (
        "mysql_info_schema_innodb_cmp_compress_time_seconds_total",
        "Total time in seconds spent in attempts to compress B-tree pages.",
    ),
    (
        "mysql_info_schema_innodb_cmp_uncompress_ops_total",
        "Number of times a B-tree page of the size PAGE_SIZE has been uncompressed.",
    ),
    (
        "mysql_info_schema_innodb_cmp_uncompress_time_seconds_total",
        "Total time in seconds spent in uncompressing B-tree pages.",
    ),
];

const CMPMEM: [(&str, &str); 4] = [
    (
        "mysql_info_schema_innodb_cmpmem_pages_used_total",
        "Number of blocks of the size PAGE_SIZE that are currently in use.",
    ),
    (
        "mysql_info_schema_innodb_cmpmem_pages_free_total",
        "Number of blocks of the size PAGE_SIZE that are currently available for allocation.",
    ),
    (
        "mysql_info_schema_innodb_cmpmem_relocation_ops_total",
        "Number of times a block of the size PAGE_SIZE has been relocated.",
    ),
    (
        "mysql_info_schema_innodb_cmpmem_relocation_time_seconds_total",
        "Total time in seconds spent in relocating blocks.",
    ),
];

/// Writes the samples of [`SQL`]'s rows.
pub fn to_samples(rows: &[Row], out: &mut Out) {
    for row in rows {
        let cell = |i: usize| row.get(i).map(|(_, c)| c).unwrap_or(&Cell::Null);
        let kind = cell(0).as_label();
        let page_size = cell(1).as_label();
        if kind == "cmp" {
            for (i, (name, help)) in CMP.iter().enumerate() {
                if let Some(v) = cell(3 + i).as_value() {
                    out.counter(*name, *help, &[("page_size", &page_size)], v);
                }
            }
        } else {
            let pool = cell(2).as_label();
            for (i, (name, help)) in CMPMEM.iter().enumerate() {
                if let Some(mut v) = cell(3 + i).as_value() {
                    if i == 3 {
                        // relocation_time is in microseconds.
                        v /= 1_000_000.0;
                    }
                    out.counter(
                        *name,
                        *help,
                        &[("buffer_pool", &pool), ("page_size", &page_size)],
                        v,
                    );
                }
            }
        }
    }
}
