//! Knowledge distillation and architecture search: train a small student
//! on a teacher's softened outputs, write it as ONNX and measure it like any
//! other model.
//!
//! - [`Teacher`] loads the teacher and runs it on the rows (tract's
//!   [`crate::Runner`]; the place to plug in another runtime is
//!   [`Teacher::from_bytes`]), turning probabilities back into logits.
//! - [`Dataset`] reads the CSV rows (optionally with an integer label last).
//! - [`distill`] trains one student architecture ([`Arch`]): an MLP for flat
//!   inputs, a small CNN for image-shaped ones. Loss = T²·KL(teacher‖student)
//!   at temperature T + cross-entropy on the hard labels when there are
//!   some; AdamW (candle); a seeded held-out split reports accuracy and
//!   agreement with Wilson intervals.
//! - [`search_students`] searches depth and width by successive halving
//!   under a time budget, prunes shapes that cannot meet the device's limits
//!   before training them, reports the Pareto front and picks the smallest
//!   that meets the constraints (optionally chained into int8).
//!
//! Training runs on a private rayon pool of [`DistillConfig::threads`]
//! threads (one by default), so it neither fights the app for cores nor
//! depends on the machine's core count. Both entry points check a cancel
//! flag every epoch and call a progress callback.

mod arch;
mod data;
mod export;
mod measure;
mod net;
mod prepare;
mod report;
mod search;
mod teacher;
mod train;

pub use arch::{Arch, search_space};
pub use data::Dataset;
pub use export::STUDENT_OPSET;
pub use measure::Goal;
pub use prepare::{Distilled, distill};
pub use report::{DistillReport, ModelFigures, Recipe};
pub use search::{CandidateReport, DEFAULT_SEARCH_BUDGET, SearchOutcome, search_students};
pub use teacher::Teacher;

use crate::error::OptimizeError;
use crate::evaluate::EvalConfig;
use serde::Serialize;
use std::time::Duration;

/// Why distillation failed; one variant per kind of failure.
#[derive(Debug, thiserror::Error)]
pub enum DistillError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A row of the data file is malformed (a value that is not a finite
    /// number, a label out of range, a different width).
    #[error("{source_name} line {line}: {reason}")]
    BadRow { source_name: String, line: usize, reason: String },
    #[error("{source_name} holds no rows")]
    EmptyData { source_name: String },
    /// The rows are consistent but not as wide as the teacher's input.
    #[error("{source_name}: {reason}")]
    WrongWidth { source_name: String, reason: String },
    #[error("{source_name} has {rows} rows; distillation needs at least {needed} (some are held out)")]
    TooFewRows { source_name: String, rows: usize, needed: usize },
    #[error("the teacher has {0} inputs; distillation needs a single-input model")]
    TeacherInputs(usize),
    #[error("the teacher's input `{input}` is {found}; distillation needs a float input")]
    TeacherInputType { input: String, found: String },
    #[error("the teacher's output is not a class score vector: {0}")]
    TeacherOutput(String),
    /// The teacher does not decode or tract cannot run it.
    #[error("the teacher cannot run: {0}")]
    Teacher(#[source] OptimizeError),
    #[error("bad student architecture `{spec}`: {reason}")]
    BadArch { spec: String, reason: String },
    #[error("bad setting: {0}")]
    BadConfig(String),
    #[error("a time budget of {budget_s:.3} s is too small to train anything: {what} takes about {needed_s:.3} s")]
    BudgetTooSmall { budget_s: f64, needed_s: f64, what: String },
    #[error("training failed: {0}")]
    Training(String),
    /// Writing or measuring the student failed.
    #[error("the student cannot be measured: {0}")]
    Student(#[source] OptimizeError),
    #[error("cancelled")]
    Cancelled,
}

impl DistillError {
    /// Whether the caller's input (data, teacher, settings) is at fault, as
    /// opposed to a failure while doing the work.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            DistillError::Io { .. }
                | DistillError::BadRow { .. }
                | DistillError::EmptyData { .. }
                | DistillError::WrongWidth { .. }
                | DistillError::TooFewRows { .. }
                | DistillError::TeacherInputs(_)
                | DistillError::TeacherInputType { .. }
                | DistillError::TeacherOutput(_)
                | DistillError::Teacher(_)
                | DistillError::BadArch { .. }
                | DistillError::BadConfig(_)
                | DistillError::BudgetTooSmall { .. }
        )
    }
}

