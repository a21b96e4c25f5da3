//! `edgefleet estimate`: will a model fit a device, at which batch size,
//! how fast and at what energy cost?

use super::GlobalArgs;
use crate::bad_input;
use edgefleet_core::{Device, FitConfig, ModelProfile, estimate_fit};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct EstimateArgs {
    /// A model profile (JSON, as `edgefleet inspect --json` writes).
    #[arg(long, conflicts_with = "model", required_unless_present = "model")]
    pub profile: Option<PathBuf>,
    /// An ONNX model; its profile is computed from the graph.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The device, in the device JSON format.
    #[arg(long, conflicts_with = "device_id", required_unless_present = "device_id")]
    pub device: Option<PathBuf>,
    /// A registered device: its live free memory and load are polled, its
    /// stored benchmarks calibrate the estimate.
    #[arg(long, value_name = "ID")]
    pub device_id: Option<String>,
    /// Benchmark the `--model` on the `--device-id` device first (upload as
    /// an inactive version unless it is installed) and keep the results.
    #[arg(long, requires_all = ["device_id", "model"])]
    pub measure: bool,
    /// Request rate for queuing, energy and battery life (default: the
    /// device's current rate).
    #[arg(long, value_name = "REQ_PER_S", requires = "device_id")]
    pub rate: Option<f64>,
    /// Print the full result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Read a file the user named; a missing file is their mistake (exit 2).
pub(crate) fn read_input(path: &Path, what: &str) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(s),
        Err(e) => bad_input!("cannot read {what} {}: {e}", path.display()),
    }
}

/// Load and validate a device JSON file.
pub(crate) fn load_device(path: &Path) -> anyhow::Result<Device> {
    match Device::from_json(&read_input(path, "device file")?) {
        Ok(d) => Ok(d),
        Err(e) => bad_input!("{}: {e}", path.display()),
    }
}

/// A profile from `--profile` JSON or computed from an ONNX `--model`.
pub(crate) fn load_profile(profile: Option<&Path>, model: Option<&Path>) -> anyhow::Result<ModelProfile> {
    match (profile, model) {
        (Some(p), _) => match ModelProfile::from_json(&read_input(p, "model profile")?) {
            Ok(m) => Ok(m),
            Err(e) => bad_input!("{}: {e}", p.display()),
        },
        (None, Some(m)) => match edgefleet_optimize::inspect_path(m) {
            Ok(p) => Ok(p),
            Err(e) => bad_input!("{}: {e}", m.display()),
        },
        (None, None) => bad_input!("give --profile FILE.json or --model FILE.onnx"),
    }
}

pub fn run(global: &GlobalArgs, args: EstimateArgs) -> anyhow::Result<()> {
    let profile = load_profile(args.profile.as_deref(), args.model.as_deref())?;
    let device = match (&args.device, &args.device_id) {
        (Some(path), _) => load_device(path)?,
        (None, Some(id)) => return super::estimate_live::run(global, &args, profile, id),
        (None, None) => bad_input!("give --device FILE.json or --device-id ID"),
    };
    let fit = estimate_fit(&profile, &device, &FitConfig::default());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&fit)?);
        return Ok(());
    }
    let verdict = if fit.compatible { "FITS" } else { "DOES NOT FIT" };
    println!("{} on {} ({}): {verdict}", profile.name, device.display_name(), device.device_type.label());
    for r in &fit.reasons {
        println!("  {} {}", if r.ok { "ok " } else { "NO " }, r.message);
    }
    if fit.compatible {
        println!("largest batch that fits: {}", fit.max_batch);
        println!("{:>6}  {:>19}  {:>21}  {:>19}", "batch", "latency ms", "throughput /s", "energy mJ/inf");
        for b in &fit.per_batch {
            println!(
                "{:>6}  {:>8.2} – {:>8.2}  {:>9.1} – {:>9.1}  {:>8.3} – {:>8.3}",
                b.batch,
                b.latency_ms.low,
                b.latency_ms.high,
                b.throughput_per_s.low,
                b.throughput_per_s.high,
                b.energy_mj.low,
                b.energy_mj.high
            );
        }
    }
    Ok(())
}
