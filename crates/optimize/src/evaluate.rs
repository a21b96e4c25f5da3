//! Measuring a model on the runtime that loaded it (tract unless the caller
//! chose ONNX Runtime): accuracy (with a Wilson 95 % interval) on an
//! evaluation CSV, top-1 agreement and output differences against another
//! model, latency percentiles after warm-up at batch 1 and a larger batch
//! (one thread), and file size raw and zstd-compressed.
//!
//! The CSV holds one sample a line: the features, then the integer label
//! last (read by [`crate::csv_rows`]).

use crate::csv_rows::{CsvRows, parse_csv_rows};
use crate::error::{OptimizeError, Result};
use crate::runner::{Runner, top_class};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Labelled samples to evaluate on.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalData {
    pub rows: Vec<Vec<f32>>,
    pub labels: Vec<usize>,
}

impl EvalData {
    /// Read an evaluation CSV file.
    pub fn from_path(path: &Path) -> Result<EvalData> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| OptimizeError::Io { path: path.display().to_string(), source })?;
        EvalData::parse(&text, &path.display().to_string())
    }

    /// Parse CSV text; `source_name` names it in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<EvalData> {
        let err =
            |line: usize, reason: String| OptimizeError::EvalData { source_name: source_name.to_owned(), line, reason };
        let CsvRows { rows, labels, .. } = parse_csv_rows(text.as_bytes(), true).map_err(|e| err(e.line, e.reason))?;
        if rows.is_empty() {
            return Err(err(1, "no samples".into()));
        }
        Ok(EvalData { rows, labels })
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Check the rows fit a model.
    pub fn check_fits(&self, runner: &Runner) -> Result<()> {
        let want = runner.features_per_sample();
        match self.rows.first() {
            Some(r) if r.len() != want => Err(OptimizeError::BadInput(format!(
                "the evaluation rows have {} features but the model takes {want} per sample",
                r.len()
            ))),
            _ => Ok(()),
        }
    }
}

/// Top-1 accuracy with its Wilson score 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    pub value: f64,
    pub ci95_low: f64,
    pub ci95_high: f64,
    pub samples: usize,
}

impl Accuracy {
    pub fn new(correct: usize, samples: usize) -> Accuracy {
        let (lo, hi) = wilson_95(correct, samples);
        Accuracy {
            value: if samples == 0 { 0.0 } else { correct as f64 / samples as f64 },
            ci95_low: lo,
            ci95_high: hi,
            samples,
        }
    }
}

/// Wilson score interval at 95 % for `k` successes in `n` trials.
pub fn wilson_95(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let (n, p) = (n as f64, k as f64 / n as f64);
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Latency percentiles at one batch size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyStat {
    pub batch: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub runs: usize,
}

/// How much to run when timing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalConfig {
    pub warmup_runs: usize,
    pub timed_runs: usize,
    /// The larger batch timed besides batch 1.
    pub large_batch: usize,
    /// zstd level for the compressed size.
    pub zstd_level: i32,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig { warmup_runs: 10, timed_runs: 100, large_batch: 32, zstd_level: 19 }
    }
}

/// Run every sample; returns one output row per sample. A model with a
/// fixed batch runs in chunks of that batch (the last one zero-padded).
pub fn predict_all(runner: &Runner, rows: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
    let chunk = runner.fixed_batch().unwrap_or(64).max(1);
    let features = runner.features_per_sample();
    let mut outputs = Vec::with_capacity(rows.len());
    for part in rows.chunks(chunk) {
        let mut flat: Vec<f32> = part.iter().flatten().copied().collect();
        let batch = if runner.fixed_batch().is_some() { chunk } else { part.len() };
        flat.resize(batch * features, 0.0);
        let out = runner.run_flat(batch, &flat)?;
        outputs.extend(out.into_iter().take(part.len()));
    }
    Ok(outputs)
}

/// Accuracy of predictions against labels.
pub fn accuracy(outputs: &[Vec<f32>], labels: &[usize]) -> Accuracy {
    let correct = outputs.iter().zip(labels).filter(|(o, l)| top_class(o).map(|(k, _)| k) == Some(**l)).count();
    Accuracy::new(correct, labels.len())
}

