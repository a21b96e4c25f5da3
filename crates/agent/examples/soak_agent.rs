//! Soak: one real agent (a child process: this example re-run with
//! `--serve`) under steady predict traffic on 127.0.0.1 for a set time,
//! printing the agent's RSS and open file descriptors as it goes. Both
//! should stay flat; a climb is a leak.
//!
//! `cargo run --release -p edgefleet-agent --example soak_agent -- [--duration-s 600] [--every-s 30] [--rate 200]`
//!
//! Traffic goes to 127.0.0.1 only, at a fixed rate, and stops by itself.

// A benchmark binary: a failed setup step should stop it at once.
#![allow(clippy::unwrap_used)]

use edgefleet_agent::AgentConfig;
use edgefleet_core::{Device, DeviceType};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const TOKEN: &str = "soak-token";

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The child: serve one agent on 127.0.0.1:0 until stdin closes.
async fn serve(dir: PathBuf) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("listening on {}", listener.local_addr().unwrap());
    let mut config = AgentConfig::new(Device::new("soak-0", DeviceType::EdgeServer, 2, 4096, 32.0), dir);
    config.token = Some(TOKEN.into());
    let stdin_closed = async {
        // Ends when the parent goes away, whatever happens to it.
        let _ = tokio::task::spawn_blocking(|| std::io::stdin().lines().count()).await;
    };
    edgefleet_agent::run(listener, config, stdin_closed).await.unwrap();
}

/// (RSS in MB, open fds) of process `pid`, from /proc.
fn rss_mb_and_fds(pid: u32) -> (f64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
    (rss_kb / 1024.0, fds)
}

fn assets() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/models")
}

fn sample_row(path: &Path) -> Vec<f32> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().next().unwrap().split(',').take(64).map(|x| x.trim().parse().unwrap()).collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        return serve(PathBuf::from(&args[i + 1])).await;
    }
    let duration = Duration::from_secs(arg("--duration-s", 600));
    let every = Duration::from_secs(arg("--every-s", 30).max(1));
    let rate = arg("--rate", 200).clamp(1, 5000);

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("--serve")
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("listening on ").unwrap().to_owned();
    let pid = child.id();

    // reqwest is built with rustls and no provider of its own.
    edgefleet_agent::install_crypto_provider();
    let http = reqwest::Client::builder().no_proxy().tcp_nodelay(true).build().unwrap();
    let base = format!("http://{addr}/v1");
    let model = std::fs::read(assets().join("mlp_digits.onnx")).unwrap();
    let sha256 = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&model))
    };
    let r = http
        .put(format!("{base}/models/digits/1"))
        .bearer_auth(TOKEN)
        .header(edgefleet_core::wire::CONTENT_SHA256_HEADER, sha256)
        .body(model)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "upload: {}", r.status());
    let r = http
        .post(format!("{base}/models/digits/activate"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"version": "1"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "activate: {}", r.status());
    let body =
        serde_json::to_vec(&serde_json::json!({ "inputs": [sample_row(&assets().join("digits_eval.csv"))] })).unwrap();

    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let latency_us = Arc::new(AtomicU64::new(0));
    let (rss0, fds0) = rss_mb_and_fds(pid);
    println!(
        "soak: agent pid {pid} at {addr}, {rate} predict/s for {} s; start RSS {rss0:.1} MB, {fds0} fds",
        duration.as_secs()
    );
    println!("{:>7} {:>9} {:>7} {:>10} {:>8} {:>5}", "t_s", "requests", "errors", "mean_ms", "rss_mb", "fds");
    let started = Instant::now();
    let mut next_report = started + every;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut in_flight = tokio::task::JoinSet::new();
    while started.elapsed() < duration {
        tick.tick().await;
        // Bounded: at most 64 requests in flight; beyond that the tick is skipped.
        while in_flight.try_join_next().is_some() {}
        if in_flight.len() < 64 {
            let (http, url, body) = (http.clone(), format!("{base}/predict/digits"), body.clone());
            let (ok, failed, latency_us) = (ok.clone(), failed.clone(), latency_us.clone());
            in_flight.spawn(async move {
                let t = Instant::now();
                let r = http.post(url).bearer_auth(TOKEN).header("content-type", "application/json").body(body).send();
                let answered = match r.await {
                    Ok(resp) if resp.status().is_success() => resp.bytes().await.is_ok(),
                    _ => false,
                };
                if answered {
                    ok.fetch_add(1, Ordering::Relaxed);
                    latency_us.fetch_add(t.elapsed().as_micros() as u64, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        if Instant::now() >= next_report {
            next_report += every;
            let (rss, fds) = rss_mb_and_fds(pid);
            let n = ok.load(Ordering::Relaxed);
            let mean_ms = latency_us.load(Ordering::Relaxed) as f64 / n.max(1) as f64 / 1000.0;
            println!(
                "{:>7.0} {:>9} {:>7} {:>10.3} {:>8.1} {:>5}",
                started.elapsed().as_secs_f64(),
                n,
                failed.load(Ordering::Relaxed),
                mean_ms,
                rss,
                fds
            );
        }
    }
    while in_flight.join_next().await.is_some() {}
    let (rss, fds) = rss_mb_and_fds(pid);
    println!(
        "soak done: {} requests, {} errors; RSS {rss0:.1} → {rss:.1} MB, fds {fds0} → {fds}",
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    drop(child.stdin.take());
    let _ = child.wait();
}
