//! The optional `information_schema` collectors (`collect:` in the target's configuration),
//! named as mysqld_exporter 0.14's `--collect.info_schema.processlist` and
//! `--collect.info_schema.tables`.

use crate::engine::{Cell, Out, Row};

/// Threads by user, host, command and state (our own session left out).
pub const PROCESSLIST_SQL: &str = "SELECT user, SUBSTRING_INDEX(host, ':', 1) AS host, \
 COALESCE(command, '') AS command, COALESCE(state, '') AS state, \
 COUNT(*) AS processes, SUM(time) AS seconds \
 FROM information_schema.processlist WHERE ID != connection_id() AND TIME >= 0 \
 GROUP BY user, host, command, state";

/// At most this many tables are exported (the rest cut, logged once).
pub const MAX_TABLES: usize = 5_000;

/// Every table outside the server's own schemas.
pub const TABLES_SQL: &str = "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, \
 ifnull(ENGINE, 'NONE'), ifnull(VERSION, '0'), ifnull(ROW_FORMAT, 'NONE'), \
 ifnull(TABLE_ROWS, '0'), ifnull(DATA_LENGTH, '0'), ifnull(INDEX_LENGTH, '0'), \
 ifnull(DATA_FREE, '0'), ifnull(CREATE_OPTIONS, 'NONE') \
 FROM information_schema.tables \
 WHERE TABLE_SCHEMA NOT IN ('mysql', 'performance_schema', 'information_schema') \
 ORDER BY TABLE_SCHEMA, TABLE_NAME LIMIT 5001";

/// mysqld_exporter's `sanitizeState`: lower case, spaces and dashes to `_`, punctuation
/// dropped, empty as `unknown`.
pub fn sanitize_state(s: &str) -> String {
    if s.is_empty() {
        return "unknown".into();
    }
    s.to_lowercase()
        .chars()
        .filter(|c| !";,:.()".contains(*c))
        .map(|c| if c == ' ' || c == '-' { '_' } else { c })
        .collect()
}

fn text(row: &Row, i: usize) -> String {
    match row.get(i).map(|(_, c)| c) {
        None | Some(Cell::Null) => String::new(),
        Some(c) => c.as_label(),
    }
}

fn number(row: &Row, i: usize) -> f64 {
    row.get(i).and_then(|(_, c)| c.as_value()).unwrap_or(0.0)
}

/// Writes the processlist families from [`PROCESSLIST_SQL`]'s rows.
pub fn processlist(rows: &[Row], out: &mut Out) {
    use std::collections::BTreeMap;
    let mut by_state: BTreeMap<(String, String), (f64, f64)> = BTreeMap::new();
    let mut by_user: BTreeMap<String, f64> = BTreeMap::new();
    let mut by_host: BTreeMap<String, f64> = BTreeMap::new();
    for row in rows {
        let (user, mut host) = (text(row, 0), text(row, 1));
        if host.is_empty() {
            host = "unknown".into();
        }
        let key = (sanitize_state(&text(row, 2)), sanitize_state(&text(row, 3)));
        let (count, secs) = (number(row, 4), number(row, 5));
        let e = by_state.entry(key).or_default();
        e.0 += count;
        e.1 += secs;
        *by_user.entry(user).or_default() += count;
        *by_host.entry(host).or_default() += count;
    }
    for ((command, state), (count, secs)) in &by_state {
        let labels = [("command", command.as_str()), ("state", state.as_str())];
        out.gauge(
            "mysql_info_schema_processlist_threads",
            "The number of threads split by current state.",
            &labels,
            *count,
        );
        out.gauge(
            "mysql_info_schema_processlist_seconds",
            "The number of seconds threads have used split by current state.",
            &labels,
            *secs,
        );
    }
    for (host, count) in &by_host {
        out.gauge(
            "mysql_info_schema_processlist_processes_by_host",
            "The number of processes by host.",
            &[("client_host", host)],
            *count,
        );
    }
    for (user, count) in &by_user {
        out.gauge(
            "mysql_info_schema_processlist_processes_by_user",
            "The number of processes by user.",
            &[("mysql_user", user)],
            *count,
        );
    }
}

/// Writes the table families from [`TABLES_SQL`]'s rows.
pub fn tables(rows: &[Row], out: &mut Out) {
    if rows.len() > MAX_TABLES {
        crate::sanitize::warn_once("info_schema.tables:cut", || {
            format!("information_schema.tables: more than {MAX_TABLES} tables; only the first {MAX_TABLES} are exported")
        });
    }
    for row in rows.iter().take(MAX_TABLES) {
        let (schema, table) = (text(row, 0), text(row, 1));
        let st = [("schema", schema.as_str()), ("table", table.as_str())];
        out.gauge(
            "mysql_info_schema_table_version",
            "The version number of the table's .frm file",
            &[
                ("create_options", &text(row, 10)),
                ("engine", &text(row, 3)),
                ("row_format", &text(row, 5)),
                ("schema", &schema),
                ("table", &table),
                ("type", &text(row, 2)),
            ],
            number(row, 4),
        );
        out.gauge(
            "mysql_info_schema_table_rows",
            "The estimated number of rows in the table from information_schema.tables",
            &st,
            number(row, 6),
        );
        for (i, component) in [(7, "data_length"), (8, "index_length"), (9, "data_free")] {
            out.gauge(
                "mysql_info_schema_table_size",
                "The size of the table components from information_schema.tables",
                &[("component", component), st[0], st[1]],
                number(row, i),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_sanitised_like_mysqld_exporter() {
        assert_eq!(sanitize_state(""), "unknown");
        assert_eq!(sanitize_state("User sleep"), "user_sleep");
        assert_eq!(
            sanitize_state("Waiting for table metadata lock"),
            "waiting_for_table_metadata_lock"
        );
        assert_eq!(
            sanitize_state("Slave has read all relay log; waiting"),
            "slave_has_read_all_relay_log_waiting"
        );
        assert_eq!(sanitize_state("Query"), "query");
    }

    #[test]
    fn processlist_groups_by_command_and_state() {
        let row = |u: &str, h: &str, c: &str, s: &str, n: f64, t: f64| -> Row {
            vec![
                ("user".into(), Cell::Text(u.into())),
                ("host".into(), Cell::Text(h.into())),
                ("command".into(), Cell::Text(c.into())),
                ("state".into(), Cell::Text(s.into())),
                ("processes".into(), Cell::Number(n)),
                ("seconds".into(), Cell::Number(t)),
            ]
        };
        let mut out = Out::new("db");
        processlist(
            &[
                row("app", "10.0.0.1", "Query", "User sleep", 2.0, 6.0),
                row("app", "10.0.0.2", "Query", "User sleep", 1.0, 1.0),
                row("root", "", "Sleep", "", 1.0, 9.0),
            ],
            &mut out,
        );
        let set = out.into_set();
        let l = [("command", "query"), ("state", "user_sleep")];
        assert_eq!(
            set.find("mysql_info_schema_processlist_threads", &l),
            Some(3.0)
        );
        assert_eq!(
            set.find("mysql_info_schema_processlist_seconds", &l),
            Some(7.0)
        );
        assert_eq!(
            set.find(
                "mysql_info_schema_processlist_processes_by_user",
                &[("mysql_user", "app")]
            ),
            Some(3.0)
        );
        assert_eq!(
            set.find(
                "mysql_info_schema_processlist_processes_by_host",
                &[("client_host", "unknown")]
            ),
            Some(1.0)
        );
    }
}
