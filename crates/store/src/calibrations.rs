//! Benchmark results kept for calibration: what a device measured for a
//! model (by SHA-256) on a runtime at a batch size — latency p50 and tail,
//! the memory the model took, whether the figure is synthetic (a simulated
//! device) — and the model's profile, so the measurement can calibrate the
//! estimates of *other* models on the same device without the library.
//!
//! One row per (device, model SHA-256, runtime, batch): measuring again
//! replaces the row. Also here: the round-trip time the console measured
//! on its last poll of a device (`devices.rtt_ms`), the network part of
//! total latency.

use crate::convert::{from_json_column, from_sql_u64, require_finite, require_text, to_json_column, to_sql_int};
use crate::error::StoreError;
use crate::models::check_sha256;
use crate::store::Store;
use edgefleet_core::ModelProfile;
use edgefleet_core::wire::BenchmarkMemory;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

/// One benchmark result of one model at one batch size on one device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationRecord {
    pub device_id: String,
    /// SHA-256 of the model file, 64 lowercase hex digits.
    pub model_sha256: String,
    pub model_name: String,
    /// The runtime that ran it (`tract`, `onnxruntime`, …).
    pub runtime: String,
    pub batch: u32,
    pub latency_ms_p50: f64,
    /// The benchmark's tail percentile (p90 as the agent reports it).
    pub latency_ms_p90: f64,
    /// Peak resident memory above the pre-load RSS at this batch, MB, when
    /// the agent reported it.
    pub peak_mb: Option<f64>,
    /// Memory measured around loading the model (the same for every batch
    /// of one benchmark), when the agent reported it.
    pub memory: Option<BenchmarkMemory>,
    /// The device is simulated: the figures are what its synthetic speed
    /// implies, not a measurement of hardware.
    pub synthetic: bool,
    /// The model's profile (FLOPs, weights, activations) when measured.
    pub profile: ModelProfile,
    pub measured_ms: u64,
}

const TABLE: &str = "calibrations";
const COLUMNS: &str = "id, device_id, model_sha256, model_name, runtime, batch, latency_ms_p50, latency_ms_p90, \
                       peak_mb, memory_json, synthetic, profile_json, measured_ms";

/// A row before fallible conversion.
struct RawCalibration {
    id: i64,
    device_id: String,
    model_sha256: String,
    model_name: String,
    runtime: String,
    batch: i64,
    latency_ms_p50: f64,
    latency_ms_p90: f64,
    peak_mb: Option<f64>,
    memory_json: Option<String>,
    synthetic: i64,
    profile_json: String,
    measured_ms: i64,
}

impl RawCalibration {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawCalibration {
            id: row.get(0)?,
            device_id: row.get(1)?,
            model_sha256: row.get(2)?,
            model_name: row.get(3)?,
            runtime: row.get(4)?,
            batch: row.get(5)?,
            latency_ms_p50: row.get(6)?,
            latency_ms_p90: row.get(7)?,
            peak_mb: row.get(8)?,
            memory_json: row.get(9)?,
            synthetic: row.get(10)?,
            profile_json: row.get(11)?,
            measured_ms: row.get(12)?,
        })
    }

    fn into_record(self) -> Result<CalibrationRecord, StoreError> {
        let id = &self.id;
        let batch = u32::try_from(self.batch)
            .ok()
            .filter(|&b| b > 0)
            .ok_or_else(|| StoreError::corrupt(TABLE, id, format!("batch {} is not in 1..=4294967295", self.batch)))?;
        for (field, value) in [("latency_ms_p50", self.latency_ms_p50), ("latency_ms_p90", self.latency_ms_p90)] {
            if !(value.is_finite() && value > 0.0) {
                return Err(StoreError::corrupt(TABLE, id, format!("{field} is not a positive number ({value})")));
            }
        }
        let synthetic = match self.synthetic {
            0 => false,
            1 => true,
            other => return Err(StoreError::corrupt(TABLE, id, format!("synthetic is {other}, not 0 or 1"))),
        };
        Ok(CalibrationRecord {
            profile: from_json_column(TABLE, id, "profile_json", &self.profile_json)?,
            memory: self.memory_json.map(|t| from_json_column(TABLE, id, "memory_json", &t)).transpose()?,
            measured_ms: from_sql_u64(TABLE, id, "measured_ms", self.measured_ms)?,
            device_id: self.device_id,
            model_sha256: self.model_sha256,
            model_name: self.model_name,
            runtime: self.runtime,
            batch,
            latency_ms_p50: self.latency_ms_p50,
            latency_ms_p90: self.latency_ms_p90,
            peak_mb: self.peak_mb,
            synthetic,
        })
    }
}

