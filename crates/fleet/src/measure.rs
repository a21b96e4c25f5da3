//! "Measure on device": put a model on a device (as an inactive version, or
//! the copy it already holds), run its `/v1/benchmark` at batch 1, 2, 4, …
//! up to the largest batch the estimate says fits, keep every result in the
//! store, and answer with the measured figures next to the estimate.
//!
//! Every stored result teaches the device's efficiency, so
//! [`calibrated_fit`] calibrates the estimate of *any* model on that device
//! from all the runs kept for it (`edgefleet_core::fit::DeviceCalibration`).
//! The same code serves the CLI (`edgefleet estimate --device-id ID
//! --measure`) and the GUI's "Measure on device" job.

use crate::client::AgentClient;
use crate::error::{FleetError, Result};
use crate::liveness::now_ms;
use crate::rollout::{check_model_name, default_model_name, default_version, sha256_file};
use edgefleet_core::fit::{BenchmarkRun, DeviceCalibration, Range, attach_measurements, estimate_fit_calibrated};
use edgefleet_core::wire::{BatchLatency, BenchmarkRequest, BenchmarkResponse, Metrics};
use edgefleet_core::{Device, Fit, FitConfig, ModelProfile, estimate_fit};
use edgefleet_store::{CalibrationRecord, Store};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

/// The agent refuses benchmark batches above this (`MAX_BENCH_BATCH`).
pub const MAX_MEASURED_BATCH: u32 = 1024;
/// Timed runs per batch size: enough for a stable p50, short on a slow board.
pub const DEFAULT_ITERATIONS: u32 = 10;

/// What to measure where.
#[derive(Debug, Clone)]
pub struct MeasureRequest {
    pub device_id: String,
    pub model_path: PathBuf,
    /// Name on the device; `None` = the file stem.
    pub name: Option<String>,
    /// Version on the device; `None` = the first 12 hex digits of the SHA-256.
    pub version: Option<String>,
    pub iterations: u32,
}

/// One batch size: the estimate before measuring, the calibrated estimate
/// after, and what the device measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchComparison {
    pub batch: u32,
    pub estimated_latency_ms: Range,
    pub calibrated_latency_ms: Range,
    pub measured_latency_ms_p50: Option<f64>,
    pub measured_latency_ms_p90: Option<f64>,
    pub estimated_memory_mb: f64,
    /// What the model took at this batch, MB, as the agent measured it:
    /// counted on its heap, or the peak RSS above the pre-load RSS (see
    /// [`MeasureOutcome::memory_source`]).
    pub measured_peak_mb: Option<f64>,
}

/// The answer of a measurement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeasureOutcome {
    pub device_id: String,
    pub model: String,
    pub version: String,
    pub sha256: String,
    pub runtime: String,
    /// The device is simulated: the figures follow its synthetic speed and
    /// must not be called measured.
    pub synthetic: bool,
    /// The model had to be uploaded (else the device already held it).
    pub uploaded: bool,
    /// How the agent measured memory: "heap" (it counts its allocations)
    /// or "RSS" (older agents, ONNX Runtime); none when it reported none.
    pub memory_source: Option<&'static str>,
    pub per_batch: Vec<BatchComparison>,
    /// The estimate after calibrating with every run kept for the device.
    pub fit: Fit,
    pub calibration: DeviceCalibration,
}

/// A device as one poll found it: its description (live free memory and
/// load), its metrics, and the round-trip time of the metrics call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveDevice {
    pub device: Device,
    pub metrics: Metrics,
    pub rtt_ms: f64,
}

impl LiveDevice {
    /// Requests per second the device serves now, over all its models.
    pub fn request_rate_per_s(&self) -> f64 {
        self.metrics.models.iter().map(|m| m.qps).sum::<f64>() + 0.0
    }
}

/// Ask a device for its description and metrics; the metrics call is timed
/// as the round-trip time (the answer is small, so it is mostly network).
pub async fn poll_device(client: &AgentClient) -> Result<LiveDevice> {
    let info = client.info().await?;
    let started = Instant::now();
    let metrics = client.metrics().await?;
    let rtt_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut device = info.device;
    device.current_load = metrics.cpu_load;
    if device.free_memory_mb.is_none() && metrics.memory_total_mb > 0 {
        device.free_memory_mb = Some(metrics.memory_total_mb.saturating_sub(metrics.memory_used_mb));
    }
    Ok(LiveDevice { device, metrics, rtt_ms })
}

fn lock(store: &Mutex<Store>) -> Result<std::sync::MutexGuard<'_, Store>> {
    store.lock().map_err(|_| FleetError::LockPoisoned { what: "fleet store".into() })
}

