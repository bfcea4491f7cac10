//! `SHOW SLAVE STATUS` (and MariaDB's `SHOW ALL SLAVES STATUS`, MySQL 8.4's `SHOW REPLICA
//! STATUS`): every column whose value reads as a number or a Yes/No word becomes
//! `mysql_slave_status_<column>` (untyped), labelled by `master_host`, `master_uuid`,
//! `channel_name` and `connection_name`, as mysqld_exporter 0.14 does. MySQL 8.4's
//! `Replica`/`Source` column names are read under their older `Slave`/`Master` names, so the
//! metric names do not change with the server version.

use super::value::parse_status;
use crate::engine::{Cell, Out, Row};
use crate::sanitize::name_part;
use watchkeeper_core::metrics::MetricType;

/// The statements to try, most informative first.
pub const QUERIES: [&str; 3] = [
    "SHOW ALL SLAVES STATUS",
    "SHOW SLAVE STATUS",
    "SHOW REPLICA STATUS",
];

/// A column name as SHOW SLAVE STATUS spells it.
fn legacy(col: &str) -> String {
    col.replace("Replica", "Slave")
        .replace("replica", "slave")
        .replace("Source", "Master")
        .replace("source", "master")
}

fn text(c: &Cell) -> String {
    match c {
        Cell::Null => String::new(),
        other => other.as_label(),
    }
}

/// Writes the samples of the status rows (one per replication channel).
pub fn to_samples(rows: &[Row], out: &mut Out) {
    for row in rows {
        let cols: Vec<(String, &Cell)> = row.iter().map(|(k, v)| (legacy(k), v)).collect();
        let get = |name: &str| {
            cols.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| text(v))
                .unwrap_or_default()
        };
        let (host, uuid, channel, connection) = (
            get("Master_Host"),
            get("Master_UUID"),
            get("Channel_Name"),
            get("Connection_name"),
        );
        let labels = [
            ("master_host", host.as_str()),
            ("master_uuid", uuid.as_str()),
            ("channel_name", channel.as_str()),
            ("connection_name", connection.as_str()),
        ];
        for (col, cell) in &cols {
            let value = match cell {
                Cell::Number(n) => Some(*n),
                Cell::Text(t) => parse_status(t),
                Cell::Null => None,
            };
            let Some(v) = value else { continue };
            out.add(
                format!("mysql_slave_status_{}", name_part(col)),
                "Generic metric from SHOW SLAVE STATUS.",
                MetricType::Untyped,
                &labels,
                v,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, Cell)]) -> Row {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn every_numeric_column_with_the_four_labels() {
        let r = row(&[
            ("Connection_name", Cell::Text("".into())),
            ("Master_Host", Cell::Text("10.0.0.1".into())),
            ("Slave_IO_Running", Cell::Text("Yes".into())),
            ("Slave_SQL_Running", Cell::Text("No".into())),
            ("Seconds_Behind_Master", Cell::Null),
            ("Read_Master_Log_Pos", Cell::Text("1234".into())),
            ("Last_Error", Cell::Text("".into())),
        ]);
        let mut out = Out::new("db");
        to_samples(&[r], &mut out);
        let set = out.into_set();
        let l = [("master_host", "10.0.0.1"), ("connection_name", "")];
        assert_eq!(
            set.find("mysql_slave_status_slave_io_running", &l),
            Some(1.0)
        );
        assert_eq!(
            set.find("mysql_slave_status_slave_sql_running", &l),
            Some(0.0)
        );
        assert_eq!(
            set.find("mysql_slave_status_read_master_log_pos", &l),
            Some(1234.0)
        );
        assert_eq!(
            set.find("mysql_slave_status_seconds_behind_master", &[]),
            None
        );
        assert_eq!(set.find("mysql_slave_status_last_error", &[]), None);
    }

    #[test]
    fn mysql_8_4_names_read_as_the_old_ones() {
        let r = row(&[
            ("Source_Host", Cell::Text("db1".into())),
            ("Replica_IO_Running", Cell::Text("Yes".into())),
            ("Seconds_Behind_Source", Cell::Text("3".into())),
        ]);
        let mut out = Out::new("db");
        to_samples(&[r], &mut out);
        let set = out.into_set();
        assert_eq!(
            set.find(
                "mysql_slave_status_slave_io_running",
                &[("master_host", "db1")]
            ),
            Some(1.0)
        );
        assert_eq!(
            set.find("mysql_slave_status_seconds_behind_master", &[]),
            Some(3.0)
        );
    }
}
