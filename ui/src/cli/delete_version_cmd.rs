//! `edgefleet delete-version NAME VERSION --on ID[,ID…]`: remove an
//! installed version of a model from devices (never the active one: the
//! device refuses that with 409).

use super::GlobalArgs;
use super::deploy_cmd::directory_from_store;
use super::store_args::open_store;
use crate::bad_input;
use edgefleet_fleet::now_ms;

#[derive(Debug, clap::Args)]
pub struct DeleteVersionArgs {
    /// The model name on the devices.
    pub name: String,
    /// The version to delete.
    pub version: String,
    /// Devices to delete it from, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "ID[,ID…]", required = true)]
    pub on: Vec<String>,
}

pub fn run(global: &GlobalArgs, args: DeleteVersionArgs) -> anyhow::Result<()> {
    if args.on.iter().any(|d| d.trim().is_empty()) {
        bad_input!("--on has an empty device id");
    }
    let store = open_store(global)?;
    let (directory, _) = directory_from_store(&store, global)?;
    let rt = super::runtime()?;
    let mut failed = 0;
    for id in &args.on {
        let Some(client) = directory.client(id) else {
            println!("{id:<24} failed: not in the registry (or no address)");
            failed += 1;
            continue;
        };
        match rt.block_on(client.delete_model(&args.name, &args.version)) {
            Ok(()) => {
                store.audit(now_ms(), "model.deleted", id, &format!("{} {}", args.name, args.version))?;
                println!("{id:<24} deleted {} {}", args.name, args.version);
            }
            Err(e) => {
                println!("{id:<24} failed: {e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} device(s) failed", args.on.len());
    }
    Ok(())
}
