//! Calibration: narrowing a [`Fit`]'s latency ranges with latencies the
//! device measured (`POST /v1/benchmark`).
//!
//! For each measurement the measured compute time (latency minus the fixed
//! overhead) is divided by the midpoint estimate; the smallest and largest
//! of those ratios, widened by [`CALIBRATION_MARGIN`] either side, scale the
//! compute part of every batch's estimate:
//!
//! - ratio = (measured latency − fixed overhead) ÷ (midpoint compute per
//!   sample × batch)
//! - calibrated latency(b) = midpoint compute per sample × b ×
//!   [ratio_min × (1 − margin), ratio_max × (1 + margin)] + fixed overhead

use super::config::CALIBRATION_MARGIN;
use super::explain::calibration_reason;
use super::factors::{energy_mj, throughput_per_s};
use super::report::{Calibration, Fit, Range, ReasonKind};
use crate::wire::BenchmarkResponse;

/// Why measurements could not be applied. The fit is left unchanged.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CalibrateError {
    #[error("no measurements to calibrate with")]
    Empty,
    #[error("the fit is incompatible: there are no estimates to calibrate")]
    Incompatible,
    #[error("measurement #{index}: batch must be at least 1")]
    ZeroBatch { index: usize },
    #[error("measurement #{index} (batch {batch}): latency must be a positive number of ms, got {latency_ms}")]
    BadLatency { index: usize, batch: u32, latency_ms: f64 },
}

/// Narrow the latency ranges of `fit` with latencies measured on the device,
/// as `(batch, latency_ms)` pairs (e.g. the p50 of `POST /v1/benchmark`).
///
/// The ratios and the margin are described in the module doc. The
/// uncalibrated estimate stays in `estimated_latency_ms` and each
/// measurement in `measured_latency_ms`. Calibrating again replaces the
/// previous calibration (its [`ReasonKind::Calibration`] reason included).
pub fn calibrate(fit: &mut Fit, measured: &[(u32, f64)]) -> Result<Calibration, CalibrateError> {
    if measured.is_empty() {
        return Err(CalibrateError::Empty);
    }
    if !fit.compatible {
        return Err(CalibrateError::Incompatible);
    }
    let ratio = measured_ratio(fit, measured)?;
    let scale = Range { low: ratio.low * (1.0 - CALIBRATION_MARGIN), high: ratio.high * (1.0 + CALIBRATION_MARGIN) };
    for est in &mut fit.per_batch {
        let compute_mid = fit.compute_ms_per_sample.mid() * est.batch as f64;
        let latency = Range {
            low: compute_mid * scale.low + fit.fixed_overhead_ms,
            high: compute_mid * scale.high + fit.fixed_overhead_ms,
        };
        est.latency_ms = latency;
        est.throughput_per_s = throughput_per_s(est.batch, latency);
        est.energy_mj = energy_mj(est.batch, latency, fit.compute_power_w);
        // The latest measurement at a batch size wins.
        est.measured_latency_ms = measured.iter().rev().find(|(b, _)| *b == est.batch).map(|&(_, l)| l);
    }
    fit.reasons.retain(|r| r.kind != ReasonKind::Calibration);
    fit.reasons.push(calibration_reason(measured, ratio, fit.max_batch));
    let calibration = Calibration { points: measured.len(), ratio, runs: 0, models: Vec::new() };
    fit.calibration = Some(calibration.clone());
    Ok(calibration)
}

/// Smallest and largest measured ÷ estimated compute time; refuses the
/// first bad measurement before anything is changed.
fn measured_ratio(fit: &Fit, measured: &[(u32, f64)]) -> Result<Range, CalibrateError> {
    let mut ratio = Range { low: f64::INFINITY, high: f64::NEG_INFINITY };
    for (index, &(batch, latency_ms)) in measured.iter().enumerate() {
        if batch == 0 {
            return Err(CalibrateError::ZeroBatch { index });
        }
        if !(latency_ms.is_finite() && latency_ms > 0.0) {
            return Err(CalibrateError::BadLatency { index, batch, latency_ms });
        }
        let estimated = fit.compute_ms_per_sample.mid() * batch as f64;
        // A measurement below the assumed overhead still says "faster than
        // thought"; keep a sliver of compute so the ratio stays positive.
        let measured_compute = (latency_ms - fit.fixed_overhead_ms).max(latency_ms * 0.01);
        let r = if estimated > 0.0 { measured_compute / estimated } else { 1.0 };
        ratio.low = ratio.low.min(r);
        ratio.high = ratio.high.max(r);
    }
    Ok(ratio)
}

