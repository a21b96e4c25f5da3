//! Deployment and gateway benchmarks against real agents on 127.0.0.1:
//! 1. upload throughput of `AgentClient::upload_model` vs `curl --upload-file`
//!    (same headers, same agent, same run);
//! 2. a rollout of a large model to 20 simulated agents vs to one;
//! 3. that rollout split into the console's side and the agents' side
//!    (`split`): the console's upload throughput and CPU per device against
//!    sinks, and each agent's time and CPU per MB to receive, hash, persist
//!    and load, for 1, 5 and 20 devices;
//! 4. gateway overhead vs predicting on an agent directly (p50, p99).
//!
//! `cargo run --release -p edgefleet-fleet --example bench_deploy [-- MB]`

// A benchmark binary: a failed setup step should stop it at once.
#![allow(clippy::unwrap_used)]

use edgefleet_agent::{AgentConfig, SimulateOptions, simulate, spawn};
use edgefleet_core::{Device, DeviceType};
use edgefleet_fleet::{
    AgentClient, Directory, GatewayConfig, RolloutPlan, RolloutRequest, http_client, run_gateway, run_rollout,
};
use edgefleet_store::Store;
use prost::Message;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tract_onnx::pb;

mod split;

const TOKEN: &str = "bench-token";

fn assets() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/models")
}

/// The demo MLP plus an unused `pad_bytes` initializer: a valid, runnable
/// model of any size.
fn padded_model(dir: &Path, pad_bytes: usize) -> PathBuf {
    let mut m = pb::ModelProto::decode(std::fs::read(assets().join("mlp_digits.onnx")).unwrap().as_slice()).unwrap();
    m.graph.as_mut().unwrap().initializer.push(pb::TensorProto {
        name: "unused_padding".into(),
        dims: vec![pad_bytes as i64],
        data_type: 2,
        raw_data: (0..pad_bytes).map(|i| (i % 251) as u8).collect(),
        ..Default::default()
    });
    let path = dir.join("big.onnx");
    std::fs::write(&path, m.encode_to_vec()).unwrap();
    path
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[((s.len() - 1) as f64 * p).round() as usize]
}

async fn upload_vs_curl(file: &Path, sha: &str, size: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = AgentConfig::new(Device::new("bench-0", DeviceType::EdgeServer, 2, 4096, 32.0), dir.path());
    config.token = Some(TOKEN.into());
    let agent = spawn(config).await.unwrap();
    let client = AgentClient::new(http_client().unwrap(), agent.addr, Some(TOKEN.into()));
    let mut ours = Vec::new();
    let mut curl = Vec::new();
    for round in 0..3 {
        let t = Instant::now();
        client.upload_model("bench", &format!("ours{round}"), file, sha, |_, _| {}).await.unwrap();
        ours.push(t.elapsed().as_secs_f64());

        let url = format!("http://{}/v1/models/bench/curl{round}", agent.addr);
        let t = Instant::now();
        let (file_arg, sha_h) = (file.to_owned(), format!("x-content-sha256: {sha}"));
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("curl")
                .args(["-sS", "-f", "-o", "/dev/null", "--upload-file"])
                .arg(file_arg)
                .args(["-H", &sha_h, "-H", &format!("authorization: Bearer {TOKEN}")])
                .arg(&url)
                .output()
        })
        .await
        .unwrap()
        .unwrap();
        curl.push(t.elapsed().as_secs_f64());
        assert!(out.status.success(), "curl: {}", String::from_utf8_lossy(&out.stderr));
    }
    let mb = size as f64 / 1e6;
    let (o, c) = (median(ours), median(curl));
    println!(
        "upload {mb:.0} MB to one agent (median of 3): edgefleet {o:.3} s ({:.0} MB/s), curl {c:.3} s ({:.0} MB/s) → {:.2}× curl's throughput",
        mb / o,
        mb / c,
        c / o
    );
    agent.shutdown().await;
}

