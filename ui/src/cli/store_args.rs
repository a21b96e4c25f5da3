//! Opening the store the user chose (`--db`, `EDGEFLEET_DB`, or the default
//! under the user's data dir).

use super::GlobalArgs;
use anyhow::Context;
use edgefleet_fleet::model_signing::{ModelSigner, signing_key_path};
use edgefleet_store::Store;
use std::sync::Arc;

pub fn open_store(global: &GlobalArgs) -> anyhow::Result<Store> {
    let path = db_path(global)?;
    Store::open(&path).with_context(|| format!("cannot open the database {}", path.display()))
}

fn db_path(global: &GlobalArgs) -> anyhow::Result<std::path::PathBuf> {
    match &global.db {
        Some(p) => Ok(p.clone()),
        None => edgefleet_store::default_path().context("cannot find a place for the database (give --db FILE)"),
    }
}

/// The console's model-signing key, beside the database (made on first use).
pub fn open_signer(global: &GlobalArgs) -> anyhow::Result<Arc<ModelSigner>> {
    let path = signing_key_path(&db_path(global)?);
    ModelSigner::load_or_create(&path).with_context(|| format!("cannot open the signing key {}", path.display()))
}
