//! "Plan placement": which library model goes on which device, and
//! deploying that plan.
//!
//! The problem is `edgefleet_core::placement`'s: each model (with a
//! priority and a request rate) goes to at most one device; the plan
//! minimises the number left out, then Σ latency × priority + cost, under
//! each device's memory, storage and compute. A model's service time on a
//! device is the middle of its batch-1 estimate, calibrated with the
//! device's stored benchmarks when it has any (the estimate already counts
//! the device's CPU load); its latency there is M/M/1 — service ÷ (1 − ρ),
//! ρ the device's utilisation by the requests it already serves plus every
//! model placed on it at its rate — and ρ must stay below 1. Its memory
//! need is its memory at batch 1 (the largest over the devices, when
//! calibration makes them differ), its storage its file.
//!
//! Cost, per hour, of a model on a device: its energy (energy per inference
//! × rate × 3600 s, at the price of a kWh the user gives) plus the device's
//! own cost per hour the user gives (rent, wear, a battery's worth). In the
//! objective a unit of cost counts as much as one ms of latency at
//! priority 1: raise the priorities to make latency weigh more. The heuristic always runs; on a
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

/// A model to place: a library model (or a file), its priority and the
/// requests per second it will serve.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanModel {
    pub name: String,
    pub version: String,
    pub path: PathBuf,
    pub priority: f64,
    pub profile: ModelProfile,
    #[serde(default)]
    pub rate_per_s: f64,
}

/// What a plan weighs besides latency, and what the devices already carry.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PlanSettings {
    /// Price of a kWh (0: energy costs nothing).
    pub energy_price_per_kwh: f64,
    /// Per device (in the order given), a cost per hour of hosting a model
    /// there; empty: none.
    pub device_cost_per_hour: Vec<f64>,
    /// Per device, the utilisation of its inference thread by the requests
    /// it already serves (see [`base_utilisation`]); empty: none.
    pub base_utilisation: Vec<f64>,
}

/// Utilisation of a device's inference thread by what it already serves:
/// Σ over its models of requests per second × p50 latency, below 1.
pub fn base_utilisation(metrics: &edgefleet_core::wire::Metrics) -> f64 {
    let busy: f64 = metrics
        .models
        .iter()
        .filter(|m| m.qps.is_finite() && m.p50_ms.is_finite())
        .map(|m| m.qps.max(0.0) * m.p50_ms.max(0.0) / 1000.0)
        .sum();
    busy.clamp(0.0, 0.99)
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
    /// Requests per second it serves there, and its latency with the
    /// device's queue (M/M/1).
    pub rate_per_s: f64,
    pub queued_latency_ms: f64,
    /// Energy and device cost per hour there.
    pub cost_per_hour: f64,
    /// queued latency × priority + cost per hour: its share of the objective.
    pub cost: f64,
    pub reason: String,
}

/// A model left out, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanUnplaced {
    pub model: String,
    pub reason: String,
}

/// What the plan uses of a device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanDevice {
    pub device_id: String,
    pub used_mb: f64,
    pub capacity_mb: f64,
    /// Its inference thread's utilisation with the plan (what it already
    /// served included), below 1.
    pub utilisation: f64,
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

