//! Calibration transfer from a dense model to a convolutional one against
//! a real agent on 127.0.0.1 (its own test binary: another test's agent in
//! the same process would reuse freed heap and hide this one's memory).
// A failed unwrap is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

mod common;

use common::dense::dense_mlp;
use common::{best_of_rounds, start};
use edgefleet_core::ModelProfile;
use edgefleet_core::fit::{BenchmarkRun, DeviceCalibration, FitConfig, estimate_fit, estimate_fit_calibrated};
use edgefleet_core::wire::InfoResponse;
use edgefleet_optimize::inspect_bytes;

const BATCHES: [u32; 4] = [1, 8, 32, 128];

fn profile(bytes: &[u8], name: &str) -> ModelProfile {
    inspect_bytes(bytes, name).unwrap()
}

/// Fastest p50 per batch over `rounds` benchmarks of each model, taken in
/// turn: another session's burst then slows one round, not the figure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dense_models_benchmark_calibrates_a_cnn_on_the_same_device() {
    let agent = start("fit-dense-to-conv", |_| {}).await;
    let dense = dense_mlp(&[256, 256, 256, 256, 256, 10], 9);
    let cnn =
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/models/cnn_digits.onnx"))
            .unwrap();
    agent.install("dense", "1", dense.clone(), None).await;
    agent.install("cnn", "1", cnn.clone(), None).await;
    let benches = best_of_rounds(&agent, &["dense", "cnn"], &BATCHES, 5).await;
    let info: InfoResponse = agent.get("/v1/info").send().await.unwrap().json().await.unwrap();
    let device = info.device;
    let (pd, pc) = (profile(&dense, "dense"), profile(&cnn, "cnn"));
    assert!(pc.work.conv_elements > 0 && pd.work.conv_elements == 0, "{:?} {:?}", pc.work, pd.work);
    let cfg = FitConfig::default();
    let cal = DeviceCalibration::from_runs(&[BenchmarkRun::new(&pd, &benches[0])], &device, &cfg).unwrap();
    assert!(cal.conv_compute_scale.is_none(), "only a dense model ran");
    let before = estimate_fit(&pc, &device, &cfg);
    let after = estimate_fit_calibrated(&pc, &device, &cfg, &cal);
    let (mut err_before, mut err_after, mut worst) = (0.0, 0.0, 0.0f64);
    for r in &benches[1].results {
        let (e0, e1) = (before.at_batch(r.batch).unwrap(), after.at_batch(r.batch).unwrap());
        let e = (e1.latency_ms.mid() / r.latency_ms_p50).ln().abs();
        err_before += (e0.latency_ms.mid() / r.latency_ms_p50).ln().abs();
        err_after += e;
        worst = worst.max(e);
        eprintln!(
            "cnn batch {}: measured {:.4} ms, uncalibrated middle {:.4}, calibrated on dense {:.4}",
            r.batch,
            r.latency_ms_p50,
            e0.latency_ms.mid(),
            e1.latency_ms.mid()
        );
    }
    eprintln!("dense measured: {:?}", benches[0].results.iter().map(|r| r.latency_ms_p50).collect::<Vec<_>>());
    // The CNN's compute is calibrated from the dense run (the reason says
    // so), not left at the uncalibrated range: on average within 1.8× and
    // never 2.2× off. The goal is ±25%, which `examples/fit_accuracy`
    // measures with more rounds; these bounds leave room for a busy
    // machine, and for this CNN, which some agent processes run about 1.7×
    // slower than others from start to end (seen on this 2-core host). The
    // exact transfer is checked in core's unit tests. Whether it beats the
    // uncalibrated middle is not asserted: that middle counts the live
    // load, which on a busy machine may happen to match.
    let n = benches[1].results.len() as f64;
    assert!(
        err_after / n < 1.8f64.ln(),
        "mean calibrated error ×{:.2} (uncalibrated ×{:.2})",
        (err_after / n).exp(),
        (err_before / n).exp()
    );
    assert!(worst < 2.2f64.ln(), "worst calibrated error ×{:.2}", worst.exp());
    assert!(after.reasons.iter().any(|r| r.message.contains("learnt from dense models")));
}
