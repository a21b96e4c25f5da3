//! Calibrating a *device* from benchmarks: what one or more models really
//! took on it (latency per batch, resident memory) becomes the device's
//! effective speed, per-call overhead and memory factors, so that a
//! benchmark of model A also narrows the estimate of model B there.
//!
//! Latency: the uncalibrated estimator splits a call into a per-call part
//! `O` (the device's one-node call overhead × the model's dispatched
//! nodes, plus reading the weights once) and compute `C(b)` (the model's
//! work — FLOPs plus its per-layer terms, see [`crate::LayerWork`] — × b
//! at one thread's probe speed ÷ the typical efficiency, on the idle
//! device). Every benchmarked point is fitted to
//! `latency = α × O + β_kind × C(b)` — least squares on the *relative*
//! error, so a 0.05 ms call counts as much as a 5 ms one. α and β are
//! properties of the device (how its runtime really dispatches and
//! computes), so they carry over to any other model: α always, β to
//! models of the kind (dense or convolutional) that was benchmarked with
//! compute a real part of the time — and to the other kind when no run of
//! that kind did, since the per-layer work already charges what makes a
//! convolution slower per FLOP. The calibrated range is the fitted value ±
//! the farthest any benchmarked point strayed from the fit, plus
//! [`CALIBRATION_MARGIN`] — plus [`TRANSFER_MARGIN`] for a model that was
//! not itself benchmarked. The scales absorb the load the device had while
//! benchmarked.
//!
//! Memory: see [`super::memory_calibration`] (runtime overhead and
//! activation factor from the resident memory the runs measured).

use super::benchmark_run::BenchmarkRun;
use super::config::{BYTES_PER_MB, CALIBRATION_MARGIN, FitConfig};
use super::factors::{DeviceFactors, ModelFactors, call_parts, energy_mj, is_convolutional, throughput_per_s};
use super::memory_calibration::fit_memory;
use super::report::{Calibration, Fit, Range, Reason, ReasonKind};
use super::{CalibrateError, estimate_fit};
use crate::device::Device;
use crate::model::{LayerWork, ModelProfile};
use serde::{Deserialize, Serialize};

/// What a device's benchmarks teach about it, for every model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceCalibration {
    /// Benchmark runs and (batch, latency) points used.
    pub runs: usize,
    pub points: usize,
    /// The benchmarked models, each named once, in first-seen order.
    pub models: Vec<String>,
    /// Measured per-call overhead ÷ the device's probe figure (α).
    pub overhead_scale: f64,
    /// Measured weight-reading time ÷ the uncalibrated figure (γ); `None`
    /// when no call depended on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_read_scale: Option<f64>,
    /// Measured compute time ÷ the uncalibrated middle (β), for dense and
    /// convolutional models; `None` when no run of that kind had compute
    /// as a real part of its time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dense_compute_scale: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conv_compute_scale: Option<f64>,
    /// The fitted per-call overhead, ms (α × the probe's figure).
    pub call_overhead_ms: f64,
    /// Effective GFLOP/s one dense inference call reached (fitted; the
    /// convolutional one when only convolutional models ran).
    pub gflops_per_call: f64,
    /// Measured ÷ fitted latency, smallest and largest over the points.
    pub ratio: Range,
    /// Memory the runtime keeps besides weights and activations, MB, when
    /// the agent reported memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_overhead_mb: Option<f64>,
    /// Resident activation memory per sample ÷ the profile's estimate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_factor: Option<f64>,
    /// Copies of the weights the runtime holds once a model is loaded, and
    /// more for a batch size other than 1, when the runs told them apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_copies_loaded: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_copies_per_batch_size: Option<f64>,
    /// Some run came from a simulated agent.
    #[serde(default)]
    pub synthetic: bool,
}

/// A run's model as the estimator sees it (only what the run carries).
fn run_profile(run: &BenchmarkRun) -> ModelProfile {
    ModelProfile {
        name: run.model.clone(),
        params: 0,
        weights_bytes: run.weights_bytes,
        file_bytes: 0,
        flops_per_sample: run.flops_per_sample,
        peak_activation_bytes_per_sample: run.activation_bytes_per_sample,
        ops: if run.convolutional { vec!["Conv".into()] } else { Vec::new() },
        opset: None,
        inputs: Vec::new(),
        outputs: Vec::new(),
        target_device_types: Vec::new(),
        accuracy: None,
        work: run.work.clone(),
    }
}

