//! How true the fit is on this machine: a real agent on 127.0.0.1
//! benchmarks five models of different shapes at batch 1, 8, 32 and 128
//! (`POST /v1/benchmark`, p50 of 30 calls, in 7 rounds over all models,
//! each (model, batch) keeping its fastest p50; memory from the agent's
//! RSS in the first round),
//! and each is estimated from the agent's `/v1/info` three ways:
//!
//! - uncalibrated: `estimate_fit` (the probe's one-thread GFLOP/s, the
//!   measured per-call overhead, the scheduler share at the live load);
//! - calibrated on one *other* model (the next one in the list):
//!   `estimate_fit_calibrated` with `DeviceCalibration::from_runs`;
//! - calibrated on all the other models (leave this one out).
//!
//! The reference is the measurement in the same run: the table prints the
//! estimate's middle ÷ measured, whether the range holds the measurement,
//! and the absolute figures; memory is the estimate at the batch against
//! the measured peak RSS above the pre-load RSS.
//!
//! ```text
//! cargo run -p edgefleet-agent --example fit_accuracy
//! ```

#[path = "../tests/common/dense.rs"]
mod dense;

use anyhow::{Context, Result};
use edgefleet_agent::{AgentConfig, detect_device, spawn};
use edgefleet_core::fit::{BenchmarkRun, DeviceCalibration, Fit, FitConfig, estimate_fit, estimate_fit_calibrated};
use edgefleet_core::wire::{BenchmarkResponse, InfoResponse};
use edgefleet_core::{DeviceType, OptimizationKind};
use edgefleet_optimize::{apply_recipe, decode_model, encode_model, inspect_bytes};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

const BATCHES: [u32; 4] = [1, 8, 32, 128];
const ITERATIONS: u32 = 30;
/// Rounds over all the models; each (model, batch) keeps its fastest p50.
const ROUNDS: usize = 7;

fn assets() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/models")
}

/// The models: (name, ONNX bytes).
fn models() -> Result<Vec<(&'static str, Vec<u8>)>> {
    let wide = dense::dense_mlp(&[64, 1024, 512, 10], 7);
    let pruned = apply_recipe(&decode_model(&wide)?, &[OptimizationKind::PruneStructured { ratio: 0.5 }])?;
    Ok(vec![
        ("mlp_digits", std::fs::read(assets().join("mlp_digits.onnx")).context("assets/models/mlp_digits.onnx")?),
        ("cnn_digits", std::fs::read(assets().join("cnn_digits.onnx")).context("assets/models/cnn_digits.onnx")?),
        ("wide_mlp", wide),
        ("wide_mlp_pruned50", encode_model(&pruned)),
        ("deep_mlp", dense::dense_mlp(&[256, 256, 256, 256, 256, 10], 9)),
    ])
}

