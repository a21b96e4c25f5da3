//! The memory half of a device's calibration: the memory a benchmark
//! measured around loading a model and at each batch becomes the device's
//! runtime overhead, weight copies and activation factor.
//!
//! The model (see [`super::FitConfig`]): at batch `b` a model takes
//! `copies_loaded × weights + overhead + [b > 1] × copies_per_batch_size ×
//! weights + b × activations × factor`. Per run, the points above batch 1
//! give the slope (per-sample memory, hence the factor); batch 1 less one
//! sample gives `copies_loaded × weights + overhead`; the first point above
//! batch 1, less its activations, minus that gives the extra plan's copy.
//! Over runs: when their weights differ enough, a straight line through
//! (weights, batch-1 base) separates copies from overhead; else copies keep
//! the configured figure and the overhead is what is left (median). The
//! factor and the extra copies are medians.
//!
//! Two kinds of run: an agent that counts its heap allocations reports the
//! heap bytes before and after loading and heap peaks per batch
//! ([`BenchmarkMemory::heap`]); nothing is reused there, so every such run
//! counts, small models included. Older agents (and runtimes that allocate
//! outside the count) report resident memory (RSS) only; a run whose RSS
//! grew by less than half its weights (or 0.25 MB) on loading — the
//! allocator reused freed memory — did not measure the model and is left
//! out.

use super::benchmark_run::BenchmarkRun;
use super::config::BYTES_PER_MB;
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

/// What the runs taught about memory; `None` where they said nothing.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(super) struct MemoryFit {
    pub overhead_mb: Option<f64>,
    pub activation_factor: Option<f64>,
    pub copies_loaded: Option<f64>,
    pub copies_per_batch_size: Option<f64>,
}

/// Weights below this (MB) are too small to count copies of.
const MIN_WEIGHTS_FOR_COPIES_MB: f64 = 0.25;

/// One run's memory figures: weights, base at batch 1 (copies + overhead),
/// the extra plan's memory, and memory per sample, MB.
struct RunMemory {
    weights_mb: f64,
    base_mb: Option<f64>,
    plan_mb: Option<f64>,
    per_sample_mb: Option<f64>,
}

fn run_memory(run: &BenchmarkRun) -> Option<RunMemory> {
    let mem = run.memory.as_ref()?;
    let weights_mb = run.weights_bytes as f64 / BYTES_PER_MB;
    measured_load_mb(mem, weights_mb)?;
    let mut pts: Vec<(f64, f64)> =
        run.results.iter().filter_map(|r| r.peak_mb.map(|p| (f64::from(r.batch), p))).collect();
    if pts.is_empty() || pts.iter().any(|(_, y)| !y.is_finite()) {
        return None;
    }
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let above1: Vec<(f64, f64)> = pts.iter().copied().filter(|&(b, _)| b > 1.0).collect();
    // Slope over the batches above 1 (each holds its plan, so they differ by
    // activations alone).
    let per_sample_mb = match (above1.first(), above1.last()) {
        (Some(&(b0, y0)), Some(&(b1, y1))) if b1 > b0 => Some(((y1 - y0) / (b1 - b0)).max(0.0)),
        _ => None,
    };
    let at1 = pts.iter().find(|&&(b, _)| b == 1.0).map(|&(_, y)| y);
    let base_mb = at1.map(|y| (y - per_sample_mb.unwrap_or(0.0)).max(0.0));
    let plan_mb = match (base_mb, per_sample_mb, above1.first()) {
        (Some(base), Some(s), Some(&(b, y))) => Some((y - s * b - base).max(0.0)),
        _ => None,
    };
    Some(RunMemory { weights_mb, base_mb, plan_mb, per_sample_mb })
}

/// The device's memory figures from the runs that carry memory (see the
/// module doc); `copies_loaded` is the configured figure, used when the
/// runs cannot separate copies from overhead.
pub(super) fn fit_memory(runs: &[BenchmarkRun], copies_loaded: f64) -> MemoryFit {
    let measured: Vec<RunMemory> = runs.iter().filter_map(run_memory).collect();
    let factors: Vec<f64> = runs
        .iter()
        .zip(runs.iter().map(run_memory))
        .filter_map(|(run, m)| {
            let s = m?.per_sample_mb?;
            (run.activation_bytes_per_sample > 0).then(|| s * BYTES_PER_MB / run.activation_bytes_per_sample as f64)
        })
        .collect();
    let bases: Vec<(f64, f64)> = measured.iter().filter_map(|m| Some((m.weights_mb, m.base_mb?))).collect();
    let (copies, overhead_mb) = match line_through(&bases) {
        Some((slope, intercept)) => (Some(slope), Some(intercept)),
        None => (None, median(bases.iter().map(|(w, base)| (base - copies_loaded * w).max(0.0)).collect())),
    };
    let plan_copies = median(
        measured
            .iter()
            .filter(|m| m.weights_mb >= MIN_WEIGHTS_FOR_COPIES_MB)
            .filter_map(|m| Some(m.plan_mb? / m.weights_mb))
            .collect(),
    );
    MemoryFit {
        overhead_mb,
        activation_factor: median(factors),
        copies_loaded: copies,
        copies_per_batch_size: plan_copies,
    }
}

/// Least squares `base = copies × weights + overhead` when the weights
/// differ enough to tell the two apart (the largest ≥ twice the smallest
/// and ≥ [`MIN_WEIGHTS_FOR_COPIES_MB`] apart); the copies at least 1 and
/// the overhead at least 0.
fn line_through(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let (lo, hi) = points.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &(w, _)| (lo.min(w), hi.max(w)));
    if points.len() < 2 || hi < 2.0 * lo || hi - lo < MIN_WEIGHTS_FOR_COPIES_MB {
        return None;
    }
    let n = points.len() as f64;
    let (mw, mb) = points.iter().fold((0.0, 0.0), |(a, b), &(w, y)| (a + w / n, b + y / n));
    let (sxy, sxx) =
        points.iter().fold((0.0, 0.0), |(sxy, sxx), &(w, y)| (sxy + (w - mw) * (y - mb), sxx + (w - mw).powi(2)));
    let slope = (sxy / sxx).max(1.0);
    Some((slope, (mb - slope * mw).max(0.0)))
}

#[cfg(test)]
#[path = "memory_calibration_tests.rs"]
mod tests;
