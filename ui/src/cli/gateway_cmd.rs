//! `edgefleet gateway --model NAME --listen 127.0.0.1:PORT`: serve the
//! predict API for one model, balanced over the devices that have it.

use super::GlobalArgs;
use super::deploy_cmd::directory_from_store;
use super::store_args::open_store;
use crate::bad_input;
use anyhow::Context;
use edgefleet_fleet::{GatewayConfig, GatewayError, run_gateway};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct GatewayArgs {
    /// The model to serve (its name on the devices).
    #[arg(long)]
    pub model: String,
    /// Address to listen on, e.g. 127.0.0.1:8480.
    #[arg(long)]
    pub listen: String,
    /// Only this device (repeatable); default every device in the registry.
    #[arg(long = "device", value_name = "ID")]
    pub devices: Vec<String>,
    /// How often devices are probed, in ms.
    #[arg(long, default_value_t = 1000)]
    pub probe_interval_ms: u64,
}

pub fn run(global: &GlobalArgs, args: GatewayArgs) -> anyhow::Result<()> {
    let Ok(listen) = args.listen.parse::<SocketAddr>() else {
        bad_input!("--listen wants IP:PORT, e.g. 127.0.0.1:8480, got `{}`", args.listen)
    };
    if args.probe_interval_ms == 0 {
        bad_input!("--probe-interval-ms must be above zero");
    }
    let store = open_store(global)?;
    let (directory, known) = directory_from_store(&store, global)?;
    if let Some(d) = args.devices.iter().find(|d| !known.contains(d)) {
        bad_input!("unknown device `{d}` (known: {})", if known.is_empty() { "none".into() } else { known.join(", ") });
    }
    let config = GatewayConfig {
        devices: args.devices,
        probe_interval: Duration::from_millis(args.probe_interval_ms),
        ..GatewayConfig::new(args.model.clone(), directory)
    };
    super::runtime()?.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        eprintln!("gateway for `{}` on http://{addr} (Ctrl-C to stop)", args.model);
        let shutdown = async {
            // Without a signal handler the gateway runs until killed.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        match run_gateway(listener, config, shutdown).await {
            Err(GatewayError::BadConfig(m)) => Err(anyhow::Error::new(super::BadInput(m))),
            other => Ok(other?),
        }
    })
}
