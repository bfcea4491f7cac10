//! Polls every configured Alertmanager's `/api/v2/alerts` and `/api/v2/silences` on the poll
//! interval and hands the results to the engine. A source that fails (unreachable, an error
//! status, an answer that is not the API's JSON) is marked down and logged; what it reported
//! before is kept.

use crate::api;
use crate::config::{AlertmanagerUrl, Config, Credentials};
use crate::engine::{Engine, PollResult};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The largest API answer read (10 000 alerts take about 10 MB).
pub const MAX_ANSWER: usize = 64 << 20;

/// Builds the HTTP client (rustls, no proxy from the environment, the configured timeout and
/// TLS settings).
pub fn client(
    timeout: Duration,
    credentials: &Credentials,
) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .no_proxy()
        .user_agent(concat!("watchkeeper-incident/", env!("CARGO_PKG_VERSION")));
    if let Some(tls) = &credentials.tls {
        builder = builder.use_preconfigured_tls((**tls).clone());
    }
    builder.build()
}

async fn get(
    client: &reqwest::Client,
    url: &str,
    credentials: &Credentials,
) -> Result<Vec<u8>, String> {
    let mut req = client.get(url).header("Accept", "application/json");
    if let Some((user, password)) = &credentials.basic {
        req = req.basic_auth(user, Some(password.expose()));
    } else if let Some(token) = &credentials.bearer {
        req = req.bearer_auth(token.expose());
    }
    let mut resp = req
        .send()
        .await
        .map_err(|e| format!("GET {url}: {}", describe(&e)))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("GET {url}: HTTP status {}", status.as_u16()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("GET {url}: {}", describe(&e)))?
    {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(format!("GET {url}: answer larger than {MAX_ANSWER} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection refused or unreachable".into()
    } else {
        // The URL is already in the message prefix; print the causes without it.
        let mut msg = String::new();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            if !msg.is_empty() {
                msg.push_str(": ");
            }
            msg.push_str(&s.to_string());
            source = s.source();
        }
        if msg.is_empty() {
            "request failed".into()
        } else {
            msg
        }
    }
}

/// Polls one Alertmanager.
pub async fn poll_one(
    client: &reqwest::Client,
    am: &AlertmanagerUrl,
    credentials: &Credentials,
) -> PollResult {
    let alerts_url = am.endpoint("api/v2/alerts");
    let silences_url = am.endpoint("api/v2/silences");
    let (alerts, silences) = tokio::join!(
        get(client, &alerts_url, credentials),
        get(client, &silences_url, credentials)
    );
    let (alerts, silences) = (alerts?, silences?);
    // Decoding megabytes of JSON is CPU work: off the async thread.
    tokio::task::spawn_blocking(move || {
        let alerts = api::decode_alerts(&alerts).map_err(|e| format!("GET {alerts_url}: {e}"))?;
        let silences =
            api::decode_silences(&silences).map_err(|e| format!("GET {silences_url}: {e}"))?;
        Ok((alerts, silences))
    })
    .await
    .unwrap_or_else(|e| Err(format!("decoding failed: {e}")))
}

/// Polls every Alertmanager of `config` once, concurrently.
pub async fn poll_all(client: &reqwest::Client, config: &Config) -> Vec<(String, PollResult)> {
    let polls = config.alertmanagers.iter().map(|am| async move {
        (
            am.instance(),
            poll_one(client, am, &config.credentials).await,
        )
    });
    futures_util::future::join_all(polls).await
}

/// Runs until the process ends: poll, apply, wait for the interval (or a reload).
pub async fn run(engine: Arc<Engine>, mut config: watch::Receiver<Arc<Config>>) {
    loop {
        let cfg = Arc::clone(&config.borrow_and_update());
        let http = match client(cfg.timeout.get(), &cfg.credentials) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "Cannot build the HTTP client");
                tokio::time::sleep(cfg.poll_interval.get()).await;
                continue;
            }
        };
        let instances: Vec<String> = cfg.alertmanagers.iter().map(|a| a.instance()).collect();
        engine.retain_sources(&instances);
        engine.reconfigure(&cfg);
        loop {
            let started = std::time::Instant::now();
            let results = poll_all(&http, &cfg).await;
            engine.apply_poll(results).await;
            engine.poll_took(started.elapsed().as_secs_f64());
            tokio::select! {
                _ = tokio::time::sleep(cfg.poll_interval.get()) => {}
                changed = config.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    break;
                }
            }
        }
    }
}

/// Applies the retention now and then every hour.
pub async fn retention(engine: Arc<Engine>, config: watch::Receiver<Arc<Config>>) {
    loop {
        let keep = config.borrow().retention.get();
        engine
            .prune(i64::try_from(keep.as_millis()).unwrap_or(i64::MAX))
            .await;
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}
