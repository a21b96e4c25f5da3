//! The estimator's arithmetic, without words: per-model and per-device terms
//! computed once ([`ModelFactors`], [`DeviceFactors`]) and the `pair_*`
//! checks and figures for one model on one device.
//!
//! Both [`crate::fit::estimate_fit`] and the fleet-wide
//! [`crate::matrix::fit_matrix`] run exactly these operations, which is why
//! they agree to the bit.

use super::config::{BYTES_PER_GB, BYTES_PER_MB, FitConfig};
use super::report::Range;
use crate::device::{Device, DeviceType};
use crate::model::ModelProfile;
use crate::ops::is_default_runtime_op;

/// Per-model values the estimator needs, computed once per model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ModelFactors {
    /// weights + runtime overhead, bytes.
    pub fixed_bytes: f64,
    pub act_bytes: f64,
    pub storage_bytes: f64,
    pub flops: f64,
    /// Bit `t as u8` set for every device type the model may run on.
    pub type_mask: u8,
    /// Every op is in the default runtime.
    pub default_ops_ok: bool,
}

impl ModelFactors {
    pub fn new(model: &ModelProfile, cfg: &FitConfig) -> Self {
        let type_mask = if model.target_device_types.is_empty() {
            u8::MAX
        } else {
            model.target_device_types.iter().fold(0u8, |m, t| m | type_bit(*t))
        };
        ModelFactors {
            fixed_bytes: model.weights_bytes as f64 + cfg.runtime_overhead_bytes as f64,
            act_bytes: model.peak_activation_bytes_per_sample as f64,
            storage_bytes: model.storage_bytes() as f64,
            flops: model.flops_per_sample as f64,
            type_mask,
            default_ops_ok: model.ops.iter().all(|op| is_default_runtime_op(op)),
        }
    }

    /// memory(batch) in bytes.
    pub fn memory_bytes(&self, batch: u32) -> f64 {
        self.fixed_bytes + batch as f64 * self.act_bytes
    }
}

/// Where a device's peak compute figure came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum GflopsSource {
    Measured,
    Assumed,
    /// The device reported a speed that is not a positive number.
    InvalidMeasured(f64),
}

/// Per-device values the estimator needs, computed once per device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DeviceFactors {
    pub free_mem_bytes: f64,
    pub fit_budget_bytes: f64,
    pub batch_budget_bytes: f64,
    pub free_storage_bytes: f64,
    pub storage_budget_bytes: f64,
    pub peak_gflops: f64,
    pub available_gflops: f64,
    pub gflops_source: GflopsSource,
    /// ms per FLOP at the optimistic and pessimistic efficiency.
    pub ms_per_flop_low: f64,
    pub ms_per_flop_high: f64,
    pub fixed_overhead_ms: f64,
    /// Current load used, in 0..=1 (a non-number counts as idle).
    pub load: f64,
    pub type_bit: u8,
    pub max_batch_cap: u32,
}

impl DeviceFactors {
    pub fn new(device: &Device, cfg: &FitConfig) -> Self {
        let free_mem_bytes = device.effective_free_memory_mb() as f64 * BYTES_PER_MB;
        let free_storage_gb = device.effective_free_storage_gb();
        let free_storage_bytes =
            if free_storage_gb.is_finite() { free_storage_gb.max(0.0) * BYTES_PER_GB } else { 0.0 };
        let (peak_gflops, gflops_source) = match device.gflops {
            Some(g) if g.is_finite() && g > 0.0 => (g, GflopsSource::Measured),
            Some(g) => (cfg.default_gflops_per_core * device.cpu_cores.max(1) as f64, GflopsSource::InvalidMeasured(g)),
            None => (cfg.default_gflops_per_core * device.cpu_cores.max(1) as f64, GflopsSource::Assumed),
        };
        let load = if device.current_load.is_finite() { device.current_load.clamp(0.0, 1.0) } else { 0.0 };
        let available_gflops = peak_gflops * (1.0 - load).max(cfg.min_available_compute_fraction);
        let flops_per_ms = available_gflops * 1e9 / 1000.0;
        DeviceFactors {
            free_mem_bytes,
            fit_budget_bytes: cfg.mem_fit_fraction * free_mem_bytes,
            batch_budget_bytes: cfg.batch_fraction * free_mem_bytes,
            free_storage_bytes,
            storage_budget_bytes: cfg.storage_fraction * free_storage_bytes,
            peak_gflops,
            available_gflops,
            gflops_source,
            ms_per_flop_low: 1.0 / (flops_per_ms * cfg.efficiency_high),
            ms_per_flop_high: 1.0 / (flops_per_ms * cfg.efficiency_low),
            fixed_overhead_ms: cfg.fixed_overhead_ms,
            load,
            type_bit: type_bit(device.device_type),
            max_batch_cap: cfg.max_batch_cap,
        }
    }
}