/// Fraction of samples whose top-1 class is the same, and the largest
/// absolute difference between any two corresponding output values.
pub fn compare_outputs(a: &[Vec<f32>], b: &[Vec<f32>]) -> Result<(f64, f64)> {
    if a.len() != b.len() {
        return Err(OptimizeError::Runtime(format!("{} outputs against {}", a.len(), b.len())));
    }
    let (mut same, mut max_diff) = (0usize, 0f64);
    for (x, y) in a.iter().zip(b) {
        if x.len() != y.len() {
            return Err(OptimizeError::Runtime(format!(
                "output rows of {} and {} values cannot be compared",
                x.len(),
                y.len()
            )));
        }
        if top_class(x).map(|t| t.0) == top_class(y).map(|t| t.0) {
            same += 1;
        }
        for (u, v) in x.iter().zip(y) {
            max_diff = max_diff.max(f64::from((u - v).abs()));
        }
    }
    Ok((if a.is_empty() { 1.0 } else { same as f64 / a.len() as f64 }, max_diff))
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Time runs at one batch size after warm-up, through the runtime's
/// [`crate::runtime::Session::benchmark`]. `sample_rows` provides the
/// data (cycled); without rows a fixed pseudo-random input is used.
pub fn time_batch(runner: &Runner, batch: usize, sample_rows: &[Vec<f32>], cfg: &EvalConfig) -> Result<LatencyStat> {
    let features = runner.features_per_sample();
    let mut flat = Vec::with_capacity(batch * features);
    let mut seed: u32 = 0x9e37_79b9;
    for i in 0..batch {
        match sample_rows.get(i % sample_rows.len().max(1)) {
            Some(r) => flat.extend_from_slice(r),
            None => flat.extend((0..features).map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 8) as f32 / (1u32 << 24) as f32
            })),
        }
    }
    let mut times_ms =
        runner.session().benchmark(&runner.input_shape(batch), &flat, cfg.warmup_runs, cfg.timed_runs.max(1))?;
    times_ms.sort_by(f64::total_cmp);
    Ok(LatencyStat {
        batch,
        p50_ms: percentile(&times_ms, 0.5),
        p90_ms: percentile(&times_ms, 0.9),
        runs: times_ms.len(),
    })
}

/// Latency at batch 1 and at the large batch (or only at the model's fixed batch).
pub fn time_model(runner: &Runner, sample_rows: &[Vec<f32>], cfg: &EvalConfig) -> Result<Vec<LatencyStat>> {
    let batches = match runner.fixed_batch() {
        Some(b) => vec![b],
        None => vec![1, cfg.large_batch.max(2)],
    };
    batches.into_iter().map(|b| time_batch(runner, b, sample_rows, cfg)).collect()
}

/// zstd-compressed size of a file's bytes.
pub fn zstd_size(bytes: &[u8], level: i32) -> Result<u64> {
    zstd::bulk::compress(bytes, level).map(|c| c.len() as u64).map_err(|e| OptimizeError::Runtime(format!("zstd: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_the_textbook_value() {
        // 8 of 10: Wilson 95 % is about [0.490, 0.943].
        let (lo, hi) = wilson_95(8, 10);
        assert!((lo - 0.4902).abs() < 1e-3 && (hi - 0.9433).abs() < 1e-3, "{lo} {hi}");
        let (lo, hi) = wilson_95(10, 10);
        assert!(hi > 0.999_999 && lo > 0.69 && lo < 0.73, "{lo}");
    }

    #[test]
    fn csv_errors_name_the_line() {
        let e = EvalData::parse("0.1,0.2,1\n0.3,x,2\n", "d.csv").unwrap_err();
        assert_eq!(e.to_string(), "d.csv line 2: column 2 `x` is not a finite number");
        let e = EvalData::parse("0.1,0.2,1\n\n0.3,2\n", "d.csv").unwrap_err();
        assert!(e.to_string().contains("line 3") && e.to_string().contains("columns"), "{e}");
        let e = EvalData::parse("0.1,0.2,-1\n", "d.csv").unwrap_err();
        assert!(e.to_string().contains("line 1") && e.to_string().contains("label"), "{e}");
        let e = EvalData::parse("# only a comment\n", "d.csv").unwrap_err();
        assert!(e.to_string().contains("no samples"), "{e}");
        let ok = EvalData::parse("# f1,f2,label\n0.5, 1 ,3\n", "d.csv").unwrap();
        assert_eq!(ok.rows, vec![vec![0.5, 1.0]]);
        assert_eq!(ok.labels, vec![3]);
    }

    #[test]
    fn comparing_outputs_counts_agreement_and_max_diff() {
        let a = vec![vec![0.1, 0.9], vec![0.8, 0.2]];
        let b = vec![vec![0.2, 0.8], vec![0.4, 0.6]];
        let (agree, diff) = compare_outputs(&a, &b).unwrap();
        assert_eq!(agree, 0.5);
        assert!((diff - 0.4).abs() < 1e-6);
    }
}
