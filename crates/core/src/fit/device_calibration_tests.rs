//! Unit tests of the device calibration (kept apart to keep the module short).

use super::*;
use crate::fit::fixtures::{mlp, server};
use crate::wire::{BatchLatency, BenchmarkMemory};

/// A device whose calls take 0.08 ms + FLOPs at `gflops`, × `efficiency`
/// of the model.
fn truth_ms(flops_per_sample: u64, batch: u32, gflops: f64, efficiency: f64) -> f64 {
    0.08 + flops_per_sample as f64 * f64::from(batch) / (gflops * efficiency * 1e9) * 1000.0
}

fn model(name: &str, flops: u64, weights: u64, act: u64) -> ModelProfile {
    ModelProfile {
        name: name.into(),
        flops_per_sample: flops,
        weights_bytes: weights,
        peak_activation_bytes_per_sample: act,
        ..mlp()
    }
}

fn run_of(p: &ModelProfile, gflops: f64, efficiency: f64, memory: Option<(f64, f64)>) -> BenchmarkRun {
    // memory: (runtime overhead MB, activation factor) of the "device".
    let weights_mb = p.weights_bytes as f64 / BYTES_PER_MB;
    let results = [1u32, 8, 32, 128]
        .iter()
        .map(|&b| BatchLatency {
            batch: b,
            latency_ms_p50: truth_ms(p.flops_per_sample, b, gflops, efficiency),
            latency_ms_p90: truth_ms(p.flops_per_sample, b, gflops, efficiency) * 1.1,
            // tract's copies: 2 loaded, 1 more beyond batch 1.
            peak_mb: memory.map(|(o, f)| {
                2.0 * weights_mb
                    + o
                    + if b > 1 { weights_mb } else { 0.0 }
                    + f64::from(b) * p.peak_activation_bytes_per_sample as f64 * f / BYTES_PER_MB
            }),
        })
        .collect();
    BenchmarkRun {
        model: p.name.clone(),
        flops_per_sample: p.flops_per_sample,
        weights_bytes: p.weights_bytes,
        activation_bytes_per_sample: p.peak_activation_bytes_per_sample,
        results,
        memory: memory.map(|(o, _)| BenchmarkMemory {
            rss_before_load_mb: 20.0,
            rss_after_load_mb: 20.0 + 2.0 * weights_mb + o,
            load_mb: 2.0 * weights_mb + o,
            ..Default::default()
        }),
        synthetic: false,
        convolutional: false,
        work: p.work.clone(),
    }
}

#[test]
fn calibrating_on_model_a_moves_model_b_onto_its_measurement() {
    let a = model("wide", 2_400_000, 4 << 20, 8 << 10);
    let b = model("deep", 900_000, 2 << 20, 4 << 10);
    let device = server();
    let cfg = FitConfig::default();
    // The device really runs at 55 GFLOP/s per call; A at 100% of it, B at 85%.
    let cal = DeviceCalibration::from_runs(&[run_of(&a, 55.0, 1.0, None)], &device, &cfg).unwrap();
    assert_eq!((cal.runs, cal.points, cal.models.clone()), (1, 4, vec!["wide".to_owned()]));
    assert!((cal.gflops_per_call - 55.0).abs() < 0.5, "{}", cal.gflops_per_call);
    assert!((cal.call_overhead_ms - 0.08).abs() < 0.005, "{}", cal.call_overhead_ms);
    assert!(cal.dense_compute_scale.is_some() && cal.conv_compute_scale.is_none());

    let before = estimate_fit(&b, &device, &cfg);
    let after = estimate_fit_calibrated(&b, &device, &cfg, &cal);
    for batch in [1u32, 8, 32, 128] {
        let truth = truth_ms(b.flops_per_sample, batch, 55.0, 0.85);
        let (e0, e1) = (before.at_batch(batch).unwrap(), after.at_batch(batch).unwrap());
        let err0 = (e0.latency_ms.mid() / truth - 1.0).abs();
        let err1 = (e1.latency_ms.mid() / truth - 1.0).abs();
        assert!(err1 < err0, "batch {batch}: calibrated error {err1} not below {err0}");
        assert!(err1 < 0.25, "batch {batch}: calibrated mid {} vs {truth}", e1.latency_ms.mid());
        assert!(e1.latency_ms.width() < e0.latency_ms.width() / 2.0, "batch {batch}");
        // The uncalibrated estimate is kept next to the calibrated one.
        assert_eq!(e1.estimated_latency_ms, e0.estimated_latency_ms);
    }
    let reason = after.reasons.iter().find(|r| r.kind == ReasonKind::Calibration).expect("calibration reason");
    assert!(reason.message.starts_with("calibrated from 1 run(s) of model(s) wide"), "{}", reason.message);
    let c = after.calibration.as_ref().unwrap();
    assert_eq!((c.runs, c.models.clone()), (1, vec!["wide".to_owned()]));
}