fn row_of(fit: &Fit, batch: u32, measured_ms: f64) -> String {
    match fit.at_batch(batch) {
        Some(e) => format!(
            "{:>7.3}–{:<7.3} {:>5.2} {}",
            e.latency_ms.low,
            e.latency_ms.high,
            e.latency_ms.mid() / measured_ms,
            if e.latency_ms.contains(measured_ms) { "yes" } else { "NO " }
        ),
        None => format!("{:>25}", "(batch not listed)"),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let device = detect_device("fit-accuracy", DeviceType::EdgeServer, dir.path())?;
    let agent = spawn(AgentConfig::new(device, dir.path().join("agent"))).await?;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", agent.base_url());
    let models = models()?;
    for (name, bytes) in &models {
        let sha = hex::encode(Sha256::digest(bytes));
        http.put(url(&format!("/v1/models/{name}/1")))
            .bearer_auth(&agent.token)
            .header("x-content-sha256", sha)
            .body(bytes.clone())
            .send()
            .await?
            .error_for_status()?;
    }
    // Rounds over every model, each keeping the fastest p50 per batch: on
    // a machine other work shares, one model's benchmark may fall in a
    // busy second and another's in a quiet one; the estimate is for the
    // device's state, not for whoever else ran then.
    let mut best: Vec<Option<BenchmarkResponse>> = vec![None; models.len()];
    for _round in 0..ROUNDS {
        for (i, (name, _)) in models.iter().enumerate() {
            http.post(url(&format!("/v1/models/{name}/activate")))
                .bearer_auth(&agent.token)
                .json(&json!({"version": "1"}))
                .send()
                .await?
                .error_for_status()?;
            let bench: BenchmarkResponse = http
                .post(url(&format!("/v1/benchmark/{name}")))
                .bearer_auth(&agent.token)
                .json(&json!({"batch_sizes": BATCHES, "iterations": ITERATIONS}))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            best[i] = Some(match best[i].take() {
                None => bench,
                Some(mut kept) => {
                    for (k, new) in kept.results.iter_mut().zip(&bench.results) {
                        if new.latency_ms_p50 < k.latency_ms_p50 {
                            k.latency_ms_p50 = new.latency_ms_p50;
                            k.latency_ms_p90 = new.latency_ms_p90;
                        }
                    }
                    kept
                }
            });
        }
    }
    let mut runs = Vec::new();
    for ((name, bytes), bench) in models.iter().zip(best) {
        let bench = bench.context("no benchmark")?;
        runs.push((inspect_bytes(bytes, name)?, bench));
    }
    let info: InfoResponse =
        http.get(url("/v1/info")).bearer_auth(&agent.token).send().await?.error_for_status()?.json().await?;
    let d = &info.device;
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average (1, 5, 15 min): {}", loadavg.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    println!(
        "device: {} cores, probe {:.1} GFLOP/s one thread, {:.1} all cores, call overhead {:.4} ms, weights read at {:.1} GB/s, L2 {} KiB, load now {:.0}%",
        d.cpu_cores,
        d.gflops_per_thread.unwrap_or(0.0),
        d.gflops.unwrap_or(0.0),
        d.call_overhead_ms.unwrap_or(0.0),
        d.weight_read_gbps.unwrap_or(0.0),
        d.cache_kb.unwrap_or(0),
        d.current_load * 100.0
    );
    let cfg = FitConfig::default();
    println!(
        "\n{:<18} {:>5} {:>9} | {:^29} | {:<18} {:^29} | {:^29} | {:>7} {:>7} {:>7}",
        "model",
        "batch",
        "meas ms",
        "uncalibrated  mid÷meas in",
        "calibrated on",
        "range  mid÷meas in",
        "on all others  mid÷meas in",
        "mem est",
        "cal est",
        "meas MB"
    );
    let (mut inside, mut within25, mut within25_all, mut cal_inside, mut mem_ok, mut total) = (0, 0, 0, 0, 0, 0);
    for (i, (profile, bench)) in runs.iter().enumerate() {
        let (other_profile, other_bench) = &runs[(i + 1) % runs.len()];
        let cal = DeviceCalibration::from_runs(&[BenchmarkRun::new(other_profile, other_bench)], d, &cfg)?;
        let others: Vec<BenchmarkRun> =
            runs.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, (p, b))| BenchmarkRun::new(p, b)).collect();
        let cal_others = DeviceCalibration::from_runs(&others, d, &cfg)?;
        let plain = estimate_fit(profile, d, &cfg);
        let calibrated = estimate_fit_calibrated(profile, d, &cfg, &cal);
        let calibrated_others = estimate_fit_calibrated(profile, d, &cfg, &cal_others);
        for r in &bench.results {
            let m = r.latency_ms_p50;
            let mem_est = plain.at_batch(r.batch).map_or(f64::NAN, |e| e.memory_mb);
            let mem_cal = calibrated.at_batch(r.batch).map_or(f64::NAN, |e| e.memory_mb);
            let mem_meas = r.peak_mb.unwrap_or(f64::NAN);
            println!(
                "{:<18} {:>5} {:>9.4} | {} | {:<18} {} | {} | {:>7.1} {:>7.1} {:>7.1}",
                profile.name,
                r.batch,
                m,
                row_of(&plain, r.batch, m),
                other_profile.name,
                row_of(&calibrated, r.batch, m),
                row_of(&calibrated_others, r.batch, m),
                mem_est,
                mem_cal,
                mem_meas
            );
            total += 1;
            inside += usize::from(plain.at_batch(r.batch).is_some_and(|e| e.latency_ms.contains(m)));
            let close = |f: &Fit| f.at_batch(r.batch).is_some_and(|e| (e.latency_ms.mid() / m - 1.0).abs() <= 0.25);
            within25 += usize::from(close(&calibrated));
            within25_all += usize::from(close(&calibrated_others));
            cal_inside += usize::from(calibrated.at_batch(r.batch).is_some_and(|e| e.latency_ms.contains(m)));
            mem_ok += usize::from((mem_est - mem_meas).abs() <= (0.25 * mem_meas).max(8.0));
        }
        if let Some(mem) = &bench.memory {
            println!(
                "{:<18} memory: RSS {:.1} → {:.1} MB on load (+{:.1} MB)",
                "", mem.rss_before_load_mb, mem.rss_after_load_mb, mem.load_mb
            );
        }
    }
    println!(
        "\nuncalibrated ranges holding the measurement: {inside}/{total}\n\
         calibrated on one other model: middles within ±25%: {within25}/{total}, ranges holding the measurement: {cal_inside}/{total}\n\
         calibrated on all other models: middles within ±25%: {within25_all}/{total}\n\
         uncalibrated memory within ±25% or 8 MB of the measured peak: {mem_ok}/{total}"
    );
    agent.shutdown().await;
    Ok(())
}
