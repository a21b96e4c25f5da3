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
    /// The weights as many times as the runtime holds them once loaded +
    /// runtime overhead, bytes: memory at batch 1 less activations.
    pub fixed_bytes: f64,
    /// What serving a batch size other than 1 adds (its plan's weights).
    pub plan_bytes: f64,
    pub act_bytes: f64,
    pub storage_bytes: f64,
    pub weights_bytes: f64,
    pub flops: f64,
    /// Bit `t as u8` set for every device type the model may run on.
    pub type_mask: u8,
    /// Every op is in the default runtime.
    pub default_ops_ok: bool,
    /// The model has convolutions (its efficiency range is the conv one).
    pub convolutional: bool,
    /// Share of one thread's probe speed the model's work reaches,
    /// pessimistic and optimistic.
    pub eff_low: f64,
    pub eff_high: f64,
    /// Work per sample in FLOPs of the probe's GEMM: the FLOPs plus the
    /// per-layer terms of the profile's [`crate::LayerWork`] (FLOPs alone
    /// when it was not counted).
    pub work_flops: f64,
    /// The per-call overhead of this model ÷ the device's one-node figure,
    /// at batch > 1 and the extra at batch 1 (1 and 0 when not counted).
    pub call_factor: f64,
    pub batch1_call_extra: f64,
    /// High end of the per-call overhead factor for this model.
    pub overhead_high_factor: f64,
    /// Read time factors of weights within and beyond the per-core cache.
    pub cached_read: f64,
    pub uncached_read: f64,
}

impl ModelFactors {
    pub fn new(model: &ModelProfile, cfg: &FitConfig) -> Self {
        let type_mask = if model.target_device_types.is_empty() {
            u8::MAX
        } else {
            model.target_device_types.iter().fold(0u8, |m, t| m | type_bit(*t))
        };
        let convolutional = is_convolutional(model);
        let w = &model.work;
        let known = w.is_known();
        let (eff_low, eff_high) = if known {
            (cfg.layer_efficiency_low, cfg.layer_efficiency_high)
        } else if convolutional {
            (cfg.conv_efficiency_low, cfg.conv_efficiency_high)
        } else {
            (cfg.efficiency_low, cfg.efficiency_high)
        };
        let flops = model.flops_per_sample as f64;
        let (work_flops, call_factor, batch1_call_extra) = if known {
            let nodes = f64::from(w.nodes);
            (
                flops
                    + w.matmul_rows as f64 * cfg.matmul_row_flops
                    + w.conv_elements as f64 * cfg.conv_element_flops
                    + w.elementwise_elements as f64 * cfg.elementwise_element_flops
                    + w.row_ops as f64 * cfg.row_op_flops,
                1.0 + (nodes - 1.0) * cfg.node_overhead_factor,
                nodes * cfg.batch1_node_factor,
            )
        } else {
            (flops, 1.0, 0.0)
        };
        let (cached_read, uncached_read) =
            if known { (cfg.cached_weight_read_factor, cfg.uncached_weight_read_factor) } else { (1.0, 1.0) };
        ModelFactors {
            convolutional,
            eff_low,
            eff_high,
            work_flops,
            call_factor,
            batch1_call_extra,
            overhead_high_factor: if known { cfg.layer_overhead_high_factor } else { cfg.overhead_high_factor },
            cached_read,
            uncached_read,
            fixed_bytes: model.weights_bytes as f64 * cfg.weights_copies_loaded + cfg.runtime_overhead_bytes as f64,
            plan_bytes: model.weights_bytes as f64 * cfg.weights_copies_per_batch_size,
            act_bytes: model.peak_activation_bytes_per_sample as f64,
            storage_bytes: model.storage_bytes() as f64,
            weights_bytes: model.weights_bytes as f64,
            flops: model.flops_per_sample as f64,
            type_mask,
            default_ops_ok: model.ops.iter().all(|op| is_default_runtime_op(op)),
        }
    }