/// The uncalibrated split of one call: overhead `O` (at batch 1 and
/// beyond) and compute per sample at the middle of the model's efficiency
/// range, on the idle device.
struct Structure {
    /// The per-call overhead of this model's graph at batch 1 and at
    /// larger batches, and reading its weights once.
    call_ms_batch1: f64,
    call_ms: f64,
    weights_ms: f64,
    compute_ms_per_sample: f64,
    convolutional: bool,
    /// ms per sample at the optimistic and pessimistic efficiency.
    ms_per_sample_fast: f64,
    ms_per_sample_slow: f64,
}

impl Structure {
    fn call_ms_at(&self, batch: u32) -> f64 {
        if batch == 1 { self.call_ms_batch1 } else { self.call_ms }
    }
}

fn structure(profile: &ModelProfile, device: &Device, cfg: &FitConfig) -> Structure {
    let idle = Device { current_load: 0.0, ..device.clone() };
    let d = DeviceFactors::new(&idle, cfg);
    let m = ModelFactors::new(profile, cfg);
    let at1 = call_parts(&m, &d, 1);
    let at2 = call_parts(&m, &d, 2);
    Structure {
        call_ms_batch1: at1.call_ms.max(1e-6),
        call_ms: at2.call_ms.max(1e-6),
        weights_ms: at2.weights_ms,
        compute_ms_per_sample: at2.compute_ms_per_sample,
        convolutional: m.convolutional,
        ms_per_sample_fast: m.work_flops * d.ms_per_flop / m.eff_high,
        ms_per_sample_slow: m.work_flops * d.ms_per_flop / m.eff_low,
    }
}

/// One latency point: the uncalibrated parts of the call (per-call
/// overhead, weight reading, dense compute, convolutional compute) and the
/// measured p50.
struct Point {
    parts_ms: [f64; PARTS],
    latency_ms: f64,
}

/// Weight of the pull towards the uncalibrated scales (see `fit_scales`).
const PRIOR_WEIGHT: f64 = 0.02;

/// The parts a call is split into, and their index in `Point::parts_ms`.
const PARTS: usize = 4;
const CALL: usize = 0;
const WEIGHTS: usize = 1;
const DENSE: usize = 2;
const CONV: usize = 3;

/// Extra margin either side for a model calibrated through others' runs.
pub const TRANSFER_MARGIN: f64 = 0.2;

/// A part's scale counts only when that part was at least this share of
/// some measured call (else the runs said nothing about it).
const MIN_COMPUTE_SHARE: f64 = 0.25;

