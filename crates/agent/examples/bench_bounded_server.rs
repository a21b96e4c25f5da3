//! What the bounds cost: the same router served by `axum::serve` (the
//! reference, no bounds) and by `serve_bounded` (connection cap, timeouts,
//! idle-limited bodies), side by side in one run on 127.0.0.1: the p50 of a
//! small JSON request on a keep-alive connection, and the throughput of a
//! 64 MiB body streamed to a handler that counts it.
//!
//! `cargo run --example bench_bounded_server -p edgefleet-agent`

use axum::Router;
use axum::body::Body;
use axum::routing::{get, put};
use edgefleet_agent::{ServeLimits, serve_bounded};
use futures_util::StreamExt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

const SMALL_REQUESTS: usize = 3000;
const BODY_BYTES: usize = 64 << 20;
const UPLOADS: usize = 5;

fn app() -> Router {
    Router::new().route("/small", get(|| async { "{\"status\":\"ok\"}" })).route(
        "/upload",
        put(|body: Body| async move {
            let mut n = 0usize;
            let mut s = body.into_data_stream();
            while let Some(Ok(c)) = s.next().await {
                n += c.len();
            }
            n.to_string()
        }),
    )
}

async fn measure(addr: SocketAddr) -> anyhow::Result<(f64, f64)> {
    // reqwest is built with rustls and no provider of its own.
    edgefleet_agent::install_crypto_provider();
    let client = reqwest::Client::new();
    let url = format!("http://{addr}");
    let mut times = Vec::with_capacity(SMALL_REQUESTS);
    for _ in 0..SMALL_REQUESTS {
        let t = Instant::now();
        client.get(format!("{url}/small")).send().await?.bytes().await?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let p50_ms = times[times.len() / 2];
    let body = axum::body::Bytes::from(vec![7u8; BODY_BYTES]);
    let mut best_mb_s: f64 = 0.0;
    for _ in 0..UPLOADS {
        let t = Instant::now();
        let got: usize = client.put(format!("{url}/upload")).body(body.clone()).send().await?.text().await?.parse()?;
        anyhow::ensure!(got == BODY_BYTES, "the handler counted {got} bytes");
        best_mb_s = best_mb_s.max(BODY_BYTES as f64 / 1e6 / t.elapsed().as_secs_f64());
    }
    Ok((p50_ms, best_mb_s))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let plain = TcpListener::bind("127.0.0.1:0").await?;
    let plain_addr = plain.local_addr()?;
    tokio::spawn(async move { axum::serve(plain, app()).await });
    let bounded = TcpListener::bind("127.0.0.1:0").await?;
    let bounded_addr = bounded.local_addr()?;
    tokio::spawn(serve_bounded(bounded, app(), ServeLimits::default(), std::future::pending()));
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Alternate twice so drift on a shared machine hits both alike.
    let mut rows = Vec::new();
    for round in 0..2 {
        let (p_ref, t_ref) = measure(plain_addr).await?;
        let (p_b, t_b) = measure(bounded_addr).await?;
        println!(
            "round {round}: small GET p50 {p_ref:.3} ms (axum::serve) vs {p_b:.3} ms (serve_bounded); \
             64 MiB PUT {t_ref:.0} vs {t_b:.0} MB/s (best of {UPLOADS})"
        );
        rows.push((p_ref, p_b, t_ref, t_b));
    }
    let (p_ref, p_b, t_ref, t_b) =
        rows.iter().fold((0.0, 0.0, 0.0, 0.0), |a, r| (a.0 + r.0, a.1 + r.1, a.2 + r.2, a.3 + r.3));
    println!(
        "serve_bounded / axum::serve: p50 {:.2}× ({:+.3} ms), upload throughput {:.2}×",
        p_b / p_ref,
        (p_b - p_ref) / rows.len() as f64,
        t_b / t_ref
    );
    Ok(())
}
