//! Recipe search: try a fixed set of recipe combinations on a model,
//! measure each on the runtime the target device runs (tract unless told
//! otherwise) with the evaluation data, keep the Pareto front of (file
//! size, latency, accuracy), and pick the best candidate that meets the
//! limits and fits the target device (by `edgefleet_core::estimate_fit` on
//! the candidate's own profile).
//!
//! A candidate much slower than the original on that runtime is never
//! chosen (tract's integer kernels make int8-dynamic many times slower on
//! x86; on ONNX Runtime the same model is faster), so what the search
//! picks is never a step back in speed without the user asking for it
//! through the limits.

use crate::error::{OptimizeError, Result};
use crate::evaluate::{EvalConfig, EvalData};
use crate::proto::decode_model;
use crate::report::{Measured, OptimizeReport, compare_on, measure_on};
use crate::runtime::{Runtime, RuntimeKind};
use crate::transform::{apply_recipe_with_rows, canonical_order};
use edgefleet_core::{Device, FitConfig, OptimizationKind as K, estimate_fit};
use serde::{Deserialize, Serialize};
use tract_onnx::pb;

/// What the chosen model must satisfy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SearchLimits {
    /// Largest accuracy drop allowed (absolute, 0.01 = one point).
    pub max_accuracy_loss: f64,
    pub max_latency_ms: Option<f64>,
    pub max_size_bytes: Option<u64>,
}

impl Default for SearchLimits {
    fn default() -> Self {
        SearchLimits { max_accuracy_loss: 0.01, max_latency_ms: None, max_size_bytes: None }
    }
}

/// Which feasible candidate wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Smallest file, then lowest latency.
    #[default]
    Size,
    /// Lowest latency, then smallest file.
    Latency,
    /// Highest accuracy, then smallest file.
    Accuracy,
}

/// The device to fit, the limits to meet and what to optimize for.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchTarget {
    pub device: Device,
    pub limits: SearchLimits,
    pub objective: Objective,
}

/// One recipe tried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub report: OptimizeReport,
    pub on_pareto_front: bool,
    pub fits_device: bool,
    pub meets_limits: bool,
    /// Why it was not eligible, in plain words (empty when it was).
    pub rejected_because: Vec<String>,
}

/// The outcome of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    pub candidates: Vec<Candidate>,
    /// Index into `candidates` of the chosen one.
    pub chosen: Option<usize>,
}

/// The recipes tried: each transformation alone and the useful pairs.
pub fn default_recipes() -> Vec<Vec<K>> {
    vec![
        vec![],
        vec![K::Fp16],
        vec![K::Int8],
        vec![K::Int8Dynamic],
        vec![K::Int8Dynamic, K::Int8],
        vec![K::Int8Static],
        vec![K::Prune { sparsity: 0.5 }, K::Int8],
        vec![K::PruneStructured { ratio: 0.1 }],
        vec![K::PruneStructured { ratio: 0.25 }],
        vec![K::PruneStructured { ratio: 0.1 }, K::Int8],
        vec![K::PruneStructured { ratio: 0.25 }, K::Int8],
        vec![K::PruneStructured { ratio: 0.25 }, K::Fp16],
    ]
}

/// Whether `a` is at least as good as `b` everywhere and better somewhere
/// (smaller, faster, more accurate).
fn dominates(a: &OptimizeReport, b: &OptimizeReport) -> bool {
    let acc = |r: &OptimizeReport| r.accuracy_after.unwrap_or(0.0);
    let no_worse =
        a.size_after_bytes <= b.size_after_bytes && a.latency_ms_after <= b.latency_ms_after && acc(a) >= acc(b);
    let better = a.size_after_bytes < b.size_after_bytes || a.latency_ms_after < b.latency_ms_after || acc(a) > acc(b);
    no_worse && better
}

/// A candidate this many times slower than the original is not chosen.
pub const MAX_SLOWDOWN: f64 = 1.5;

