//! "Plan placement": which library model goes on which device, and
//! deploying that plan.
//!
//! The problem is `edgefleet_core::placement`'s: each model (with a
//! priority) goes to at most one device; the plan minimises the number left
//! out, then Σ latency × priority + cost, under each device's memory. A
//! model's latency on a device is the middle of its batch-1 estimate,
//! calibrated with the device's stored benchmarks when it has any; its
//! memory need is its memory at batch 1 (the largest over the devices,
//! when calibration makes them differ). The heuristic always runs; on a
//! small instance the exact search runs too, the two are compared, and the
//! exact plan is used. Every choice says why, every model left out says why.
//! Deploying runs one rollout per placed model, the same code as
//! `edgefleet deploy`.

use crate::directory::Directory;
use crate::error::{FleetError, Result};
use crate::measure::calibrated_fit;
use crate::rollout::{ProgressFn, RolloutOutcome, RolloutPlan, RolloutRequest, run_rollout};
use edgefleet_core::placement::{
    EXACT_MAX_BINS, EXACT_MAX_ITEMS, Placement, PlacementBin, PlacementItem, PlacementProblem, place_exact,
    place_heuristic,
};
use edgefleet_core::{Device, FitConfig, ModelProfile};
use edgefleet_store::Store;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// A model to place: a library model (or a file) and its priority.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanModel {
    pub name: String,
    pub version: String,
    pub path: PathBuf,
    pub priority: f64,
    pub profile: ModelProfile,
}

/// One model placed on one device, with its reason and cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanChoice {
    pub model: String,
    pub version: String,
    pub path: PathBuf,
    pub device_id: String,
    pub priority: f64,
    pub latency_ms: f64,
    /// The estimate behind `latency_ms` was calibrated on the device.
    pub calibrated: bool,
    pub memory_mb: f64,
    /// latency × priority + device cost.
    pub cost: f64,
    pub reason: String,
}

/// A model left out, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanUnplaced {
    pub model: String,
    pub reason: String,
}

/// Memory used on a device by the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanDevice {
    pub device_id: String,
    pub used_mb: f64,
    pub capacity_mb: f64,
}

/// A placement plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlacementPlan {
    pub choices: Vec<PlanChoice>,
    pub unplaced: Vec<PlanUnplaced>,
    pub devices: Vec<PlanDevice>,
    /// Σ latency × priority + cost over the placed models (the plan used).
    pub total_cost: f64,
    pub heuristic_cost: f64,
    pub heuristic_unplaced: usize,
    /// The exact search's cost, on instances small enough for it.
    pub exact_cost: Option<f64>,
    /// The heuristic found a plan as good as the exact one.
    pub heuristic_matches_exact: Option<bool>,
    /// Which search produced the plan: `exact` or `heuristic`.
    pub method: String,
}

/// Build and solve the placement of `models` on `devices`; `device_cost`
/// is added for each model placed on that device (0 for all when empty).
pub fn plan_placement(
    store: Option<&Store>,
    models: &[PlanModel],
    devices: &[Device],
    device_cost: &[f64],
    cfg: &FitConfig,
) -> Result<PlacementPlan> {
    if models.is_empty() {
        return Err(FleetError::BadInput("choose at least one model to place".into()));
    }
    if devices.is_empty() {
        return Err(FleetError::BadInput("choose at least one device to place on".into()));
    }
    let device_cost = if device_cost.is_empty() { vec![0.0; devices.len()] } else { device_cost.to_vec() };
    if device_cost.len() != devices.len() {
        return Err(FleetError::BadInput(format!("{} device costs for {} devices", device_cost.len(), devices.len())));
    }
    let mut latency_ms = Vec::with_capacity(models.len());
    let mut calibrated = Vec::with_capacity(models.len());
    let mut items = Vec::with_capacity(models.len());
    for m in models {
        let mut row = Vec::with_capacity(devices.len());
        let mut cal_row = Vec::with_capacity(devices.len());
        let mut memory_mb: f64 = 0.0;
        for d in devices {
            let (fit, cal) = match store {
                Some(s) => calibrated_fit(s, &m.profile, d, cfg)?,
                None => (edgefleet_core::estimate_fit(&m.profile, d, cfg), None),
            };
            memory_mb = memory_mb.max(fit.memory_at_batch1_mb);
            row.push(fit.per_batch.first().filter(|_| fit.compatible).map(|b| b.latency_ms.mid()));
            cal_row.push(cal.is_some());
        }
        latency_ms.push(row);
        calibrated.push(cal_row);
        items.push(PlacementItem { name: m.name.clone(), priority: m.priority, memory_mb });
    }
    let bins: Vec<PlacementBin> = devices
        .iter()
        .map(|d| PlacementBin {
            device_id: d.device_id.clone(),
            capacity_mb: cfg.mem_fit_fraction * d.effective_free_memory_mb() as f64,
        })
        .collect();
    let cost = vec![device_cost; models.len()];
    let problem = PlacementProblem { items, bins, latency_ms, cost };
    let bad = |e: edgefleet_core::placement::PlacementError| FleetError::BadInput(e.to_string());
    let heuristic = place_heuristic(&problem).map_err(bad)?;
    let small = models.len() <= EXACT_MAX_ITEMS && devices.len() <= EXACT_MAX_BINS;
    let exact = if small { Some(place_exact(&problem).map_err(bad)?) } else { None };
    let matches = exact.as_ref().map(|e| {
        e.unplaced.len() == heuristic.unplaced.len() && (heuristic.cost - e.cost).abs() <= 1e-6 * e.cost.max(1.0)
    });
    let (used, method) = match &exact {
        Some(e) => (e, "exact"),
        None => (&heuristic, "heuristic"),
    };
    Ok(PlacementPlan {
        choices: choices(&problem, used, models, &calibrated),
        unplaced: used
            .unplaced
            .iter()
            .map(|u| PlanUnplaced { model: models[u.item].name.clone(), reason: u.reason.clone() })
            .collect(),
        devices: problem
            .bins
            .iter()
            .zip(&used.used_mb)
            .map(|(b, &used_mb)| PlanDevice { device_id: b.device_id.clone(), used_mb, capacity_mb: b.capacity_mb })
            .collect(),
        total_cost: used.cost,
        heuristic_cost: heuristic.cost,
        heuristic_unplaced: heuristic.unplaced.len(),
        exact_cost: exact.as_ref().map(|e| e.cost),
        heuristic_matches_exact: matches,
        method: method.to_owned(),
    })
}

