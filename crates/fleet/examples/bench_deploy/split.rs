//! The rollout figure split in two, each measured on its own:
//!
//! - **console side**: uploads of the model to N sinks that take the bytes
//!   and throw them away (a child process: no hashing, no disk, no model
//!   load), at `--parallel N`: the aggregate bytes/s the console sustains,
//!   its upload time against one device's, and its own CPU per device.
//! - **agent side**: the same uploads to N real agents (a child process),
//!   then activation: per device, the wall time per MB to receive, hash and
//!   persist (the PUT) and to load (activate), and the agents' CPU per MB —
//!   which, unlike wall time on a shared two-core machine, should stay flat
//!   as N grows (real devices each have their own CPU).

use edgefleet_agent::{AgentConfig, spawn};
use edgefleet_core::wire::{UploadResponse, UploadStatus};
use edgefleet_core::{Device, DeviceType};
use edgefleet_fleet::{AgentClient, http_client};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-token";

/// CPU seconds (user + system) process `pid` has used, from /proc.
pub fn cpu_s(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the `(comm)`: state is 3rd overall, utime 14th, stime 15th.
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // USER_HZ is 100 on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

/// The child of `--sinks N`: N upload sinks on 127.0.0.1, one `ADDR` line each.
pub async fn serve_sinks(n: usize) {
    use axum::routing::{get, put};
    let mut addrs = Vec::new();
    for _ in 0..n {
        let app = axum::Router::new()
            .route(
                "/v1/models/{name}/{version}/upload",
                get(|axum::extract::Path((name, version)): axum::extract::Path<(String, String)>| async move {
                    axum::Json(UploadStatus { name, version, received_bytes: 0, complete: false, sha256: None })
                }),
            )
            .route(
                "/v1/models/{name}/{version}",
                put(
                    |axum::extract::Path((name, version)): axum::extract::Path<(String, String)>,
                     headers: axum::http::HeaderMap,
                     body: axum::body::Body| async move {
                        use futures_util::StreamExt;
                        let mut stream = body.into_data_stream();
                        let mut received = 0u64;
                        while let Some(Ok(chunk)) = stream.next().await {
                            received += chunk.len() as u64;
                        }
                        let sha256 = headers
                            .get("x-content-sha256")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        axum::Json(UploadResponse { name, version, received_bytes: received, complete: true, sha256 })
                    },
                ),
            )
            .layer(axum::extract::DefaultBodyLimit::disable());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        addrs.push(listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    }
    announce_and_wait(&addrs).await;
}

/// The child of `--agents N`: N real agents on 127.0.0.1.
pub async fn serve_agents(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut handles = Vec::new();
    for i in 0..n {
        let id = format!("bench-agent-{i}");
        let mut config =
            AgentConfig::new(Device::new(&id, DeviceType::EdgeServer, 2, 8192, 64.0), dir.path().join(&id));
        config.token = Some(TOKEN.into());
        config.benchmark_duration = Duration::from_millis(5);
        handles.push(spawn(config).await.unwrap());
    }
    let addrs: Vec<SocketAddr> = handles.iter().map(|h| h.addr).collect();
    announce_and_wait(&addrs).await;
    for h in handles {
        h.shutdown().await;
    }
}

async fn announce_and_wait(addrs: &[SocketAddr]) {
    for a in addrs {
        println!("{a}");
    }
    println!("ready");
    // Until the parent closes our stdin (or goes away).
    let _ = tokio::task::spawn_blocking(|| std::io::stdin().lines().count()).await;
}

/// Start this example again as `flag N`; returns the child and its addresses.
fn child(flag: &str, n: usize) -> (Child, Vec<SocketAddr>) {
    let mut c = Command::new(std::env::current_exe().unwrap())
        .args([flag, &n.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut addrs = Vec::new();
    for line in BufReader::new(c.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line == "ready" {
            break;
        }
        addrs.push(line.parse().unwrap());
    }
    (c, addrs)
}

fn stop(mut c: Child) {
    drop(c.stdin.take());
    let _ = c.wait();
}

/// Upload `file` to every address at once; per-upload seconds.
async fn upload_all(addrs: &[SocketAddr], file: &Path, sha: &str, version: &str) -> Vec<f64> {
    let http = http_client().unwrap();
    let uploads = addrs.iter().map(|a| {
        let client = AgentClient::new(http.clone(), *a, Some(TOKEN.into()));
        let (file, sha, version) = (file.to_owned(), sha.to_owned(), version.to_owned());
        async move {
            let t = Instant::now();
            let r = client.upload_model("bench", &version, &file, &sha, |_, _| {}).await.unwrap();
            assert!(r.complete);
            t.elapsed().as_secs_f64()
        }
    });
    futures_util::future::join_all(uploads).await
}

pub async fn console_side(file: &Path, sha: &str, size: u64, counts: &[usize]) {
    let mb = size as f64 / 1e6;
    let me = std::process::id().to_string();
    println!("console side: uploads of {mb:.0} MB to N sinks (bytes discarded), --parallel N");
    println!("{:>4} {:>9} {:>11} {:>12} {:>15}", "N", "upload_s", "total_MB/s", "vs_1_device", "console_cpu_s/dev");
    let mut one = None;
    for &n in counts {
        let (c, addrs) = child("--sinks", n);
        let cpu0 = cpu_s(&me);
        let t = Instant::now();
        upload_all(&addrs, file, sha, "v1").await;
        let wall = t.elapsed().as_secs_f64();
        let cpu = cpu_s(&me) - cpu0;
        let base = *one.get_or_insert(wall);
        println!("{n:>4} {wall:>9.3} {:>11.0} {:>11.2}× {:>15.3}", n as f64 * mb / wall, wall / base, cpu / n as f64);
        stop(c);
    }
}

pub async fn agent_side(file: &Path, sha: &str, size: u64, counts: &[usize]) {
    let mb = size as f64 / 1e6;
    println!("agent side: the same uploads to N real agents, then activation (load)");
    println!("{:>4} {:>16} {:>15} {:>17}", "N", "receive_ms/MB", "load_ms/MB", "agent_cpu_ms/MB");
    for &n in counts {
        let (c, addrs) = child("--agents", n);
        let pid = c.id().to_string();
        let cpu0 = cpu_s(&pid);
        let receive = upload_all(&addrs, file, sha, "v1").await;
        let http = http_client().unwrap();
        let loads = addrs.iter().map(|a| {
            let client = AgentClient::new(http.clone(), *a, Some(TOKEN.into())).timeout(Duration::from_secs(600));
            async move {
                let t = Instant::now();
                client.activate("bench", "v1", None).await.unwrap();
                t.elapsed().as_secs_f64()
            }
        });
        let load = futures_util::future::join_all(loads).await;
        let cpu = cpu_s(&pid) - cpu0;
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        println!(
            "{n:>4} {:>16.2} {:>15.2} {:>17.2}",
            mean(&receive) * 1e3 / mb,
            mean(&load) * 1e3 / mb,
            cpu * 1e3 / (n as f64 * mb)
        );
        stop(c);
    }
}
