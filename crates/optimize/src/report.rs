//! [`OptimizeReport`]: what a recipe did to a model, measured on one
//! runtime — and [`optimize_model_on`], which apply a
//! recipe and fill one in.

use crate::error::Result;
use crate::evaluate::{self, Accuracy, EvalConfig, EvalData, LatencyStat};
use crate::inspect::inspect_model;
use crate::proto::{decode_model, encode_model};
use crate::runner::Runner;
use crate::runtime::{Runtime, RuntimeKind, TractRuntime};
use crate::transform::{apply_recipe_with_rows, canonical_order, weight_sparsity};
use edgefleet_core::{ModelProfile, OptimizationKind};
use serde::{Deserialize, Serialize};
use tract_onnx::pb;

/// Before / after figures of one optimization run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizeReport {
    pub model: String,
    /// The runtime the figures were measured on (`tract 0.23.9`, `ort 1.32.0`).
    #[serde(default)]
    pub runtime: String,
    /// The steps in the order they were applied (`int8`, `prune:0.5`, …).
    pub recipe: Vec<String>,
    pub size_before_bytes: u64,
    pub size_after_bytes: u64,
    pub zstd_size_before_bytes: u64,
    pub zstd_size_after_bytes: u64,
    /// Top-1 accuracy on the evaluation data (absent without data).
    pub accuracy_before: Option<f64>,
    pub accuracy_after: Option<f64>,
    pub accuracy_before_ci95: Option<[f64; 2]>,
    pub accuracy_after_ci95: Option<[f64; 2]>,
    pub eval_samples: Option<usize>,
    /// Fraction of samples whose top-1 class matches the original's.
    pub agreement: Option<f64>,
    pub max_abs_output_diff: Option<f64>,
    /// p50 latency at the smallest batch timed (1 unless the model fixes it).
    pub latency_ms_before: f64,
    pub latency_ms_after: f64,
    pub latency_before: Vec<LatencyStat>,
    pub latency_after: Vec<LatencyStat>,
    pub params_before: u64,
    pub params_after: u64,
    pub flops_per_sample_before: u64,
    pub flops_per_sample_after: u64,
    pub peak_activation_bytes_before: u64,
    pub peak_activation_bytes_after: u64,
    /// Fraction of zero weights after the recipe.
    pub weight_sparsity_after: f64,
    /// Wall time spent rewriting the graph (the recipe alone, no measuring).
    #[serde(default)]
    pub transform_ms: f64,
    /// Plain-words caveats (e.g. a result slower than its original).
    pub notes: Vec<String>,
}

/// One model measured on its own.
#[derive(Debug, Clone)]
pub struct Measured {
    pub profile: ModelProfile,
    pub size_bytes: u64,
    pub zstd_bytes: u64,
    pub accuracy: Option<Accuracy>,
    pub outputs: Option<Vec<Vec<f32>>>,
    pub latency: Vec<LatencyStat>,
}

/// Load, run and time one model with tract.
pub fn measure(model: &pb::ModelProto, name: &str, data: Option<&EvalData>, cfg: &EvalConfig) -> Result<Measured> {
    measure_on(&TractRuntime, model, name, data, cfg)
}

/// Load, run and time one model on `runtime`.
pub fn measure_on(
    runtime: &dyn Runtime,
    model: &pb::ModelProto,
    name: &str,
    data: Option<&EvalData>,
    cfg: &EvalConfig,
) -> Result<Measured> {
    let bytes = encode_model(model);
    let runner = Runner::load(runtime, model.clone())?;
    let (accuracy, outputs) = match data {
        Some(d) => {
            d.check_fits(&runner)?;
            let outputs = evaluate::predict_all(&runner, &d.rows)?;
            (Some(evaluate::accuracy(&outputs, &d.labels)), Some(outputs))
        }
        None => (None, None),
    };
    let rows = data.map(|d| d.rows.as_slice()).unwrap_or(&[]);
    Ok(Measured {
        profile: inspect_model(model, name)?,
        size_bytes: bytes.len() as u64,
        zstd_bytes: evaluate::zstd_size(&bytes, cfg.zstd_level)?,
        accuracy,
        outputs,
        latency: evaluate::time_model(&runner, rows, cfg)?,
    })
}