pub(crate) fn type_bit(t: DeviceType) -> u8 {
    1u8 << (t as u8)
}

#[inline]
pub(crate) fn pair_memory_ok(m: &ModelFactors, d: &DeviceFactors) -> bool {
    m.fixed_bytes + m.act_bytes <= d.fit_budget_bytes
}

#[inline]
pub(crate) fn pair_storage_ok(m: &ModelFactors, d: &DeviceFactors) -> bool {
    m.storage_bytes <= d.storage_budget_bytes
}

#[inline]
pub(crate) fn pair_type_ok(m: &ModelFactors, d: &DeviceFactors) -> bool {
    m.type_mask & d.type_bit != 0
}

/// Largest batch for a compatible pair (≥ 1), before the compatibility
/// gate; the caller returns 0 for incompatible pairs.
#[inline]
pub(crate) fn pair_max_batch(m: &ModelFactors, d: &DeviceFactors) -> u32 {
    let cap = d.max_batch_cap.max(1);
    let room = d.batch_budget_bytes - m.fixed_bytes;
    if m.act_bytes <= 0.0 {
        return if room >= 0.0 { cap } else { 1 };
    }
    let b = (room / m.act_bytes).floor();
    if b < 1.0 {
        return 1;
    }
    let mut b = b.min(cap as f64) as u32;
    // Division rounding must never claim a batch that does not fit.
    if b > 1 && m.memory_bytes(b) > d.batch_budget_bytes {
        b -= 1;
    }
    b
}

/// Latency range of one call at `batch`, ms.
#[inline]
pub(crate) fn pair_latency_ms(m: &ModelFactors, d: &DeviceFactors, batch: u32) -> Range {
    let flops = m.flops * batch as f64;
    Range {
        low: flops * d.ms_per_flop_low + d.fixed_overhead_ms,
        high: flops * d.ms_per_flop_high + d.fixed_overhead_ms,
    }
}

/// Samples per second of one call of `batch` taking `latency` ms.
pub(crate) fn throughput_per_s(batch: u32, latency: Range) -> Range {
    Range { low: batch as f64 * 1000.0 / latency.high, high: batch as f64 * 1000.0 / latency.low }
}