#[test]
fn calibrated_range_contains_the_measured_value_of_the_model_itself() {
    let a = model("a", 1_200_000, 2 << 20, 4 << 10);
    let run = run_of(&a, 40.0, 1.0, None);
    let cfg = FitConfig::default();
    let cal = DeviceCalibration::from_runs(std::slice::from_ref(&run), &server(), &cfg).unwrap();
    let mut fit = estimate_fit_calibrated(&a, &server(), &cfg, &cal);
    attach_measurements(&mut fit, std::slice::from_ref(&run));
    for r in &run.results {
        let est = fit.at_batch(r.batch).unwrap();
        assert_eq!(est.measured_latency_ms, Some(r.latency_ms_p50));
        assert!(est.latency_ms.contains(r.latency_ms_p50), "{:?} vs {}", est.latency_ms, r.latency_ms_p50);
        assert!(est.latency_ms.width() <= 0.25 * r.latency_ms_p50, "narrow: {:?}", est.latency_ms);
    }
}

#[test]
fn memory_factors_come_from_the_measured_rss() {
    let a = model("a", 1_200_000, 3 << 20, 16 << 10);
    let b = model("b", 600_000, 1 << 20, 64 << 10);
    // The device: 6 MB runtime overhead, activations take 2.5× the profile's.
    let cal =
        DeviceCalibration::from_runs(&[run_of(&a, 40.0, 1.0, Some((6.0, 2.5)))], &server(), &FitConfig::default())
            .unwrap();
    assert!((cal.runtime_overhead_mb.unwrap() - 6.0).abs() < 1e-6);
    assert!((cal.activation_factor.unwrap() - 2.5).abs() < 1e-6);
    let fit = estimate_fit_calibrated(&b, &server(), &FitConfig::default(), &cal);
    // b: 1 MB of weights × (2 + 1 beyond batch 1) + 6 MB + activations.
    let want_b128 = 3.0 + 6.0 + 128.0 * 64.0 * 2.5 / 1024.0;
    assert!(
        (fit.at_batch(128).unwrap().memory_mb - want_b128).abs() < 0.01,
        "{}",
        fit.at_batch(128).unwrap().memory_mb
    );
    assert!(fit.reasons.iter().any(|r| r.message.contains("runtime overhead 6.0 MB, activations × 2.50")));
    // A run whose RSS did not grow by its weights (reused heap) says nothing about memory.
    let mut reused = run_of(&a, 40.0, 1.0, Some((6.0, 2.5)));
    reused.memory.as_mut().unwrap().load_mb = 0.0;
    let cal = DeviceCalibration::from_runs(&[reused], &server(), &FitConfig::default()).unwrap();
    assert_eq!((cal.runtime_overhead_mb, cal.activation_factor), (None, None));
    assert_eq!((cal.weights_copies_loaded, cal.weights_copies_per_batch_size), (None, None));
}

