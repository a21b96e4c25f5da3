//! The fit estimator: will this model run on this device, at which batch
//! sizes, how fast, and at what energy cost — with every check explained in
//! plain words and numbers.
//!
//! The formulas (also written out in the project's design document,
//! `docs/design.md`, section "Estimator"):
//!
//! - memory(b) = 2 × weights + runtime overhead (1 MiB) + b × peak
//!   activation per sample, + 1 × weights more for b > 1 (measured on
//!   tract: the decoded model and the batch-1 plan each hold the weights,
//!   and every other batch size gets a plan of its own; calibrated from the
//!   device's measured memory when known)
//! - compatible when memory(1) ≤ 80% of free memory, model file ≤ 50% of free
//!   storage, the device type is among the model's targets (when it names
//!   any), and the device's runtime has every op the model uses.
//! - max batch = largest b with memory(b) ≤ 60% of free memory, capped at
//!   256. A compatible model always gets at least batch 1: batch 1 passed the
//!   80% check, only larger batches need the 60% headroom.
//! - latency(b) = FLOPs × b / available GFLOP/s + per-call overhead, as a
//!   range. A call runs on one thread (tract), so available = the speed of
//!   one inference thread (the agent's probe: a GEMM of inference shape
//!   through the runtime; else peak ÷ cores) × the scheduler share a new
//!   thread gets at the current load, min(1, cores ÷ (load × cores + 1)).
//!   The model reaches between `efficiency_low` and `efficiency_high` of
//!   that (`conv_efficiency_*` for convolutional models); the overhead is the device's measured per-call cost (else the
//!   config's) × [`overhead_low_factor`, `overhead_high_factor`].
//! - throughput(b) = b / latency(b); energy per inference =
//!   compute power × latency(b) / b.
//! - calibration against measured latencies scales the compute part of
//!   latency(b) by the measured ÷ estimated ratio, ±10% (see [`calibrate`]);
//!   a device calibration ([`DeviceCalibration::from_runs`], benchmarks of
//!   any models on the device) replaces speed, overhead and memory factors
//!   for every model ([`estimate_fit_calibrated`]).
//!
//! The percentages, the cap, the overhead and the efficiencies are the
//! defaults of [`FitConfig`]. Memory is counted in MiB (shown as "MB"),
//! storage in GB of 10⁹ bytes, the way devices report them.
//!
//! Where things live: `config` (the constants), `report` (the [`Fit`] and
//! its [`Reason`]s), `factors` (the arithmetic, shared with the fleet-wide
//! [`crate::matrix`] so both agree to the bit), `explain` (numbers into
//! words), `calibrate` (measurements into narrower ranges); this file runs
//! the checks in order and assembles the report.

mod benchmark_run;
mod calibrate;
mod config;
mod device_calibration;
mod explain;
pub(crate) mod factors;
#[cfg(test)]
mod fixtures;
mod memory_calibration;
mod report;

pub use benchmark_run::BenchmarkRun;
pub use calibrate::{CalibrateError, calibrate, calibrate_from_benchmark};
pub use config::{BYTES_PER_GB, BYTES_PER_MB, CALIBRATION_MARGIN, FitConfig, FitConfigError};
pub use device_calibration::{DeviceCalibration, TRANSFER_MARGIN, attach_measurements, estimate_fit_calibrated};
pub use factors::thread_share;
pub use report::{BatchEstimate, Calibration, Fit, Range, Reason, ReasonKind};

use crate::device::Device;
use crate::model::ModelProfile;
use crate::ops::unsupported_ops;
use factors::{
    DeviceFactors, ModelFactors, energy_mj, pair_latency_ms, pair_max_batch, pair_memory_ok, pair_storage_ok,
    pair_type_ok, throughput_per_s,
};

/// Batch sizes to report: 1, 2, 4, … ≤ max, and max itself.
pub fn batch_sizes(max_batch: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut b = 1u32;
    while b <= max_batch {
        out.push(b);
        match b.checked_mul(2) {
            Some(next) => b = next,
            None => break,
        }
    }
    if max_batch > 0 && out.last() != Some(&max_batch) {
        out.push(max_batch);
    }
    out
}