impl DeviceCalibration {
    /// Fit the device's overhead and compute scales and memory factors to
    /// `runs` (benchmarks on `device`, whose probe figures the scales are
    /// relative to). Refuses (naming it) the first point that is not a
    /// measurement.
    pub fn from_runs(
        runs: &[BenchmarkRun],
        device: &Device,
        cfg: &FitConfig,
    ) -> Result<DeviceCalibration, CalibrateError> {
        let mut points = Vec::new();
        let mut index = 0;
        for run in runs {
            let st = structure(&run_profile(run), device, cfg);
            for r in &run.results {
                if r.batch == 0 {
                    return Err(CalibrateError::ZeroBatch { index });
                }
                if !(r.latency_ms_p50.is_finite() && r.latency_ms_p50 > 0.0) {
                    return Err(CalibrateError::BadLatency { index, batch: r.batch, latency_ms: r.latency_ms_p50 });
                }
                let compute = st.compute_ms_per_sample * f64::from(r.batch);
                let mut parts_ms = [st.call_ms_at(r.batch), st.weights_ms, 0.0, 0.0];
                parts_ms[if st.convolutional { CONV } else { DENSE }] = compute;
                points.push(Point { parts_ms, latency_ms: r.latency_ms_p50 });
                index += 1;
            }
        }
        if points.is_empty() {
            return Err(CalibrateError::Empty);
        }
        let scales = fit_scales(&points);
        // A part no measured call depended on keeps its uncalibrated value.
        let informative =
            |part: usize| points.iter().any(|p| scales[part] * p.parts_ms[part] >= MIN_COMPUTE_SHARE * p.latency_ms);
        let used = |part: usize| if informative(part) { Some(scales[part]) } else { None };
        let (weights, dense, conv) = (used(WEIGHTS), used(DENSE), used(CONV));
        let alpha = scales[CALL];
        let mut ratio = Range { low: f64::INFINITY, high: f64::NEG_INFINITY };
        for p in &points {
            let fitted = alpha * p.parts_ms[CALL]
                + weights.unwrap_or(1.0) * p.parts_ms[WEIGHTS]
                + dense.unwrap_or(1.0) * p.parts_ms[DENSE]
                + conv.unwrap_or(1.0) * p.parts_ms[CONV];
            let r = p.latency_ms / fitted.max(1e-9);
            ratio.low = ratio.low.min(r);
            ratio.high = ratio.high.max(r);
        }
        let mut models: Vec<String> = Vec::new();
        for run in runs {
            if !models.contains(&run.model) {
                models.push(run.model.clone());
            }
        }
        let memory = fit_memory(runs, cfg.weights_copies_loaded);
        // One GFLOP in one node: what the scales make of plain FLOPs.
        let reference = ModelProfile {
            flops_per_sample: 1_000_000_000,
            ops: Vec::new(),
            work: if runs[0].work.is_known() {
                LayerWork { nodes: 1, ..LayerWork::default() }
            } else {
                LayerWork::default()
            },
            ..run_profile(&runs[0])
        };
        let dense_st = structure(&reference, device, cfg);
        let gflops_per_call = match (dense, conv) {
            (Some(b), _) | (None, Some(b)) => 1000.0 / (b * dense_st.compute_ms_per_sample),
            (None, None) => 1000.0 / dense_st.compute_ms_per_sample,
        };
        Ok(DeviceCalibration {
            runs: runs.len(),
            points: points.len(),
            models,
            overhead_scale: alpha,
            weight_read_scale: weights,
            dense_compute_scale: dense,
            conv_compute_scale: conv,
            call_overhead_ms: alpha * dense_st.call_ms,
            gflops_per_call,
            ratio,
            runtime_overhead_mb: memory.overhead_mb,
            activation_factor: memory.activation_factor,
            weights_copies_loaded: memory.copies_loaded,
            weights_copies_per_batch_size: memory.copies_per_batch_size,
            synthetic: runs.iter().any(|r| r.synthetic),
        })
    }

    /// Calibrated latency range of one call of `profile` at `batch` on
    /// `device` (the device the calibration was made on).
    pub fn latency_ms(&self, profile: &ModelProfile, batch: u32, device: &Device, cfg: &FitConfig) -> Range {
        let st = structure(profile, device, cfg);
        let overhead =
            self.overhead_scale * st.call_ms_at(batch) + self.weight_read_scale.unwrap_or(1.0) * st.weights_ms;
        // A model that was not benchmarked differs from those that were in
        // ways the scales do not see (layer sizes, node count): wider.
        let margin =
            if self.models.contains(&profile.name) { CALIBRATION_MARGIN } else { CALIBRATION_MARGIN + TRANSFER_MARGIN };
        // Symmetric about the fitted value (which stays the middle): as far
        // as the farthest measurement strayed from the fit, plus the margin.
        let spread = (1.0 - self.ratio.low).max(self.ratio.high - 1.0).max(0.0) + margin;
        let (lo, hi) = ((1.0 - spread).max(0.05), 1.0 + spread);
        match self.compute_scale(st.convolutional) {
            Some(beta) => {
                let mid = overhead + beta * st.compute_ms_per_sample * f64::from(batch);
                Range { low: mid * lo, high: mid * hi }
            }
            // No run taught compute: the overhead is calibrated, compute
            // keeps its uncalibrated range.
            None => Range {
                low: overhead * lo + st.ms_per_sample_fast * f64::from(batch),
                high: overhead * hi + st.ms_per_sample_slow * f64::from(batch),
            },
        }
    }

    /// The compute scale for a model of this kind: its own kind's when a
    /// run of that kind taught it; else the other kind's — the profile's
    /// per-layer work already charges what makes convolutions slower per
    /// FLOP, so what is left (how fast this device runs the runtime's
    /// kernels now) is the device's, for either kind.
    fn compute_scale(&self, convolutional: bool) -> Option<f64> {
        if convolutional {
            self.conv_compute_scale.or(self.dense_compute_scale)
        } else {
            self.dense_compute_scale.or(self.conv_compute_scale)
        }
    }
}

