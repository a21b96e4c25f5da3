//! Command-line flags of `edgefleet-agent` and what each command does.

use crate::broker_args::BrokerArgs;
use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use edgefleet_agent::{
    AgentConfig, DEFAULT_KEEP_VERSIONS, DEFAULT_MAX_PARTS_BYTES, DEFAULT_MAX_UPLOAD_BYTES, SimulateOptions, cli_docs,
    detect_device, load_or_create_device_id, load_or_create_token, private_temp_dir, random_hex, read_token_file, run,
    simulate,
};
use edgefleet_core::{Device, DeviceType, Location};
use edgefleet_optimize::runtime::{self, RuntimeChoice};
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Parser)]
#[command(name = "edgefleet-agent", version, about = "edgefleet device agent: HTTP API, mDNS, model store, inference")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub agent: AgentArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run N simulated agents in this process (demo fleets).
    Simulate(Box<SimulateArgs>),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(cli_docs::CompletionsArgs),
    /// Print the man page (roff), or write it into a directory.
    Man(cli_docs::ManArgs),
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Human name of this device.
    #[arg(long)]
    pub name: Option<String>,
    /// mobile_phone, iot_sensor, edge_server, embedded_device, smart_camera, autonomous_vehicle.
    #[arg(long, value_parser = parse_device_type)]
    pub device_type: Option<DeviceType>,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind: IpAddr,
    /// Port to listen on; 0 = any free port.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Network interface mDNS uses (repeatable); default all.
    #[arg(long = "interface", value_name = "NAME")]
    pub interfaces: Vec<String>,
    /// Where the token, device id and models are kept.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Bearer token. Visible to every local user in /proc/PID/cmdline:
    /// prefer --token-file or EDGEFLEET_AGENT_TOKEN. Without either, one
    /// is generated on first start (printed once; only its SHA-256 is kept).
    #[arg(long, env = "EDGEFLEET_AGENT_TOKEN")]
    pub token: Option<String>,
    /// Read the bearer token from this file (its first line); wins over
    /// --token and EDGEFLEET_AGENT_TOKEN.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Location as LAT,LON in degrees.
    #[arg(long, value_parser = parse_lat_lon, allow_hyphen_values = true)]
    pub location: Option<(f64, f64)>,
    /// Hardware description in the device JSON format.
    #[arg(long, value_name = "DEVICE.json")]
    pub profile: Option<PathBuf>,
    /// Base URL of the agent low-confidence predictions are forwarded to.
    #[arg(long)]
    pub upstream: Option<String>,
    /// Bearer token for the upstream.
    #[arg(long, env = "EDGEFLEET_UPSTREAM_TOKEN")]
    pub upstream_token: Option<String>,
    /// Key fingerprint of an https:// upstream (the `fingerprint` it
    /// prints): only that key is trusted.
    #[arg(long, value_name = "FINGERPRINT")]
    pub upstream_fingerprint: Option<String>,
    /// Largest model upload accepted, in MB.
    #[arg(long, default_value_t = DEFAULT_MAX_UPLOAD_BYTES / (1024 * 1024))]
    pub max_upload_mb: u64,
    /// Bytes all partial uploads together may hold, in MB (507 beyond).
    #[arg(long, default_value_t = DEFAULT_MAX_PARTS_BYTES / (1024 * 1024))]
    pub max_parts_mb: u64,
    /// Installed versions of a model kept besides the active and the
    /// previous one; older ones are deleted after each install.
    #[arg(long, default_value_t = DEFAULT_KEEP_VERSIONS, value_parser = clap::value_parser!(usize))]
    pub keep_versions: usize,
    /// Storage the model store may use in all, in MB (installed versions
    /// and partial uploads): uploads beyond are refused (507, "needs X, Y
    /// free") and the free storage reported is capped by it. Default: the
    /// disk's own free space.
    #[arg(long, value_name = "MB")]
    pub storage_mb: Option<u64>,
    /// Do not advertise on mDNS.
    #[arg(long)]
    pub no_advertise: bool,
    /// Serve plain HTTP instead of HTTPS: the token and models cross the
    /// network in clear. Only for tests and closed lab networks.
    #[arg(long)]
    pub insecure_http: bool,
    /// Activate models even without a valid signature of the console this
    /// agent is paired with. By default, once a console pinned its key
    /// (at pairing), unsigned or wrongly signed versions are refused.
    #[arg(long)]
    pub allow_unsigned: bool,
    /// Inference runtime: auto (ONNX Runtime when its library loads, else
    /// tract), tract (built in, always there) or ort (ONNX Runtime; exit 2
    /// when its library is missing).
    #[arg(long, default_value = "auto", value_name = "auto|tract|ort")]
    pub runtime: RuntimeChoice,
    /// The ONNX Runtime shared library (a file, or a folder holding it);
    /// else ORT_DYLIB_PATH, lib/ next to the binary, the app data dir, then
    /// an installed Python onnxruntime are tried.
    #[arg(long, value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,
    #[command(flatten)]
    pub broker: BrokerArgs,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Number of agents.
    #[arg(long)]
    pub count: usize,
    /// Network interface mDNS uses (repeatable); default all.
    #[arg(long = "interface", value_name = "NAME")]
    pub interfaces: Vec<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Centre of the fleet as LAT,LON.
    #[arg(long, value_parser = parse_lat_lon, allow_hyphen_values = true, default_value = "48.8566,2.3522")]
    pub center: (f64, f64),
    /// One token for every agent; each generates its own when absent.
    /// Visible in /proc/PID/cmdline: prefer --token-file.
    #[arg(long)]
    pub token: Option<String>,
    /// Read that token from a file (its first line); wins over --token.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Parent of the agents' data dirs; default a new private dir (0700,
    /// random name) under the system temp dir, removed at exit.
    #[arg(long)]
    pub base_dir: Option<PathBuf>,
    /// Do not advertise on mDNS.
    #[arg(long)]
    pub no_advertise: bool,
    /// Unsure predictions on small devices fall back to an edge server of the fleet.
    #[arg(long)]
    pub offload_to_edge: bool,
    /// Serve plain HTTP instead of HTTPS (see the agent's --insecure-http).
    #[arg(long)]
    pub insecure_http: bool,
    #[command(flatten)]
    pub broker: BrokerArgs,
}

