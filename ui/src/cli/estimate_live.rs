//! `edgefleet estimate --device-id ID [--measure] [--rate R]`: the estimate
//! for a registered device at its current state — polled for live free
//! memory, load, request rate and round-trip time, calibrated with the
//! benchmarks kept for it (after measuring this model when `--measure`),
//! with the total latency (network + compute + queue) and, at the request
//! rate, the energy per inference and the battery life of a battery device.

use super::GlobalArgs;
use super::estimate_cmd::EstimateArgs;
use super::store_args::{open_store, registered_client};
use crate::bad_input;
use edgefleet_core::{Fit, FitConfig, ModelProfile};
use edgefleet_fleet::measure::{DEFAULT_ITERATIONS, LiveDevice};
use edgefleet_fleet::{
    AgentClient, MeasureOutcome, MeasureRequest, OperatingPoint, measure_on_device, now_ms, operating_point,
    poll_device,
};
use edgefleet_store::Store;
use serde::Serialize;
use std::sync::Mutex;

/// Everything `--json` prints.
#[derive(Serialize)]
struct LiveEstimate<'a> {
    device: &'a edgefleet_core::Device,
    /// `true` when the device answered the poll; `false`: the registry's
    /// last known state was used.
    polled: bool,
    rtt_ms: Option<f64>,
    current_request_rate_per_s: Option<f64>,
    fit: &'a Fit,
    calibration_source: Option<String>,
    measurement: Option<&'a MeasureOutcome>,
    operating_point: Option<&'a OperatingPoint>,
    operating_point_error: Option<String>,
}

/// A client for a registered device, from its stored address and token.
fn client_for(store: &Store, global: &GlobalArgs, id: &str) -> anyhow::Result<(AgentClient, edgefleet_core::Device)> {
    let Some(rec) = store.get_device(id)? else {
        bad_input!("no device `{id}` in the registry: run `edgefleet devices` to list them")
    };
    match registered_client(store, global, &rec)? {
        Ok(client) => Ok((client, rec.device)),
        Err(why) => bad_input!("{why}"),
    }
}

