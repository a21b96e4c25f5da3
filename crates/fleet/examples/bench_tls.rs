//! What TLS costs, measured side by side in one run on 127.0.0.1:
//! - upload throughput of the same file to an agent serving HTTPS and to
//!   the same agent code with `--insecure-http` (reference), through the
//!   console's own client (pinned TLS vs plain HTTP);
//! - keep-alive predict latency (1 row of the digits MLP), p50 and p90,
//!   HTTPS vs plain HTTP;
//! - pairing 40 simulated agents serving HTTPS the way `edgefleet pair` does
//!   (probe the key, check the token with exactly that key, pin the
//!   console's signing key), one after another and all at once.
//!
//! `cargo run -p edgefleet-fleet --example bench_tls [-- --mb 32 --rounds 3 --calls 500 --devices 40]`
//! (dev profile unless `--release` is given; the figures say which).

// A benchmark: a failed setup step should stop it at once.
#![allow(clippy::unwrap_used)]

use edgefleet_agent::{AgentConfig, AgentHandle, SimulateOptions, simulate, spawn};
use edgefleet_core::{Device, DeviceType};
use edgefleet_fleet::model_signing::ModelSigner;
use edgefleet_fleet::{AgentClient, http_client};
use std::path::Path;
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-tls-token-0123456789abcdef";

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn agent(dir: &Path, tls: bool) -> AgentHandle {
    let mut config = AgentConfig::new(Device::new("bench", DeviceType::EdgeServer, 2, 4096, 64.0), dir);
    config.token = Some(TOKEN.into());
    config.tls = tls;
    config.max_upload_bytes = 1 << 30;
    config.max_parts_bytes = 1 << 30;
    config.benchmark_duration = Duration::from_millis(10);
    spawn(config).await.unwrap()
}

fn client(a: &AgentHandle) -> AgentClient {
    let http = http_client().unwrap();
    let c = if a.tls {
        AgentClient::pinned(http, a.addr, &a.fingerprint, Some(TOKEN.into()))
    } else {
        AgentClient::new(http, a.addr, Some(TOKEN.into()))
    };
    c.timeout(Duration::from_secs(120))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (mb, rounds, calls, devices) = (arg("--mb", 32), arg("--rounds", 3), arg("--calls", 500), arg("--devices", 40));
    // The dev profile builds this workspace unoptimised but ring and rustls
    // optimised (Cargo.toml), as it does sha2 and tract.
    let profile = if cfg!(debug_assertions) { "dev (ring, rustls optimised)" } else { "release" };
    println!(
        "bench_tls: profile {profile}; upload {mb} MiB × {rounds} rounds; {calls} predict calls; {devices} devices"
    );
    let tmp = tempfile::tempdir().unwrap();
    let (tls_dir, plain_dir) = (tmp.path().join("tls"), tmp.path().join("plain"));
    let tls = agent(&tls_dir, true).await;
    let plain = agent(&plain_dir, false).await;
    let (tc, pc) = (client(&tls), client(&plain));

    // Upload throughput: a fresh version each round, alternating the two.
    let file = tmp.path().join("blob.bin");
    let bytes: Vec<u8> =
        (0..mb * 1024 * 1024).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1]).collect();
    std::fs::write(&file, &bytes).unwrap();
    let sha = edgefleet_core::sha256_hex(&bytes);
    drop(bytes);
    let (mut tls_mbs, mut plain_mbs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for (c, out) in [(&tc, &mut tls_mbs), (&pc, &mut plain_mbs)] {
            let started = Instant::now();
            c.upload_model("blob", &format!("r{round}"), &file, &sha, |_, _| {}).await.unwrap();
            out.push(mb as f64 / started.elapsed().as_secs_f64());
            c.delete_model("blob", &format!("r{round}")).await.unwrap();
        }
    }
    let (tls_up, plain_up) = (median(tls_mbs), median(plain_mbs));

    // Keep-alive predict: the digits MLP, one row per call, after a warm-up.
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/models/mlp_digits.onnx");
    let model_sha = edgefleet_core::sha256_hex(&std::fs::read(&model).unwrap());
    let mut p50 = Vec::new();
    for c in [&tc, &pc] {
        c.upload_model("digits", "1", &model, &model_sha, |_, _| {}).await.unwrap();
        c.activate("digits", "1", None).await.unwrap();
    }
    for c in [&tc, &pc] {
        for _ in 0..50 {
            c.predict("digits", vec![vec![0.5; 64]]).await.unwrap();
        }
    }
    let (mut tls_ms, mut plain_ms) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
    for _ in 0..calls {
        for (c, out) in [(&tc, &mut tls_ms), (&pc, &mut plain_ms)] {
            let started = Instant::now();
            c.predict("digits", vec![vec![0.5; 64]]).await.unwrap();
            out.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    for v in [&mut tls_ms, &mut plain_ms] {
        v.sort_by(f64::total_cmp);
        p50.push((percentile(v, 0.5), percentile(v, 0.9)));
    }
    tls.shutdown().await;
    plain.shutdown().await;

    // Pairing 40 agents serving HTTPS: probe the key, check the token with
    // that key, pin the console's signing key.
    let fleet_dir = tmp.path().join("fleet");
    let mut opts = SimulateOptions::loopback(devices, &fleet_dir);
    opts.advertise = false;
    opts.tls = true;
    opts.token = Some(TOKEN.into());
    let fleet = simulate(opts).await.unwrap();
    let signer = ModelSigner::load_or_create(&tmp.path().join("model-signing.key")).unwrap();
    let http = http_client().unwrap();
    let pair = |a: &AgentHandle, replace: bool| {
        let (http, signer, addr) = (http.clone(), signer.clone(), a.addr);
        async move {
            let (_, key) = AgentClient::tls_probe(http.clone(), addr).health_and_key().await.unwrap();
            let key = key.unwrap();
            let c = AgentClient::pinned(http, addr, &key, Some(TOKEN.into())).with_signer(Some(signer));
            c.info().await.unwrap();
            c.trust(replace).await.unwrap();
        }
    };
    let started = Instant::now();
    for a in fleet.agents() {
        pair(a, false).await;
    }
    let one_by_one_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    futures_util::future::join_all(fleet.agents().iter().map(|a| pair(a, false))).await;
    let all_at_once_ms = started.elapsed().as_secs_f64() * 1e3;
    fleet.shutdown().await;

    println!(
        "upload  (median of {rounds}): TLS {tls_up:.1} MB/s, plain HTTP {plain_up:.1} MB/s, ratio {:.2}×",
        tls_up / plain_up
    );
    let ((tp50, tp90), (pp50, pp90)) = (p50[0], p50[1]);
    println!(
        "predict (keep-alive, {calls} calls): TLS p50 {tp50:.3} ms p90 {tp90:.3} ms; plain p50 {pp50:.3} ms p90 {pp90:.3} ms; p50 overhead {:+.3} ms ({:.2}×)",
        tp50 - pp50,
        tp50 / pp50
    );
    println!(
        "pairing {devices} HTTPS agents: one after another {one_by_one_ms:.0} ms ({:.1} ms each), all at once {all_at_once_ms:.0} ms",
        one_by_one_ms / devices as f64
    );
}
