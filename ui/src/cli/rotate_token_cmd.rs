//! `edgefleet rotate-token DEVICE_ID`: give a paired device a new bearer
//! token and store it in place of the old one.

use super::GlobalArgs;
use super::deploy_cmd::directory_from_store;
use super::store_args::open_store;
use crate::bad_input;
use edgefleet_fleet::now_ms;
use edgefleet_fleet::token_rotation::{new_token, rotate_device_token};

#[derive(Debug, clap::Args)]
pub struct RotateTokenArgs {
    /// The device id (as `edgefleet devices` prints it).
    pub device_id: String,
}

pub fn run(global: &GlobalArgs, args: RotateTokenArgs) -> anyhow::Result<()> {
    let store = open_store(global)?;
    if store.token(&args.device_id)?.is_none() {
        bad_input!(
            "{} is not paired: pair it first with `edgefleet pair {} --token-file FILE`",
            args.device_id,
            args.device_id
        );
    }
    let (directory, _) = directory_from_store(&store, global)?;
    let Some(client) = directory.client(&args.device_id) else {
        bad_input!("{} has no known address: run `edgefleet scan` or `edgefleet add HOST:PORT`", args.device_id);
    };
    let token = new_token();
    super::runtime()?.block_on(rotate_device_token(&client, &token))?;
    store.set_token(&args.device_id, &token)?;
    store.audit(now_ms(), "device.token_rotated", &args.device_id, "new token stored")?;
    println!("rotated the token of {}; the old one no longer works", args.device_id);
    Ok(())
}
