//! The device key pinned at pairing: the fingerprint of the identity key a
//! device proved when it was paired. The console sends that device's token
//! only over TLS with exactly that key.

use crate::convert::require_text;
use crate::error::StoreError;
use crate::store::Store;
use rusqlite::{OptionalExtension, params};
use std::collections::HashMap;

impl Store {
    /// Pin a device's key (its fingerprint). Unknown devices are an error.
    pub fn set_key_fingerprint(&self, device_id: &str, fingerprint: &str) -> Result<(), StoreError> {
        require_text("key fingerprint", fingerprint)?;
        let changed = self
            .conn
            .execute("UPDATE devices SET key_fingerprint = ?2 WHERE device_id = ?1", params![device_id, fingerprint])?;
        if changed == 0 {
            return Err(StoreError::not_found("device", device_id));
        }
        Ok(())
    }

    /// Forget a device's pinned key (with its token, when unpairing).
    pub fn clear_key_fingerprint(&self, device_id: &str) -> Result<(), StoreError> {
        let changed =
            self.conn.execute("UPDATE devices SET key_fingerprint = NULL WHERE device_id = ?1", [device_id])?;
        if changed == 0 {
            return Err(StoreError::not_found("device", device_id));
        }
        Ok(())
    }

    /// The key pinned for a device; `None` if none or unknown.
    pub fn key_fingerprint(&self, device_id: &str) -> Result<Option<String>, StoreError> {
        let fp: Option<Option<String>> = self
            .conn
            .query_row("SELECT key_fingerprint FROM devices WHERE device_id = ?1", [device_id], |r| r.get(0))
            .optional()?;
        Ok(fp.flatten())
    }

    /// Every pinned key, by device id.
    pub fn key_fingerprints(&self) -> Result<HashMap<String, String>, StoreError> {
        let mut stmt =
            self.conn.prepare("SELECT device_id, key_fingerprint FROM devices WHERE key_fingerprint IS NOT NULL")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use crate::{DeviceRecord, Store};
    use edgefleet_core::{Device, DeviceType};

    #[test]
    fn keys_are_pinned_kept_and_forgotten() {
        let s = Store::open_in_memory().unwrap();
        let rec = DeviceRecord {
            device: Device::new("cam-1", DeviceType::SmartCamera, 2, 1024, 8.0),
            address: Some("127.0.0.1".into()),
            port: Some(7000),
            source: "manual".into(),
            first_seen_ms: 1,
            last_seen_ms: 1,
        };
        s.upsert_device(&rec).unwrap();
        assert_eq!(s.key_fingerprint("cam-1").unwrap(), None);
        s.set_key_fingerprint("cam-1", "ABCD-EFGH").unwrap();
        s.upsert_device(&rec).unwrap();
        assert_eq!(s.key_fingerprint("cam-1").unwrap().as_deref(), Some("ABCD-EFGH"), "upsert keeps the pin");
        assert_eq!(s.key_fingerprints().unwrap().get("cam-1").map(String::as_str), Some("ABCD-EFGH"));
        assert!(s.set_key_fingerprint("ghost", "X").is_err());
        assert!(s.set_key_fingerprint("cam-1", " ").is_err());
        s.clear_key_fingerprint("cam-1").unwrap();
        assert_eq!(s.key_fingerprint("cam-1").unwrap(), None);
    }
}
