//! The fleet registry: one row per device (the [`Device`] as JSON plus the
//! columns we filter on), the sightings that kept it alive, and the pairing
//! token the console uses to talk to its agent.

use crate::convert::{from_json_column, from_sql_port, from_sql_u64, require_text, to_json_column, to_sql_int};
use crate::error::StoreError;
use crate::store::Store;
use edgefleet_core::{Device, DeviceStatus};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

/// Where a device record came from.
pub const DEVICE_SOURCES: [&str; 5] = ["mdns", "manual", "sweep", "file", "mqtt"];

/// How many sightings are kept per device; older ones are dropped on upsert
/// so a device polled for months does not grow the file without bound.
pub const SIGHTINGS_KEPT_PER_DEVICE: usize = 1000;

/// A device as the registry knows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceRecord {
    pub device: Device,
    pub address: Option<String>,
    pub port: Option<u16>,
    /// One of [`DEVICE_SOURCES`]: `mdns`, `manual`, `sweep`, `file` or `mqtt` (seen through a broker).
    pub source: String,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
}

/// One time a device was seen, and how.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sighting {
    pub at_ms: u64,
    pub source: String,
    pub address: Option<String>,
    pub port: Option<u16>,
}

const TABLE: &str = "devices";
const DEVICE_COLUMNS: &str = "device_id, device_json, status, address, port, source, first_seen_ms, last_seen_ms";

/// A `devices` row as SQLite returns it, before any fallible conversion.
struct RawDevice {
    device_id: String,
    device_json: String,
    status: String,
    address: Option<String>,
    port: Option<i64>,
    source: String,
    first_seen_ms: i64,
    last_seen_ms: i64,
}

impl RawDevice {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawDevice {
            device_id: row.get(0)?,
            device_json: row.get(1)?,
            status: row.get(2)?,
            address: row.get(3)?,
            port: row.get(4)?,
            source: row.get(5)?,
            first_seen_ms: row.get(6)?,
            last_seen_ms: row.get(7)?,
        })
    }

    fn into_record(self) -> Result<DeviceRecord, StoreError> {
        let id = &self.device_id;
        let mut device: Device = from_json_column(TABLE, id, "device_json", &self.device_json)?;
        if device.device_id != self.device_id {
            return Err(StoreError::corrupt(TABLE, id, format!("device_json is for device `{}`", device.device_id)));
        }
        device.validate().map_err(|e| StoreError::corrupt(TABLE, id, e.to_string()))?;
        // The status column is authoritative: set_device_status only updates it.
        device.status = self
            .status
            .parse()
            .map_err(|e: edgefleet_core::DeviceError| StoreError::corrupt(TABLE, id, e.to_string()))?;
        Ok(DeviceRecord {
            port: from_sql_port(TABLE, id, self.port)?,
            first_seen_ms: from_sql_u64(TABLE, id, "first_seen_ms", self.first_seen_ms)?,
            last_seen_ms: from_sql_u64(TABLE, id, "last_seen_ms", self.last_seen_ms)?,
            device,
            address: self.address,
            source: self.source,
        })
    }
}

fn check_source(source: &str) -> Result<(), StoreError> {
    if DEVICE_SOURCES.contains(&source) {
        Ok(())
    } else {
        Err(StoreError::invalid("source", format!("`{source}` is not one of {}", DEVICE_SOURCES.join(", "))))
    }
}