fn parse_device_type(s: &str) -> Result<DeviceType, String> {
    s.parse().map_err(|e: edgefleet_core::DeviceError| e.to_string())
}

fn parse_lat_lon(s: &str) -> Result<(f64, f64), String> {
    let (lat, lon) = s.split_once(',').ok_or_else(|| format!("`{s}`: expected LAT,LON"))?;
    let lat: f64 = lat.trim().parse().map_err(|_| format!("`{lat}` is not a latitude"))?;
    let lon: f64 = lon.trim().parse().map_err(|_| format!("`{lon}` is not a longitude"))?;
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(format!("`{s}` is off the globe"));
    }
    Ok((lat, lon))
}

fn default_data_dir() -> PathBuf {
    match std::env::var_os("XDG_DATA_HOME")
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share").into()))
    {
        Some(base) => PathBuf::from(base).join("edgefleet-agent"),
        None => PathBuf::from("edgefleet-agent-data"),
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

pub async fn execute(cli: Cli) -> Result<()> {
    match cli.command {
        Some(Command::Simulate(args)) => run_simulation(*args).await,
        Some(Command::Completions(args)) => {
            cli_docs::print_completions(&args, <Cli as clap::CommandFactory>::command(), "edgefleet-agent");
            Ok(())
        }
        Some(Command::Man(args)) => Ok(cli_docs::write_man(&args, <Cli as clap::CommandFactory>::command())?),
        None => run_agent(cli.agent).await,
    }
}

fn device_for(args: &AgentArgs, data_dir: &std::path::Path) -> Result<Device> {
    let mut device = match &args.profile {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read profile {}", path.display()))?;
            Device::from_json(&text).with_context(|| format!("profile {}", path.display()))?
        }
        None => {
            let device_type = args.device_type.unwrap_or(DeviceType::EmbeddedDevice);
            let id = load_or_create_device_id(data_dir, || {
                format!("{}-{}", device_type.as_str().replace('_', "-"), random_hex(4))
            })?;
            detect_device(&id, device_type, data_dir)?
        }
    };
    if let Some(t) = args.device_type {
        device.device_type = t;
    }
    if let Some(name) = &args.name {
        device.name = Some(name.clone());
    }
    if let Some((latitude, longitude)) = args.location {
        device.location = Some(Location { latitude, longitude });
    }
    Ok(device)
}

async fn run_agent(args: AgentArgs) -> Result<()> {
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    std::fs::create_dir_all(&data_dir).with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    let device = device_for(&args, &data_dir)?;
    let given = match (&args.token_file, &args.token) {
        (Some(path), _) => Some(read_token_file(path)?),
        (None, Some(t)) if !t.trim().is_empty() => Some(t.trim().to_owned()),
        (None, Some(_)) => bail!("--token must not be empty"),
        (None, None) => None,
    };
    // Without a token given, the stored hash is used (and made on first
    // start, when the new token is printed once).
    let created = match &given {
        Some(_) => None,
        None => load_or_create_token(&data_dir)?.created,
    };
    // Choosing may ask Python where onnxruntime lives: off the async workers.
    let (choice, ort_lib) = (args.runtime, args.ort_lib.clone());
    let selected = tokio::task::spawn_blocking(move || runtime::select(choice, ort_lib.as_deref(), 1)).await?;
    let selected = match selected {
        Ok(s) => s,
        Err(e) => {
            // A runtime asked for and missing is a setup error: one line, exit 2.
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let mut config = AgentConfig::new(device, &data_dir);
    config.runtime = Some(selected);
    config.token = given;
    config.interfaces = args.interfaces.clone();
    config.advertise = !args.no_advertise;
    config.upstream = args.upstream.clone();
    config.upstream_token = args.upstream_token.clone();
    config.upstream_fingerprint = args.upstream_fingerprint.clone();
    config.max_upload_bytes = args.max_upload_mb.saturating_mul(1024 * 1024);
    config.max_parts_bytes = args.max_parts_mb.saturating_mul(1024 * 1024);
    config.keep_versions = args.keep_versions.max(1);
    config.storage_budget_bytes = args.storage_mb.map(|mb| mb.saturating_mul(1024 * 1024));
    config.broker = args.broker.config()?;
    config.tls = !args.insecure_http;
    config.allow_unsigned = args.allow_unsigned;
    // Made on first start; loaded here to print its fingerprint before serving.
    let key = edgefleet_agent::DeviceKey::load_or_create(&data_dir)?;
    let listener = tokio::net::TcpListener::bind((args.bind, args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.bind, args.port))?;
    let addr = listener.local_addr()?;
    // The first line stays `listening on ADDR` (scripts read it). All lines
    // go out in one write, so a reader that stops after the first line
    // (closing the pipe) cannot make a later line fail.
    let scheme = if config.tls { "https" } else { "plain http (--insecure-http: token and models in clear)" };
    let mut text = format!(
        "listening on {addr}\nserving {scheme}\nfingerprint {} (compare it with what the console shows when pairing)\n",
        key.fingerprint
    );
    if let Some(token) = created {
        text.push_str(&format!(
            "token {token} (generated; only its SHA-256 is kept, in {})\n",
            data_dir.join("token.sha256").display()
        ));
    }
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    drop(out);
    run(listener, config, shutdown_signal()).await?;
    Ok(())
}

async fn run_simulation(args: SimulateArgs) -> Result<()> {
    // Without --base-dir: a fresh private dir (0700, random name), removed at exit.
    let (base_dir, own_dir) = match &args.base_dir {
        Some(d) => (d.clone(), false),
        None => (private_temp_dir("edgefleet-sim")?, true),
    };
    let opts = SimulateOptions {
        count: args.count,
        seed: args.seed,
        center: args.center,
        interfaces: args.interfaces.clone(),
        token: match &args.token_file {
            Some(path) => Some(read_token_file(path)?),
            None => args.token.clone(),
        },
        base_dir: base_dir.clone(),
        advertise: !args.no_advertise,
        bind: args.bind,
        offload_to_edge: args.offload_to_edge,
        broker: args.broker.config()?,
        tls: !args.insecure_http,
    };
    let started = Instant::now();
    let fleet = simulate(opts).await?;
    let mut out = std::io::stdout().lock();
    for a in fleet.agents() {
        writeln!(out, "{} {} {}", a.device_id, a.addr, a.token)?;
    }
    out.flush()?;
    drop(out);
    tracing::info!("{} simulated agents up in {} ms", fleet.agents().len(), started.elapsed().as_millis());
    shutdown_signal().await;
    fleet.shutdown().await;
    if own_dir && let Err(e) = std::fs::remove_dir_all(&base_dir) {
        tracing::warn!("cannot remove {}: {e}", base_dir.display());
    }
    Ok(())
}
