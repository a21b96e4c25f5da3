//! The memory half of a device's calibration: the memory a benchmark
//! measured around loading a model and at each batch becomes the device's
//! runtime overhead and activation factor.
//!
//! Per run, the memory the model took at each batch (`peak_mb`) is fitted
//! to `weights + runtime overhead + batch × activations × factor`; the
//! medians over runs give the device's figures.
//!
//! Two kinds of run: an agent that counts its heap allocations reports the
//! heap bytes before and after loading and heap peaks per batch
//! ([`BenchmarkMemory::heap`]); nothing is reused there, so every such run
//! counts, small models included. Older agents (and runtimes that allocate
//! outside the count) report resident memory (RSS) only; a run whose RSS
//! grew by less than half its weights (or 0.25 MB) on loading — the
//! allocator reused freed memory — did not measure the model and is left
//! out.

use super::config::BYTES_PER_MB;
use super::device_calibration::BenchmarkRun;
use crate::wire::BenchmarkMemory;

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

/// What the model took on loading, MB, when the run measured it: the heap
/// growth when counted, else the RSS growth unless the allocator's reuse
/// hid it (see the module doc).
fn measured_load_mb(mem: &BenchmarkMemory, weights_mb: f64) -> Option<f64> {
    if let Some(heap) = mem.heap_load_mb() {
        return heap.is_finite().then_some(heap);
    }
    let rss = mem.load_mb;
    (rss.is_finite() && rss >= 0.5 * weights_mb && rss >= MIN_LOAD_MB).then_some(rss)
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
        let Some(load_mb) = measured_load_mb(mem, weights_mb) else { continue };
        if pts.iter().any(|(_, y)| !y.is_finite()) {
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
            _ => load_mb - weights_mb,
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

#[cfg(test)]
#[path = "memory_calibration_tests.rs"]
mod tests;
