//! The `edgefleet` command line: one subcommand per file, each a twin of a
//! GUI action. Exit codes: 0 ok, 1 runtime failure, 2 bad usage or input.

use clap::{Parser, Subcommand};
use edgefleet_agent::cli_docs;
use std::fmt;

mod add_cmd;
mod broker_cmd;
mod delete_version_cmd;
mod deploy_cmd;
mod deployments_cmd;
mod devices_cmd;
mod distill_cmd;
mod estimate_cmd;
mod estimate_live;
mod gateway_cmd;
mod import_cmd;
mod inspect_cmd;
mod models_cmd;
mod optimize_cmd;
mod pair_cmd;
mod place_cmd;
mod remove_model_cmd;
mod rollback_cmd;
mod rotate_token_cmd;
mod scan_cmd;
mod store_args;

/// An error caused by what the user gave us (exit code 2), as opposed to a
/// failure while doing the work (exit code 1).
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Return early with a [`BadInput`] error.
#[macro_export]
macro_rules! bad_input {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::cli::BadInput(format!($($arg)*))))
    };
}

/// Options every subcommand shares.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// The SQLite database (default: the user's data dir).
    #[arg(long, global = true, env = "EDGEFLEET_DB")]
    pub db: Option<std::path::PathBuf>,
    /// Token for devices with no token stored by `edgefleet pair`. Visible
    /// to every local user in /proc/PID/cmdline: prefer --token-file or
    /// EDGEFLEET_TOKEN.
    #[arg(long, global = true, env = "EDGEFLEET_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Read that token from a file (its first line); wins over --token and
    /// EDGEFLEET_TOKEN.
    #[arg(long, global = true, value_name = "PATH")]
    pub token_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Parser)]
#[command(
    name = "edgefleet",
    version,
    about = "Console for fleets of edge-AI devices: discover, estimate, optimize, deploy."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    /// Open the app on N simulated devices on loopback (default 24), with a
    /// scratch database: nothing leaves 127.0.0.1.
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "24")]
    pub demo: Option<usize>,
    /// mDNS interface for the app to browse (repeat; default: all).
    #[arg(long = "interface", value_name = "IFACE")]
    pub interfaces: Vec<String>,
    /// The app also finds devices through this MQTT broker (--broker URL --fleet NAME).
    #[command(flatten)]
    pub broker: broker_cmd::BrokerFlags,
    /// Tab to open on: map, charts or deployments (for screenshots).
    #[arg(long, hide = true)]
    pub start_tab: Option<String>,
    /// Open a fit panel as soon as a model and a camera are known (for screenshots).
    #[arg(long, hide = true)]
    pub demo_fit: bool,
    /// With --demo-fit: also deploy that model (for screenshots).
    #[arg(long, hide = true)]
    pub demo_deploy: bool,
    /// With --demo-fit: also measure that model on the device (for screenshots).
    #[arg(long, hide = true)]
    pub demo_measure: bool,
    /// Make three variants of the demo MLP and open their comparison (for screenshots).
    #[arg(long, hide = true)]
    pub demo_compare: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Will a model fit a device, at which batch size, how fast?
    Estimate(estimate_cmd::EstimateArgs),
    /// List the devices in the registry.
    Devices(devices_cmd::DevicesArgs),
    /// Find agents on the LAN (mDNS, and a unicast sweep where multicast is blocked).
    Scan(scan_cmd::ScanArgs),
    /// Register one agent by HOST:PORT.
    Add(add_cmd::AddArgs),
    /// Activate, roll back or benchmark a model on a device through an MQTT broker.
    BrokerCmd(broker_cmd::BrokerCmdArgs),
    /// Store the token of a device so the console can talk to it.
    Pair(pair_cmd::PairArgs),
    /// Forget a device's token: it shows as unpaired until paired again.
    Unpair(pair_cmd::UnpairArgs),
    /// Remove a model from the library (its file stays on disk).
    RemoveModel(remove_model_cmd::RemoveModelArgs),
    /// Profile an ONNX model: parameters, FLOPs, peak activations, ops.
    Inspect(inspect_cmd::InspectArgs),
    /// Add an ONNX model to the library (profiled; versioned by its SHA-256).
    Import(import_cmd::ImportArgs),
    /// The library: models and the variants optimized from them, as a tree.
    Models(models_cmd::ModelsArgs),
    /// Rewrite a model (int8, fp16, pruning, fixed shapes) and measure it.
    Optimize(optimize_cmd::OptimizeArgs),
    /// Train a small student from a teacher's soft labels (or search its shape for a device).
    Distill(distill_cmd::DistillArgs),
    /// Which model goes on which device: a placement plan with reasons (and --deploy).
    Place(place_cmd::PlaceArgs),
    /// Roll a model out to devices: canary first, health-checked, resumable.
    Deploy(deploy_cmd::DeployArgs),
    /// Put devices back on the version of a model they ran before.
    Rollback(rollback_cmd::RollbackArgs),
    /// Delete an installed, inactive version of a model from devices.
    DeleteVersion(delete_version_cmd::DeleteVersionArgs),
    /// Give a paired device a new bearer token (the old one stops working).
    RotateToken(rotate_token_cmd::RotateTokenArgs),
    /// Rollout history, or one rollout's steps.
    Deployments(deployments_cmd::DeploymentsArgs),
    /// Serve one model's predict API, load-balanced over the devices that have it.
    Gateway(gateway_cmd::GatewayArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(cli_docs::CompletionsArgs),
    /// Print the man page (roff), or write a page per subcommand into a directory.
    Man(cli_docs::ManArgs),
}

