//! `edgefleet pair DEVICE_ID --token T`: remember a device's token;
//! `edgefleet unpair DEVICE_ID`: forget it.

use super::GlobalArgs;
use super::store_args::open_store;
use crate::bad_input;

#[derive(Debug, clap::Args)]
pub struct PairArgs {
    /// The device id (as `edgefleet scan` prints it).
    pub device_id: String,
}

pub fn run(global: &GlobalArgs, args: PairArgs) -> anyhow::Result<()> {
    let Some(token) = global.token.as_deref().filter(|t| !t.trim().is_empty()) else {
        bad_input!(
            "give the device's token with --token-file FILE or --token T (the agent prints it when it first starts)"
        )
    };
    let store = open_store(global)?;
    if store.get_device(&args.device_id)?.is_none() {
        eprintln!("note: {} is not in the registry yet; the token is kept for when it is found", args.device_id);
    }
    store.set_token(&args.device_id, token)?;
    store.audit(edgefleet_fleet::now_ms(), "device.paired", &args.device_id, "token stored")?;
    println!("paired {}", args.device_id);
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct UnpairArgs {
    /// The device id (as `edgefleet devices` prints it).
    pub device_id: String,
}

/// Forget the token kept for a device; the device stays registered.
pub fn unpair(global: &GlobalArgs, args: UnpairArgs) -> anyhow::Result<()> {
    let store = open_store(global)?;
    if store.get_device(&args.device_id)?.is_none() {
        bad_input!("no device `{}` in the registry (see `edgefleet devices`)", args.device_id);
    }
    store.clear_token(&args.device_id)?;
    store.audit(edgefleet_fleet::now_ms(), "device.unpaired", &args.device_id, "token forgotten")?;
    println!("unpaired {}", args.device_id);
    Ok(())
}