/// Build and solve the placement of `models` on `devices` (see the module
/// doc for the costs and limits).
pub fn plan_placement(
    store: Option<&Store>,
    models: &[PlanModel],
    devices: &[Device],
    settings: &PlanSettings,
    cfg: &FitConfig,
) -> Result<PlacementPlan> {
    if models.is_empty() {
        return Err(FleetError::BadInput("choose at least one model to place".into()));
    }
    if devices.is_empty() {
        return Err(FleetError::BadInput("choose at least one device to place on".into()));
    }
    let per_device = |v: &[f64], what: &str| -> Result<Vec<f64>> {
        match v.len() {
            0 => Ok(vec![0.0; devices.len()]),
            n if n == devices.len() && v.iter().all(|x| x.is_finite() && *x >= 0.0) => Ok(v.to_vec()),
            n if n == devices.len() => Err(FleetError::BadInput(format!("{what} must be numbers ≥ 0"))),
            n => Err(FleetError::BadInput(format!("{n} {what} for {} devices", devices.len()))),
        }
    };
    let device_cost = per_device(&settings.device_cost_per_hour, "device costs")?;
    let base = per_device(&settings.base_utilisation, "base utilisations")?;
    let price = settings.energy_price_per_kwh;
    if !(price.is_finite() && price >= 0.0) {
        return Err(FleetError::BadInput(format!("the energy price must be a number ≥ 0, got {price}")));
    }
    if let Some(m) = models.iter().find(|m| !(m.rate_per_s.is_finite() && m.rate_per_s >= 0.0)) {
        return Err(FleetError::BadInput(format!("{}: the request rate must be ≥ 0, got {}", m.name, m.rate_per_s)));
    }
    let mut latency_ms = Vec::with_capacity(models.len());
    let mut calibrated = Vec::with_capacity(models.len());
    let mut items = Vec::with_capacity(models.len());
    let mut cost = Vec::with_capacity(models.len());
    for m in models {
        let mut row = Vec::with_capacity(devices.len());
        let mut cal_row = Vec::with_capacity(devices.len());
        let mut cost_row = Vec::with_capacity(devices.len());
        let mut memory_mb: f64 = 0.0;
        for (b, d) in devices.iter().enumerate() {
            let (fit, cal) = match store {
                Some(s) => calibrated_fit(s, &m.profile, d, cfg)?,
                None => (edgefleet_core::estimate_fit(&m.profile, d, cfg), None),
            };
            memory_mb = memory_mb.max(fit.memory_at_batch1_mb);
            let b1 = fit.per_batch.first().filter(|_| fit.compatible);
            row.push(b1.map(|e| e.latency_ms.mid()));
            cal_row.push(cal.is_some());
            // mJ per inference × inferences per hour → kWh (3.6e9 mJ each).
            let energy_kwh_per_hour = b1.map_or(0.0, |e| e.energy_mj.mid() * m.rate_per_s * 3600.0 / 3.6e9);
            cost_row.push(energy_kwh_per_hour * price + device_cost[b]);
        }
        latency_ms.push(row);
        calibrated.push(cal_row);
        cost.push(cost_row);
        items.push(PlacementItem {
            name: m.name.clone(),
            priority: m.priority,
            memory_mb,
            storage_gb: m.profile.storage_bytes() as f64 / edgefleet_core::fit::BYTES_PER_GB,
            rate_per_s: m.rate_per_s,
        });
    }
    let bins: Vec<PlacementBin> = devices
        .iter()
        .zip(&base)
        .map(|(d, &base_utilisation)| PlacementBin {
            device_id: d.device_id.clone(),
            capacity_mb: cfg.mem_fit_fraction * d.effective_free_memory_mb() as f64,
            storage_gb: Some(cfg.storage_fraction * d.effective_free_storage_gb().max(0.0)),
            base_utilisation,
        })
        .collect();
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
            .enumerate()
            .map(|(i, b)| PlanDevice {
                device_id: b.device_id.clone(),
                used_mb: used.used_mb.get(i).copied().unwrap_or(0.0),
                capacity_mb: b.capacity_mb,
                utilisation: used.utilisation.get(i).copied().unwrap_or(b.base_utilisation),
            })
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
        let rho = placement.utilisation.get(b).copied().unwrap_or(0.0);
        let (Some(latency_ms), Some(queued)) = (p.latency_ms[i][b], p.queued_latency_ms(i, b, rho)) else {
            continue;
        };
        let item = &p.items[i];
        let cost = queued * item.priority + p.cost[i][b];
        let runnable = (0..p.bins.len()).filter(|&o| p.latency_ms[i][o].is_some()).count();
        // Devices where it alone would have cost less than it does here.
        let cheaper: Vec<usize> =
            (0..p.bins.len()).filter(|&o| o != b && p.pair_cost(i, o).is_some_and(|c| c < cost - 1e-9)).collect();
        let here = format!(
            "{latency_ms:.3} ms service, {queued:.3} ms with the queue ({:.0}% busy at {:.1} req/s in all) × priority {} \
             + cost {:.4}/h",
            rho * 100.0,
            item.rate_per_s,
            item.priority,
            p.cost[i][b]
        );
        let reason = if cheaper.is_empty() {
            format!("cheapest of the {runnable} device(s) it fits: {here}")
        } else {
            let names: Vec<String> = cheaper
                .iter()
                .map(|&o| {
                    format!(
                        "{} ({:.1} of {:.1} MB used, {:.0}% busy)",
                        p.bins[o].device_id,
                        placement.used_mb[o],
                        p.bins[o].capacity_mb,
                        placement.utilisation.get(o).copied().unwrap_or(0.0) * 100.0
                    )
                })
                .collect();
            format!(
                "cheaper device(s) {} lack room, storage or compute for it next to higher-value models (or would \
                 slow them more); here {here}",
                names.join(", "),
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
            rate_per_s: item.rate_per_s,
            queued_latency_ms: queued,
            cost_per_hour: p.cost[i][b],
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
