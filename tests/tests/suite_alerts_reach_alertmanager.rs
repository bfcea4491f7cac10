//! The whole suite as an SRE runs it: every exporter, a real Prometheus loading our alert rules,
//! and a real Alertmanager. A dead website must reach Alertmanager as a critical alert naming
//! it; the live one must not. Every shipped rule must evaluate cleanly against our real series.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;
use watchkeeper_e2e::{free_port, poll_query, start_exporter, start_tool, system_tool, vector_by};

/// A minimal always-200 HTTP server standing in for a website.
fn start_website() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 4096];
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
            );
        }
    });
    addr
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_site_pages_through_alertmanager_and_all_rules_evaluate() {
    let Some(prometheus) = system_tool("prometheus") else {
        return;
    };
    let Some(alertmanager) = system_tool("prometheus-alertmanager") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../alert-rules");

    let live = start_website();
    let dead = format!("127.0.0.1:{}", free_port());

    let blackbox_yml = write(
        dir.path(),
        "blackbox.yml",
        "modules:\n  http_2xx:\n    prober: http\n    timeout: 2s\n    http:\n      preferred_ip_protocol: ip4\n",
    );
    let db_yml = write(
        dir.path(),
        "db.yml",
        "targets:\n  - name: pg\n    kind: postgres\n    host: 127.0.0.1\n    port: 5432\n    user: postgres\n    database: postgres\n  - name: cache\n    kind: redis\n    host: 127.0.0.1\n    port: 6379\n",
    );
    let (_host, host_addr) = start_exporter("watchkeeper-host", &[]);
    let (_bb, bb_addr) = start_exporter(
        "watchkeeper-blackbox",
        &[&format!("--config.file={blackbox_yml}")],
    );
    let (_db, db_addr) = start_exporter("watchkeeper-db", &[&format!("--config.file={db_yml}")]);

    let am_port = free_port();
    let am_addr = format!("127.0.0.1:{am_port}");
    let am_yml = write(
        dir.path(),
        "alertmanager.yml",
        "route:\n  receiver: pager\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 15m\nreceivers:\n  - name: pager\n",
    );
    let _am = start_tool(
        &alertmanager,
        &[
            format!("--config.file={am_yml}"),
            format!("--storage.path={}", dir.path().join("am").display()),
            format!("--web.listen-address={am_addr}"),
            "--cluster.listen-address=".into(),
        ],
    );

    // A fast-firing copy of the availability page, so the test need not wait out `for:`.
    let fast_rules = write(
        dir.path(),
        "fast.rules.yml",
        "groups:\n  - name: e2e\n    interval: 1s\n    rules:\n      - alert: E2EProbeFailing\n        expr: probe_success == 0\n        labels:\n          severity: critical\n        annotations:\n          summary: '{{ $labels.instance }} is down'\n",
    );
    let prom_yml = write(
        dir.path(),
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {fast_rules}\n  - {rules}/*.rules.yml\n\
             alerting:\n  alertmanagers:\n  - static_configs:\n    - targets: ['{am_addr}']\n\
             scrape_configs:\n\
             - job_name: host\n  static_configs:\n  - targets: ['{host_addr}']\n\
             - job_name: db\n  static_configs:\n  - targets: ['{db_addr}']\n\
             - job_name: blackbox\n  metrics_path: /probe\n  params:\n    module: [http_2xx]\n\
             \x20 static_configs:\n  - targets: ['http://{live}/', 'http://{dead}/']\n\
             \x20 relabel_configs:\n  - source_labels: [__address__]\n    target_label: __param_target\n\
             \x20 - source_labels: [__param_target]\n    target_label: instance\n\
             \x20 - target_label: __address__\n    replacement: '{bb_addr}'\n",
            rules = rules_dir.display(),
        ),
    );
    let prom_addr = format!("127.0.0.1:{}", free_port());
    let _prom = start_tool(
        &prometheus,
        &[
            format!("--config.file={prom_yml}"),
            format!("--storage.tsdb.path={}", dir.path().join("prom").display()),
            format!("--web.listen-address={prom_addr}"),
        ],
    );

    // Every target is scraped.
    poll_query(
        &prom_addr,
        "/api/v1/query?query=up",
        Duration::from_secs(60),
        |v| {
            let ups = vector_by(v, "job");
            ups.len() == 4 && ups.iter().all(|(_, up)| *up == 1.0)
        },
    )
    .await;

    // The probes tell the live site from the dead one, and the databases are up.
    let probes = poll_query(
        &prom_addr,
        "/api/v1/query?query=probe_success",
        Duration::from_secs(30),
        |v| vector_by(v, "instance").len() == 2,
    )
    .await;
    for (instance, value) in vector_by(&probes, "instance") {
        let want = if instance.contains(&live) { 1.0 } else { 0.0 };
        assert_eq!(value, want, "probe_success for {instance}");
    }
    let pg = poll_query(
        &prom_addr,
        "/api/v1/query?query=pg_up",
        Duration::from_secs(30),
        |v| !vector_by(v, "target").is_empty(),
    )
    .await;
    assert_eq!(vector_by(&pg, "target"), vec![("pg".to_string(), 1.0)]);

    // Alertmanager receives the page for the dead site, and only for it.
    let alerts = poll_query(&am_addr, "/api/v2/alerts", Duration::from_secs(60), |v| {
        v.as_array().is_some_and(|a| {
            a.iter()
                .any(|al| al["labels"]["alertname"] == "E2EProbeFailing")
        })
    })
    .await;
    let fired: Vec<&serde_json::Value> = alerts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["alertname"] == "E2EProbeFailing")
        .collect();
    assert_eq!(fired.len(), 1, "{alerts}");
    assert_eq!(fired[0]["labels"]["severity"], "critical");
    assert!(fired[0]["labels"]["instance"]
        .as_str()
        .unwrap()
        .contains(&dead));

    // Every shipped rule evaluates against real Watchkeeper series without error. Groups with a
    // long interval (the 30-day SLO windows) may not have run yet; promtool checks their syntax.
    const NEVER: &str = "0001-01-01T00:00:00Z";
    let rules = poll_query(&prom_addr, "/api/v1/rules", Duration::from_secs(60), |v| {
        v["data"]["groups"].as_array().is_some_and(|gs| {
            gs.len() > 1
                && gs
                    .iter()
                    .filter(|g| g["interval"].as_f64().is_some_and(|i| i <= 60.0))
                    .all(|g| {
                        g["rules"]
                            .as_array()
                            .is_some_and(|rs| rs.iter().all(|r| r["lastEvaluation"] != NEVER))
                    })
        })
    })
    .await;
    let mut evaluated = 0;
    for group in rules["data"]["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            if rule["lastEvaluation"] == NEVER {
                continue;
            }
            evaluated += 1;
            assert_eq!(
                rule["health"], "ok",
                "rule {} in {}: {}",
                rule["name"], group["file"], rule["lastError"]
            );
        }
    }
    assert!(evaluated > 20, "only {evaluated} rules evaluated");
}