impl From<candle_core::Error> for DistillError {
    fn from(e: candle_core::Error) -> Self {
        DistillError::Training(e.to_string())
    }
}

pub type Result<T, E = DistillError> = std::result::Result<T, E>;

/// How to train and measure.
#[derive(Debug, Clone, PartialEq)]
pub struct DistillConfig {
    /// Softmax temperature of the soft labels (> 0).
    pub temperature: f32,
    /// Fraction of the rows held out to measure the student (0 < f < 1).
    pub held_out_fraction: f64,
    /// Most epochs one student trains (the time budget may stop it sooner).
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// Weight of T²·KL(teacher‖student).
    pub soft_weight: f32,
    /// Weight of the cross-entropy on hard labels (used when there are labels).
    pub hard_weight: f32,
    /// Seeds the split, the initial weights and the batch order.
    pub seed: u64,
    /// Wall time allowed for training (and, in a search, measuring).
    pub time_budget: Option<Duration>,
    /// Threads of the training pool.
    pub threads: usize,
    /// How latency is timed.
    pub eval: EvalConfig,
}

impl Default for DistillConfig {
    fn default() -> Self {
        DistillConfig {
            temperature: 4.0,
            held_out_fraction: 0.2,
            epochs: 150,
            batch_size: 32,
            learning_rate: 1e-2,
            weight_decay: 1e-4,
            soft_weight: 1.0,
            hard_weight: 1.0,
            seed: 0,
            time_budget: Some(Duration::from_secs(60)),
            threads: 1,
            eval: EvalConfig { warmup_runs: 5, timed_runs: 30, large_batch: 32, zstd_level: 3 },
        }
    }
}

impl DistillConfig {
    /// Refuse settings that cannot work, before any work is done.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(DistillError::BadConfig(m));
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return bad(format!("the temperature must be a positive number, got {}", self.temperature));
        }
        if !(self.held_out_fraction > 0.0 && self.held_out_fraction < 1.0) {
            return bad(format!("the held-out fraction must be between 0 and 1, got {}", self.held_out_fraction));
        }
        if self.epochs == 0 || self.batch_size == 0 || self.threads == 0 {
            return bad("epochs, batch size and threads must be at least 1".into());
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad(format!("the learning rate must be positive, got {}", self.learning_rate));
        }
        if !(self.soft_weight >= 0.0 && self.hard_weight >= 0.0 && self.soft_weight + self.hard_weight > 0.0) {
            return bad("the loss weights must be non-negative and not both zero".into());
        }
        if self.time_budget.is_some_and(|b| b.is_zero()) {
            return Err(DistillError::BudgetTooSmall { budget_s: 0.0, needed_s: 0.0, what: "any training".into() });
        }
        Ok(())
    }
}

/// What a long run is doing, for a progress bar.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    pub stage: Stage,
    /// Candidate k (1-based) of n in a search; `None` for a single student.
    pub candidate: Option<(usize, usize)>,
    /// Architecture being trained or measured.
    pub arch: String,
    /// Epochs this student has trained so far.
    pub epoch: usize,
    /// Fraction of the whole job done, 0..=1 (by time budget or epochs).
    pub fraction: f64,
    /// The best student so far: its architecture and held-out agreement.
    pub best: Option<(String, f64)>,
}

/// The phases of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Running the teacher on the rows.
    Teacher,
    /// Measuring a candidate's size, latency and fit before training it.
    Screening,
    Training,
    Measuring,
    Int8,
    Done,
}