#[test]
fn bad_runs_are_refused_and_synthetic_is_said() {
    let (d, cfg) = (server(), FitConfig::default());
    assert_eq!(DeviceCalibration::from_runs(&[], &d, &cfg), Err(CalibrateError::Empty));
    let mut run = run_of(&model("a", 1000, 0, 0), 10.0, 1.0, None);
    run.results[2].latency_ms_p50 = f64::NAN;
    let err = DeviceCalibration::from_runs(&[run], &d, &cfg);
    assert!(matches!(err, Err(CalibrateError::BadLatency { index: 2, batch: 32, .. })));
    let mut run = run_of(&model("a", 1_000_000, 0, 0), 10.0, 1.0, None);
    run.synthetic = true;
    let cal = DeviceCalibration::from_runs(&[run], &d, &cfg).unwrap();
    let fit = estimate_fit_calibrated(&mlp(), &server(), &FitConfig::default(), &cal);
    assert!(fit.reasons.iter().any(|r| r.message.contains("synthetic benchmark(s)")));
}

#[test]
fn one_batch_size_alone_still_calibrates() {
    let (d, cfg) = (server(), FitConfig::default());
    let p = model("a", 5_000_000, 0, 0);
    let mut run = run_of(&p, 20.0, 1.0, None);
    run.results.truncate(1);
    let cal = DeviceCalibration::from_runs(std::slice::from_ref(&run), &d, &cfg).unwrap();
    let r = cal.latency_ms(&p, 1, &d, &cfg);
    assert!(r.contains(run.results[0].latency_ms_p50), "{r:?}");
}

#[test]
fn a_dense_run_calibrates_a_convolutional_model_through_the_per_layer_work() {
    let (d, cfg) = (server(), FitConfig::default());
    // Counted work: a dense MLP and a small CNN of about the same FLOPs.
    let dense = ModelProfile {
        work: LayerWork { nodes: 4, matmul_rows: 3, elementwise_elements: 20, row_ops: 1, ..LayerWork::default() },
        ..model("dense", 2_000_000, 1 << 20, 0)
    };
    let conv = ModelProfile {
        ops: vec!["Conv".into(), "Relu".into()],
        work: LayerWork { nodes: 4, matmul_rows: 2, conv_elements: 4_000, elementwise_elements: 640, row_ops: 0 },
        ..model("conv", 2_000_000, 64 << 10, 0)
    };
    // This device runs everything the structure charges 1.3× slower than
    // its probe says, dispatch 0.7× as dear: both are the device's.
    let truth = |p: &ModelProfile, b: u32| {
        let st = structure(p, &d, &cfg);
        0.7 * st.call_ms_at(b) + 0.7 * st.weights_ms + 1.3 * st.compute_ms_per_sample * f64::from(b)
    };
    let mut run = run_of(&dense, 40.0, 1.0, None);
    for r in &mut run.results {
        r.latency_ms_p50 = truth(&dense, r.batch);
    }
    let cal = DeviceCalibration::from_runs(&[run], &d, &cfg).unwrap();
    assert!(cal.dense_compute_scale.is_some() && cal.conv_compute_scale.is_none());
    let fit = estimate_fit_calibrated(&conv, &d, &cfg, &cal);
    let reason = fit.reasons.iter().find(|r| r.kind == ReasonKind::Calibration).unwrap();
    assert!(reason.message.contains("learnt from dense models"), "{}", reason.message);
    let plain = estimate_fit(&conv, &d, &cfg);
    for b in [1u32, 8, 32, 128] {
        let (cal_mid, plain_mid) =
            (fit.at_batch(b).unwrap().latency_ms.mid(), plain.at_batch(b).unwrap().latency_ms.mid());
        let t = truth(&conv, b);
        assert!((cal_mid / t - 1.0).abs() < 0.05, "batch {b}: calibrated {cal_mid} vs truth {t}");
        assert!((cal_mid / t - 1.0).abs() < (plain_mid / t - 1.0).abs(), "batch {b}");
    }
}
