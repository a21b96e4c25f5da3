//! Downsampled telemetry: one row per device per time bucket holding running
//! sums, so each bucket reads back as the mean of the samples that fell in
//! it. Live charts use the fleet engine's ring buffers; this is history.

use crate::convert::{from_sql_u64, require_finite, require_text, to_sql_int};
use crate::error::StoreError;
use crate::store::Store;
use edgefleet_core::wire::Metrics;
use rusqlite::params;
use serde::Serialize;

/// One telemetry point. Read back from the store, it is a bucket's mean and
/// `at_ms` is the bucket's start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TelemetrySample {
    pub at_ms: u64,
    /// CPU load, 0..=1.
    pub cpu_load: f64,
    pub memory_used_mb: f64,
    /// Worst per-model p99 latency; `None` when no model served requests.
    pub p99_ms: Option<f64>,
    /// Requests per second over all models.
    pub qps: f64,
}

impl TelemetrySample {
    /// The sample a `GET /v1/metrics` answer stands for: the worst model's p99
    /// and the total qps over all models.
    pub fn from_metrics(m: &Metrics) -> TelemetrySample {
        TelemetrySample {
            at_ms: m.timestamp_ms,
            cpu_load: m.cpu_load,
            memory_used_mb: m.memory_used_mb as f64,
            p99_ms: m.models.iter().map(|s| s.p99_ms).reduce(f64::max),
            qps: m.models.iter().map(|s| s.qps).sum(),
        }
    }

    fn validate(&self) -> Result<(), StoreError> {
        require_finite("cpu_load", self.cpu_load)?;
        require_finite("memory_used_mb", self.memory_used_mb)?;
        require_finite("qps", self.qps)?;
        if let Some(p99) = self.p99_ms {
            require_finite("p99_ms", p99)?;
        }
        for (field, value) in [("cpu_load", self.cpu_load), ("memory_used_mb", self.memory_used_mb), ("qps", self.qps)]
        {
            if value < 0.0 {
                return Err(StoreError::invalid(field, format!("must not be negative, got {value}")));
            }
        }
        Ok(())
    }
}

const TABLE: &str = "telemetry";

