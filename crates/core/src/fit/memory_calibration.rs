//! The memory half of a device's calibration: the resident memory a
//! benchmark measured around loading a model and at each batch becomes the
//! device's runtime overhead and activation factor.
//!
//! Per run, the resident memory above the pre-load RSS at each batch is
//! fitted to `weights + runtime overhead + batch × activations × factor`;
//! the medians over runs give the device's figures. A run whose RSS grew
//! by less than its weights on loading (the allocator reused freed memory)
//! is left out.

use super::config::BYTES_PER_MB;
use super::device_calibration::BenchmarkRun;

/// Below this RSS growth on loading, a run says nothing about memory.
const MIN_LOAD_MB: f64 = 0.25;

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// Runtime overhead (MB) and activation factor from the runs that carry
/// memory figures: per run, peak(b) − weights against b.
pub(super) fn fit_memory(runs: &[BenchmarkRun]) -> (Option<f64>, Option<f64>) {
    let mut overheads = Vec::new();
    let mut factors = Vec::new();
    for run in runs {
        let Some(mem) = &run.memory else { continue };
        let weights_mb = run.weights_bytes as f64 / BYTES_PER_MB;
        let mut pts: Vec<(f64, f64)> =
            run.results.iter().filter_map(|r| r.peak_mb.map(|p| (f64::from(r.batch), p - weights_mb))).collect();
        if !mem.load_mb.is_finite() || pts.iter().any(|(_, y)| !y.is_finite()) {
            continue;
        }
        // Resident memory that grew by less than the weights on loading
        // means the allocator reused memory freed earlier: that run did not
        // measure this model's memory.
        if mem.load_mb < 0.5 * weights_mb || mem.load_mb < MIN_LOAD_MB {
            continue;
        }
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Slope over batches: per-sample resident memory.
        let slope_mb = match (pts.first(), pts.last()) {
            (Some(&(b0, y0)), Some(&(b1, y1))) if b1 > b0 => Some(((y1 - y0) / (b1 - b0)).max(0.0)),
            _ => None,
        };
        let intercept = match (slope_mb, pts.first()) {
            (Some(s), Some(&(b0, y0))) => y0 - s * b0,
            _ => mem.load_mb - weights_mb,
        };
        overheads.push(intercept.max(0.0));
        if let Some(s) = slope_mb
            && run.activation_bytes_per_sample > 0
        {
            factors.push(s * BYTES_PER_MB / run.activation_bytes_per_sample as f64);
        }
    }
    (median(overheads), median(factors))
}
