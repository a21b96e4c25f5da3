//! Opening the store the user chose (`--db`, `EDGEFLEET_DB`, or the default
//! under the user's data dir), and what it keeps for reaching a registered
//! device.

use super::GlobalArgs;
use anyhow::Context;
use edgefleet_fleet::model_signing::{ModelSigner, signing_key_path};
use edgefleet_fleet::{AgentClient, http_client};
use edgefleet_store::{DeviceRecord, Store};
use std::net::{IpAddr, SocketAddr};
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

/// A client for a registered device from its stored address, pinned key
/// and token (else `--token`); `Ok(Err(why))` when no usable address is
/// kept, for the caller to refuse or report.
pub fn registered_client(
    store: &Store,
    global: &GlobalArgs,
    rec: &DeviceRecord,
) -> anyhow::Result<Result<AgentClient, String>> {
    let id = &rec.device.device_id;
    let (Some(address), Some(port)) = (rec.address.as_deref(), rec.port) else {
        return Ok(Err(format!("device `{id}` has no known address: run `edgefleet scan` or `edgefleet add`")));
    };
    let Ok(ip) = address.parse::<IpAddr>() else {
        return Ok(Err(format!("device `{id}` has an unusable address `{address}`")));
    };
    let token = store.token(id)?.or_else(|| global.token.clone());
    let pin = store.key_fingerprint(id)?;
    Ok(Ok(AgentClient::for_device(http_client()?, SocketAddr::new(ip, port), pin.as_deref(), token)))
}
