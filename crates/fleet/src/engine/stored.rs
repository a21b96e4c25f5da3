//! What the engine reads back from the store when it starts: every known
//! device with its token (pinned keys: `pins`).

use crate::error::{FleetError, Result};
use edgefleet_store::{DeviceRecord, Store};
use std::sync::Mutex;

/// Every stored device with its token.
pub(super) fn stored_fleet(store: &Mutex<Store>) -> Result<Vec<(DeviceRecord, Option<String>)>> {
    let store = store.lock().map_err(|_| FleetError::LockPoisoned { what: "fleet store".into() })?;
    let mut out = Vec::new();
    for rec in store.list_devices()? {
        let token = store.token(&rec.device.device_id)?;
        out.push((rec, token));
    }
    Ok(out)
}
