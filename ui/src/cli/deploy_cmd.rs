//! `edgefleet deploy MODEL.onnx (--to ID[,ID…] | --all)`: a staged rollout
//! with a progress bar per device on stderr. Killed at any point, the same
//! command (or `--resume ID`) continues it without re-sending held bytes.

use super::GlobalArgs;
use super::store_args::open_store;
use crate::bad_input;
use anyhow::Context;
use edgefleet_fleet::engine::Route;
use edgefleet_fleet::rollout::ProgressFn;
use edgefleet_fleet::{
    Directory, FleetError, RolloutOutcome, RolloutPlan, RolloutRequest, Source, StepProgress, http_client,
    resume_rollout, run_rollout,
};
use edgefleet_store::Store;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// The ONNX model file.
    #[arg(required_unless_present = "resume")]
    pub model: Option<PathBuf>,
    /// Target devices, comma-separated, in rollout order (canaries first).
    #[arg(long, value_delimiter = ',', value_name = "ID[,ID…]", conflicts_with = "all")]
    pub to: Vec<String>,
    /// Every device in the registry.
    #[arg(long)]
    pub all: bool,
    /// Devices that must succeed before the rest start.
    #[arg(long, default_value_t = 1)]
    pub canary: usize,
    /// Devices worked on at once after the canaries.
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    /// Failed devices tolerated before the rollout stops and rolls back.
    #[arg(long, default_value_t = 0)]
    pub max_failures: usize,
    /// Retries of a network call that failed transiently.
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    /// How long a device that stops answering mid-rollout (rebooting) is
    /// waited for before its step fails, in seconds.
    #[arg(long, value_name = "S", default_value_t = edgefleet_fleet::rollout::DEFAULT_WAIT_FOR_DEVICE_S)]
    pub wait_for_device_s: u64,
    /// Model name on the devices (default: the file stem).
    #[arg(long)]
    pub name: Option<String>,
    /// Version on the devices (default: the first 12 hex digits of the SHA-256).
    #[arg(long)]
    pub version: Option<String>,
    /// Offload threshold to set on activation (0..=1): rows whose local
    /// confidence is below it go to the device's upstream.
    #[arg(long, visible_alias = "offload-threshold")]
    pub confidence_threshold: Option<f64>,
    /// Offload latency SLA to set on activation, ms: a row below the
    /// threshold goes upstream only when local + upstream time stays within it.
    #[arg(long, value_name = "MS")]
    pub offload_sla_ms: Option<f64>,
    /// Continue deployment ID instead of starting one.
    #[arg(long, value_name = "ID", conflicts_with_all = ["model", "to", "all"])]
    pub resume: Option<i64>,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
    /// Devices found through this broker (`edgefleet scan --broker`) are
    /// deployed through it: each pulls the file from a server started here.
    #[command(flatten)]
    pub broker: super::broker_cmd::BrokerFlags,
}

/// Devices of the registry with an address, with their stored token (or the
/// default one). Those last found through a broker are on [`Route::Broker`]
/// (reached through it once a broker link is set, else over HTTP).
pub(super) fn directory_from_store(store: &Store, global: &GlobalArgs) -> anyhow::Result<(Directory, Vec<String>)> {
    let directory = Directory::new(http_client()?);
    directory.set_signer(Some(super::store_args::open_signer(global)?));
    for (id, fp) in store.key_fingerprints()? {
        directory.pin(&id, &fp);
    }
    let mut ids = Vec::new();
    for rec in store.list_devices()? {
        let (Some(address), Some(port)) = (rec.address.as_deref(), rec.port) else { continue };
        let Ok(ip) = address.parse::<IpAddr>() else { continue };
        let id = rec.device.device_id.clone();
        let token = store.token(&id)?.or_else(|| global.token.clone());
        let route = if rec.source == Source::Mqtt.as_str() { Route::Broker } else { Route::Http };
        directory.insert_route(&id, SocketAddr::new(ip, port), token, route);
        ids.push(id);
    }
    Ok((directory, ids))
}

/// Turn the library's bad-input errors into exit code 2.
pub(super) fn classify(e: FleetError) -> anyhow::Error {
    match e {
        FleetError::BadInput(m) => anyhow::Error::new(super::BadInput(m)),
        other => anyhow::Error::new(other),
    }
}

/// A step detail as people read it: without the `prior:VERSION` note the
/// rollout keeps for itself; `None` when nothing is left.
fn shown_detail(detail: &str) -> Option<&str> {
    let text = match detail.strip_prefix("prior:") {
        Some(rest) => rest.split_once("; ").map_or("", |(_, t)| t),
        None => detail,
    };
    (!text.is_empty()).then_some(text)
}