    /// memory(batch) in bytes.
    pub fn memory_bytes(&self, batch: u32) -> f64 {
        let plan = if batch > 1 { self.plan_bytes } else { 0.0 };
        self.fixed_bytes + plan + batch as f64 * self.act_bytes
    }
}

/// Whether `model` runs convolutions (`Conv`, `ConvInteger`, `QLinearConv`, …).
pub fn is_convolutional(model: &ModelProfile) -> bool {
    model.ops.iter().any(|op| op.contains("Conv"))
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
    /// The whole device's speed, all cores.
    pub peak_gflops: f64,
    /// What one inference thread reaches on an idle device.
    pub thread_gflops: f64,
    /// What one inference thread gets now: `thread_gflops` × its scheduler
    /// share at the current load.
    pub available_gflops: f64,
    pub gflops_source: GflopsSource,
    /// Whether `thread_gflops` was measured per thread (else peak ÷ cores).
    pub thread_measured: bool,
    /// ms per FLOP at the probe's speed (efficiency 1), available share.
    pub ms_per_flop: f64,
    /// The per-call overhead: the device's measured figure (or the
    /// config's), and the range the estimate allows around it.
    pub fixed_overhead_ms: f64,
    pub overhead_measured: bool,
    /// ms to read one byte of weights (0 when the device did not measure
    /// it), and the range factors around it.
    pub ms_per_weight_byte: f64,
    /// Bytes of weights the per-core cache keeps (the device's cache, else
    /// the config's, × `weight_cache_fraction`).
    pub cache_bytes: f64,
    pub overhead_low_factor: f64,
    pub weight_read_low: f64,
    pub weight_read_high: f64,
    /// Current load used, in 0..=1 (a non-number counts as idle).
    pub load: f64,
    /// Share of one core a new inference thread gets at `load`.
    pub share: f64,
    pub type_bit: u8,
    pub max_batch_cap: u32,
}

/// The share of a core one more thread gets on `cores` cores that are
/// `load` busy: the other work keeps `load × cores` threads runnable; while
/// a core is left idle the new thread gets all of it, else the scheduler
/// splits the cores evenly among everything runnable. Never below `floor`.
pub fn thread_share(cores: u32, load: f64, floor: f64) -> f64 {
    let cores = f64::from(cores.max(1));
    let busy = load.clamp(0.0, 1.0) * cores;
    (cores / (busy + 1.0)).min(1.0).max(floor)
}