/// Search recipes for `model_bytes` on the target device, measuring every
/// candidate on `runtime` (the one the device runs). `progress(done, total,
/// what)` is called before each candidate and once at the end.
pub fn search_on(
    runtime: &dyn Runtime,
    model_bytes: &[u8],
    name: &str,
    target: &SearchTarget,
    data: &EvalData,
    cfg: &EvalConfig,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<(SearchResult, Option<pb::ModelProto>)> {
    let (limits, objective) = (&target.limits, target.objective);
    // The fit checks ops against the runtime measured on when the device
    // did not report its own list.
    let mut device = target.device.clone();
    if device.runtime_ops.is_none() && runtime.kind() != RuntimeKind::Tract {
        device.runtime_ops = Some(runtime.supported_ops());
    }
    let device = &device;
    let original = decode_model(model_bytes)?;
    let recipes = default_recipes();
    let total = recipes.len() + 1;
    progress(0, total, "measuring the original");
    let before: Measured = measure_on(runtime, &original, name, Some(data), cfg)?;
    let base_accuracy = before.accuracy.map(|a| a.value).unwrap_or(0.0);
    let mut candidates = Vec::new();
    let mut models = Vec::new();
    for (i, recipe) in recipes.iter().enumerate() {
        let label = if recipe.is_empty() {
            "original".to_string()
        } else {
            recipe.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
        };
        progress(i + 1, total, &label);
        // A recipe that does not apply to this model (e.g. nothing to prune) is skipped.
        let result = match apply_recipe_with_rows(&original, recipe, Some(&data.rows)) {
            Ok(r) => r,
            Err(OptimizeError::Unsupported(_)) => continue,
            Err(e) => return Err(e),
        };
        let after = if recipe.is_empty() {
            before.clone()
        } else {
            match measure_on(runtime, &result, name, Some(data), cfg) {
                Ok(m) => m,
                // A rewrite this runtime cannot load (an op it lacks) is not a candidate here.
                Err(OptimizeError::OpsUnsupported { .. }) => continue,
                Err(e) => return Err(e),
            }
        };
        let report = compare_on(runtime, name, &canonical_order(recipe)?, &before, &after, &result)?;
        let fit = estimate_fit(&after.profile, device, &FitConfig::default());
        let mut why = Vec::new();
        let loss = base_accuracy - report.accuracy_after.unwrap_or(0.0);
        if loss > limits.max_accuracy_loss + 1e-12 {
            why.push(format!(
                "accuracy drops {:.2} points, more than the {:.2} allowed",
                loss * 100.0,
                limits.max_accuracy_loss * 100.0
            ));
        }
        if let Some(max) = limits.max_latency_ms
            && report.latency_ms_after > max
        {
            why.push(format!("latency {:.3} ms exceeds {max} ms", report.latency_ms_after));
        }
        if let Some(max) = limits.max_size_bytes
            && report.size_after_bytes > max
        {
            why.push(format!("size {} bytes exceeds {max}", report.size_after_bytes));
        }
        let slowdown = report.latency_ms_after / report.latency_ms_before.max(1e-9);
        if slowdown > MAX_SLOWDOWN {
            why.push(format!(
                "{slowdown:.1}× slower than the original on {} ({:.3} ms vs {:.3} ms)",
                runtime.label(),
                report.latency_ms_after,
                report.latency_ms_before
            ));
        }
        let meets_limits = why.is_empty();
        if !fit.compatible {
            why.extend(
                fit.reasons.iter().filter(|r| !r.ok).map(|r| format!("{}: {}", device.display_name(), r.message)),
            );
        }
        candidates.push(Candidate {
            meets_limits,
            fits_device: fit.compatible,
            on_pareto_front: false,
            rejected_because: why,
            report,
        });
        models.push(result);
    }
    progress(total, total, "done");
    for i in 0..candidates.len() {
        let dominated =
            (0..candidates.len()).any(|j| j != i && dominates(&candidates[j].report, &candidates[i].report));
        candidates[i].on_pareto_front = !dominated;
    }
    let key = |c: &Candidate| -> (f64, f64) {
        let r = &c.report;
        match objective {
            Objective::Size => (r.size_after_bytes as f64, r.latency_ms_after),
            Objective::Latency => (r.latency_ms_after, r.size_after_bytes as f64),
            Objective::Accuracy => (-r.accuracy_after.unwrap_or(0.0), r.size_after_bytes as f64),
        }
    };
    let chosen = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.on_pareto_front && c.rejected_because.is_empty())
        .min_by(|(_, a), (_, b)| key(a).partial_cmp(&key(b)).unwrap_or(std::cmp::Ordering::Equal))
        .map(|(i, _)| i);
    let model = chosen.map(|i| models[i].clone());
    Ok((SearchResult { candidates, chosen }, model))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::TractRuntime;
    use edgefleet_core::DeviceType;
    use std::path::PathBuf;

    fn asset(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/models").join(name)
    }

    fn target(device: Device) -> SearchTarget {
        SearchTarget { device, limits: SearchLimits::default(), objective: Objective::Size }
    }

    fn quick() -> EvalConfig {
        EvalConfig { warmup_runs: 2, timed_runs: 10, large_batch: 8, zstd_level: 3 }
    }

    #[test]
    fn search_picks_a_smaller_model_within_the_accuracy_limit() {
        let bytes = std::fs::read(asset("mlp_digits.onnx")).unwrap();
        let data = EvalData::from_path(&asset("digits_eval.csv")).unwrap();
        let device = Device::new("cam-1", DeviceType::SmartCamera, 2, 512, 4.0);
        let mut calls = Vec::new();
        let (result, model) =
            search_on(&TractRuntime, &bytes, "mlp", &target(device), &data, &quick(), &mut |d, t, _| {
                calls.push((d, t))
            })
            .unwrap();
        let chosen = &result.candidates[result.chosen.unwrap()];
        assert!(model.is_some());
        assert!(chosen.report.size_after_bytes * 3 < chosen.report.size_before_bytes, "{:?}", chosen.report.recipe);
        let loss = chosen.report.accuracy_before.unwrap() - chosen.report.accuracy_after.unwrap();
        assert!(loss <= 0.01, "{loss}");
        assert!(result.candidates.iter().any(|c| !c.on_pareto_front), "something is dominated");
        assert_eq!(calls.last().map(|c| c.0), calls.last().map(|c| c.1));
    }

    #[test]
    fn a_device_too_small_for_every_candidate_gets_no_choice() {
        let bytes = std::fs::read(asset("mlp_digits.onnx")).unwrap();
        let data = EvalData::from_path(&asset("digits_eval.csv")).unwrap();
        let mut device = Device::new("tiny", DeviceType::IotSensor, 1, 1, 0.000_01);
        device.free_memory_mb = Some(0);
        let (result, model) =
            search_on(&TractRuntime, &bytes, "mlp", &target(device), &data, &quick(), &mut |_, _, _| {}).unwrap();
        assert_eq!(result.chosen, None);
        assert!(model.is_none());
        assert!(result.candidates.iter().all(|c| !c.fits_device && !c.rejected_because.is_empty()));
    }
}