async fn fleet_rollout(file: &Path, size: u64) {
    let dir = tempfile::tempdir().unwrap();
    let opts = SimulateOptions {
        token: Some(TOKEN.into()),
        advertise: false,
        interfaces: Vec::new(),
        ..SimulateOptions::loopback(21, dir.path())
    };
    let fleet = simulate(opts).await.unwrap();
    let all: Vec<(String, std::net::SocketAddr, Option<String>)> =
        fleet.agents().iter().map(|a| (a.device_id.clone(), a.addr, Some(TOKEN.to_owned()))).collect();
    let directory = Directory::from_entries(http_client().unwrap(), all.clone());
    let store = Arc::new(Mutex::new(Store::open_in_memory().unwrap()));
    let plan = RolloutPlan { canary: 0, parallel: 20, ..RolloutPlan::default() };

    let one = vec![all[0].0.clone()];
    let t = Instant::now();
    let out = run_rollout(
        store.clone(),
        directory.clone(),
        RolloutRequest::for_file(file, one, plan.clone()),
        Arc::new(|_| {}),
    )
    .await
    .unwrap();
    let single = t.elapsed().as_secs_f64();
    assert_eq!(out.state, "done", "{out:?}");

    let twenty: Vec<String> = all[1..].iter().map(|a| a.0.clone()).collect();
    let t = Instant::now();
    let out =
        run_rollout(store, directory, RolloutRequest::for_file(file, twenty, plan), Arc::new(|_| {})).await.unwrap();
    let many = t.elapsed().as_secs_f64();
    assert_eq!((out.state.as_str(), out.done.len()), ("done", 20), "{out:?}");
    println!(
        "rollout of a {:.0} MB model (upload + verify + activate + health check): 1 agent {single:.2} s, 20 agents {many:.2} s → {:.2}× the single-agent time",
        size as f64 / 1e6,
        many / single
    );
    fleet.shutdown().await;
}

async fn gateway_overhead() {
    let dir = tempfile::tempdir().unwrap();
    let opts = SimulateOptions {
        token: Some(TOKEN.into()),
        advertise: false,
        interfaces: Vec::new(),
        ..SimulateOptions::loopback(3, dir.path())
    };
    let fleet = simulate(opts).await.unwrap();
    let entries: Vec<_> =
        fleet.agents().iter().map(|a| (a.device_id.clone(), a.addr, Some(TOKEN.to_owned()))).collect();
    let directory = Directory::from_entries(http_client().unwrap(), entries.clone());
    let store = Arc::new(Mutex::new(Store::open_in_memory().unwrap()));
    let targets = entries.iter().map(|e| e.0.clone()).collect();
    let req = RolloutRequest {
        name: "digits".into(),
        ..RolloutRequest::for_file(assets().join("mlp_digits.onnx"), targets, RolloutPlan::default())
    };
    run_rollout(store, directory.clone(), req, Arc::new(|_| {})).await.unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw_addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let gw = tokio::spawn(run_gateway(listener, GatewayConfig::new("digits", directory), async move {
        let _ = stopped.await;
    }));

    let row: Vec<f32> = std::fs::read_to_string(assets().join("digits_eval.csv"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .split(',')
        .take(64)
        .map(|x| x.trim().parse().unwrap())
        .collect();
    let body = serde_json::to_vec(&serde_json::json!({ "inputs": [row] })).unwrap();
    let http = reqwest::Client::builder().no_proxy().tcp_nodelay(true).build().unwrap();
    let direct_url = format!("http://{}/v1/predict/digits", entries[0].1);
    let gw_url = format!("http://{gw_addr}/v1/predict/digits");
    let time = |url: String, token: bool| {
        let (http, body) = (http.clone(), body.clone());
        async move {
            let mut ms = Vec::new();
            for i in 0..1100 {
                let mut r = http.post(&url).header("content-type", "application/json").body(body.clone());
                if token {
                    r = r.bearer_auth(TOKEN);
                }
                let t = Instant::now();
                let resp = r.send().await.unwrap();
                assert!(resp.status().is_success());
                resp.bytes().await.unwrap();
                if i >= 100 {
                    ms.push(t.elapsed().as_secs_f64() * 1e3);
                }
            }
            ms
        }
    };
    let direct = time(direct_url, true).await;
    let via = time(gw_url, false).await;
    let (d50, g50) = (percentile(&direct, 0.5), percentile(&via, 0.5));
    println!(
        "predict, 1 row, 1000 sequential requests: direct p50 {d50:.3} ms p99 {:.3} ms; via gateway p50 {g50:.3} ms p99 {:.3} ms → p50 ratio {:.2}× (+{:.3} ms)",
        percentile(&direct, 0.99),
        percentile(&via, 0.99),
        g50 / d50,
        g50 - d50
    );
    let _ = stop.send(());
    gw.await.unwrap().unwrap();
    fleet.shutdown().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // The split's children: this example again, serving sinks or agents.
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2).and_then(|n| n.parse::<usize>().ok())) {
        (Some("--sinks"), Some(n)) => return split::serve_sinks(n).await,
        (Some("--agents"), Some(n)) => return split::serve_agents(n).await,
        _ => {}
    }
    let mb: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100);
    let dir = tempfile::tempdir().unwrap();
    let file = padded_model(dir.path(), mb * 1_000_000);
    let size = std::fs::metadata(&file).unwrap().len();
    let sha = edgefleet_fleet::rollout::sha256_file(&file).unwrap();
    upload_vs_curl(&file, &sha, size).await;
    fleet_rollout(&file, size).await;
    split::console_side(&file, &sha, size, &[1, 5, 20]).await;
    split::agent_side(&file, &sha, size, &[1, 5, 20]).await;
    gateway_overhead().await;
}
