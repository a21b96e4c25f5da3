//! `edgefleet deployments [ID] [--json]`: rollout history from the store,
//! or one rollout with its per-device steps.

use super::GlobalArgs;
use super::store_args::open_store;
use crate::bad_input;

#[derive(Debug, clap::Args)]
pub struct DeploymentsArgs {
    /// Show one deployment with its steps.
    pub id: Option<i64>,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(global: &GlobalArgs, args: DeploymentsArgs) -> anyhow::Result<()> {
    let store = open_store(global)?;
    let list = match args.id {
        Some(id) => match store.get_deployment(id)? {
            Some(d) => vec![d],
            None => bad_input!("there is no deployment {id}"),
        },
        None => store.list_deployments()?,
    };
    if args.json {
        let value = if args.id.is_some() { serde_json::to_value(&list[0])? } else { serde_json::to_value(&list)? };
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    if list.is_empty() {
        println!("no deployments yet: `edgefleet deploy MODEL.onnx --to ID`");
        return Ok(());
    }
    println!("{:>5} {:<12} {:<24} {:<14} {:>9}  DETAIL", "ID", "STATE", "MODEL", "VERSION", "DONE");
    for d in &list {
        let done = d.steps.iter().filter(|s| s.state == "done").count();
        println!(
            "{:>5} {:<12} {:<24} {:<14} {:>9}  {}",
            d.id,
            d.state,
            d.model_name,
            d.model_version,
            format!("{done}/{}", d.steps.len()),
            d.detail.as_deref().unwrap_or("")
        );
        if args.id.is_some() {
            for s in &d.steps {
                println!(
                    "      {:<24} {:<12} {:>12} B  {}",
                    s.device_id,
                    s.state,
                    s.bytes_sent,
                    s.detail.as_deref().unwrap_or("")
                );
            }
        }
    }
    Ok(())
}