/// Energy per inference (one sample), mJ, of one call of `batch` taking
/// `latency` ms at `compute_w` above idle.
pub(crate) fn energy_mj(batch: u32, latency: Range, compute_w: f64) -> Range {
    // W × ms = mJ, shared by the batch's samples.
    Range { low: compute_w * latency.low / batch as f64, high: compute_w * latency.high / batch as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::DeviceType;
    use crate::fit::estimate_fit;
    use crate::fit::fixtures::{mlp, sensor, server};

    #[test]
    fn memory_figures_follow_the_formula() {
        let fit = estimate_fit(&mlp(), &sensor(), &FitConfig::default());
        let want = (69_416.0 + 1_024.0 + 32.0 * BYTES_PER_MB) / BYTES_PER_MB;
        assert!((fit.memory_at_batch1_mb - want).abs() < 1e-9);
        assert!((fit.per_batch[1].memory_mb - (want + 1024.0 / BYTES_PER_MB)).abs() < 1e-9);
    }

    #[test]
    fn max_batch_is_the_largest_that_fits_in_60_percent() {
        let mut p = mlp();
        p.weights_bytes = 0;
        p.peak_activation_bytes_per_sample = 10 * 1024 * 1024;
        let mut d = sensor();
        d.free_memory_mb = Some(200);
        let cfg = FitConfig::default();
        let fit = estimate_fit(&p, &d, &cfg);
        // 0.6 × 200 = 120 MB; minus 32 MB overhead leaves 88 MB = 8 batches of 10 MB.
        assert_eq!(fit.max_batch, 8);
        assert_eq!(fit.per_batch.last().map(|b| b.batch), Some(8));
        let msg = &fit.reasons.last().expect("reasons").message;
        assert!(msg.contains("max batch 8") && msg.contains("batch 9 would need 122 MB"), "{msg}");
        d.free_memory_mb = Some(210);
        // 126 − 32 = 94 → 9.
        assert_eq!(estimate_fit(&p, &d, &cfg).max_batch, 9);
    }

    #[test]
    fn batch1_within_80_percent_but_not_60_still_runs_batch_1() {
        let mut p = mlp();
        p.weights_bytes = 150 * 1024 * 1024;
        let fit = estimate_fit(&p, &sensor(), &FitConfig::default());
        // 182 MB ≤ 204.8 (80%) but > 153.6 (60%).
        assert!(fit.compatible);
        assert_eq!(fit.max_batch, 1);
        assert!(fit.reasons.iter().any(|r| r.message.starts_with("only batch 1 fits")));
    }

    #[test]
    fn latency_follows_flops_speed_and_load() {
        let cfg = FitConfig::default();
        let p = ModelProfile { flops_per_sample: 1_000_000_000, ..mlp() };
        let mut d = server();
        let fit = estimate_fit(&p, &d, &cfg);
        let b1 = &fit.per_batch[0];
        // 1 GFLOP at 200 GFLOP/s × 0.7 = 7.14 ms; × 0.25 = 20 ms; + 0.5 ms.
        assert!((b1.latency_ms.low - (1000.0 / 140.0 + 0.5)).abs() < 1e-9);
        assert!((b1.latency_ms.high - 20.5).abs() < 1e-9);
        assert!((b1.throughput_per_s.high - 1000.0 / b1.latency_ms.low).abs() < 1e-9);
        // 150 W × 20.5 ms = 3075 mJ.
        assert!((b1.energy_mj.high - 3075.0).abs() < 1e-6);
        d.current_load = 0.5;
        let loaded = estimate_fit(&p, &d, &cfg);
        assert!((loaded.per_batch[0].latency_ms.high - 40.5).abs() < 1e-9);
        assert!(loaded.reasons.iter().any(|r| r.message.contains("at 50% load 100 GFLOP/s")));
        d.current_load = 1.0;
        let full = estimate_fit(&p, &d, &cfg);
        assert!(full.per_batch[0].latency_ms.high.is_finite());
    }

    #[test]
    fn unmeasured_or_invalid_speed_falls_back_to_cores() {
        let cfg = FitConfig::default();
        let p = ModelProfile { flops_per_sample: 1_000_000_000, ..mlp() };
        let mut d = Device::new("e", DeviceType::EmbeddedDevice, 4, 4096, 32.0);
        let fit = estimate_fit(&p, &d, &cfg);
        assert!((fit.available_gflops - 8.0).abs() < 1e-12);
        assert!(fit.reasons.iter().any(|r| r.message.contains("2.00 GFLOP/s per core × 4 core(s)")));
        d.gflops = Some(f64::NAN);
        let fit = estimate_fit(&p, &d, &cfg);
        assert!((fit.available_gflops - 8.0).abs() < 1e-12);
        assert!(fit.reasons.iter().any(|r| r.message.contains("ignored the reported speed")));
    }
}