/// The benchmark runs kept for a device, one per (model, runtime), for the
/// runtime the device uses now (all runs when it does not say).
pub fn stored_runs(store: &Store, device: &Device) -> Result<Vec<BenchmarkRun>> {
    let records = store.calibrations_for_device(&device.device_id)?;
    let mut by_run: BTreeMap<(String, String), Vec<CalibrationRecord>> = BTreeMap::new();
    for r in records {
        if device.runtime.as_deref().is_some_and(|rt| rt != r.runtime) {
            continue;
        }
        by_run.entry((r.model_sha256.clone(), r.runtime.clone())).or_default().push(r);
    }
    Ok(by_run.into_values().filter_map(|rows| run_from_records(&rows)).collect())
}

/// Rebuild one benchmark answer from its stored rows (one per batch).
fn run_from_records(rows: &[CalibrationRecord]) -> Option<BenchmarkRun> {
    let first = rows.first()?;
    let bench = BenchmarkResponse {
        model: first.model_name.clone(),
        version: String::new(),
        results: rows
            .iter()
            .map(|r| BatchLatency {
                batch: r.batch,
                latency_ms_p50: r.latency_ms_p50,
                latency_ms_p90: r.latency_ms_p90,
                peak_mb: r.peak_mb,
            })
            .collect(),
        memory: first.memory.clone(),
        synthetic: rows.iter().any(|r| r.synthetic),
    };
    let profile = ModelProfile { name: first.model_name.clone(), ..first.profile.clone() };
    Some(BenchmarkRun::new(&profile, &bench))
}

/// The estimate of `profile` on `device`, calibrated with every benchmark
/// kept for the device when there is any (the calibration is returned too,
/// and this model's own measurements are put next to the estimates); the
/// plain estimate otherwise.
pub fn calibrated_fit(
    store: &Store,
    profile: &ModelProfile,
    device: &Device,
    cfg: &FitConfig,
) -> Result<(Fit, Option<DeviceCalibration>)> {
    let runs = stored_runs(store, device)?;
    Ok(calibrated_fit_from_runs(&runs, profile, device, cfg))
}

/// [`calibrated_fit`] with the device's kept runs already read (the GUI
/// keeps them per device, for the group fit, the comparison and the drag
/// highlight): calibrated when there are runs that calibrate, plain
/// otherwise.
pub fn calibrated_fit_from_runs(
    runs: &[BenchmarkRun],
    profile: &ModelProfile,
    device: &Device,
    cfg: &FitConfig,
) -> (Fit, Option<DeviceCalibration>) {
    if runs.is_empty() {
        return (estimate_fit(profile, device, cfg), None);
    }
    match DeviceCalibration::from_runs(runs, device, cfg) {
        Ok(cal) => {
            let mut fit = estimate_fit_calibrated(profile, device, cfg, &cal);
            attach_measurements(&mut fit, runs);
            (fit, Some(cal))
        }
        Err(e) => {
            tracing::warn!("{}: the stored benchmarks do not calibrate: {e}", device.device_id);
            (estimate_fit(profile, device, cfg), None)
        }
    }
}

/// Batch sizes to measure: 1, 2, 4, … ≤ `max_batch` (capped at what the
/// agent accepts, and at 11 sizes).
pub fn batches_to_measure(max_batch: u32) -> Vec<u32> {
    let top = max_batch.clamp(1, MAX_MEASURED_BATCH);
    std::iter::successors(Some(1u32), |b| b.checked_mul(2)).take_while(|&b| b <= top).collect()
}