/// Apply `recipe` to the ONNX `bytes` and measure original and result on
/// `runtime`. Returns the rewritten model and the report.
pub fn optimize_model_on(
    runtime: &dyn Runtime,
    bytes: &[u8],
    name: &str,
    recipe: &[OptimizationKind],
    data: Option<&EvalData>,
    cfg: &EvalConfig,
) -> Result<(pb::ModelProto, OptimizeReport)> {
    let original = decode_model(bytes)?;
    let before = measure_on(runtime, &original, name, data, cfg)?;
    let started = std::time::Instant::now();
    let result = apply_recipe_with_rows(&original, recipe, data.map(|d| d.rows.as_slice()))?;
    let transform_ms = started.elapsed().as_secs_f64() * 1e3;
    let after = measure_on(runtime, &result, name, data, cfg)?;
    let mut report = compare_on(runtime, name, &canonical_order(recipe)?, &before, &after, &result)?;
    report.transform_ms = transform_ms;
    Ok((result, report))
}

/// Build the report from two measurements taken with tract.
pub fn compare(
    name: &str,
    applied: &[OptimizationKind],
    before: &Measured,
    after: &Measured,
    result: &pb::ModelProto,
) -> Result<OptimizeReport> {
    compare_on(&TractRuntime, name, applied, before, after, result)
}

/// Build the report from two measurements taken on `runtime`.
pub fn compare_on(
    runtime: &dyn Runtime,
    name: &str,
    applied: &[OptimizationKind],
    before: &Measured,
    after: &Measured,
    result: &pb::ModelProto,
) -> Result<OptimizeReport> {
    let (agreement, max_diff) = match (&before.outputs, &after.outputs) {
        (Some(a), Some(b)) => {
            let (agree, diff) = evaluate::compare_outputs(a, b)?;
            (Some(agree), Some(diff))
        }
        _ => (None, None),
    };
    let headline = |l: &[LatencyStat]| l.first().map(|s| s.p50_ms).unwrap_or(0.0);
    let (lat_before, lat_after) = (headline(&before.latency), headline(&after.latency));
    let mut notes = Vec::new();
    if lat_after > lat_before * 1.2 {
        notes.push(format!(
            "the result is {:.1}× slower than the original in {} on this machine ({lat_after:.3} ms vs {lat_before:.3} ms); do not serve it here without measuring on the target",
            lat_after / lat_before.max(1e-9),
            runtime.kind().display_name()
        ));
    }
    for step in applied {
        match step {
            OptimizationKind::Int8 | OptimizationKind::Fp16 if runtime.kind() == RuntimeKind::Tract => notes.push(format!(
                "{step} compresses weight storage; tract expands the weights to float at load, so memory and speed stay those of the float model"
            )),
            OptimizationKind::Prune { .. } => notes.push(
                "magnitude pruning zeroes weights but keeps the dense layout: it shrinks the compressed size, not the raw size or the latency".into(),
            ),
            _ => {}
        }
    }
    let ci = |a: &Option<Accuracy>| a.map(|a| [a.ci95_low, a.ci95_high]);
    Ok(OptimizeReport {
        model: name.to_owned(),
        runtime: runtime.label(),
        recipe: applied.iter().map(ToString::to_string).collect(),
        size_before_bytes: before.size_bytes,
        size_after_bytes: after.size_bytes,
        zstd_size_before_bytes: before.zstd_bytes,
        zstd_size_after_bytes: after.zstd_bytes,
        accuracy_before: before.accuracy.map(|a| a.value),
        accuracy_after: after.accuracy.map(|a| a.value),
        accuracy_before_ci95: ci(&before.accuracy),
        accuracy_after_ci95: ci(&after.accuracy),
        eval_samples: before.accuracy.map(|a| a.samples),
        agreement,
        max_abs_output_diff: max_diff,
        latency_ms_before: lat_before,
        latency_ms_after: lat_after,
        latency_before: before.latency.clone(),
        latency_after: after.latency.clone(),
        params_before: before.profile.params,
        params_after: after.profile.params,
        flops_per_sample_before: before.profile.flops_per_sample,
        flops_per_sample_after: after.profile.flops_per_sample,
        peak_activation_bytes_before: before.profile.peak_activation_bytes_per_sample,
        peak_activation_bytes_after: after.profile.peak_activation_bytes_per_sample,
        weight_sparsity_after: weight_sparsity(result)?,
        transform_ms: 0.0,
        notes,
    })
}
