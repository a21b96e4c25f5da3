//! `edgefleet place --model A[:PRIORITY] … [--device-id ID …] [--deploy]`:
//! which library model goes on which device (Σ latency × priority + cost
//! under each device's memory, the heuristic checked against the exact
//! search when small), each choice with its reason and cost, the models
//! left out with why; `--deploy` starts the plan's rollouts.
//!
//! Each device is first asked what it serves now (`GET /v1/info` and
//! `/v1/metrics`, at most [`LIVE_POLL_CONCURRENCY`] at once, each within
//! [`LIVE_POLL_TIMEOUT`]): its live free memory, storage and CPU load, and
//! the utilisation its current requests already take, are what the plan
//! weighs — the inputs the GUI's "Plan placement" takes from its poller. A
//! device that does not answer is left out of the plan and listed with
//! why: a plan for it would rest on a load nobody measured, and deploying
//! there would fail. `--offline` plans from the registry alone, as if every
//! device served nothing.

use super::GlobalArgs;
use super::deploy_cmd::directory_from_store;
use super::store_args::{open_store, registered_client};
use crate::bad_input;
use anyhow::Context;
use edgefleet_core::FitConfig;
use edgefleet_fleet::{
    LIVE_POLL_CONCURRENCY, LIVE_POLL_TIMEOUT, LiveLoad, PlacementPlan, PlanModel, PlanSettings, RolloutPlan,
    deploy_plan, plan_placement, poll_live_loads,
};
use edgefleet_store::{DeviceRecord, Store};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Debug, clap::Args)]
pub struct PlaceArgs {
    /// A library model as NAME or NAME@VERSION (the newest version when none
    /// is given), with an optional priority (default 1): `mlp:3`.
    #[arg(long = "model", value_name = "A[:PRIORITY]", required = true)]
    pub models: Vec<String>,
    /// Devices to place on (repeat; default: every device in the registry).
    #[arg(long = "device-id", value_name = "ID")]
    pub device_ids: Vec<String>,
    /// Requests per second a model will serve, NAME=RATE (repeat; default
    /// 0: latency only). A device's inference thread must stay below 100%
    /// busy, and its queue (M/M/1) counts in every model's latency there.
    #[arg(long = "rate", value_name = "NAME=REQ_PER_S")]
    pub rates: Vec<String>,
    /// Price of a kWh: each model's energy per hour at its rate is a cost.
    #[arg(long, value_name = "PRICE", default_value_t = 0.0)]
    pub energy_price: f64,
    /// A device's own cost per hour of hosting a model, ID=COST (repeat;
    /// default 0). A unit of cost counts as 1 ms of latency at priority 1.
    #[arg(long = "device-cost", value_name = "ID=COST")]
    pub device_costs: Vec<String>,
    /// Plan from the registry alone, without asking the devices what they
    /// serve now: every device is taken as serving nothing, with its last
    /// known free memory and storage.
    #[arg(long)]
    pub offline: bool,
    /// Start the plan's rollouts (one per placed model) once it is printed.
    #[arg(long)]
    pub deploy: bool,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `KEY=NUMBER` (a number ≥ 0) → (key, number).
pub(crate) fn parse_keyed_number(flag: &str, arg: &str) -> Result<(String, f64), String> {
    let Some((key, value)) = arg.split_once('=') else {
        return Err(format!("{flag} `{arg}`: expected NAME=NUMBER"));
    };
    let v: f64 = value.trim().parse().map_err(|_| format!("{flag} `{arg}`: `{value}` is not a number"))?;
    if key.trim().is_empty() || !(v.is_finite() && v >= 0.0) {
        return Err(format!("{flag} `{arg}`: needs a name and a number ≥ 0"));
    }
    Ok((key.trim().to_owned(), v))
}

/// `NAME[@VERSION][:PRIORITY]` → (name, version, priority).
pub(crate) fn parse_model_arg(arg: &str) -> Result<(String, Option<String>, f64), String> {
    let (model, priority) = match arg.rsplit_once(':') {
        Some((m, p)) => {
            let p: f64 = p.parse().map_err(|_| format!("`{arg}`: priority `{p}` is not a number"))?;
            if !(p.is_finite() && p >= 0.0) {
                return Err(format!("`{arg}`: priority must be a number ≥ 0"));
            }
            (m, p)
        }
        None => (arg, 1.0),
    };
    let (name, version) = match model.split_once('@') {
        Some((n, v)) => (n, Some(v.to_owned())),
        None => (model, None),
    };
    if name.trim().is_empty() {
        return Err(format!("`{arg}`: no model name"));
    }
    Ok((name.to_owned(), version, priority))
}

/// The library model an argument names, as a [`PlanModel`].
fn plan_model(store: &Store, arg: &str) -> anyhow::Result<PlanModel> {
    let (name, version, priority) = match parse_model_arg(arg) {
        Ok(x) => x,
        Err(e) => bad_input!("--model {e}"),
    };
    let models = store.list_models()?;
    let found = models.iter().rfind(|m| m.name == name && version.as_ref().is_none_or(|v| *v == m.version));
    let Some(rec) = found else {
        bad_input!("no model `{arg}` in the library: `edgefleet models` lists them, `edgefleet import` adds one")
    };
    let Some(profile) = rec.profile.clone() else {
        bad_input!("{}@{} has no profile in the library: import it again", rec.name, rec.version)
    };
    Ok(PlanModel {
        name: rec.name.clone(),
        version: rec.version.clone(),
        path: PathBuf::from(&rec.path),
        priority,
        profile: edgefleet_core::ModelProfile { name: rec.name.clone(), ..profile },
        rate_per_s: 0.0,
    })
}

pub fn run(global: &GlobalArgs, args: PlaceArgs) -> anyhow::Result<()> {
    let store = open_store(global)?;
    let mut models = args.models.iter().map(|a| plan_model(&store, a)).collect::<anyhow::Result<Vec<_>>>()?;
    for r in &args.rates {
        let (name, rate) = parse_keyed_number("--rate", r).or_else(|e| bad_input!("{e}"))?;
        let Some(m) = models.iter_mut().find(|m| m.name == name) else {
            bad_input!("--rate `{r}`: `{name}` is not one of the --model models")
        };
        m.rate_per_s = rate;
    }
    let registry = store.list_devices()?;
    let records: Vec<DeviceRecord> = if args.device_ids.is_empty() {
        registry
    } else {
        let mut out = Vec::new();
        for id in &args.device_ids {
            match registry.iter().find(|r| &r.device.device_id == id) {
                Some(r) => out.push(r.clone()),
                None => bad_input!("no device `{id}` in the registry: run `edgefleet devices` to list them"),
            }
        }
        out
    };
    if records.is_empty() {
        bad_input!("the registry has no devices: run `edgefleet scan` or `edgefleet add` first");
    }
    let (devices, live, left_out) = if args.offline {
        let devices: Vec<_> = records.into_iter().map(|r| r.device).collect();
        let live = devices.iter().map(|d| DeviceLoad::offline(&d.device_id)).collect();
        (devices, live, Vec::new())
    } else {
        live_devices(&store, global, &records)?
    };
    if devices.is_empty() {
        let why: Vec<String> = left_out.iter().map(|d| format!("{} ({})", d.device_id, d.reason)).collect();
        anyhow::bail!(
            "no device answered, nothing to place on: {}; `--offline` plans from the registry",
            why.join("; ")
        );
    }
    let mut device_cost_per_hour = vec![0.0; devices.len()];
    for c in &args.device_costs {
        let (id, cost) = parse_keyed_number("--device-cost", c).or_else(|e| bad_input!("{e}"))?;
        let Some(i) = devices.iter().position(|d| d.device_id == id) else {
            bad_input!("--device-cost `{c}`: `{id}` is not one of the devices placed on")
        };
        device_cost_per_hour[i] = cost;
    }
    if !(args.energy_price.is_finite() && args.energy_price >= 0.0) {
        bad_input!("--energy-price must be a number ≥ 0, got {}", args.energy_price);
    }
    let settings = PlanSettings {
        energy_price_per_kwh: args.energy_price,
        device_cost_per_hour,
        base_utilisation: live.iter().map(|l| l.base_utilisation).collect(),
    };
    let plan = plan_placement(Some(&store), &models, &devices, &settings, &FitConfig::default())
        .map_err(super::deploy_cmd::classify)?;
    let shown = PlaceOutput { plan: &plan, live_load: &live, devices_left_out: &left_out };
    if args.json && !args.deploy {
        println!("{}", serde_json::to_string_pretty(&shown).context("cannot encode the plan")?);
        return Ok(());
    }
    if !args.json {
        print_plan(&shown);
    }
    if args.deploy {
        let (directory, _) = directory_from_store(&store, global)?;
        let store = Arc::new(Mutex::new(store));
        let progress: edgefleet_fleet::rollout::ProgressFn = Arc::new(|p| eprintln!("{}: {}", p.device_id, p.state));
        let rt = super::runtime()?;
        let results = rt.block_on(deploy_plan(store, directory, &plan, RolloutPlan::default(), progress));
        let mut failed = 0;
        for (model, r) in &results {
            match r {
                Ok(o) if o.state == "done" => println!("deployed {model} to {}", o.done.join(", ")),
                Ok(o) => {
                    failed += 1;
                    println!("{model}: deployment {} ended {}", o.deployment_id, o.state);
                }
                Err(e) => {
                    failed += 1;
                    println!("{model}: {e}");
                }
            }
        }
        if args.json {
            let outcomes: Vec<_> = results
                .iter()
                .map(|(m, r)| serde_json::json!({"model": m, "outcome": r.as_ref().ok(), "error": r.as_ref().err()}))
                .collect();
            println!("{}", serde_json::json!({"plan": shown, "deployments": outcomes}));
        }
        if failed > 0 {
            anyhow::bail!("{failed} of {} rollouts did not finish", results.len());
        }
    }
    Ok(())
}

/// What the plan was made from, per device: its live load or why it has none.
#[derive(Debug, Serialize)]
struct DeviceLoad {
    device_id: String,
    /// `true`: the device answered and its live state was used; `false`:
    /// `--offline`, the registry's state and no load.
    polled: bool,
    /// Requests per second it served when asked.
    request_rate_per_s: Option<f64>,
    /// Its inference thread's utilisation by those requests.
    base_utilisation: f64,
    rtt_ms: Option<f64>,
}

impl DeviceLoad {
    fn offline(device_id: &str) -> Self {
        DeviceLoad {
            device_id: device_id.to_owned(),
            polled: false,
            request_rate_per_s: None,
            base_utilisation: 0.0,
            rtt_ms: None,
        }
    }

