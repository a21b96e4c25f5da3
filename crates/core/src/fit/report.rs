//! What the estimator answers: the [`Fit`] report for one model on one
//! device, its per-batch figures, its [`Reason`]s and its [`Calibration`].
//! These are the types `edgefleet estimate --json` prints, so their JSON
//! keys are part of the CLI's output.

use serde::{Deserialize, Serialize};

/// A low..high interval of an estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Range {
    pub low: f64,
    pub high: f64,
}

impl Range {
    pub fn mid(&self) -> f64 {
        (self.low + self.high) / 2.0
    }
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }
    pub fn width(&self) -> f64 {
        self.high - self.low
    }
}

/// What a [`Reason`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonKind {
    Memory,
    Storage,
    DeviceType,
    Ops,
    /// Context that is not a pass/fail check (compute speed).
    Info,
    /// How measurements narrowed the estimate; at most one per fit, replaced
    /// when the fit is calibrated again.
    Calibration,
}

/// One check of the estimator, in plain words with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub kind: ReasonKind,
    pub ok: bool,
    pub message: String,
}

/// Estimates at one batch size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchEstimate {
    pub batch: u32,
    /// memory(batch) in MB.
    pub memory_mb: f64,
    /// Time of one call with this batch: calibrated when measurements were
    /// applied, else equal to `estimated_latency_ms`.
    pub latency_ms: Range,
    /// The estimate from the model alone, before any calibration.
    pub estimated_latency_ms: Range,
    /// What the device measured at this batch size, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_latency_ms: Option<f64>,
    /// Samples per second.
    pub throughput_per_s: Range,
    /// Energy per inference (one sample), mJ.
    pub energy_mj: Range,
}

/// How a fit was calibrated against measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Measurements used.
    pub points: usize,
    /// Measured compute time ÷ midpoint estimate, smallest and largest.
    pub ratio: Range,
    /// Benchmark runs behind a device calibration and the models they ran
    /// (0 and empty for a calibration with this model's own latencies).
    #[serde(default)]
    pub runs: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
}

/// The estimator's answer for one model on one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    pub model: String,
    pub device_id: String,
    pub compatible: bool,
    /// Every check, passing or failing.
    pub reasons: Vec<Reason>,
    /// Largest batch that fits; 0 when incompatible.
    pub max_batch: u32,
    /// Batches 1, 2, 4, … up to `max_batch` (and `max_batch` itself); empty
    /// when incompatible.
    pub per_batch: Vec<BatchEstimate>,
    pub memory_at_batch1_mb: f64,
    /// Free memory planned with, and whether it was the live figure.
    pub free_memory_mb: f64,
    pub free_memory_is_live: bool,
    pub free_storage_gb: f64,
    /// Compute speed left after the device's current load, GFLOP/s.
    pub available_gflops: f64,
    /// Compute part of latency per sample (without the fixed overhead).
    pub compute_ms_per_sample: Range,
    pub fixed_overhead_ms: f64,
    /// Compute power above idle used for energy, W.
    pub compute_power_w: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
}

impl Fit {
    /// The estimate at exactly this batch size, if listed.
    pub fn at_batch(&self, batch: u32) -> Option<&BatchEstimate> {
        self.per_batch.iter().find(|e| e.batch == batch)
    }

    /// The reasons that failed.
    pub fn failures(&self) -> impl Iterator<Item = &Reason> {
        self.reasons.iter().filter(|r| !r.ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::FitConfig;
    use crate::fit::estimate_fit;
    use crate::fit::fixtures::{mlp, sensor};

    #[test]
    fn json_has_the_documented_keys() {
        let fit = estimate_fit(&mlp(), &sensor(), &FitConfig::default());
        let v: serde_json::Value = serde_json::from_str(&serde_json::to_string_pretty(&fit).unwrap()).unwrap();
        for key in ["compatible", "reasons", "max_batch", "per_batch"] {
            assert!(v.get(key).is_some(), "{key}");
        }
        let b = &v["per_batch"][0];
        for key in ["latency_ms", "throughput_per_s", "energy_mj"] {
            assert!(b[key]["low"].is_number() && b[key]["high"].is_number(), "{key}");
        }
        assert_eq!(b["batch"], 1);
        assert_eq!(v["reasons"][0]["kind"], "memory");
        // Floats may differ in the last bit after a JSON round trip.
        let back: Fit = serde_json::from_value(v).unwrap();
        assert_eq!((back.compatible, back.max_batch, &back.reasons), (fit.compatible, fit.max_batch, &fit.reasons));
        assert_eq!(back.per_batch.len(), fit.per_batch.len());
        assert!((back.per_batch[3].latency_ms.high - fit.per_batch[3].latency_ms.high).abs() < 1e-12);
    }

    #[test]
    fn range_midpoint_width_and_bounds() {
        let r = Range { low: 2.0, high: 6.0 };
        assert_eq!((r.mid(), r.width()), (4.0, 4.0));
        assert!(r.contains(2.0) && r.contains(6.0) && !r.contains(6.5));
    }
}
