//! `edgefleet broker-cmd`: run a command (activate, rollback, benchmark,
//! deploy by pull from a file served here) on a device reachable only
//! through an MQTT broker, and print its reply; and the `--broker` flags
//! `edgefleet scan` shares.

use super::GlobalArgs;
use super::store_args::open_store;
use crate::bad_input;
use anyhow::Context;
use edgefleet_agent::broker_tls::BrokerLoginArgs;
use edgefleet_core::mqtt_wire::{BrokerCommand, PullRequest};
use edgefleet_core::wire::{ActivateRequest, BenchmarkRequest};
use edgefleet_fleet::discovery::mqtt::{BrokerSpec, BrokerWatch, send_command};
use edgefleet_fleet::model_server::serve_model_file;
use edgefleet_fleet::now_ms;
use std::path::PathBuf;
use std::time::Duration;

/// Which broker and fleet (shared by `scan` and `broker-cmd`).
#[derive(Debug, Clone, clap::Args)]
pub struct BrokerFlags {
    /// An MQTT broker to find agents through (mqtt://HOST[:PORT], or
    /// mqtts:// with --broker-ca).
    #[arg(long, value_name = "mqtt[s]://HOST:PORT", requires = "fleet")]
    pub broker: Option<String>,
    /// The fleet name on the broker.
    #[arg(long, value_name = "NAME", requires = "broker")]
    pub fleet: Option<String>,
    #[command(flatten)]
    pub login: BrokerLoginArgs,
    /// Where model files are served for devices on the broker to pull
    /// during a deploy: an address they reach (port 0 = any free port).
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:0")]
    pub serve_models_on: std::net::SocketAddr,
}

impl BrokerFlags {
    /// The broker to use, `None` without `--broker`; a bad URL or fleet
    /// name is bad input (exit 2).
    pub fn spec(&self) -> anyhow::Result<Option<BrokerSpec>> {
        let (Some(url), Some(fleet)) = (&self.broker, &self.fleet) else { return Ok(None) };
        let addr = match url.parse::<edgefleet_core::mqtt_wire::BrokerAddr>() {
            Ok(a) => a,
            Err(e) => bad_input!("{e}"),
        };
        let tls = match self.login.tls(&addr) {
            Ok(t) => t,
            Err(e) => bad_input!("{e}"),
        };
        let mut spec = match BrokerSpec::with_tls(url, fleet, tls) {
            Ok(s) => s,
            Err(e) => bad_input!("{e}"),
        };
        spec.serve_models_on = self.serve_models_on;
        let password = self.login.password()?;
        if let Some(user) = &self.login.broker_user {
            spec = spec.login(user, password);
        }
        Ok(Some(spec))
    }
}

/// How long a command waits for the broker connection before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connect to `spec`'s broker and wait until subscribed to its fleet; a
/// broker that is down or refuses us fails with its status in words
/// ("refused: bad credentials …"). Call inside the tokio runtime.
pub(super) async fn connect(spec: &BrokerSpec) -> anyhow::Result<BrokerWatch> {
    let watch = BrokerWatch::start(spec, |_| {});
    let mut status = watch.link().subscribe_status();
    let up = tokio::time::timeout(CONNECT_TIMEOUT, status.wait_for(|s| s.is_connected())).await;
    if !matches!(up, Ok(Ok(_))) {
        let now = watch.link().status();
        watch.stop();
        anyhow::bail!("broker {}: {} (fleet {})", spec.addr, now.summary(), spec.fleet);
    }
    Ok(watch)
}

/// With `--broker`: connect, and reach the directory's broker devices
/// through it. Keep the watch for as long as the directory is used.
pub(super) fn attach(
    rt: &tokio::runtime::Runtime,
    flags: &BrokerFlags,
    directory: &edgefleet_fleet::Directory,
) -> anyhow::Result<Option<BrokerWatch>> {
    let Some(spec) = flags.spec()? else { return Ok(None) };
    let watch = rt.block_on(connect(&spec))?;
    directory.set_broker_link(Some(watch.link()));
    Ok(Some(watch))
}