    fn live(l: &LiveLoad) -> Self {
        DeviceLoad {
            device_id: l.device.device_id.clone(),
            polled: true,
            request_rate_per_s: Some(l.request_rate_per_s),
            base_utilisation: l.base_utilisation,
            rtt_ms: Some(l.rtt_ms),
        }
    }
}

/// A device left out of the plan, and why.
#[derive(Debug, Serialize)]
struct DeviceLeftOut {
    device_id: String,
    reason: String,
}

/// The plan as printed: its own fields, then what it was made from.
#[derive(Serialize)]
struct PlaceOutput<'a> {
    #[serde(flatten)]
    plan: &'a PlacementPlan,
    live_load: &'a [DeviceLoad],
    devices_left_out: &'a [DeviceLeftOut],
}

/// Ask every device what it serves now: those that answer with their live
/// state and load, those that do not left out with why.
fn live_devices(
    store: &Store,
    global: &GlobalArgs,
    records: &[DeviceRecord],
) -> anyhow::Result<(Vec<edgefleet_core::Device>, Vec<DeviceLoad>, Vec<DeviceLeftOut>)> {
    let mut targets = Vec::with_capacity(records.len());
    for rec in records {
        targets.push((rec.device.clone(), registered_client(store, global, rec)?));
    }
    let rt = super::runtime()?;
    let answers = rt.block_on(poll_live_loads(targets, LIVE_POLL_TIMEOUT, LIVE_POLL_CONCURRENCY));
    let (mut devices, mut live, mut left_out) = (Vec::new(), Vec::new(), Vec::new());
    for (device, answer) in answers {
        match answer {
            Ok(l) => {
                live.push(DeviceLoad::live(&l));
                devices.push(l.device);
            }
            Err(e) => left_out.push(DeviceLeftOut { device_id: device.device_id, reason: format!("unreachable: {e}") }),
        }
    }
    Ok((devices, live, left_out))
}