pub fn run(global: &GlobalArgs, args: &EstimateArgs, profile: ModelProfile, id: &str) -> anyhow::Result<()> {
    if let Some(r) = args.rate
        && !(r.is_finite() && r >= 0.0)
    {
        bad_input!("--rate must be a number of requests per second ≥ 0, got {r}");
    }
    let store = open_store(global)?;
    let (client, registered) = client_for(&store, global, id)?;
    let cfg = FitConfig::default();
    let rt = super::runtime()?;
    let (live, poll_error) = match rt.block_on(poll_device(&client)) {
        Ok(l) => (Some(l), None),
        Err(e) => (None, Some(e)),
    };
    if let Some(l) = &live
        && let Err(e) = store.set_device_rtt(id, l.rtt_ms, now_ms())
    {
        eprintln!("warning: cannot keep the measured RTT: {e}");
    }
    let store = Mutex::new(store);
    let measurement = if args.measure {
        let Some(model_path) = args.model.clone() else { bad_input!("--measure needs --model FILE.onnx") };
        if let Some(e) = &poll_error {
            anyhow::bail!("cannot measure on {id}: it did not answer: {e}");
        }
        let req = MeasureRequest {
            device_id: id.to_owned(),
            model_path,
            name: None,
            version: None,
            iterations: DEFAULT_ITERATIONS,
        };
        let progress = |f: f32, msg: String| eprintln!("[{:>3.0}%] {msg}", f * 100.0);
        let outcome = rt
            .block_on(measure_on_device(&client, &store, &req, &cfg, &progress))
            .map_err(super::deploy_cmd::classify)?;
        Some(outcome)
    } else {
        None
    };
    let device = live.as_ref().map_or(registered, |l: &LiveDevice| l.device.clone());
    let store = store.into_inner().map_err(|_| anyhow::anyhow!("the store lock is poisoned"))?;
    let (fit, calibration) = edgefleet_fleet::calibrated_fit(&store, &profile, &device, &cfg)?;
    let rtt_ms = match &live {
        Some(l) => Some(l.rtt_ms),
        None => store.device_rtt(id)?.map(|(rtt, _)| rtt),
    };
    let current_rate = live.as_ref().map(LiveDevice::request_rate_per_s);
    let rate = args.rate.or(current_rate).unwrap_or(0.0);
    let (op, op_error) = match operating_point(&fit, &profile, &device, &cfg, rtt_ms, rate) {
        Ok(op) => (Some(op), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let source = calibration.as_ref().map(|c| {
        let what = if c.synthetic { "synthetic benchmark runs" } else { "runs" };
        format!("calibrated from {} {what} of models {}", c.runs, c.models.join(", "))
    });
    if args.json {
        let out = LiveEstimate {
            device: &device,
            polled: live.is_some(),
            rtt_ms,
            current_request_rate_per_s: current_rate,
            fit: &fit,
            calibration_source: source,
            measurement: measurement.as_ref(),
            operating_point: op.as_ref(),
            operating_point_error: op_error,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let verdict = if fit.compatible { "FITS" } else { "DOES NOT FIT" };
    println!("{} on {} ({}): {verdict}", profile.name, device.display_name(), device.device_type.label());
    match (&live, &poll_error) {
        (Some(l), _) => println!(
            "  polled now: load {:.0}%, {} MB free, {:.2} req/s, RTT {:.2} ms",
            l.device.current_load * 100.0,
            l.device.effective_free_memory_mb(),
            l.request_rate_per_s(),
            l.rtt_ms
        ),
        (None, Some(e)) => println!("  not answering ({e}): using the registry's last known state"),
        (None, None) => {}
    }
    for r in &fit.reasons {
        println!("  {} {}", if r.ok { "ok " } else { "NO " }, r.message);
    }
    println!("calibration: {}", source.as_deref().unwrap_or("none (no benchmark kept for this device)"));
    if fit.compatible {
        print_batches(&fit, measurement.as_ref(), calibration.as_ref().is_some_and(|c| c.synthetic));
    }
    match (&op, &op_error) {
        (Some(op), _) => {
            let from = if args.rate.is_some() { "--rate" } else { "the device's current rate" };
            println!("at {:.2} req/s ({from}):", op.request_rate_per_s);
            println!("  {}", op.latency_line());
            match op.energy_line() {
                Some(line) => println!("  {line}"),
                None => println!("  energy: give --rate R (the device serves 0 req/s now)"),
            }
        }
        (None, Some(e)) => println!("total latency: {e}"),
        (None, None) => {}
    }
    Ok(())
}

/// The per-batch table: the estimate (calibrated when it is), the estimate
/// before this measurement, and what was measured — or, on a simulated
/// device, the synthetic figure, never called measured.
fn print_batches(fit: &Fit, measurement: Option<&MeasureOutcome>, synthetic: bool) {
    let measured_label = if synthetic { "synthetic p50" } else { "measured p50" };
    // Heap: what the agent allocated for the model; RSS: resident memory.
    let peak_label = match measurement.and_then(|m| m.memory_source) {
        Some("heap") if !synthetic => "heap peak MB",
        Some(_) if !synthetic => "RSS peak MB",
        _ => "meas. peak MB",
    };
    println!("largest batch that fits: {}", fit.max_batch);
    println!(
        "{:>6}  {:>21}  {:>21}  {:>14}  {:>10}  {:>12}",
        "batch", "estimate ms", "before measuring ms", measured_label, "est. MB", peak_label
    );
    for b in &fit.per_batch {
        let cmp = measurement.and_then(|m| m.per_batch.iter().find(|c| c.batch == b.batch));
        let before = cmp.map_or("-".to_owned(), |c| {
            format!("{:.3} – {:.3}", c.estimated_latency_ms.low, c.estimated_latency_ms.high)
        });
        let measured = b.measured_latency_ms.map_or("-".to_owned(), |m| format!("{m:.3}"));
        let peak = cmp.and_then(|c| c.measured_peak_mb).map_or("-".to_owned(), |m| format!("{m:.1}"));
        println!(
            "{:>6}  {:>9.3} – {:>9.3}  {:>21}  {:>14}  {:>10.1}  {:>12}",
            b.batch, b.latency_ms.low, b.latency_ms.high, before, measured, b.memory_mb, peak
        );
    }
}
