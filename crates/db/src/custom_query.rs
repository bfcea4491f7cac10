//! Custom queries: result rows become gauge samples.
//!
//! Each configured value column `c` of query `name` becomes the gauge `<name>_<c>`; the label
//! columns become labels next to `target`. Rows past `row_limit` are never read into samples,
//! so a query that suddenly returns a million rows cannot blow up the scrape.

use crate::config::CustomQueryConfig;
use crate::engine::{Out, Row};

/// Turns `rows` into samples of `q`. Fails (without writing anything) when a configured column
/// is missing, so a typo in the config shows up as `custom_query_success 0` and a log line.
pub fn to_samples(q: &CustomQueryConfig, rows: &[Row], out: &mut Out) -> Result<(), String> {
    if let Some(first) = rows.first() {
        for col in q.labels.iter().chain(&q.values) {
            if !first.iter().any(|(name, _)| name == col) {
                let have: Vec<&str> = first.iter().map(|(n, _)| n.as_str()).collect();
                return Err(format!(
                    "column {col:?} not in the result (columns: {})",
                    have.join(", ")
                ));
            }
        }
    }
    let help = q
        .help
        .clone()
        .unwrap_or_else(|| format!("Custom query {}.", q.name));
    for row in rows {
        let cell = |col: &str| row.iter().find(|(n, _)| n == col).map(|(_, c)| c);
        let label_values: Vec<String> = q
            .labels
            .iter()
            .map(|l| cell(l).map(|c| c.as_label()).unwrap_or_default())
            .collect();
        let labels: Vec<(&str, &str)> = q
            .labels
            .iter()
            .map(String::as_str)
            .zip(label_values.iter().map(String::as_str))
            .collect();
        for v in &q.values {
            // NULL or non-numeric cells are skipped: a gap is more honest than a made-up 0.
            if let Some(value) = cell(v).and_then(|c| c.as_value()) {
                out.gauge(format!("{}_{v}", q.name), help.clone(), &labels, value);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Cell;
    use std::path::Path;

    fn query() -> CustomQueryConfig {
        let c = crate::config::Config::parse(
            "targets:\n- name: t\n  kind: postgres\n  custom_queries:\n  - name: app_jobs\n    query: select 1\n    labels: [queue]\n    values: [waiting, oldest]\n",
            Path::new("c.yml"),
        )
        .unwrap();
        c.targets[0].custom_queries[0].clone()
    }

    #[test]
    fn rows_become_labelled_gauges() {
        let rows = vec![vec![
            ("queue".to_string(), Cell::Text("mail".into())),
            ("waiting".to_string(), Cell::Number(3.0)),
            ("oldest".to_string(), Cell::Null),
        ]];
        let mut out = Out::new("t");
        to_samples(&query(), &rows, &mut out).unwrap();
        let set = out.into_set();
        assert_eq!(
            set.find("app_jobs_waiting", &[("target", "t"), ("queue", "mail")]),
            Some(3.0)
        );
        assert_eq!(set.find("app_jobs_oldest", &[]), None);
    }

    #[test]
    fn missing_column_is_an_error() {
        let rows = vec![vec![("queue".to_string(), Cell::Text("x".into()))]];
        let mut out = Out::new("t");
        let err = to_samples(&query(), &rows, &mut out).unwrap_err();
        assert!(err.contains("\"waiting\""), "{err}");
        assert_eq!(out.into_set().sample_count(), 0);
    }
}