impl CalibrationRecord {
    fn validate(&self) -> Result<(), StoreError> {
        require_text("device_id", &self.device_id)?;
        require_text("model_name", &self.model_name)?;
        require_text("runtime", &self.runtime)?;
        check_sha256(&self.model_sha256)?;
        if self.batch == 0 {
            return Err(StoreError::invalid("batch", "must be at least 1"));
        }
        for (field, value) in [("latency_ms_p50", self.latency_ms_p50), ("latency_ms_p90", self.latency_ms_p90)] {
            require_finite(field, value)?;
            if value <= 0.0 {
                return Err(StoreError::invalid(field, format!("must be positive, got {value}")));
            }
        }
        if let Some(m) = self.peak_mb {
            require_finite("peak_mb", m)?;
        }
        if let Some(m) = &self.memory {
            for (field, value) in [
                ("rss_before_load_mb", m.rss_before_load_mb),
                ("rss_after_load_mb", m.rss_after_load_mb),
                ("load_mb", m.load_mb),
            ] {
                require_finite(field, value)?;
            }
        }
        Ok(())
    }
}

impl Store {
    /// Keep benchmark results, replacing earlier ones for the same
    /// (device, model SHA-256, runtime, batch). All or nothing: one bad
    /// record refuses the whole list and nothing is written.
    pub fn record_calibrations(&self, records: &[CalibrationRecord]) -> Result<(), StoreError> {
        let mut rows = Vec::with_capacity(records.len());
        for r in records {
            r.validate()?;
            let memory = r.memory.as_ref().map(|m| to_json_column("memory", m)).transpose()?;
            rows.push((to_json_column("profile", &r.profile)?, memory, to_sql_int("measured_ms", r.measured_ms)?));
        }
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO calibrations (device_id, model_sha256, model_name, runtime, batch, latency_ms_p50,
                                           latency_ms_p90, peak_mb, memory_json, synthetic, profile_json,
                                           measured_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (device_id, model_sha256, runtime, batch) DO UPDATE SET
                     model_name = excluded.model_name, latency_ms_p50 = excluded.latency_ms_p50,
                     latency_ms_p90 = excluded.latency_ms_p90, peak_mb = excluded.peak_mb,
                     memory_json = excluded.memory_json,
                     synthetic = excluded.synthetic, profile_json = excluded.profile_json,
                     measured_ms = excluded.measured_ms",
            )?;
            for (r, (profile, memory, measured)) in records.iter().zip(&rows) {
                stmt.execute(params![
                    r.device_id,
                    r.model_sha256,
                    r.model_name,
                    r.runtime,
                    i64::from(r.batch),
                    r.latency_ms_p50,
                    r.latency_ms_p90,
                    r.peak_mb,
                    memory,
                    i64::from(r.synthetic),
                    profile,
                    measured
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every benchmark result kept for a device, oldest first. A corrupt row
    /// is an error naming it; the rows stay as they are.
    pub fn calibrations_for_device(&self, device_id: &str) -> Result<Vec<CalibrationRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM calibrations WHERE device_id = ?1 ORDER BY measured_ms, id"
        ))?;
        let raws = stmt.query_map([device_id], RawCalibration::from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        raws.into_iter().map(RawCalibration::into_record).collect()
    }

    /// Forget what a device measured (e.g. after its hardware changed).
    /// Returns how many results were removed.
    pub fn clear_calibrations(&self, device_id: &str) -> Result<usize, StoreError> {
        Ok(self.conn.execute("DELETE FROM calibrations WHERE device_id = ?1", [device_id])?)
    }

    /// The round-trip time the console measured on a poll of a device.
    pub fn set_device_rtt(&self, device_id: &str, rtt_ms: f64, at_ms: u64) -> Result<(), StoreError> {
        require_finite("rtt_ms", rtt_ms)?;
        if rtt_ms < 0.0 {
            return Err(StoreError::invalid("rtt_ms", format!("must not be negative, got {rtt_ms}")));
        }
        let at = to_sql_int("at_ms", at_ms)?;
        let n = self.conn.execute(
            "UPDATE devices SET rtt_ms = ?2, rtt_at_ms = ?3 WHERE device_id = ?1",
            params![device_id, rtt_ms, at],
        )?;
        if n == 0 {
            return Err(StoreError::not_found("device", device_id));
        }
        Ok(())
    }

    /// The last measured round-trip time to a device and when it was
    /// measured, if the console has polled it.
    pub fn device_rtt(&self, device_id: &str) -> Result<Option<(f64, u64)>, StoreError> {
        let row: Option<(Option<f64>, Option<i64>)> = self
            .conn
            .prepare_cached("SELECT rtt_ms, rtt_at_ms FROM devices WHERE device_id = ?1")?
            .query_row([device_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match row {
            Some((Some(rtt), Some(at))) => {
                if !(rtt.is_finite() && rtt >= 0.0) {
                    return Err(StoreError::corrupt("devices", device_id, format!("rtt_ms is {rtt}")));
                }
                Ok(Some((rtt, from_sql_u64("devices", &device_id, "rtt_at_ms", at)?)))
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::DeviceRecord;
    use edgefleet_core::{Device, DeviceType};

    fn profile(name: &str) -> ModelProfile {
        ModelProfile {
            name: name.into(),
            params: 1000,
            weights_bytes: 4000,
            file_bytes: 4100,
            flops_per_sample: 2_000_000,
            peak_activation_bytes_per_sample: 512,
            ops: vec!["Gemm".into()],
            opset: Some(13),
            inputs: vec![],
            outputs: vec![],
            target_device_types: vec![],
            accuracy: None,
            work: Default::default(),
        }
    }

    fn record(device: &str, sha: char, batch: u32, p50: f64) -> CalibrationRecord {
        CalibrationRecord {
            device_id: device.into(),
            model_sha256: sha.to_string().repeat(64),
            model_name: "mlp".into(),
            runtime: "tract".into(),
            batch,
            latency_ms_p50: p50,
            latency_ms_p90: p50 * 1.2,
            peak_mb: Some(12.5),
            memory: Some(BenchmarkMemory {
                rss_before_load_mb: 20.0,
                rss_after_load_mb: 36.0,
                load_mb: 16.0,
                heap_before_load_mb: Some(10.0),
                heap_after_load_mb: Some(13.5),
            }),
            synthetic: false,
            profile: profile("mlp"),
            measured_ms: 1000 + u64::from(batch),
        }
    }

    #[test]
    fn calibrations_round_trip_and_measuring_again_replaces() {
        let s = Store::open_in_memory().unwrap();
        let first = [record("cam-1", 'a', 1, 0.5), record("cam-1", 'a', 8, 2.0), record("cam-2", 'b', 1, 9.0)];
        s.record_calibrations(&first).unwrap();
        assert_eq!(s.calibrations_for_device("cam-1").unwrap(), first[..2]);
        assert_eq!(s.calibrations_for_device("cam-2").unwrap(), first[2..]);
        let again = CalibrationRecord { synthetic: true, peak_mb: None, memory: None, ..record("cam-1", 'a', 8, 3.0) };
        s.record_calibrations(std::slice::from_ref(&again)).unwrap();
        let got = s.calibrations_for_device("cam-1").unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], again);
        // Another runtime is another row.
        s.record_calibrations(&[CalibrationRecord { runtime: "onnxruntime".into(), ..record("cam-1", 'a', 8, 1.0) }])
            .unwrap();
        assert_eq!(s.calibrations_for_device("cam-1").unwrap().len(), 3);
        assert_eq!(s.clear_calibrations("cam-1").unwrap(), 3);
        assert!(s.calibrations_for_device("cam-1").unwrap().is_empty());
    }

    #[test]
    fn bad_records_write_nothing() {
        let s = Store::open_in_memory().unwrap();
        let bad = [
            CalibrationRecord { batch: 0, ..record("d", 'a', 1, 1.0) },
            CalibrationRecord { latency_ms_p50: f64::NAN, ..record("d", 'a', 1, 1.0) },
            CalibrationRecord { latency_ms_p90: -1.0, ..record("d", 'a', 1, 1.0) },
            CalibrationRecord { model_sha256: "xyz".into(), ..record("d", 'a', 1, 1.0) },
            CalibrationRecord { runtime: " ".into(), ..record("d", 'a', 1, 1.0) },
            CalibrationRecord { peak_mb: Some(f64::INFINITY), ..record("d", 'a', 1, 1.0) },
        ];
        for b in bad {
            let list = [record("d", 'a', 2, 1.0), b];
            assert!(matches!(s.record_calibrations(&list), Err(StoreError::Invalid { .. })));
        }
        assert!(s.calibrations_for_device("d").unwrap().is_empty());
    }

    #[test]
    fn a_corrupt_row_is_a_clear_error_and_is_kept() {
        let s = Store::open_in_memory().unwrap();
        s.record_calibrations(&[record("d", 'a', 1, 1.0), record("d", 'a', 2, 1.5)]).unwrap();
        for (sql, needle) in [
            ("UPDATE calibrations SET profile_json = '{' WHERE batch = 2", "profile_json"),
            (
                "UPDATE calibrations SET profile_json = (SELECT profile_json FROM calibrations WHERE batch = 1), batch = -3 WHERE batch = 2",
                "batch -3",
            ),
            ("UPDATE calibrations SET batch = 2, synthetic = 7 WHERE batch = -3", "synthetic is 7"),
            ("UPDATE calibrations SET synthetic = 0, latency_ms_p50 = -1.0 WHERE batch = 2", "latency_ms_p50"),
            ("UPDATE calibrations SET latency_ms_p50 = 1.0, memory_json = '[' WHERE batch = 2", "memory_json"),
        ] {
            s.conn.execute(sql, []).unwrap();
            let err = s.calibrations_for_device("d").unwrap_err();
            assert!(matches!(&err, StoreError::CorruptRow { table: "calibrations", .. }), "{err}");
            assert!(err.to_string().contains(needle), "{err}");
        }
        // Nothing was deleted: both rows are still there to repair.
        let n: i64 = s.conn.query_row("SELECT count(*) FROM calibrations", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 2);
    }

    #[test]
    fn rtt_is_kept_per_device() {
        let s = Store::open_in_memory().unwrap();
        assert!(matches!(s.set_device_rtt("cam", 1.0, 5), Err(StoreError::NotFound { .. })));
        let device = Device::new("cam", DeviceType::SmartCamera, 4, 2048, 20.0);
        let rec = DeviceRecord {
            device,
            address: Some("127.0.0.1".into()),
            port: Some(8080),
            source: "manual".into(),
            first_seen_ms: 1,
            last_seen_ms: 1,
        };
        s.upsert_device(&rec).unwrap();
        assert_eq!(s.device_rtt("cam").unwrap(), None);
        s.set_device_rtt("cam", 1.75, 99).unwrap();
        assert_eq!(s.device_rtt("cam").unwrap(), Some((1.75, 99)));
        assert!(s.set_device_rtt("cam", f64::NAN, 100).is_err());
        assert!(s.set_device_rtt("cam", -1.0, 100).is_err());
        // An upsert (a new sighting) keeps the last RTT.
        s.upsert_device(&rec).unwrap();
        assert_eq!(s.device_rtt("cam").unwrap(), Some((1.75, 99)));
    }
}