impl Store {
    /// Fold one sample into its device's bucket of `bucket_ms` (aligned to
    /// multiples of `bucket_ms` since the epoch). Use the same `bucket_ms` for
    /// a device throughout: buckets are keyed by their start.
    pub fn record_telemetry(
        &self,
        device_id: &str,
        sample: &TelemetrySample,
        bucket_ms: u64,
    ) -> Result<(), StoreError> {
        require_text("device_id", device_id)?;
        if bucket_ms == 0 {
            return Err(StoreError::invalid("bucket_ms", "must be at least 1"));
        }
        sample.validate()?;
        let start = to_sql_int("at_ms", sample.at_ms - sample.at_ms % bucket_ms)?;
        let width = to_sql_int("bucket_ms", bucket_ms)?;
        let (p99_sum, p99_count) = match sample.p99_ms {
            Some(p) => (p, 1),
            None => (0.0, 0),
        };
        self.conn
            .prepare_cached(
                "INSERT INTO telemetry (device_id, bucket_start_ms, bucket_ms, samples, cpu_load_sum,
                                        memory_used_mb_sum, p99_ms_sum, p99_samples, qps_sum)
                 VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (device_id, bucket_start_ms) DO UPDATE SET
                    samples = samples + 1,
                    cpu_load_sum = cpu_load_sum + excluded.cpu_load_sum,
                    memory_used_mb_sum = memory_used_mb_sum + excluded.memory_used_mb_sum,
                    p99_ms_sum = p99_ms_sum + excluded.p99_ms_sum,
                    p99_samples = p99_samples + excluded.p99_samples,
                    qps_sum = qps_sum + excluded.qps_sum",
            )?
            .execute(params![
                device_id,
                start,
                width,
                sample.cpu_load,
                sample.memory_used_mb,
                p99_sum,
                p99_count,
                sample.qps
            ])?;
        Ok(())
    }

    /// The bucket means of a device whose buckets end after `since_ms`,
    /// oldest first.
    pub fn telemetry(&self, device_id: &str, since_ms: u64) -> Result<Vec<TelemetrySample>, StoreError> {
        let since = to_sql_int("since_ms", since_ms)?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT bucket_start_ms, samples, cpu_load_sum, memory_used_mb_sum, p99_ms_sum, p99_samples, qps_sum
             FROM telemetry WHERE device_id = ?1 AND bucket_start_ms + bucket_ms > ?2
             ORDER BY bucket_start_ms",
        )?;
        let rows = stmt
            .query_map(params![device_id, since], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, f64>(2)?,
                    r.get::<_, f64>(3)?,
                    r.get::<_, f64>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, f64>(6)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(start, samples, cpu, mem, p99, p99_samples, qps)| {
                let id = format!("{device_id}@{start}");
                let at_ms = from_sql_u64(TABLE, &id, "bucket_start_ms", start)?;
                if samples <= 0 || p99_samples < 0 || p99_samples > samples {
                    return Err(StoreError::corrupt(
                        TABLE,
                        id,
                        format!("sample counts are impossible ({samples} samples, {p99_samples} with p99)"),
                    ));
                }
                let n = samples as f64;
                Ok(TelemetrySample {
                    at_ms,
                    cpu_load: cpu / n,
                    memory_used_mb: mem / n,
                    p99_ms: (p99_samples > 0).then(|| p99 / p99_samples as f64),
                    qps: qps / n,
                })
            })
            .collect()
    }

    /// Delete every device's buckets that start before `older_than_ms`;
    /// returns how many were deleted.
    pub fn prune_telemetry(&self, older_than_ms: u64) -> Result<usize, StoreError> {
        let cutoff = to_sql_int("older_than_ms", older_than_ms)?;
        Ok(self.conn.execute("DELETE FROM telemetry WHERE bucket_start_ms < ?1", [cutoff])?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgefleet_core::wire::ModelStats;

    fn sample(at_ms: u64, cpu_load: f64, p99_ms: Option<f64>) -> TelemetrySample {
        TelemetrySample { at_ms, cpu_load, memory_used_mb: cpu_load * 1000.0, p99_ms, qps: cpu_load * 10.0 }
    }

    #[test]
    fn samples_in_a_bucket_are_averaged() {
        let s = Store::open_in_memory().unwrap();
        // Bucket [10_000, 20_000): three samples; p99 known for two of them.
        s.record_telemetry("a", &sample(10_000, 0.2, Some(10.0)), 10_000).unwrap();
        s.record_telemetry("a", &sample(15_000, 0.4, None), 10_000).unwrap();
        s.record_telemetry("a", &sample(19_999, 0.9, Some(30.0)), 10_000).unwrap();
        // Next bucket, and another device in the same bucket.
        s.record_telemetry("a", &sample(20_000, 0.5, None), 10_000).unwrap();
        s.record_telemetry("b", &sample(12_000, 0.1, None), 10_000).unwrap();

        let got = s.telemetry("a", 0).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].at_ms, 10_000);
        assert!((got[0].cpu_load - 0.5).abs() < 1e-12, "{:?}", got[0]);
        assert!((got[0].memory_used_mb - 500.0).abs() < 1e-9);
        assert!((got[0].qps - 5.0).abs() < 1e-9);
        assert_eq!(got[0].p99_ms, Some(20.0), "p99 is the mean over samples that had one");
        assert_eq!(got[1], sample(20_000, 0.5, None));
        assert_eq!(s.telemetry("b", 0).unwrap().len(), 1);
        assert!(s.telemetry("nobody", 0).unwrap().is_empty());
    }

    #[test]
    fn since_and_prune_select_by_bucket() {
        let s = Store::open_in_memory().unwrap();
        for t in [1_000, 61_000, 121_000] {
            s.record_telemetry("a", &sample(t, 0.3, None), 60_000).unwrap();
        }
        // A bucket that started before since_ms but ends after it is included.
        let starts: Vec<_> = s.telemetry("a", 100_000).unwrap().iter().map(|x| x.at_ms).collect();
        assert_eq!(starts, [60_000, 120_000]);
        assert_eq!(s.prune_telemetry(60_000).unwrap(), 1);
        assert_eq!(s.prune_telemetry(60_000).unwrap(), 0);
        assert_eq!(s.telemetry("a", 0).unwrap().len(), 2);
    }

    #[test]
    fn bad_samples_are_refused() {
        let s = Store::open_in_memory().unwrap();
        assert!(matches!(
            s.record_telemetry("a", &sample(1, 0.5, None), 0),
            Err(StoreError::Invalid { field: "bucket_ms", .. })
        ));
        assert!(matches!(
            s.record_telemetry("a", &sample(1, f64::NAN, None), 10),
            Err(StoreError::Invalid { field: "cpu_load", .. })
        ));
        assert!(s.record_telemetry("a", &sample(1, 0.5, Some(f64::INFINITY)), 10).is_err());
        assert!(s.record_telemetry("a", &sample(1, -0.5, None), 10).is_err());
        assert!(s.record_telemetry("", &sample(1, 0.5, None), 10).is_err());
        assert!(s.record_telemetry("a", &sample(u64::MAX, 0.5, None), 10).is_err());
        assert!(s.telemetry("a", 0).unwrap().is_empty());
    }

    #[test]
    fn corrupt_counts_are_errors() {
        let s = Store::open_in_memory().unwrap();
        s.record_telemetry("a", &sample(1, 0.5, None), 10).unwrap();
        s.conn.execute("UPDATE telemetry SET samples = 0", []).unwrap();
        assert!(matches!(s.telemetry("a", 0), Err(StoreError::CorruptRow { table: "telemetry", .. })));
    }

    #[test]
    fn metrics_become_a_sample() {
        let stats = |qps, p99_ms| ModelStats { name: "m".into(), qps, p99_ms, ..ModelStats::default() };
        let m = Metrics {
            timestamp_ms: 5,
            cpu_load: 0.25,
            memory_used_mb: 300,
            models: vec![stats(2.0, 8.0), stats(3.0, 12.0)],
            ..Metrics::default()
        };
        assert_eq!(
            TelemetrySample::from_metrics(&m),
            TelemetrySample { at_ms: 5, cpu_load: 0.25, memory_used_mb: 300.0, p99_ms: Some(12.0), qps: 5.0 }
        );
        let idle = Metrics { models: vec![], ..m };
        assert_eq!(TelemetrySample::from_metrics(&idle).p99_ms, None);
    }
}