/// Estimate how `profile` fits on `device`.
pub fn estimate_fit(profile: &ModelProfile, device: &Device, cfg: &FitConfig) -> Fit {
    let m = ModelFactors::new(profile, cfg);
    let d = DeviceFactors::new(device, cfg);
    let free_is_live = device.free_memory_mb.is_some();

    let memory_ok = pair_memory_ok(&m, &d);
    let storage_ok = pair_storage_ok(&m, &d);
    let type_ok = pair_type_ok(&m, &d);
    let missing_ops = unsupported_ops(&profile.ops, device);
    let ops_ok = missing_ops.is_empty();
    let compatible = memory_ok && storage_ok && type_ok && ops_ok;
    let max_batch = if compatible { pair_max_batch(&m, &d) } else { 0 };

    // The checks in a fixed order (memory first), then the compute context,
    // then, for a compatible pair, why the largest batch is what it is.
    let mut reasons = Vec::with_capacity(7);
    reasons.push(explain::memory_reason(profile, &m, &d, cfg, free_is_live, memory_ok));
    reasons.push(explain::storage_reason(&m, &d, cfg, device.free_storage_gb.is_some(), storage_ok));
    reasons.push(explain::device_type_reason(profile, device, type_ok));
    reasons.push(explain::ops_reason(profile, device, &missing_ops));
    reasons.push(explain::compute_reason(device, &m, &d, cfg));
    if compatible {
        reasons.push(explain::max_batch_reason(&m, &d, cfg, max_batch, free_is_live));
    }

    let power = cfg.power.get(device.device_type);
    let per_batch = batch_sizes(max_batch)
        .into_iter()
        .map(|b| {
            let latency = pair_latency_ms(&m, &d, b);
            BatchEstimate {
                batch: b,
                memory_mb: m.memory_bytes(b) / BYTES_PER_MB,
                latency_ms: latency,
                estimated_latency_ms: latency,
                measured_latency_ms: None,
                throughput_per_s: throughput_per_s(b, latency),
                energy_mj: energy_mj(b, latency, power.compute_w),
            }
        })
        .collect();

    Fit {
        model: profile.name.clone(),
        device_id: device.device_id.clone(),
        compatible,
        reasons,
        max_batch,
        per_batch,
        memory_at_batch1_mb: m.memory_bytes(1) / BYTES_PER_MB,
        free_memory_mb: d.free_mem_bytes / BYTES_PER_MB,
        free_memory_is_live: free_is_live,
        free_storage_gb: d.free_storage_bytes / BYTES_PER_GB,
        available_gflops: d.available_gflops,
        compute_ms_per_sample: Range {
            low: m.work_flops * d.ms_per_flop / m.eff_high,
            high: m.work_flops * d.ms_per_flop / m.eff_low,
        },
        fixed_overhead_ms: factors::pair_call_ms(&m, &d, 2) + factors::pair_weights_ms(&m, &d),
        compute_power_w: power.compute_w,
        calibration: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::DeviceType;
    use fixtures::{big, mlp, sensor, server};

    #[test]
    fn small_model_fits_and_every_check_has_numbers() {
        let fit = estimate_fit(&mlp(), &sensor(), &FitConfig::default());
        assert!(fit.compatible, "{:#?}", fit.reasons);
        for kind in [ReasonKind::Memory, ReasonKind::Storage, ReasonKind::DeviceType, ReasonKind::Ops, ReasonKind::Info]
        {
            assert!(fit.reasons.iter().any(|r| r.kind == kind), "{kind:?} missing");
        }
        assert!(fit.reasons.iter().all(|r| r.ok));
        let mem = &fit.reasons[0].message;
        assert!(mem.contains("at batch 1") && mem.contains("80% of 256 MB"), "{mem}");
        assert!(mem.contains("weights 0.07 MB × 2 (the runtime's copies)"), "{mem}");
        // (0.6 × 256 MiB − 1 MiB − 3 × 69416 B) / 1024 B ≫ 256 → the cap.
        assert_eq!(fit.max_batch, 256);
        assert_eq!(fit.per_batch.iter().map(|b| b.batch).collect::<Vec<_>>(), vec![1, 2, 4, 8, 16, 32, 64, 128, 256]);
    }

    #[test]
    fn big_model_is_refused_on_a_sensor_with_reasons() {
        let fit = estimate_fit(&big(), &sensor(), &FitConfig::default());
        assert!(!fit.compatible);
        assert_eq!(fit.max_batch, 0);
        assert!(fit.per_batch.is_empty());
        let mem = fit.failures().find(|r| r.kind == ReasonKind::Memory).expect("memory failure");
        // 2 × 300 + 50 + 1 MiB = 651 MB; 80% of 256 is 205 MB.
        assert!(mem.message.contains("651 MB") && mem.message.contains("205 MB"), "{}", mem.message);
        assert!(fit.failures().all(|r| r.kind == ReasonKind::Memory));
    }

    #[test]
    fn non_power_of_two_max_batch_is_listed() {
        assert_eq!(batch_sizes(0), Vec::<u32>::new());
        assert_eq!(batch_sizes(1), vec![1]);
        assert_eq!(batch_sizes(12), vec![1, 2, 4, 8, 12]);
        assert_eq!(batch_sizes(16), vec![1, 2, 4, 8, 16]);
        assert_eq!(batch_sizes(u32::MAX).len(), 33);
    }

    #[test]
    fn live_free_memory_beats_the_spec() {
        let mut d = sensor();
        let p = ModelProfile { weights_bytes: 80 * 1024 * 1024, ..mlp() };
        assert!(estimate_fit(&p, &d, &FitConfig::default()).compatible);
        d.free_memory_mb = Some(100);
        let fit = estimate_fit(&p, &d, &FitConfig::default());
        assert!(!fit.compatible);
        assert!(fit.free_memory_is_live);
        assert!(fit.reasons[0].message.contains("of 100 MB free"), "{}", fit.reasons[0].message);
    }

    #[test]
    fn storage_type_and_ops_each_refuse() {
        let cfg = FitConfig::default();
        let mut d = sensor();
        d.free_storage_gb = Some(0.0001);
        let fit = estimate_fit(&mlp(), &d, &cfg);
        assert!(!fit.compatible);
        assert_eq!(fit.failures().map(|r| r.kind).collect::<Vec<_>>(), vec![ReasonKind::Storage]);

        let p = ModelProfile { target_device_types: vec![DeviceType::EdgeServer], ..mlp() };
        let fit = estimate_fit(&p, &sensor(), &cfg);
        assert_eq!(fit.failures().map(|r| r.kind).collect::<Vec<_>>(), vec![ReasonKind::DeviceType]);
        assert!(fit.failures().any(|r| r.message.contains("edge_server only") && r.message.contains("iot_sensor")));
        assert!(estimate_fit(&p, &server(), &cfg).compatible);

        let p = ModelProfile { ops: vec!["Gemm".into(), "Loop".into()], ..mlp() };
        let fit = estimate_fit(&p, &sensor(), &cfg);
        assert_eq!(fit.failures().map(|r| r.kind).collect::<Vec<_>>(), vec![ReasonKind::Ops]);
        assert!(fit.failures().any(|r| r.message.contains("Loop")));
    }
}
