//! HTTP predict overhead per runtime: a real agent on 127.0.0.1 serving
//! the shipped digits MLP, `POST /v1/predict` p50 against the runtime call
//! alone (the same `Runner` in-process), at batch 1 and 540, for tract and
//! ONNX Runtime (one thread). The difference is what the agent adds: JSON,
//! HTTP, the offload check and the statistics.
//!
//! ```text
//! cargo run --release -p edgefleet-agent --example bench_runtime_predict
//! ```

use anyhow::{Context, Result};
use edgefleet_agent::{AgentConfig, spawn};
use edgefleet_core::{Device, DeviceType};
use edgefleet_optimize::runtime::{RuntimeChoice, select};
use edgefleet_optimize::{Runner, Runtime};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn p50(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn http_p50_ms(runtime: Arc<dyn Runtime>, model: &[u8], rows: &[Vec<f32>], runs: usize) -> Result<f64> {
    let dir = tempfile::tempdir()?;
    let mut config = AgentConfig::new(Device::new("bench", DeviceType::EdgeServer, 2, 4096, 32.0), dir.path());
    config.benchmark_duration = Duration::from_millis(10);
    config.runtime = Some(edgefleet_optimize::runtime::Selected { runtime, why: "bench".into() });
    let agent = spawn(config).await?;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", agent.base_url());
    let sha = hex::encode(Sha256::digest(model));
    http.put(url("/v1/models/digits/1"))
        .bearer_auth(&agent.token)
        .header("x-content-sha256", sha)
        .body(model.to_vec())
        .send()
        .await?
        .error_for_status()?;
    http.post(url("/v1/models/digits/activate"))
        .bearer_auth(&agent.token)
        .json(&json!({"version": "1", "confidence_threshold": 0.0}))
        .send()
        .await?
        .error_for_status()?;
    let body = serde_json::to_vec(&json!({ "inputs": rows }))?;
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs + runs / 5 {
        let t = Instant::now();
        http.post(url("/v1/predict/digits"))
            .bearer_auth(&agent.token)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        if i >= runs / 5 {
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    agent.shutdown().await;
    Ok(p50(times))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/models");
    let model = std::fs::read(root.join("mlp_digits.onnx"))?;
    let eval = edgefleet_optimize::EvalData::from_path(&root.join("digits_eval.csv"))?;
    let mut runtimes = vec![select(RuntimeChoice::Tract, None, 1)?.runtime];
    match select(RuntimeChoice::Ort, None, 1) {
        Ok(s) => runtimes.push(s.runtime),
        Err(e) => println!("ONNX Runtime skipped: {e}"),
    }
    println!("mlp_digits on an agent at 127.0.0.1, p50 ms; overhead = HTTP predict − runtime call");
    println!(
        "{:<16}{:>7}{:>14}{:>14}{:>14}{:>9}",
        "runtime", "batch", "runtime call", "HTTP predict", "overhead", "ratio"
    );
    for rt in runtimes {
        let runner = Runner::load_bytes(rt.as_ref(), &model).context("loading the model")?;
        for (batch, runs) in [(1usize, 500usize), (540, 100)] {
            let rows: Vec<Vec<f32>> = (0..batch).map(|i| eval.rows[i % eval.rows.len()].clone()).collect();
            let flat: Vec<f32> = rows.iter().flatten().copied().collect();
            let call = p50(runner.session().benchmark(&runner.input_shape(batch), &flat, runs / 5, runs)?);
            let over_http = http_p50_ms(rt.clone(), &model, &rows, runs).await?;
            println!(
                "{:<16}{batch:>7}{call:>14.4}{over_http:>14.4}{:>14.4}{:>8.1}x",
                rt.label(),
                over_http - call,
                over_http / call
            );
        }
    }
    Ok(())
}