fn print_plan(shown: &PlaceOutput<'_>) {
    let plan = shown.plan;
    println!(
        "placement ({}): total cost {:.3} (Σ queued latency ms × priority + energy and device cost per hour)",
        plan.method, plan.total_cost
    );
    match (plan.exact_cost, plan.heuristic_matches_exact) {
        (Some(exact), Some(true)) => {
            println!("  the heuristic found the optimum ({exact:.3}, checked by exact search)")
        }
        (Some(exact), _) => println!(
            "  the heuristic found cost {:.3} with {} left out; the exact search {exact:.3}: the exact plan is used",
            plan.heuristic_cost, plan.heuristic_unplaced
        ),
        (None, _) => println!("  too large for the exact search: the heuristic's plan"),
    }
    for c in &plan.choices {
        let cal = if c.calibrated { "calibrated" } else { "uncalibrated" };
        println!(
            "  {}@{} → {}: cost {:.3} ({:.3} ms {cal}, {:.3} ms queued, {:.1} MB, {:.4}/h) — {}",
            c.model,
            c.version,
            c.device_id,
            c.cost,
            c.latency_ms,
            c.queued_latency_ms,
            c.memory_mb,
            c.cost_per_hour,
            c.reason
        );
    }
    for u in &plan.unplaced {
        println!("  {} NOT PLACED: {}", u.model, u.reason);
    }
    for (d, l) in plan.devices.iter().zip(shown.live_load) {
        let load = match l.request_rate_per_s {
            Some(rate) => format!("{:.0}% busy already at {rate:.1} req/s", l.base_utilisation * 100.0),
            None => "--offline: taken as serving nothing".to_owned(),
        };
        println!(
            "  {:<24} {:>8.1} of {:>8.1} MB used, {:.0}% busy with the plan ({load})",
            d.device_id,
            d.used_mb,
            d.capacity_mb,
            d.utilisation * 100.0
        );
    }
    for d in shown.devices_left_out {
        println!("  {:<24} LEFT OUT: {}", d.device_id, d.reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_arguments_parse() {
        assert_eq!(parse_model_arg("mlp").unwrap(), ("mlp".into(), None, 1.0));
        assert_eq!(parse_model_arg("mlp:3").unwrap(), ("mlp".into(), None, 3.0));
        assert_eq!(parse_model_arg("mlp@1:0.5").unwrap(), ("mlp".into(), Some("1".into()), 0.5));
        assert!(parse_model_arg("mlp:x").is_err());
        assert!(parse_model_arg("mlp:-1").is_err());
        assert!(parse_model_arg(":2").is_err());
    }
}
