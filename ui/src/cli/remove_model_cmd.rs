//! `edgefleet remove-model ID [--json]`: take a model out of the library
//! (the app's 🗑). Its file stays on disk; a model with variants is refused.

use super::GlobalArgs;
use super::store_args::open_store;
use crate::bad_input;
use edgefleet_store::StoreError;

#[derive(Debug, clap::Args)]
pub struct RemoveModelArgs {
    /// The model's id (as `edgefleet models` prints it).
    pub id: i64,
    /// Print the removed record as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(global: &GlobalArgs, args: RemoveModelArgs) -> anyhow::Result<()> {
    let store = open_store(global)?;
    let removed = match store.remove_model(args.id) {
        Ok(r) => r,
        Err(e @ (StoreError::NotFound { .. } | StoreError::Invalid { .. })) => bad_input!("{e}"),
        Err(e) => return Err(e.into()),
    };
    store.audit(edgefleet_fleet::now_ms(), "model.removed", &removed.name, &removed.version)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&removed)?);
    } else {
        println!(
            "removed {} v{} (id {}); the file stays at {}",
            removed.name, removed.version, removed.id, removed.path
        );
    }
    Ok(())
}
