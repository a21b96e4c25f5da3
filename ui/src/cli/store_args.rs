//! Opening the store the user chose (`--db`, `EDGEFLEET_DB`, or the default
//! under the user's data dir).

use super::GlobalArgs;
use anyhow::Context;
use edgefleet_store::Store;

pub fn open_store(global: &GlobalArgs) -> anyhow::Result<Store> {
    let path = match &global.db {
        Some(p) => p.clone(),
        None => edgefleet_store::default_path().context("cannot find a place for the database (give --db FILE)")?,
    };
    Store::open(&path).with_context(|| format!("cannot open the database {}", path.display()))
}