/// Bars on a terminal; one line per change of state or note otherwise (a
/// log or a pipe would show no bars, and "waiting for device" must be seen).
fn progress_bars() -> ProgressFn {
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) { bars() } else { progress_lines() }
}

/// `DEVICE: state[: note]` on stderr each time either changes.
fn progress_lines() -> ProgressFn {
    let last: Mutex<HashMap<String, String>> = Mutex::new(HashMap::new());
    Arc::new(move |p: StepProgress| {
        let line = match p.detail.as_deref().and_then(shown_detail) {
            Some(d) => format!("{}: {}: {d}", p.device_id, p.state),
            None => format!("{}: {}", p.device_id, p.state),
        };
        let Ok(mut last) = last.lock() else { return };
        // Chunk-by-chunk upload progress repeats the same line: print it once.
        if last.get(&p.device_id) != Some(&line) {
            eprintln!("{line}");
            last.insert(p.device_id.clone(), line);
        }
    })
}

/// One bar per device, created as devices report.
fn bars() -> ProgressFn {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let bars: Mutex<HashMap<String, ProgressBar>> = Mutex::new(HashMap::new());
    let style = ProgressStyle::with_template("{prefix:>16} [{bar:30}] {bytes:>10}/{total_bytes:<10} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    Arc::new(move |p: StepProgress| {
        let Ok(mut bars) = bars.lock() else { return };
        let bar = bars.entry(p.device_id.clone()).or_insert_with(|| {
            let b = multi.add(ProgressBar::new(p.total_bytes));
            b.set_style(style.clone());
            b.set_prefix(p.device_id.clone());
            b
        });
        bar.set_length(p.total_bytes);
        bar.set_position(p.bytes_sent.min(p.total_bytes));
        // Every detail is shown ("waiting for device …" can come in any state).
        let msg = match p.detail.as_deref().and_then(shown_detail) {
            Some(d) => format!("{}: {d}", p.state),
            None => p.state.to_string(),
        };
        bar.set_message(msg);
        if p.state.is_final() {
            bar.finish();
        }
    })
}

pub fn run(global: &GlobalArgs, args: DeployArgs) -> anyhow::Result<()> {
    let plan = RolloutPlan {
        canary: args.canary,
        parallel: args.parallel,
        max_failures: args.max_failures,
        retries: args.retries,
        confidence_threshold: args.confidence_threshold,
        offload_sla_ms: args.offload_sla_ms,
        wait_for_device_s: args.wait_for_device_s,
    };
    let store = open_store(global)?;
    let (directory, known) = directory_from_store(&store, global)?;
    let store = Arc::new(Mutex::new(store));
    let progress = progress_bars();
    let rt = super::runtime()?;
    // Kept for the whole rollout: its connection carries the commands.
    let _watch = super::broker_cmd::attach(&rt, &args.broker, &directory)?;
    let outcome = match (args.resume, args.model) {
        (Some(id), _) => rt.block_on(resume_rollout(store, directory, id, progress)).map_err(classify)?,
        (None, Some(model)) => {
            let targets = match (args.all, args.to.is_empty()) {
                (true, _) => known,
                (false, false) => args.to,
                (false, true) => bad_input!("say where to deploy: --to ID[,ID…] or --all"),
            };
            if targets.is_empty() {
                bad_input!("the registry has no reachable devices: run `edgefleet scan` or `edgefleet add` first");
            }
            let req = RolloutRequest {
                name: args.name.unwrap_or_default(),
                version: args.version.unwrap_or_default(),
                ..RolloutRequest::for_file(model, targets, plan)
            };
            rt.block_on(run_rollout(store, directory, req, progress)).map_err(classify)?
        }
        (None, None) => bad_input!("give a MODEL.onnx file or --resume ID"),
    };
    report(&outcome, args.json)
}

fn report(o: &RolloutOutcome, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(o).context("cannot encode the outcome")?);
    } else {
        println!(
            "deployment {}: {} {} ({}…) {}",
            o.deployment_id,
            o.name,
            o.version,
            &o.sha256[..16.min(o.sha256.len())],
            o.state
        );
        for d in &o.done {
            println!("  {d:<24} done");
        }
        for d in &o.rolled_back {
            println!("  {d:<24} rolled back");
        }
        for (d, why) in &o.failed {
            println!("  {d:<24} failed: {why}");
        }
    }
    if o.state != "done" {
        anyhow::bail!(
            "deployment {} ended {}{}",
            o.deployment_id,
            o.state,
            o.detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default()
        );
    }
    Ok(())
}