/// Run a parsed command line; `Ok(())` means exit code 0.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let mut global = cli.global;
    if let Some(path) = global.token_file.take() {
        match edgefleet_agent::read_token_file(&path) {
            Ok(t) if !t.is_empty() => global.token = Some(t),
            Ok(_) => bad_input!("{} holds no token", path.display()),
            Err(e) => bad_input!("{e}"),
        }
    }
    match cli.command {
        Some(Command::Estimate(a)) => estimate_cmd::run(&global, a),
        Some(Command::Devices(a)) => devices_cmd::run(&global, a),
        Some(Command::Scan(a)) => scan_cmd::run(&global, a),
        Some(Command::Add(a)) => add_cmd::run(&global, a),
        Some(Command::BrokerCmd(a)) => broker_cmd::run(&global, a),
        Some(Command::Pair(a)) => pair_cmd::run(&global, a),
        Some(Command::Unpair(a)) => pair_cmd::unpair(&global, a),
        Some(Command::RemoveModel(a)) => remove_model_cmd::run(&global, a),
        Some(Command::Inspect(a)) => inspect_cmd::run(&global, a),
        Some(Command::Import(a)) => import_cmd::run(&global, a),
        Some(Command::Models(a)) => models_cmd::run(&global, a),
        Some(Command::Optimize(a)) => optimize_cmd::run(&global, a),
        Some(Command::Distill(a)) => distill_cmd::run(&global, a),
        Some(Command::Place(a)) => place_cmd::run(&global, a),
        Some(Command::Deploy(a)) => deploy_cmd::run(&global, a),
        Some(Command::Rollback(a)) => rollback_cmd::run(&global, a),
        Some(Command::DeleteVersion(a)) => delete_version_cmd::run(&global, a),
        Some(Command::RotateToken(a)) => rotate_token_cmd::run(&global, a),
        Some(Command::Deployments(a)) => deployments_cmd::run(&global, a),
        Some(Command::Gateway(a)) => gateway_cmd::run(&global, a),
        Some(Command::Completions(a)) => {
            cli_docs::print_completions(&a, <Cli as clap::CommandFactory>::command(), "edgefleet");
            Ok(())
        }
        Some(Command::Man(a)) => Ok(cli_docs::write_man(&a, <Cli as clap::CommandFactory>::command())?),
        None => {
            let mut config = match cli.demo {
                Some(count) => crate::app::AppConfig::demo(count),
                None => {
                    let db = match global.db {
                        Some(db) => db,
                        None => edgefleet_store::default_path()?,
                    };
                    let signer = edgefleet_fleet::model_signing::ModelSigner::load_or_create(
                        &edgefleet_fleet::model_signing::signing_key_path(&db),
                    )?;
                    let engine = edgefleet_fleet::EngineConfig {
                        interfaces: cli.interfaces,
                        default_token: global.token,
                        broker: cli.broker.spec()?,
                        signer: Some(signer),
                        ..Default::default()
                    };
                    crate::app::AppConfig::new(engine, Some(db))
                }
            };
            if let Some(tab) = cli.start_tab {
                match crate::app::Tab::parse(&tab) {
                    Some(t) => config.start_tab = Some(t),
                    None => bad_input!("--start-tab takes map, charts or deployments, not `{tab}`"),
                }
            }
            config.demo_fit = cli.demo_fit || cli.demo_deploy || cli.demo_measure;
            config.demo_measure = cli.demo_measure;
            config.demo_deploy = cli.demo_deploy;
            config.demo_compare = cli.demo_compare;
            crate::app::run_gui(config)
        }
    }
}

/// A tokio runtime for commands that talk to devices.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
}

/// The user stopped the work (Ctrl-C) before it finished: exit code 130,
/// as a shell reports a process ended by SIGINT.
#[derive(Debug)]
pub struct Interrupted(pub String);

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Interrupted {}

/// The exit code for an error: 2 when the user's input was at fault, 130
/// when the user interrupted the work.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| e.is::<Interrupted>()) {
        130
    } else if err.chain().any(|e| e.is::<BadInput>()) {
        2
    } else {
        1
    }
}
