//! One benchmark of one model on one device, as the calibration keeps it:
//! the latencies and memory the agent measured with the figures of the
//! model's profile the fit needs (so a stored run needs no model file).

use super::factors::is_convolutional;
use crate::model::{LayerWork, ModelProfile};
use crate::wire::{BatchLatency, BenchmarkMemory, BenchmarkResponse};
use serde::{Deserialize, Serialize};

/// One `/v1/benchmark` of one model on one device, with the figures of the
/// model's profile the calibration needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkRun {
    /// The model's name, for "calibrated from N runs of models X, Y".
    pub model: String,
    pub flops_per_sample: u64,
    pub weights_bytes: u64,
    pub activation_bytes_per_sample: u64,
    pub results: Vec<BatchLatency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<BenchmarkMemory>,
    /// The agent was simulated: its figures are synthetic, not measured.
    #[serde(default)]
    pub synthetic: bool,
    /// The model has convolutions (calibrates convolutional models).
    #[serde(default)]
    pub convolutional: bool,
    /// The model's per-layer work (uncounted in runs kept before it was).
    #[serde(default)]
    pub work: LayerWork,
}

impl BenchmarkRun {
    pub fn new(profile: &ModelProfile, bench: &BenchmarkResponse) -> BenchmarkRun {
        BenchmarkRun {
            model: profile.name.clone(),
            flops_per_sample: profile.flops_per_sample,
            weights_bytes: profile.weights_bytes,
            activation_bytes_per_sample: profile.peak_activation_bytes_per_sample,
            results: bench.results.clone(),
            memory: bench.memory.clone(),
            synthetic: bench.synthetic,
            convolutional: is_convolutional(profile),
            work: profile.work.clone(),
        }
    }
}