/// Non-negative least squares of `latency = Σ scale × part` on relative
/// error, pulled gently towards the uncalibrated scales (1) — minimise
/// Σ (1 − Σ scale·part / latency)² + λ Σ (scale − 1)² — by trying every
/// subset of the parts the points have and keeping the best solution with
/// no negative scale (parts left out get 0; 4 parts: 15 subsets). The pull
/// settles what the points cannot tell apart (one model's overhead and
/// weight reading are both constant per call) without outweighing them.
fn fit_scales(points: &[Point]) -> [f64; PARTS] {
    let present: Vec<usize> = (0..PARTS).filter(|&j| points.iter().any(|p| p.parts_ms[j] > 0.0)).collect();
    let rel = |p: &Point, j: usize| p.parts_ms[j] / p.latency_ms;
    let error = |scales: &[f64; PARTS]| {
        let data: f64 =
            points.iter().map(|p| (1.0 - (0..PARTS).map(|j| scales[j] * rel(p, j)).sum::<f64>()).powi(2)).sum();
        data + PRIOR_WEIGHT * present.iter().map(|&j| (scales[j] - 1.0).powi(2)).sum::<f64>()
    };
    let mut best = ([0.0; PARTS], f64::INFINITY);
    for mask in 1u32..(1 << present.len()) {
        let cols: Vec<usize> =
            present.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, &j)| j).collect();
        let n = cols.len();
        // Normal equations (AᵀA) x = Aᵀ1 with A[i][k] = part_k / latency_i.
        let mut m = vec![vec![0.0; n + 1]; n];
        for p in points {
            for (r, &jr) in cols.iter().enumerate() {
                for (c, &jc) in cols.iter().enumerate() {
                    m[r][c] += rel(p, jr) * rel(p, jc);
                }
                m[r][n] += rel(p, jr);
            }
        }
        for (r, row) in m.iter_mut().enumerate() {
            row[r] += PRIOR_WEIGHT;
            row[n] += PRIOR_WEIGHT;
        }
        let Some(x) = solve(m) else { continue };
        if x.iter().any(|v| !v.is_finite() || *v < 0.0) {
            continue;
        }
        let mut scales = [0.0; PARTS];
        for (k, &j) in cols.iter().enumerate() {
            scales[j] = x[k];
        }
        let e = error(&scales);
        if e < best.1 {
            best = (scales, e);
        }
    }
    best.0
}

/// Gaussian elimination with partial pivoting of an n × (n + 1) augmented
/// matrix; `None` when singular.
fn solve(mut m: Vec<Vec<f64>>) -> Option<Vec<f64>> {
    let n = m.len();
    let norm = m.iter().flat_map(|row| row[..n].iter()).map(|v| v.abs()).fold(0.0, f64::max);
    for col in 0..n {
        let pivot = (col..n).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))?;
        if m[pivot][col].abs() <= 1e-12 * norm {
            return None;
        }
        m.swap(col, pivot);
        let pivot_row = m[col].clone();
        for (row, values) in m.iter_mut().enumerate() {
            if row != col {
                let f = values[col] / pivot_row[col];
                for (v, p) in values[col..].iter_mut().zip(&pivot_row[col..]) {
                    *v -= f * p;
                }
            }
        }
    }
    Some((0..n).map(|i| m[i][n] / m[i][i]).collect())
}

