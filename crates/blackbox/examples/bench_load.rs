//! Load generator and probe target for `scripts/bench-blackbox.sh`.
//!
//! `bench_load target ADDR` serves `200 ok` over HTTP/1.1 (the probed site).
//! `bench_load load URL CONCURRENCY SECONDS` keeps CONCURRENCY keep-alive connections busy with
//! GETs of URL for SECONDS and prints `requests=N ok=N rps=X p50_ms=X p99_ms=X`.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    match args.first().map(String::as_str) {
        Some("target") => rt.block_on(target(
            args.get(1).cloned().unwrap_or_else(|| "127.0.0.1:0".into()),
        )),
        Some("load") => {
            let url = args.get(1).ok_or("load URL CONCURRENCY SECONDS")?.clone();
            let conc: usize = args
                .get(2)
                .and_then(|s| s.parse().ok())
                .ok_or("bad CONCURRENCY")?;
            let secs: u64 = args
                .get(3)
                .and_then(|s| s.parse().ok())
                .ok_or("bad SECONDS")?;
            rt.block_on(load(url, conc, Duration::from_secs(secs)))
        }
        _ => Err("usage: bench_load target ADDR | load URL CONCURRENCY SECONDS".into()),
    }
}

async fn target(addr: String) -> Result<(), String> {
    let listener = TcpListener::bind(&addr).await.map_err(|e| e.to_string())?;
    println!("{}", listener.local_addr().map_err(|e| e.to_string())?);
    loop {
        let Ok((s, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(|_req| async {
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok\n"))))
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(s), svc)
                .await;
        });
    }
}

async fn load(url: String, conc: usize, dur: Duration) -> Result<(), String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("{e}"))?;
    let authority = uri.authority().ok_or("URL without host")?.to_string();
    let path = uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_else(|| "/".into());
    let until = Instant::now() + dur;
    let results = Arc::new(std::sync::Mutex::new((Vec::<f64>::new(), 0usize)));
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (authority, path, results) = (authority.clone(), path.clone(), Arc::clone(&results));
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut ok = 0usize;
            'outer: while Instant::now() < until {
                let Ok(stream) = TcpStream::connect(&authority).await else {
                    break;
                };
                let Ok((mut sender, conn)) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
                else {
                    break;
                };
                tokio::spawn(conn);
                while Instant::now() < until {
                    let req = hyper::Request::get(path.as_str())
                        .header("host", authority.as_str())
                        .header("x-prometheus-scrape-timeout-seconds", "10")
                        .body(Empty::<Bytes>::new());
                    let Ok(req) = req else { break 'outer };
                    let started = Instant::now();
                    let Ok(resp) = sender.send_request(req).await else {
                        continue 'outer;
                    };
                    let status = resp.status();
                    let Ok(body) = resp.into_body().collect().await else {
                        continue 'outer;
                    };
                    lat.push(started.elapsed().as_secs_f64() * 1000.0);
                    let body = body.to_bytes();
                    if status.is_success() && body.windows(15).any(|w| w == b"probe_success 1") {
                        ok += 1;
                    }
                }
            }
            if let Ok(mut r) = results.lock() {
                r.0.extend(lat);
                r.1 += ok;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let (mut lat, ok) = results
        .lock()
        .map(|r| r.clone())
        .map_err(|e| e.to_string())?;
    lat.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "requests={} ok={} rps={:.1} p50_ms={:.3} p99_ms={:.3}",
        lat.len(),
        ok,
        lat.len() as f64 / dur.as_secs_f64(),
        pct(0.50),
        pct(0.99)
    );
    Ok(())
}
