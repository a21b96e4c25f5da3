//! The agent binary counts its heap (its `#[global_allocator]`), so
//! `/v1/benchmark` reports what a model really takes: the heap growth on
//! loading covers the weights (where resident memory, reused by the
//! allocator, may show nothing), and the per-batch peak grows with the
//! batch's activations. An agent run as a library (the console, these
//! tests' own process) does not count and says nothing about the heap.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod common;

use common::dense::dense_mlp;
use common::{assets_dir, sha256_hex, spawn_binary, start};
use edgefleet_core::FitConfig;
use edgefleet_core::wire::{BenchmarkMemory, BenchmarkResponse};
use edgefleet_optimize::inspect_bytes;
use serde_json::json;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Child;

const TOKEN: &str = "heap-benchmark-test-token";
const MB: f64 = 1024.0 * 1024.0;

/// The agent binary on tract (ONNX Runtime allocates outside the count),
/// killed when dropped.
struct Agent {
    child: Child,
    addr: SocketAddr,
    client: reqwest::Client,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_binary(data_dir: &Path) -> Agent {
    let args = ["--interface", "lo", "--name", "heap-test", "--runtime", "tract"];
    let (child, addr) = spawn_binary(data_dir, TOKEN, &args);
    Agent { addr, child, client: reqwest::Client::new() }
}

impl Agent {
    async fn install(&self, name: &str, bytes: &[u8]) {
        let r = self
            .client
            .put(format!("http://{}/v1/models/{name}/1", self.addr))
            .bearer_auth(TOKEN)
            .header("x-content-sha256", sha256_hex(bytes))
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let r = self
            .client
            .post(format!("http://{}/v1/models/{name}/activate", self.addr))
            .bearer_auth(TOKEN)
            .json(&json!({"version": "1"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    async fn benchmark(&self, name: &str, batches: &[u32]) -> BenchmarkResponse {
        let r = self
            .client
            .post(format!("http://{}/v1/benchmark/{name}", self.addr))
            .bearer_auth(TOKEN)
            .json(&json!({"batch_sizes": batches, "iterations": 5}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }
}

fn heap_figures(bench: &BenchmarkResponse) -> (&BenchmarkMemory, f64) {
    let mem = bench.memory.as_ref().expect("a real agent reports memory");
    assert!(mem.heap(), "the agent binary counts its heap: {mem:?}");
    assert_eq!(mem.source(), "heap");
    (mem, mem.heap_load_mb().unwrap())
}

fn peaks(bench: &BenchmarkResponse) -> Vec<(u32, f64)> {
    bench.results.iter().map(|r| (r.batch, r.peak_mb.expect("a peak per batch"))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_binary_reports_what_a_model_takes_on_the_heap() {
    edgefleet_agent::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let agent = start_binary(dir.path());

    // The digits MLP: 68 KB of weights, which RSS does not see.
    let digits = std::fs::read(assets_dir().join("mlp_digits.onnx")).unwrap();
    let weights_mb = inspect_bytes(&digits, "digits").unwrap().weights_bytes as f64 / MB;
    agent.install("digits", &digits).await;
    let bench = agent.benchmark("digits", &[1, 8, 32]).await;
    assert!(!bench.synthetic);
    let (mem, load_mb) = heap_figures(&bench);
    assert!(load_mb >= weights_mb, "loading {weights_mb:.3} MB of weights grew the heap {load_mb:.3} MB: {mem:?}");
    assert!(load_mb < 4.0 * weights_mb + 8.0, "heap growth {load_mb:.3} MB for {weights_mb:.3} MB of weights");
    assert_eq!(peaks(&bench).len(), 3);

    // A wide layer: 4 MB of weights, 8 KB of hidden activations a sample,
    // so batch 256 takes megabytes more than batch 1.
    let wide = dense_mlp(&[512, 2048, 10], 7);
    let profile = inspect_bytes(&wide, "wide").unwrap();
    agent.install("wide", &wide).await;
    let bench = agent.benchmark("wide", &[1, 16, 256]).await;
    let (_, load_mb) = heap_figures(&bench);
    let wide_weights_mb = profile.weights_bytes as f64 / MB;
    assert!(load_mb >= wide_weights_mb && load_mb < 4.0 * wide_weights_mb + 8.0, "{load_mb:.3} MB");
    // What the estimator counts: the decoded model (shared by the runner
    // and tract's session) and the batch-1 plan each hold the weights —
    // a third copy (the runner's own decoded model) would be 3×.
    let copies = FitConfig::default().weights_copies_loaded;
    assert!(
        (load_mb / wide_weights_mb - copies).abs() < 0.3,
        "heap growth {load_mb:.3} MB = {:.2} × the weights, the estimator counts {copies}",
        load_mb / wide_weights_mb
    );
    let p = peaks(&bench);
    assert!(p.windows(2).all(|w| w[1].1 > w[0].1), "the peak grows with the batch: {p:?}");
    // At least half of the profile's activations per extra sample.
    let act_mb = profile.peak_activation_bytes_per_sample as f64 / MB;
    let grew_mb = p[2].1 - p[0].1;
    assert!(grew_mb >= 0.5 * 255.0 * act_mb, "batch 256 over batch 1: {grew_mb:.3} MB, profile {act_mb:.4} MB/sample");
    // Batch 16 brings its own plan: another copy of the weights over batch 1.
    let plan_mb = p[1].1 - p[0].1 - 15.0 * act_mb;
    assert!(plan_mb > 0.7 * wide_weights_mb, "batch 16's plan: {plan_mb:.3} MB for {wide_weights_mb:.3} MB of weights");
}

#[tokio::test]
async fn an_agent_in_a_process_that_does_not_count_reports_resident_memory_only() {
    // This test binary has the system allocator: the library must not
    // report zeros as heap figures.
    let agent = start("no-heap", |_| {}).await;
    let digits = std::fs::read(assets_dir().join("mlp_digits.onnx")).unwrap();
    agent.install("digits", "1", digits, None).await;
    let bench = agent.benchmark("digits", &[1, 8], 3).await;
    let mem = bench.memory.expect("RSS on Linux");
    assert!(!mem.heap() && mem.heap_before_load_mb.is_none(), "{mem:?}");
    assert_eq!(mem.source(), "RSS");
}