/// [`estimate_fit`] with the device's calibration: the runtime overhead
/// and activation factor it measured, latency from its fitted speed and
/// overhead (narrow) and a [`ReasonKind::Calibration`] reason naming the
/// runs and models. The calibration keeps only fitted figures: put this
/// model's own measurements next to the estimates with
/// [`attach_measurements`].
pub fn estimate_fit_calibrated(
    profile: &ModelProfile,
    device: &Device,
    cfg: &FitConfig,
    cal: &DeviceCalibration,
) -> Fit {
    let mut cfg = cfg.clone();
    if let Some(mb) = cal.runtime_overhead_mb {
        cfg.runtime_overhead_bytes = (mb * BYTES_PER_MB) as u64;
    }
    if let Some(c) = cal.weights_copies_loaded {
        cfg.weights_copies_loaded = c;
    }
    if let Some(c) = cal.weights_copies_per_batch_size {
        cfg.weights_copies_per_batch_size = c;
    }
    let profile_cal = match cal.activation_factor {
        Some(f) if f.is_finite() && f >= 0.0 => ModelProfile {
            peak_activation_bytes_per_sample: (profile.peak_activation_bytes_per_sample as f64 * f) as u64,
            ..profile.clone()
        },
        _ => profile.clone(),
    };
    let mut fit = estimate_fit(&profile_cal, device, &cfg);
    fit.model = profile.name.clone();
    if !fit.compatible {
        return fit;
    }
    for est in &mut fit.per_batch {
        let latency = cal.latency_ms(profile, est.batch, device, &cfg);
        est.latency_ms = latency;
        est.throughput_per_s = throughput_per_s(est.batch, latency);
        est.energy_mj = energy_mj(est.batch, latency, fit.compute_power_w);
    }
    fit.reasons.retain(|r| r.kind != ReasonKind::Calibration);
    let own = cal.models.contains(&profile.name);
    fit.reasons.push(calibration_reason(cal, &cfg, is_convolutional(profile), own));
    fit.calibration =
        Some(Calibration { points: cal.points, ratio: cal.ratio, runs: cal.runs, models: cal.models.clone() });
    fit
}

fn calibration_reason(cal: &DeviceCalibration, cfg: &FitConfig, convolutional: bool, own: bool) -> Reason {
    let calibrated_compute =
        if convolutional { cal.conv_compute_scale.is_some() } else { cal.dense_compute_scale.is_some() };
    let what = if cal.synthetic { "synthetic benchmark" } else { "run" };
    let kind_word = if convolutional { "convolutional" } else { "dense" };
    let other = if convolutional { cal.dense_compute_scale.is_some() } else { cal.conv_compute_scale.is_some() };
    let compute = if calibrated_compute {
        format!("work at {:.1} GFLOP/s", cal.gflops_per_call)
    } else if other {
        format!(
            "work at {:.1} GFLOP/s, learnt from {} models (none of this kind ran; the per-layer work counts the difference)",
            cal.gflops_per_call,
            if convolutional { "dense" } else { "convolutional" }
        )
    } else {
        format!("compute of {kind_word} models not calibrated (no run of one with compute a real part of its time)")
    };
    let mut message = format!(
        "calibrated from {} {what}(s) of model(s) {} on this device ({} points): one call ≈ {:.3} ms + {compute}; \
         measured ÷ fitted {:.2}–{:.2}, ranges ±{:.0}% beyond that{}",
        cal.runs,
        cal.models.join(", "),
        cal.points,
        cal.call_overhead_ms,
        cal.ratio.low,
        cal.ratio.high,
        CALIBRATION_MARGIN * 100.0,
        if own {
            String::new()
        } else {
            format!(" (+{:.0}%: this model was not benchmarked itself)", TRANSFER_MARGIN * 100.0)
        }
    );
    if cal.runtime_overhead_mb.is_some() || cal.activation_factor.is_some() {
        message.push_str(&format!(
            "; memory: weights × {:.1}{} + runtime overhead {:.1} MB{}",
            cfg.weights_copies_loaded,
            if cfg.weights_copies_per_batch_size > 0.0 {
                format!(" (+{:.1} beyond batch 1)", cfg.weights_copies_per_batch_size)
            } else {
                String::new()
            },
            cfg.runtime_overhead_bytes as f64 / BYTES_PER_MB,
            cal.activation_factor.map(|f| format!(", activations × {f:.2}")).unwrap_or_default()
        ));
    }
    Reason { kind: ReasonKind::Calibration, ok: true, message }
}

/// Fill `measured_latency_ms` of `fit` from `runs` of the same model.
pub fn attach_measurements(fit: &mut Fit, runs: &[BenchmarkRun]) {
    for est in &mut fit.per_batch {
        est.measured_latency_ms = runs
            .iter()
            .filter(|r| r.model == fit.model)
            .flat_map(|r| r.results.iter())
            .rev()
            .find(|r| r.batch == est.batch)
            .map(|r| r.latency_ms_p50);
    }
}

#[cfg(test)]
#[path = "device_calibration_tests.rs"]
mod tests;