/// Measure `req`'s model on its device and keep the results (see the
/// module doc). `progress` gets (fraction done, what is happening).
pub async fn measure_on_device(
    client: &AgentClient,
    store: &Mutex<Store>,
    req: &MeasureRequest,
    cfg: &FitConfig,
    progress: &(dyn Fn(f32, String) + Send + Sync),
) -> Result<MeasureOutcome> {
    if req.iterations == 0 || req.iterations > 1000 {
        return Err(FleetError::BadInput(format!("iterations must be in 1..=1000, got {}", req.iterations)));
    }
    progress(0.0, "reading the model".into());
    let path = req.model_path.clone();
    let (sha256, profile) = tokio::task::spawn_blocking(move || -> Result<(String, ModelProfile)> {
        let sha = sha256_file(&path)?;
        let profile = edgefleet_optimize::inspect_path(&path)
            .map_err(|e| FleetError::BadInput(format!("{} is not a model edgefleet can read: {e}", path.display())))?;
        Ok((sha, profile))
    })
    .await
    .map_err(|e| FleetError::TaskFailed { task: "model inspection".into(), reason: e.to_string() })??;
    let name = match &req.name {
        Some(n) => n.clone(),
        None => default_model_name(&req.model_path)?,
    };
    check_model_name(&name)?;
    let version = req.version.clone().unwrap_or_else(|| default_version(&sha256));
    let profile = ModelProfile { name: name.clone(), ..profile };

    progress(0.05, format!("asking {} for its state", req.device_id));
    let live = poll_device(client).await?;
    if live.device.device_id != req.device_id {
        return Err(FleetError::Protocol {
            addr: client.base().to_owned(),
            reason: format!("expected device {} but {} answered", req.device_id, live.device.device_id),
        });
    }
    let before = {
        let store = lock(store)?;
        calibrated_fit(&store, &profile, &live.device, cfg)?.0
    };
    if !before.compatible {
        let why: Vec<&str> = before.failures().map(|r| r.message.as_str()).collect();
        return Err(FleetError::BadInput(format!(
            "{name} does not fit {}: {}",
            live.device.display_name(),
            why.join("; ")
        )));
    }

    let installed = client.models().await?;
    let held = installed.models.iter().any(|m| m.name == name && m.version == version);
    if !held {
        progress(0.1, format!("uploading {name} {version} (inactive)"));
        let report = |sent: u64, total: u64| {
            let _ = (sent, total);
        };
        client.upload_model(&name, &version, &req.model_path, &sha256, report).await?;
    }
    let batches = batches_to_measure(before.max_batch);
    progress(0.3, format!("benchmarking batch {}", batches.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")));
    // The installed version is benchmarked as it is: whatever the device
    // serves stays active.
    let bench_req =
        BenchmarkRequest { batch_sizes: batches, iterations: req.iterations, version: Some(version.clone()) };
    let bench = client.benchmark(&name, &bench_req).await?;
    if bench.version != version {
        return Err(FleetError::Protocol {
            addr: client.base().to_owned(),
            reason: format!("asked to benchmark {name} {version}, the agent benchmarked {}", bench.version),
        });
    }
    if bench.results.is_empty() {
        return Err(FleetError::Protocol {
            addr: client.base().to_owned(),
            reason: "the benchmark returned no results".into(),
        });
    }

    progress(0.9, "keeping the results".into());
    let runtime = live.device.runtime.clone().unwrap_or_else(|| "tract".to_owned());
    let measured_ms = now_ms();
    let records: Vec<CalibrationRecord> = bench
        .results
        .iter()
        .map(|r| CalibrationRecord {
            device_id: req.device_id.clone(),
            model_sha256: sha256.clone(),
            model_name: name.clone(),
            runtime: runtime.clone(),
            batch: r.batch,
            latency_ms_p50: r.latency_ms_p50,
            latency_ms_p90: r.latency_ms_p90,
            peak_mb: r.peak_mb,
            memory: bench.memory.clone(),
            synthetic: bench.synthetic,
            profile: profile.clone(),
            measured_ms,
        })
        .collect();
    let (after, calibration) = {
        let store = lock(store)?;
        store.record_calibrations(&records)?;
        calibrated_fit(&store, &profile, &live.device, cfg)?
    };
    let calibration = calibration.ok_or_else(|| FleetError::Protocol {
        addr: client.base().to_owned(),
        reason: "the benchmark results could not calibrate the estimate".into(),
    })?;
    let per_batch = compare(&before, &after, &bench);
    progress(1.0, "done".into());
    Ok(MeasureOutcome {
        device_id: req.device_id.clone(),
        model: name,
        version,
        sha256,
        runtime,
        synthetic: bench.synthetic,
        uploaded: !held,
        memory_source: bench.memory.as_ref().map(|m| m.source()),
        per_batch,
        fit: after,
        calibration,
    })
}

/// Line up the estimate before, the calibrated one after and the
/// measurement, per batch size the benchmark ran.
fn compare(before: &Fit, after: &Fit, bench: &BenchmarkResponse) -> Vec<BatchComparison> {
    bench
        .results
        .iter()
        .filter_map(|r| {
            let b = before.at_batch(r.batch)?;
            let a = after.at_batch(r.batch).unwrap_or(b);
            Some(BatchComparison {
                batch: r.batch,
                estimated_latency_ms: b.latency_ms,
                calibrated_latency_ms: a.latency_ms,
                measured_latency_ms_p50: Some(r.latency_ms_p50),
                measured_latency_ms_p90: Some(r.latency_ms_p90),
                estimated_memory_mb: b.memory_mb,
                measured_peak_mb: r.peak_mb,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measured_batches_are_powers_of_two_up_to_the_cap() {
        assert_eq!(batches_to_measure(0), vec![1]);
        assert_eq!(batches_to_measure(1), vec![1]);
        assert_eq!(batches_to_measure(12), vec![1, 2, 4, 8]);
        assert_eq!(batches_to_measure(256).last(), Some(&256));
        assert_eq!(batches_to_measure(u32::MAX).last(), Some(&MAX_MEASURED_BATCH));
    }
}
