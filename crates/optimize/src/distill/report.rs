//! What a distillation run reports: the teacher and the student measured
//! the same way (same runtime, same batches, the same held-out rows), their
//! top-1 agreement, and the recipe that made the student — enough to make
//! it again.

use crate::evaluate::{Accuracy, LatencyStat};
use serde::{Deserialize, Serialize};

/// One model measured on the held-out rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFigures {
    /// The architecture (`mlp:64,32`), or the teacher's name.
    pub name: String,
    pub params: u64,
    pub size_bytes: u64,
    /// Top-1 accuracy with its Wilson 95 % interval (when the data has labels).
    pub accuracy: Option<Accuracy>,
    /// p50 latency at batch 1 and at the device's best batch (or 32).
    pub latency: Vec<LatencyStat>,
    /// Whether `estimate_fit` says it fits the target device (no device: `None`).
    pub fits_device: Option<bool>,
    /// The fit checks that failed, in plain words.
    pub fit_failures: Vec<String>,
}

impl ModelFigures {
    /// p50 latency at batch 1 (0 when not timed).
    pub fn latency_ms_batch1(&self) -> f64 {
        self.latency.iter().find(|l| l.batch == 1).map_or(0.0, |l| l.p50_ms)
    }
}

/// How the student was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    pub arch: String,
    pub temperature: f32,
    /// Epochs actually trained.
    pub epochs: usize,
    pub data_file: String,
    pub data_sha256: String,
    /// Whether the hard labels were used (the data had a label column).
    pub labels: bool,
    pub held_out_fraction: f64,
    pub seed: u64,
    pub learning_rate: f64,
    pub batch_size: usize,
    pub soft_weight: f32,
    pub hard_weight: f32,
    /// The student was quantized to int8 after training.
    pub int8: bool,
}

impl Recipe {
    /// One line for the library's recipe column:
    /// `distill:mlp:32 T=4 epochs=80 data=sha256:0123456789ab[ int8]`.
    pub fn summary(&self) -> String {
        let short = self.data_sha256.get(..12).unwrap_or(&self.data_sha256);
        format!(
            "distill:{} T={} epochs={} data=sha256:{short}{}",
            self.arch,
            self.temperature,
            self.epochs,
            if self.int8 { " int8" } else { "" }
        )
    }
}

/// The outcome of training one student.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistillReport {
    /// The runtime both models were measured on.
    pub runtime: String,
    pub teacher: ModelFigures,
    /// The model written (after int8 when it was chained).
    pub student: ModelFigures,
    /// Fraction of held-out rows where the student's top-1 class is the
    /// teacher's, with its Wilson 95 % interval.
    pub agreement: Accuracy,
    /// The float student before int8, and its agreement, when int8 was chained.
    pub before_int8: Option<(ModelFigures, Accuracy)>,
    pub recipe: Recipe,
    pub train_rows: usize,
    pub held_out_rows: usize,
    /// Wall time spent training (not measuring).
    pub training_ms: f64,
    /// Mean loss of the last epoch.
    pub final_loss: f32,
    /// Why training stopped: `epochs` or `time budget`.
    pub stopped_by: String,
    /// Whether the student meets the goal's limits (agreement, latency, size, fit).
    pub meets_goal: bool,
    /// Plain-words caveats (e.g. which limit is missed).
    pub notes: Vec<String>,
}