/// [`calibrate`] with the p50 latencies of an agent's benchmark answer.
pub fn calibrate_from_benchmark(fit: &mut Fit, bench: &BenchmarkResponse) -> Result<Calibration, CalibrateError> {
    let measured: Vec<(u32, f64)> = bench.results.iter().map(|r| (r.batch, r.latency_ms_p50)).collect();
    calibrate(fit, &measured)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::fixtures::{big, mlp, sensor, server};
    use crate::fit::{FitConfig, estimate_fit};
    use crate::model::ModelProfile;

    #[test]
    fn calibration_narrows_and_keeps_estimate_and_measurement() {
        let p = ModelProfile { flops_per_sample: 1_000_000_000, ..mlp() };
        let mut fit = estimate_fit(&p, &server(), &FitConfig::default());
        let before = fit.per_batch[0].latency_ms;
        // One thread of 200 GFLOP/s ÷ 16 cores = 12.5 GFLOP/s; midpoint compute is
        // (53.3 + 320) / 2 ≈ 187 ms; measure 10.5 ms at batch 1.
        let cal = calibrate(&mut fit, &[(1, 10.5)]).unwrap();
        assert_eq!(cal.points, 1);
        let b1 = &fit.per_batch[0];
        assert_eq!(b1.measured_latency_ms, Some(10.5));
        assert_eq!(b1.estimated_latency_ms, before);
        assert!(b1.latency_ms.contains(10.5), "{:?}", b1.latency_ms);
        assert!(b1.latency_ms.width() < before.width() / 2.0);
        // Other batches are scaled too, without a measurement of their own.
        let b8 = fit.at_batch(8).unwrap();
        assert_eq!(b8.measured_latency_ms, None);
        // 8 × the measured 10.4 ms of compute, + the assumed 0.1 ms overhead.
        assert!(b8.latency_ms.contains(83.3), "{:?}", b8.latency_ms);
        assert!(fit.reasons.iter().any(|r| r.message.starts_with("calibrated with 1 measurement")));
        // Calibrating again replaces the old calibration.
        calibrate(&mut fit, &[(1, 10.5), (8, 100.0)]).unwrap();
        assert_eq!(fit.reasons.iter().filter(|r| r.message.starts_with("calibrated")).count(), 1);
        assert_eq!(fit.at_batch(8).unwrap().measured_latency_ms, Some(100.0));
    }

    #[test]
    fn recalibrating_replaces_only_the_calibration_reason() {
        let mut fit = estimate_fit(&mlp(), &server(), &FitConfig::default());
        let before = fit.reasons.clone();
        calibrate(&mut fit, &[(1, 0.7)]).unwrap();
        calibrate(&mut fit, &[(2, 0.9)]).unwrap();
        // Every check, the compute context among them, is still there, and
        // exactly one calibration reason follows them.
        assert_eq!(fit.reasons[..before.len()], before[..]);
        assert_eq!(fit.reasons.len(), before.len() + 1);
        assert_eq!(fit.reasons.iter().filter(|r| r.kind == ReasonKind::Calibration).count(), 1);
        assert!(fit.reasons.iter().any(|r| r.kind == ReasonKind::Info));
    }

    #[test]
    fn bad_measurements_change_nothing() {
        let mut fit = estimate_fit(&mlp(), &sensor(), &FitConfig::default());
        let orig = fit.clone();
        assert_eq!(calibrate(&mut fit, &[]), Err(CalibrateError::Empty));
        assert_eq!(calibrate(&mut fit, &[(1, 2.0), (0, 1.0)]), Err(CalibrateError::ZeroBatch { index: 1 }));
        assert!(matches!(calibrate(&mut fit, &[(1, f64::NAN)]), Err(CalibrateError::BadLatency { .. })));
        assert!(matches!(calibrate(&mut fit, &[(1, -3.0)]), Err(CalibrateError::BadLatency { .. })));
        assert_eq!(fit, orig);
        let mut bad = estimate_fit(&big(), &sensor(), &FitConfig::default());
        assert_eq!(calibrate(&mut bad, &[(1, 1.0)]), Err(CalibrateError::Incompatible));
    }

    #[test]
    fn benchmark_answers_calibrate() {
        let mut fit = estimate_fit(&mlp(), &sensor(), &FitConfig::default());
        let bench = BenchmarkResponse {
            model: "mlp".into(),
            version: "1".into(),
            results: vec![crate::wire::BatchLatency {
                batch: 32,
                latency_ms_p50: 2.0,
                latency_ms_p90: 2.5,
                peak_mb: None,
            }],
            memory: None,
            synthetic: false,
        };
        calibrate_from_benchmark(&mut fit, &bench).unwrap();
        assert_eq!(fit.at_batch(32).unwrap().measured_latency_ms, Some(2.0));
        assert!(fit.at_batch(32).unwrap().latency_ms.contains(2.0));
    }
}