#[derive(Debug, clap::Args)]
pub struct BrokerCmdArgs {
    #[command(flatten)]
    pub broker: BrokerFlags,
    /// The device to command.
    #[arg(long, value_name = "ID")]
    pub device_id: String,
    /// How long to wait for the reply.
    #[arg(long, default_value_t = 30_000, value_name = "MS")]
    pub timeout_ms: u64,
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Make an installed version of a model the active one.
    Activate { model: String, version: String },
    /// Go back to the version active before the current one.
    Rollback { model: String },
    /// Time the active version at batch sizes 1, 8 and 32.
    Benchmark { model: String },
    /// Serve an ONNX file over HTTP here and have the device pull it
    /// (resuming with Range), verify, install and activate it.
    Deploy {
        file: PathBuf,
        /// The model name on the device (default: from the file name).
        #[arg(long)]
        name: Option<String>,
        /// The version (default: the first 12 hex digits of its SHA-256).
        #[arg(long)]
        version: Option<String>,
        /// Where to serve the file: an address the device reaches.
        #[arg(long, default_value = "127.0.0.1:0", value_name = "IP:PORT")]
        serve_on: std::net::SocketAddr,
        /// Install only; do not activate.
        #[arg(long)]
        no_activate: bool,
    },
}

pub fn run(global: &GlobalArgs, args: BrokerCmdArgs) -> anyhow::Result<()> {
    let Some(spec) = args.broker.spec()? else { bad_input!("broker-cmd needs --broker mqtt://HOST:PORT --fleet NAME") };
    let store = open_store(global)?;
    let Some(token) = store.token(&args.device_id)?.or_else(|| global.token.clone()) else {
        bad_input!("no token for {}: pair it (edgefleet pair) or pass --token", args.device_id)
    };
    let rt = super::runtime()?;
    let mut served = None;
    let (command, what) = match args.action {
        Action::Deploy { file, name, version, serve_on, no_activate } => {
            let bytes = std::fs::File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
            let size_bytes = bytes.metadata()?.len();
            let sha256 = edgefleet_core::sha256_reader(std::io::BufReader::new(bytes))?;
            let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            let model = name.unwrap_or_else(|| edgefleet_core::model_name_from_stem(stem));
            let version = version.unwrap_or_else(|| edgefleet_core::default_version(&sha256));
            let server = match rt.block_on(serve_model_file(file.clone(), serve_on)) {
                Ok(s) => s,
                Err(edgefleet_fleet::FleetError::BadInput(m)) => bad_input!("{m}"),
                Err(e) => return Err(e.into()),
            };
            let what = format!("deploy {model} {version} from {}", server.url);
            let request = PullRequest {
                version,
                url: server.url.clone(),
                size_bytes,
                sha256,
                activate: !no_activate,
                confidence_threshold: None,
                signature: None,
            };
            served = Some(server);
            (BrokerCommand::Deploy { model, request }, what)
        }
        Action::Activate { model, version } => {
            let what = format!("activate {model} {version}");
            let request = ActivateRequest { version, confidence_threshold: None, offload_sla_ms: None };
            (BrokerCommand::Activate { model, request, signature: None }, what)
        }
        Action::Rollback { model } => (BrokerCommand::Rollback { model: model.clone() }, format!("rollback {model}")),
        Action::Benchmark { model } => {
            let request = BenchmarkRequest { batch_sizes: vec![1, 8, 32], iterations: 20, version: None };
            (BrokerCommand::Benchmark { model: model.clone(), request }, format!("benchmark {model}"))
        }
    };
    let timeout = Duration::from_millis(args.timeout_ms.max(100));
    let reply = rt.block_on(async {
        let reply = send_command(&spec, &args.device_id, &token, command, timeout).await;
        if let Some(server) = served {
            server.stop().await;
        }
        reply
    })?;
    store.audit(now_ms(), "broker.command", &args.device_id, &format!("{what}: ok={}", reply.ok))?;
    println!("{}", serde_json::to_string_pretty(&reply)?);
    if reply.ok { Ok(()) } else { anyhow::bail!("{} refused {what}", args.device_id) }
}