impl DeviceFactors {
    pub fn new(device: &Device, cfg: &FitConfig) -> Self {
        let free_mem_bytes = device.effective_free_memory_mb() as f64 * BYTES_PER_MB;
        let free_storage_gb = device.effective_free_storage_gb();
        let free_storage_bytes =
            if free_storage_gb.is_finite() { free_storage_gb.max(0.0) * BYTES_PER_GB } else { 0.0 };
        let cores = device.cpu_cores.max(1);
        let (peak_gflops, gflops_source) = match device.gflops {
            Some(g) if g.is_finite() && g > 0.0 => (g, GflopsSource::Measured),
            Some(g) => (cfg.default_gflops_per_core * cores as f64, GflopsSource::InvalidMeasured(g)),
            None => (cfg.default_gflops_per_core * cores as f64, GflopsSource::Assumed),
        };
        // tract runs a model on one thread: a call gets one thread's speed.
        let (thread_gflops, thread_measured) = match device.gflops_per_thread {
            Some(g) if g.is_finite() && g > 0.0 => (g, true),
            _ => (peak_gflops / cores as f64, false),
        };
        let load = if device.current_load.is_finite() { device.current_load.clamp(0.0, 1.0) } else { 0.0 };
        let share = thread_share(cores, load, cfg.min_available_compute_fraction);
        let available_gflops = thread_gflops * share;
        let flops_per_ms = available_gflops * 1e9 / 1000.0;
        let (fixed_overhead_ms, overhead_measured) = match device.call_overhead_ms {
            Some(ms) if ms.is_finite() && ms >= 0.0 => (ms, true),
            _ => (cfg.fixed_overhead_ms, false),
        };
        DeviceFactors {
            free_mem_bytes,
            fit_budget_bytes: cfg.mem_fit_fraction * free_mem_bytes,
            batch_budget_bytes: cfg.batch_fraction * free_mem_bytes,
            free_storage_bytes,
            storage_budget_bytes: cfg.storage_fraction * free_storage_bytes,
            peak_gflops,
            thread_gflops,
            available_gflops,
            gflops_source,
            thread_measured,
            ms_per_flop: 1.0 / flops_per_ms,
            fixed_overhead_ms,
            overhead_measured,
            ms_per_weight_byte: match device.weight_read_gbps {
                Some(g) if g.is_finite() && g > 0.0 => 1.0 / (g * 1e6),
                _ => 0.0,
            },
            cache_bytes: f64::from(device.cache_kb.unwrap_or(cfg.default_cache_kb))
                * 1024.0
                * cfg.weight_cache_fraction,
            overhead_low_factor: cfg.overhead_low_factor,
            weight_read_low: cfg.weight_read_low_factor,
            weight_read_high: cfg.weight_read_high_factor,
            load,
            share,
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
    // Room for the activations of any batch above 1 (which brings its plan).
    let room = d.batch_budget_bytes - m.fixed_bytes - m.plan_bytes;
    if m.act_bytes <= 0.0 {
        return if room >= 0.0 { cap } else { 1 };
    }
    let b = (room / m.act_bytes).floor();
    if b < 2.0 {
        return 1;
    }
    let mut b = b.min(cap as f64) as u32;
    // Division rounding must never claim a batch that does not fit.
    if b > 1 && m.memory_bytes(b) > d.batch_budget_bytes {
        b -= 1;
    }
    b
}

/// The uncalibrated parts of one call at `batch`, ms, at the middle of
/// each range: per-call overhead (dispatch of every node), reading the
/// weights once, and compute per sample (work ÷ the geometric-mean
/// efficiency).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CallParts {
    pub call_ms: f64,
    pub weights_ms: f64,
    pub compute_ms_per_sample: f64,
}

/// The per-call overhead of `m` on `d` at `batch` (the device's one-node
/// figure × the model's node factor), ms.
#[inline]
pub(crate) fn pair_call_ms(m: &ModelFactors, d: &DeviceFactors, batch: u32) -> f64 {
    let extra = if batch == 1 { m.batch1_call_extra } else { 0.0 };
    d.fixed_overhead_ms * (m.call_factor + extra)
}

/// Reading `m`'s weights once on `d`, ms (middle of the range).
#[inline]
pub(crate) fn pair_weights_ms(m: &ModelFactors, d: &DeviceFactors) -> f64 {
    let cached = m.weights_bytes.min(d.cache_bytes);
    let beyond = (m.weights_bytes - cached).max(0.0);
    (cached * m.cached_read + beyond * m.uncached_read) * d.ms_per_weight_byte
}

pub(crate) fn call_parts(m: &ModelFactors, d: &DeviceFactors, batch: u32) -> CallParts {
    CallParts {
        call_ms: pair_call_ms(m, d, batch),
        weights_ms: pair_weights_ms(m, d),
        compute_ms_per_sample: m.work_flops * d.ms_per_flop / (m.eff_low * m.eff_high).sqrt(),
    }
}

/// Latency range of one call at `batch`, ms.
#[inline]
pub(crate) fn pair_latency_ms(m: &ModelFactors, d: &DeviceFactors, batch: u32) -> Range {
    let work = m.work_flops * batch as f64;
    let call_ms = pair_call_ms(m, d, batch);
    let weights_ms = pair_weights_ms(m, d);
    Range {
        low: work * d.ms_per_flop / m.eff_high + call_ms * d.overhead_low_factor + weights_ms * d.weight_read_low,
        high: work * d.ms_per_flop / m.eff_low + call_ms * m.overhead_high_factor + weights_ms * d.weight_read_high,
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
        // Two copies of the weights, one sample, 1 MiB of runtime.
        let want = (2.0 * 69_416.0 + 1_024.0 + BYTES_PER_MB) / BYTES_PER_MB;
        assert!((fit.memory_at_batch1_mb - want).abs() < 1e-9);
        // Batch 2: one more sample and the batch size's own plan (a third copy).
        assert!((fit.per_batch[1].memory_mb - (want + (69_416.0 + 1024.0) / BYTES_PER_MB)).abs() < 1e-9);
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
        // 0.6 × 200 = 120 MB; minus 1 MB overhead leaves 119 MB = 11 batches of 10 MB.
        assert_eq!(fit.max_batch, 11);
        assert_eq!(fit.per_batch.last().map(|b| b.batch), Some(11));
        let msg = &fit.reasons.last().expect("reasons").message;
        assert!(msg.contains("max batch 11") && msg.contains("batch 12 would need 121 MB"), "{msg}");
        d.free_memory_mb = Some(202);
        // 0.6 × 202 = 121.2 ≥ 121 → 12.
        assert_eq!(estimate_fit(&p, &d, &cfg).max_batch, 12);
    }

    #[test]
    fn batch1_within_80_percent_but_not_60_still_runs_batch_1() {
        let mut p = mlp();
        p.weights_bytes = 80 * 1024 * 1024;
        let fit = estimate_fit(&p, &sensor(), &FitConfig::default());
        // 2 × 80 + 1 MB ≈ 161 MB ≤ 204.8 (80%) but > 153.6 (60%).
        assert!(fit.compatible);
        assert_eq!(fit.max_batch, 1);
        assert!(fit.reasons.iter().any(|r| r.message.starts_with("only batch 1 fits")));
    }

    #[test]
    fn latency_follows_one_threads_speed_the_measured_overhead_and_load() {
        let cfg = FitConfig::default();
        let p = ModelProfile { flops_per_sample: 1_000_000_000, ..mlp() };
        let mut d = server();
        d.gflops_per_thread = Some(50.0);
        d.call_overhead_ms = Some(0.1);
        let fit = estimate_fit(&p, &d, &cfg);
        let b1 = &fit.per_batch[0];
        // 1 GFLOP on one 50 GFLOP/s thread = 20 ms; ÷ 2 and ÷ 0.3 (dense); overhead 0.1 × [0.5, 8].
        assert!((b1.latency_ms.low - 10.05).abs() < 1e-9, "{:?}", b1.latency_ms);
        assert!((b1.latency_ms.high - (20.0 / 0.3 + 0.8)).abs() < 1e-9);
        assert!((b1.throughput_per_s.high - 1000.0 / b1.latency_ms.low).abs() < 1e-9);
        // 150 W × 67.47 ms = 10120 mJ.
        assert!((b1.energy_mj.high - 150.0 * (20.0 / 0.3 + 0.8)).abs() < 1e-6);
        // A convolutional model is assumed to reach 3–50% of the probe.
        let conv = ModelProfile { ops: vec!["Conv".into()], ..p.clone() };
        let c1 = estimate_fit(&conv, &d, &cfg).per_batch[0].latency_ms;
        assert!((c1.high - (20.0 / 0.03 + 0.8)).abs() < 1e-9, "{c1:?}");
        // Half the cores busy: a new thread still finds an idle core.
        d.current_load = 0.5;
        assert_eq!(estimate_fit(&p, &d, &cfg).per_batch[0].latency_ms, b1.latency_ms);
        // All 16 busy: it gets 16 / 17 of a core.
        d.current_load = 1.0;
        let full = estimate_fit(&p, &d, &cfg);
        assert!((full.per_batch[0].latency_ms.high - (20.0 / 0.3 * 17.0 / 16.0 + 0.8)).abs() < 1e-9);
        assert!(
            full.reasons
                .iter()
                .any(|r| r.message.contains("at 100% load on 16 core(s) a new inference thread gets 94% of a core"))
        );
    }

    #[test]
    fn a_busy_two_core_host_still_gives_a_new_thread_most_of_a_core() {
        // The case: load 98% on 2 cores, the model ran at full speed on one thread.
        assert!((thread_share(2, 0.98, 0.05) - 2.0 / 2.96).abs() < 1e-12);
        assert_eq!(thread_share(2, 0.3, 0.05), 1.0);
        assert!((thread_share(1, 1.0, 0.05) - 0.5).abs() < 1e-12);
        assert_eq!(thread_share(1000, 1.0, 0.05), 1000.0 / 1001.0);
        assert_eq!(thread_share(1, 1.0, 0.9), 0.9);
    }

    #[test]
    fn unmeasured_or_invalid_speed_falls_back_to_cores() {
        let cfg = FitConfig::default();
        let p = ModelProfile { flops_per_sample: 1_000_000_000, ..mlp() };
        let mut d = Device::new("e", DeviceType::EmbeddedDevice, 4, 4096, 32.0);
        // One inference thread gets one core's 2 GFLOP/s.
        let fit = estimate_fit(&p, &d, &cfg);
        assert!((fit.available_gflops - 2.0).abs() < 1e-12);
        assert!(fit.reasons.iter().any(|r| r.message.contains("2.00 GFLOP/s per core × 4 core(s)")));
        d.gflops = Some(f64::NAN);
        let fit = estimate_fit(&p, &d, &cfg);
        assert!((fit.available_gflops - 2.0).abs() < 1e-12);
        assert!(fit.reasons.iter().any(|r| r.message.contains("ignored the reported speed")));
    }

    #[test]
    fn narrow_layers_and_many_nodes_cost_more_than_their_flops() {
        let cfg = FitConfig::default();
        let mut d = server();
        d.gflops_per_thread = Some(50.0);
        d.call_overhead_ms = Some(0.01);
        d.weight_read_gbps = Some(20.0);
        d.cache_kb = Some(2048);
        let flops = 500_000;
        let wide = ModelProfile {
            flops_per_sample: flops,
            work: crate::LayerWork {
                nodes: 3,
                matmul_rows: 2,
                row_ops: 1,
                elementwise_elements: 20,
                ..Default::default()
            },
            ..mlp()
        };
        let narrow = ModelProfile {
            work: crate::LayerWork {
                nodes: 9,
                matmul_rows: 8,
                row_ops: 1,
                elementwise_elements: 20,
                ..Default::default()
            },
            ..wide.clone()
        };
        let (w, n) = (estimate_fit(&wide, &d, &cfg), estimate_fit(&narrow, &d, &cfg));
        for b in [1u32, 128] {
            let (lw, ln) = (w.at_batch(b).unwrap().latency_ms, n.at_batch(b).unwrap().latency_ms);
            assert!(ln.low > lw.low && ln.high > lw.high, "batch {b}: {ln:?} vs {lw:?}");
        }
        // Six more rows a sample at 7400 FLOP-equivalents each: 44.4 kFLOP
        // more work a sample, at 50 GFLOP/s ÷ 0.8 (the pessimistic end).
        let extra = n.at_batch(128).unwrap().latency_ms.high - w.at_batch(128).unwrap().latency_ms.high;
        let dispatch = 6.0 * 0.6 * 0.01 * cfg.layer_overhead_high_factor;
        assert!((extra - (128.0 * 6.0 * 7400.0 / 50e9 * 1e3 / 0.8 + dispatch)).abs() < 1e-9, "{extra}");
        // Weights beyond half the 2 MiB cache cost the probe's read time; within it a tenth.
        let mut big = wide.clone();
        big.weights_bytes = 3 << 20;
        let parts = call_parts(&ModelFactors::new(&big, &cfg), &DeviceFactors::new(&d, &cfg), 2);
        let want = ((1u64 << 20) as f64 * 0.1 + (2u64 << 20) as f64) / 20e6;
        assert!((parts.weights_ms - want).abs() < 1e-12, "{parts:?}");
    }
}