impl Store {
    /// Insert or update a device and record a sighting at `last_seen_ms`.
    ///
    /// On update `first_seen_ms` keeps the earliest value, `last_seen_ms` the
    /// latest, the pairing token is kept, and a missing address or port does
    /// not erase a known one (a fleet file carries none).
    pub fn upsert_device(&self, rec: &DeviceRecord) -> Result<(), StoreError> {
        rec.device.validate().map_err(|e| StoreError::invalid("device", e.to_string()))?;
        check_source(&rec.source)?;
        if let Some(address) = &rec.address {
            require_text("address", address)?;
        }
        if rec.first_seen_ms > rec.last_seen_ms {
            return Err(StoreError::invalid(
                "first_seen_ms",
                format!("{} is after last_seen_ms {}", rec.first_seen_ms, rec.last_seen_ms),
            ));
        }
        let json = to_json_column("device", &rec.device)?;
        let first = to_sql_int("first_seen_ms", rec.first_seen_ms)?;
        let last = to_sql_int("last_seen_ms", rec.last_seen_ms)?;
        let id = &rec.device.device_id;

        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO devices (device_id, device_json, device_type, status, address, port, source,
                                  first_seen_ms, last_seen_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (device_id) DO UPDATE SET
                device_json = excluded.device_json,
                device_type = excluded.device_type,
                status = excluded.status,
                address = coalesce(excluded.address, devices.address),
                port = coalesce(excluded.port, devices.port),
                source = excluded.source,
                first_seen_ms = min(devices.first_seen_ms, excluded.first_seen_ms),
                last_seen_ms = max(devices.last_seen_ms, excluded.last_seen_ms)",
            params![
                id,
                json,
                rec.device.device_type.as_str(),
                rec.device.status.as_str(),
                rec.address,
                rec.port,
                rec.source,
                first,
                last
            ],
        )?;
        tx.execute(
            "INSERT INTO sightings (device_id, at_ms, source, address, port) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, last, rec.source, rec.address, rec.port],
        )?;
        // Keep the newest SIGHTINGS_KEPT_PER_DEVICE; the OFFSET row is the
        // newest one to drop, everything older goes with it.
        tx.execute(
            "DELETE FROM sightings WHERE device_id = ?1 AND id IN (
                SELECT id FROM sightings WHERE device_id = ?1
                ORDER BY at_ms DESC, id DESC LIMIT -1 OFFSET ?2)",
            params![id, SIGHTINGS_KEPT_PER_DEVICE as i64],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// One device, or `None` if the registry does not know it.
    pub fn get_device(&self, device_id: &str) -> Result<Option<DeviceRecord>, StoreError> {
        let raw = self
            .conn
            .prepare_cached(&format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE device_id = ?1"))?
            .query_row([device_id], RawDevice::from_row)
            .optional()?;
        raw.map(RawDevice::into_record).transpose()
    }

    /// Every device, ordered by `device_id`.
    pub fn list_devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!("SELECT {DEVICE_COLUMNS} FROM devices ORDER BY device_id"))?;
        let raws = stmt.query_map([], RawDevice::from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        raws.into_iter().map(RawDevice::into_record).collect()
    }

    /// Record a liveness change (heartbeats drive Online → Stale → Offline).
    pub fn set_device_status(&self, device_id: &str, status: DeviceStatus, at_ms: u64) -> Result<(), StoreError> {
        let at = to_sql_int("at_ms", at_ms)?;
        let changed = self.conn.execute(
            "UPDATE devices SET status = ?2, status_ms = ?3 WHERE device_id = ?1",
            params![device_id, status.as_str(), at],
        )?;
        if changed == 0 {
            return Err(StoreError::not_found("device", device_id));
        }
        Ok(())
    }

    /// When the status was last set with [`Store::set_device_status`], if ever.
    pub fn device_status_changed_ms(&self, device_id: &str) -> Result<Option<u64>, StoreError> {
        let at: Option<Option<i64>> = self
            .conn
            .query_row("SELECT status_ms FROM devices WHERE device_id = ?1", [device_id], |r| r.get(0))
            .optional()?;
        let at = at.ok_or_else(|| StoreError::not_found("device", device_id))?;
        at.map(|v| from_sql_u64(TABLE, &device_id, "status_ms", v)).transpose()
    }

    /// The newest `limit` sightings of a device, newest first.
    pub fn sightings(&self, device_id: &str, limit: usize) -> Result<Vec<Sighting>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, at_ms, source, address, port FROM sightings
             WHERE device_id = ?1 ORDER BY at_ms DESC, id DESC LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![device_id, limit], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get(2)?, r.get(3)?, r.get::<_, Option<i64>>(4)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(id, at_ms, source, address, port)| {
                Ok(Sighting {
                    at_ms: from_sql_u64("sightings", &id, "at_ms", at_ms)?,
                    source,
                    address,
                    port: from_sql_port("sightings", &id, port)?,
                })
            })
            .collect()
    }

    /// Store the bearer token agreed when pairing with a device's agent.
    pub fn set_token(&self, device_id: &str, token: &str) -> Result<(), StoreError> {
        require_text("token", token)?;
        let changed =
            self.conn.execute("UPDATE devices SET token = ?2 WHERE device_id = ?1", params![device_id, token])?;
        if changed == 0 {
            return Err(StoreError::not_found("device", device_id));
        }
        Ok(())
    }

    /// Forget a device's token (unpair). Unknown devices are an error.
    pub fn clear_token(&self, device_id: &str) -> Result<(), StoreError> {
        let changed = self.conn.execute("UPDATE devices SET token = NULL WHERE device_id = ?1", [device_id])?;
        if changed == 0 {
            return Err(StoreError::not_found("device", device_id));
        }
        Ok(())
    }

    /// The pairing token of a device; `None` if unpaired or unknown.
    pub fn token(&self, device_id: &str) -> Result<Option<String>, StoreError> {
        let token: Option<Option<String>> = self
            .conn
            .query_row("SELECT token FROM devices WHERE device_id = ?1", [device_id], |r| r.get(0))
            .optional()?;
        Ok(token.flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgefleet_core::DeviceType;

    fn record(id: &str, seen_ms: u64) -> DeviceRecord {
        DeviceRecord {
            device: Device::new(id, DeviceType::SmartCamera, 4, 2048, 32.0),
            address: Some("127.0.0.1".into()),
            port: Some(7070),
            source: "mdns".into(),
            first_seen_ms: seen_ms,
            last_seen_ms: seen_ms,
        }
    }

    #[test]
    fn unpairing_forgets_the_token_and_keeps_the_device() {
        let s = Store::open_in_memory().unwrap();
        s.upsert_device(&record("cam-1", 1_000)).unwrap();
        s.set_token("cam-1", "secret").unwrap();
        s.clear_token("cam-1").unwrap();
        assert_eq!(s.token("cam-1").unwrap(), None);
        assert!(s.get_device("cam-1").unwrap().is_some(), "the device stays registered");
        assert!(matches!(s.clear_token("ghost"), Err(StoreError::NotFound { .. })));
    }

    #[test]
    fn upsert_keeps_first_seen_and_updates_last_seen() {
        let s = Store::open_in_memory().unwrap();
        s.upsert_device(&record("cam-1", 1_000)).unwrap();
        s.set_token("cam-1", "secret").unwrap();
        let mut later = record("cam-1", 5_000);
        later.device.current_load = 0.7;
        later.address = None; // a fleet-file import knows no address
        later.source = "file".into();
        s.upsert_device(&later).unwrap();

        let got = s.get_device("cam-1").unwrap().unwrap();
        assert_eq!(got.first_seen_ms, 1_000);
        assert_eq!(got.last_seen_ms, 5_000);
        assert_eq!(got.device.current_load, 0.7);
        assert_eq!(got.address.as_deref(), Some("127.0.0.1"), "a missing address must not erase the known one");
        assert_eq!(got.source, "file");
        assert_eq!(s.token("cam-1").unwrap().as_deref(), Some("secret"), "upsert must keep the token");

        // An out-of-order (older) report does not move last_seen back.
        s.upsert_device(&record("cam-1", 3_000)).unwrap();
        assert_eq!(s.get_device("cam-1").unwrap().unwrap().last_seen_ms, 5_000);

        let sightings = s.sightings("cam-1", 10).unwrap();
        assert_eq!(sightings.iter().map(|x| x.at_ms).collect::<Vec<_>>(), vec![5_000, 3_000, 1_000]);
        assert_eq!(sightings[0].source, "file");
        assert_eq!(sightings[0].address, None);
        assert_eq!(s.sightings("cam-1", 1).unwrap().len(), 1);
    }

    #[test]
    fn list_is_ordered_by_id_and_status_is_updated() {
        let s = Store::open_in_memory().unwrap();
        for id in ["b", "c", "a"] {
            s.upsert_device(&record(id, 10)).unwrap();
        }
        let ids: Vec<_> = s.list_devices().unwrap().into_iter().map(|r| r.device.device_id).collect();
        assert_eq!(ids, ["a", "b", "c"]);

        assert_eq!(s.device_status_changed_ms("b").unwrap(), None);
        s.set_device_status("b", DeviceStatus::Stale, 20).unwrap();
        assert_eq!(s.get_device("b").unwrap().unwrap().device.status, DeviceStatus::Stale);
        assert_eq!(s.device_status_changed_ms("b").unwrap(), Some(20));
    }

    #[test]
    fn unknown_device_is_not_found_and_nothing_is_created() {
        let s = Store::open_in_memory().unwrap();
        assert!(s.get_device("ghost").unwrap().is_none());
        assert!(matches!(s.set_device_status("ghost", DeviceStatus::Offline, 1), Err(StoreError::NotFound { .. })));
        assert!(matches!(s.set_token("ghost", "t"), Err(StoreError::NotFound { .. })));
        assert_eq!(s.token("ghost").unwrap(), None);
        assert!(s.list_devices().unwrap().is_empty());
    }

    #[test]
    fn bad_records_are_refused_and_change_nothing() {
        let s = Store::open_in_memory().unwrap();
        s.upsert_device(&record("cam-1", 100)).unwrap();

        let mut bad = record("cam-1", 200);
        bad.device.cpu_cores = 0;
        assert!(matches!(s.upsert_device(&bad), Err(StoreError::Invalid { field: "device", .. })));
        let mut bad = record("cam-1", 200);
        bad.source = "carrier-pigeon".into();
        let err = s.upsert_device(&bad).unwrap_err();
        assert!(err.to_string().contains("mdns, manual, sweep, file"), "{err}");
        let mut bad = record("cam-1", 200);
        bad.first_seen_ms = 300;
        assert!(s.upsert_device(&bad).is_err());
        let bad = record("cam-1", u64::MAX);
        assert!(matches!(s.upsert_device(&bad), Err(StoreError::Invalid { .. })));
        assert!(s.set_token("cam-1", "  ").is_err());

        assert_eq!(s.get_device("cam-1").unwrap().unwrap(), record("cam-1", 100));
        assert_eq!(s.sightings("cam-1", 100).unwrap().len(), 1);
    }

    #[test]
    fn sightings_are_capped_per_device() {
        let s = Store::open_in_memory().unwrap();
        let n = SIGHTINGS_KEPT_PER_DEVICE as u64 + 5;
        for t in 1..=n {
            s.upsert_device(&record("cam-1", t)).unwrap();
        }
        s.upsert_device(&record("other", 1)).unwrap();
        let kept = s.sightings("cam-1", usize::MAX).unwrap();
        assert_eq!(kept.len(), SIGHTINGS_KEPT_PER_DEVICE);
        assert_eq!(kept.first().unwrap().at_ms, n);
        assert_eq!(kept.last().unwrap().at_ms, 6);
        assert_eq!(s.sightings("other", 10).unwrap().len(), 1);
    }

    #[test]
    fn corrupt_device_rows_are_errors_not_panics() {
        let s = Store::open_in_memory().unwrap();
        s.upsert_device(&record("cam-1", 1)).unwrap();

        s.conn.execute("UPDATE devices SET device_json = '{not json' WHERE device_id = 'cam-1'", []).unwrap();
        let err = s.get_device("cam-1").unwrap_err();
        assert!(
            matches!(&err, StoreError::CorruptRow { table: "devices", id, reason } if id == "cam-1" && reason.contains("device_json")),
            "{err}"
        );
        assert!(matches!(s.list_devices(), Err(StoreError::CorruptRow { .. })));

        s.upsert_device(&record("cam-1", 2)).unwrap();
        s.conn.execute("UPDATE devices SET status = 'exploded' WHERE device_id = 'cam-1'", []).unwrap();
        let err = s.get_device("cam-1").unwrap_err();
        assert!(matches!(&err, StoreError::CorruptRow { reason, .. } if reason.contains("exploded")), "{err}");

        s.upsert_device(&record("cam-1", 3)).unwrap();
        s.conn.execute("UPDATE devices SET port = 70000 WHERE device_id = 'cam-1'", []).unwrap();
        assert!(matches!(s.get_device("cam-1"), Err(StoreError::CorruptRow { .. })));

        s.upsert_device(&record("cam-1", 4)).unwrap();
        s.conn.execute("UPDATE devices SET first_seen_ms = -1 WHERE device_id = 'cam-1'", []).unwrap();
        assert!(matches!(s.get_device("cam-1"), Err(StoreError::CorruptRow { .. })));

        s.conn
            .execute(
                "UPDATE devices SET first_seen_ms = 1, device_json = replace(device_json, 'cam-1', 'cam-2')
                 WHERE device_id = 'cam-1'",
                [],
            )
            .unwrap();
        assert!(matches!(s.get_device("cam-1"), Err(StoreError::CorruptRow { .. })));
    }
}