/// Each placed model with the reason for its device: the cheapest it can
/// run on, or which cheaper device had no room left.
fn choices(
    p: &PlacementProblem,
    placement: &Placement,
    models: &[PlanModel],
    calibrated: &[Vec<bool>],
) -> Vec<PlanChoice> {
    let mut out = Vec::new();
    for (i, a) in placement.assignment.iter().enumerate() {
        let Some(b) = *a else { continue };
        let (Some(latency_ms), Some(cost)) = (p.latency_ms[i][b], p.pair_cost(i, b)) else { continue };
        let runnable = (0..p.bins.len()).filter(|&o| p.latency_ms[i][o].is_some()).count();
        let cheaper: Vec<usize> =
            (0..p.bins.len()).filter(|&o| o != b && p.pair_cost(i, o).is_some_and(|c| c < cost - 1e-9)).collect();
        let item = &p.items[i];
        let reason = if cheaper.is_empty() {
            format!(
                "cheapest of the {runnable} device(s) it fits: {latency_ms:.3} ms × priority {} + device cost {:.2}",
                item.priority, p.cost[i][b]
            )
        } else {
            let names: Vec<String> = cheaper
                .iter()
                .map(|&o| {
                    format!(
                        "{} ({:.1} of {:.1} MB used)",
                        p.bins[o].device_id, placement.used_mb[o], p.bins[o].capacity_mb
                    )
                })
                .collect();
            format!(
                "cheaper device(s) {} lack room for its {:.1} MB next to higher-value models; {latency_ms:.3} ms × priority {} here",
                names.join(", "),
                item.memory_mb,
                item.priority
            )
        };
        out.push(PlanChoice {
            model: models[i].name.clone(),
            version: models[i].version.clone(),
            path: models[i].path.clone(),
            device_id: p.bins[b].device_id.clone(),
            priority: item.priority,
            latency_ms,
            calibrated: calibrated[i][b],
            memory_mb: item.memory_mb,
            cost,
            reason,
        });
    }
    out
}

/// Deploy a plan: one rollout per placed model to its device, one after
/// the other, with the rollout's own canary, health check and rollback.
/// Returns each rollout's outcome (or why it could not start).
pub async fn deploy_plan(
    store: Arc<Mutex<Store>>,
    directory: Directory,
    plan: &PlacementPlan,
    rollout: RolloutPlan,
    progress: ProgressFn,
) -> Vec<(String, std::result::Result<RolloutOutcome, String>)> {
    let mut out = Vec::new();
    for c in &plan.choices {
        let req = RolloutRequest {
            model_path: c.path.clone(),
            name: c.model.clone(),
            version: c.version.clone(),
            targets: vec![c.device_id.clone()],
            plan: rollout.clone(),
        };
        let result = run_rollout(store.clone(), directory.clone(), req, progress.clone()).await;
        out.push((c.model.clone(), result.map_err(|e| e.to_string())));
    }
    out
}
