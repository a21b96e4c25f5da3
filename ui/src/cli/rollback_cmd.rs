//! `edgefleet rollback NAME --to ID[,ID…]`: put devices back on the version
//! of a model they ran before the current one.

use super::GlobalArgs;
use super::deploy_cmd::{classify, directory_from_store};
use super::store_args::open_store;
use crate::bad_input;
use edgefleet_fleet::now_ms;
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// The model name on the devices.
    pub name: String,
    /// Devices to roll back, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "ID[,ID…]", required = true)]
    pub to: Vec<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Devices found through this broker are rolled back through it.
    #[command(flatten)]
    pub broker: super::broker_cmd::BrokerFlags,
}

#[derive(Serialize)]
struct Row {
    device_id: String,
    active_version: Option<String>,
    error: Option<String>,
}

pub fn run(global: &GlobalArgs, args: RollbackArgs) -> anyhow::Result<()> {
    if args.to.iter().any(|d| d.trim().is_empty()) {
        bad_input!("--to has an empty device id");
    }
    let store = open_store(global)?;
    let (directory, _) = directory_from_store(&store, global)?;
    let rt = super::runtime()?;
    let _watch = super::broker_cmd::attach(&rt, &args.broker, &directory)?;
    let results =
        rt.block_on(edgefleet_fleet::rollout::rollback_devices(&directory, &args.name, &args.to)).map_err(classify)?;
    let mut rows = Vec::new();
    for (device_id, r) in results {
        match r {
            Ok(v) => {
                store.audit(now_ms(), "model.rollback", &device_id, &format!("{} → {v}", args.name))?;
                rows.push(Row { device_id, active_version: Some(v), error: None });
            }
            Err(e) => rows.push(Row { device_id, active_version: None, error: Some(e.to_string()) }),
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for r in &rows {
            match (&r.active_version, &r.error) {
                (Some(v), _) => println!("{:<24} {} back on {v}", r.device_id, args.name),
                (_, Some(e)) => println!("{:<24} failed: {e}", r.device_id),
                _ => {}
            }
        }
    }
    let failed = rows.iter().filter(|r| r.error.is_some()).count();
    if failed > 0 {
        anyhow::bail!("{failed} of {} device(s) could not be rolled back", rows.len());
    }
    Ok(())
}
