//! The fit estimator: will this model run on this device, at which batch
//! sizes, how fast, and at what energy cost — with every check explained in
//! plain words and numbers.
//!
//! Formulas (DESIGN.md, "Estimator, in numbers"):
//!
//! - memory(b) = weights + b × peak activation per sample + runtime overhead
//! - compatible when memory(1) ≤ 80% of free memory, model file ≤ 50% of free
//!   storage, the device type is among the model's targets (when it names
//!   any), and the device's runtime has every op the model uses.
//! - max batch = largest b with memory(b) ≤ 60% of free memory, capped at
//!   256. A compatible model always gets at least batch 1: batch 1 passed the
//!   80% check, only larger batches need the 60% headroom.
//! - latency(b) = FLOPs × b / available GFLOP/s + fixed overhead, as a range:
//!   the model reaches between `efficiency_low` and `efficiency_high` of the
//!   device's peak, and the device's current load takes its share first.
//! - throughput(b) = b / latency(b); energy per inference =
//!   compute power × latency(b) / b.
//!
//! Memory is counted in MiB (shown as "MB"), storage in GB of 10⁹ bytes,
//! the way devices report them.
//!
//! The per-pair arithmetic lives in [`ModelFactors`] / [`DeviceFactors`] and
//! the `pair_*` functions so the fleet-wide matrix ([`crate::matrix`]) runs
//! the very same operations and agrees with [`estimate_fit`] to the bit.

use crate::device::{Device, DeviceType};
use crate::energy::PowerTable;
use crate::model::ModelProfile;
use crate::ops::{DEFAULT_RUNTIME_NAME, is_default_runtime_op, unsupported_ops};
use crate::wire::BenchmarkResponse;
use serde::{Deserialize, Serialize};

/// Bytes in the "MB" that memory is reported in.
pub const BYTES_PER_MB: f64 = 1024.0 * 1024.0;
/// Bytes in the "GB" that storage is reported in.
pub const BYTES_PER_GB: f64 = 1e9;
/// How far calibrated ranges reach either side of the measured ratio.
pub const CALIBRATION_MARGIN: f64 = 0.1;

/// Tunable constants of the estimator. `Default` gives DESIGN.md's values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FitConfig {
    /// Memory the runtime itself takes besides weights and activations.
    pub runtime_overhead_bytes: u64,
    /// Share of free memory batch 1 may use to count as compatible.
    pub mem_fit_fraction: f64,
    /// Share of free memory the largest batch may use.
    pub batch_fraction: f64,
    /// Share of free storage the model file may use.
    pub storage_fraction: f64,
    pub max_batch_cap: u32,
    /// Per-call cost independent of batch size (dispatch, copies).
    pub fixed_overhead_ms: f64,
    /// Share of the device's peak GFLOP/s a model reaches, pessimistic end.
    pub efficiency_low: f64,
    /// Share of the device's peak GFLOP/s a model reaches, optimistic end.
    pub efficiency_high: f64,
    /// Peak GFLOP/s per core assumed when the device has not measured its own.
    pub default_gflops_per_core: f64,
    /// Compute always left to us even at 100% load (the scheduler shares).
    pub min_available_compute_fraction: f64,
    /// Power figures per device type, for energy per inference.
    pub power: PowerTable,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            runtime_overhead_bytes: 32 * 1024 * 1024,
            mem_fit_fraction: 0.8,
            batch_fraction: 0.6,
            storage_fraction: 0.5,
            max_batch_cap: 256,
            fixed_overhead_ms: 0.5,
            efficiency_low: 0.25,
            efficiency_high: 0.7,
            default_gflops_per_core: 2.0,
            min_available_compute_fraction: 0.05,
            power: PowerTable::default(),
        }
    }
}

/// Why a [`FitConfig`] was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FitConfigError {
    #[error("fit config `{field}` must be in (0, 1], got {value}")]
    Fraction { field: &'static str, value: f64 },
    #[error("fit config `{field}` must be a finite number ≥ 0, got {value}")]
    Negative { field: &'static str, value: f64 },
    #[error("fit config `{field}` must be a finite number > 0, got {value}")]
    NotPositive { field: &'static str, value: f64 },
    #[error("fit config efficiency_low ({low}) must not exceed efficiency_high ({high})")]
    EfficiencyOrder { low: f64, high: f64 },
    #[error("fit config max_batch_cap must be at least 1")]
    ZeroBatchCap,
}

impl FitConfig {
    /// Check every value makes sense (for configs read from files).
    pub fn validate(&self) -> Result<(), FitConfigError> {
        let fraction = |field, value: f64| {
            if value.is_finite() && value > 0.0 && value <= 1.0 {
                Ok(())
            } else {
                Err(FitConfigError::Fraction { field, value })
            }
        };
        fraction("mem_fit_fraction", self.mem_fit_fraction)?;
        fraction("batch_fraction", self.batch_fraction)?;
        fraction("storage_fraction", self.storage_fraction)?;
        fraction("efficiency_low", self.efficiency_low)?;
        fraction("efficiency_high", self.efficiency_high)?;
        fraction("min_available_compute_fraction", self.min_available_compute_fraction)?;
        if self.efficiency_low > self.efficiency_high {
            return Err(FitConfigError::EfficiencyOrder { low: self.efficiency_low, high: self.efficiency_high });
        }
        if !(self.fixed_overhead_ms.is_finite() && self.fixed_overhead_ms >= 0.0) {
            return Err(FitConfigError::Negative { field: "fixed_overhead_ms", value: self.fixed_overhead_ms });
        }
        if !(self.default_gflops_per_core.is_finite() && self.default_gflops_per_core > 0.0) {
            return Err(FitConfigError::NotPositive {
                field: "default_gflops_per_core",
                value: self.default_gflops_per_core,
            });
        }
        if self.max_batch_cap == 0 {
            return Err(FitConfigError::ZeroBatchCap);
        }
        for p in &self.power.0 {
            for (field, value) in [("power.idle_w", p.idle_w), ("power.compute_w", p.compute_w)] {
                if !(value.is_finite() && value >= 0.0) {
                    return Err(FitConfigError::Negative { field, value });
                }
            }
        }
        Ok(())
    }
}

/// A low..high interval of an estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Range {
    pub low: f64,
    pub high: f64,
}

impl Range {
    pub fn mid(&self) -> f64 {
        (self.low + self.high) / 2.0
    }
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }
    pub fn width(&self) -> f64 {
        self.high - self.low
    }
}

/// What a [`Reason`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonKind {
    Memory,
    Storage,
    DeviceType,
    Ops,
    /// Context that is not a pass/fail check (compute speed, calibration).
    Info,
}

/// One check of the estimator, in plain words with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub kind: ReasonKind,
    pub ok: bool,
    pub message: String,
}

/// Estimates at one batch size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchEstimate {
    pub batch: u32,
    /// memory(batch) in MB.
    pub memory_mb: f64,
    /// Time of one call with this batch: calibrated when measurements were
    /// applied, else equal to `estimated_latency_ms`.
    pub latency_ms: Range,
    /// The estimate from the model alone, before any calibration.
    pub estimated_latency_ms: Range,
    /// What the device measured at this batch size, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_latency_ms: Option<f64>,
    /// Samples per second.
    pub throughput_per_s: Range,
    /// Energy per inference (one sample), mJ.
    pub energy_mj: Range,
}

/// How a fit was calibrated against measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Measurements used.
    pub points: usize,
    /// Measured compute time ÷ midpoint estimate, smallest and largest.
    pub ratio: Range,
}

/// The estimator's answer for one model on one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    pub model: String,
    pub device_id: String,
    pub compatible: bool,
    /// Every check, passing or failing.
    pub reasons: Vec<Reason>,
    /// Largest batch that fits; 0 when incompatible.
    pub max_batch: u32,
    /// Batches 1, 2, 4, … up to `max_batch` (and `max_batch` itself); empty
    /// when incompatible.
    pub per_batch: Vec<BatchEstimate>,
    pub memory_at_batch1_mb: f64,
    /// Free memory planned with, and whether it was the live figure.
    pub free_memory_mb: f64,
    pub free_memory_is_live: bool,
    pub free_storage_gb: f64,
    /// Compute speed left after the device's current load, GFLOP/s.
    pub available_gflops: f64,
    /// Compute part of latency per sample (without the fixed overhead).
    pub compute_ms_per_sample: Range,
    pub fixed_overhead_ms: f64,
    /// Compute power above idle used for energy, W.
    pub compute_power_w: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
}

impl Fit {
    /// The estimate at exactly this batch size, if listed.
    pub fn at_batch(&self, batch: u32) -> Option<&BatchEstimate> {
        self.per_batch.iter().find(|e| e.batch == batch)
    }

    /// The reasons that failed.
    pub fn failures(&self) -> impl Iterator<Item = &Reason> {
        self.reasons.iter().filter(|r| !r.ok)
    }
}

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

/// A figure in MB (or GB) with as many decimals as make it readable.
pub(crate) fn fmt_amount(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn percent(fraction: f64) -> String {
    format!("{:.0}%", fraction * 100.0)
}

fn reason(kind: ReasonKind, ok: bool, message: String) -> Reason {
    Reason { kind, ok, message }
}

/// Estimate how `profile` fits on `device`.
pub fn estimate_fit(profile: &ModelProfile, device: &Device, cfg: &FitConfig) -> Fit {
    let m = ModelFactors::new(profile, cfg);
    let d = DeviceFactors::new(device, cfg);
    let mut reasons = Vec::with_capacity(7);

    // Memory at batch 1.
    let mem1_mb = m.memory_bytes(1) / BYTES_PER_MB;
    let free_mb = d.free_mem_bytes / BYTES_PER_MB;
    let free_is_live = device.free_memory_mb.is_some();
    let free_word = memory_word(free_is_live);
    let memory_ok = pair_memory_ok(&m, &d);
    let parts = format!(
        "weights {} MB + activations {} MB + runtime {} MB",
        fmt_amount(profile.weights_bytes as f64 / BYTES_PER_MB),
        fmt_amount(m.act_bytes / BYTES_PER_MB),
        fmt_amount(cfg.runtime_overhead_bytes as f64 / BYTES_PER_MB),
    );
    reasons.push(reason(
        ReasonKind::Memory,
        memory_ok,
        format!(
            "{} {} MB at batch 1 ({parts}); {} of {} MB {free_word} is {} MB",
            if memory_ok { "needs" } else { "too big: needs" },
            fmt_amount(mem1_mb),
            percent(cfg.mem_fit_fraction),
            fmt_amount(free_mb),
            fmt_amount(d.fit_budget_bytes / BYTES_PER_MB),
        ),
    ));

    // Storage.
    let storage_ok = pair_storage_ok(&m, &d);
    let file_mb = m.storage_bytes / BYTES_PER_MB;
    let free_storage_gb = d.free_storage_bytes / BYTES_PER_GB;
    reasons.push(reason(
        ReasonKind::Storage,
        storage_ok,
        format!(
            "model file is {} MB; {} of {} GB storage {} is {} GB",
            fmt_amount(file_mb),
            percent(cfg.storage_fraction),
            fmt_amount(free_storage_gb),
            memory_word(device.free_storage_gb.is_some()),
            fmt_amount(d.storage_budget_bytes / BYTES_PER_GB),
        ),
    ));

    // Device type.
    let type_ok = pair_type_ok(&m, &d);
    let type_msg = if profile.target_device_types.is_empty() {
        format!("model targets any device type; device type is {}", device.device_type)
    } else {
        let names: Vec<&str> = profile.target_device_types.iter().map(|t| t.as_str()).collect();
        format!(
            "model targets {}{}; device type is {}",
            names.join(", "),
            if type_ok { "" } else { " only" },
            device.device_type
        )
    };
    reasons.push(reason(ReasonKind::DeviceType, type_ok, type_msg));

    // Ops.
    let missing = unsupported_ops(&profile.ops, device);
    let ops_ok = missing.is_empty();
    let runtime = match &device.runtime_ops {
        Some(ops) => format!("the device's runtime ({} ops)", ops.len()),
        None => format!("{DEFAULT_RUNTIME_NAME} (default runtime)"),
    };
    let ops_msg = if ops_ok {
        format!("all {} op types the model uses run on {runtime}", profile.ops.len())
    } else {
        format!(
            "{runtime} lacks {} of the model's {} op types: {}",
            missing.len(),
            profile.ops.len(),
            missing.join(", ")
        )
    };
    reasons.push(reason(ReasonKind::Ops, ops_ok, ops_msg));

    // Compute speed (context).
    let speed = match d.gflops_source {
        GflopsSource::Measured => format!("measured {} GFLOP/s", fmt_amount(d.peak_gflops)),
        GflopsSource::Assumed => format!(
            "no measured speed; assumes {} GFLOP/s per core × {} core(s) = {} GFLOP/s",
            fmt_amount(cfg.default_gflops_per_core),
            device.cpu_cores,
            fmt_amount(d.peak_gflops)
        ),
        GflopsSource::InvalidMeasured(g) => format!(
            "ignored the reported speed {g} GFLOP/s (not a positive number); assumes {} GFLOP/s",
            fmt_amount(d.peak_gflops)
        ),
    };
    reasons.push(reason(
        ReasonKind::Info,
        true,
        format!(
            "compute: {speed}; at {} load {} GFLOP/s are available; the model is assumed to reach {}–{} of that",
            percent(d.load),
            fmt_amount(d.available_gflops),
            percent(cfg.efficiency_low),
            percent(cfg.efficiency_high),
        ),
    ));

    let compatible = memory_ok && storage_ok && type_ok && ops_ok;
    let max_batch = if compatible { pair_max_batch(&m, &d) } else { 0 };
    if compatible {
        reasons.push(reason(ReasonKind::Memory, true, max_batch_message(&m, &d, cfg, max_batch, free_word)));
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
                throughput_per_s: throughput(b, latency),
                energy_mj: energy(b, latency, power.compute_w),
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
        memory_at_batch1_mb: mem1_mb,
        free_memory_mb: free_mb,
        free_memory_is_live: free_is_live,
        free_storage_gb,
        available_gflops: d.available_gflops,
        compute_ms_per_sample: Range { low: m.flops * d.ms_per_flop_low, high: m.flops * d.ms_per_flop_high },
        fixed_overhead_ms: d.fixed_overhead_ms,
        compute_power_w: power.compute_w,
        calibration: None,
    }
}

fn memory_word(live: bool) -> &'static str {
    if live { "free" } else { "installed (no live figure)" }
}

fn max_batch_message(m: &ModelFactors, d: &DeviceFactors, cfg: &FitConfig, max_batch: u32, free_word: &str) -> String {
    let budget = format!(
        "{} of {} MB {free_word} is {} MB",
        percent(cfg.batch_fraction),
        fmt_amount(d.free_mem_bytes / BYTES_PER_MB),
        fmt_amount(d.batch_budget_bytes / BYTES_PER_MB)
    );
    let need = |b: u32| fmt_amount(m.memory_bytes(b) / BYTES_PER_MB);
    if max_batch >= d.max_batch_cap {
        format!("max batch {max_batch} (the cap): needs {} MB; {budget}", need(max_batch))
    } else if m.memory_bytes(max_batch) > d.batch_budget_bytes {
        format!(
            "only batch 1 fits: it needs {} MB, over {budget}, but within the {} batch-1 limit",
            need(1),
            percent(cfg.mem_fit_fraction)
        )
    } else {
        format!(
            "max batch {max_batch}: needs {} MB; {budget}; batch {} would need {} MB",
            need(max_batch),
            max_batch + 1,
            need(max_batch + 1)
        )
    }
}

fn throughput(batch: u32, latency: Range) -> Range {
    Range { low: batch as f64 * 1000.0 / latency.high, high: batch as f64 * 1000.0 / latency.low }
}

fn energy(batch: u32, latency: Range, compute_w: f64) -> Range {
    // W × ms = mJ, shared by the batch's samples.
    Range { low: compute_w * latency.low / batch as f64, high: compute_w * latency.high / batch as f64 }
}

/// Why measurements could not be applied. The fit is left unchanged.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CalibrateError {
    #[error("no measurements to calibrate with")]
    Empty,
    #[error("the fit is incompatible: there are no estimates to calibrate")]
    Incompatible,
    #[error("measurement #{index}: batch must be at least 1")]
    ZeroBatch { index: usize },
    #[error("measurement #{index} (batch {batch}): latency must be a positive number of ms, got {latency_ms}")]
    BadLatency { index: usize, batch: u32, latency_ms: f64 },
}

/// Narrow the latency ranges of `fit` with latencies measured on the device,
/// as `(batch, latency_ms)` pairs (e.g. the p50 of `POST /v1/benchmark`).
///
/// For each measurement the measured compute time (latency minus the fixed
/// overhead) is divided by the midpoint estimate; the smallest and largest
/// of those ratios, widened by [`CALIBRATION_MARGIN`], scale the compute part
/// of every batch's estimate. The uncalibrated estimate stays in
/// `estimated_latency_ms` and each measurement in `measured_latency_ms`.
/// Calibrating again replaces the previous calibration.
pub fn calibrate(fit: &mut Fit, measured: &[(u32, f64)]) -> Result<Calibration, CalibrateError> {
    if measured.is_empty() {
        return Err(CalibrateError::Empty);
    }
    if !fit.compatible {
        return Err(CalibrateError::Incompatible);
    }
    let mut ratio = Range { low: f64::INFINITY, high: f64::NEG_INFINITY };
    for (index, &(batch, latency_ms)) in measured.iter().enumerate() {
        if batch == 0 {
            return Err(CalibrateError::ZeroBatch { index });
        }
        if !(latency_ms.is_finite() && latency_ms > 0.0) {
            return Err(CalibrateError::BadLatency { index, batch, latency_ms });
        }
        let estimated = fit.compute_ms_per_sample.mid() * batch as f64;
        // A measurement below the assumed overhead still says "faster than
        // thought"; keep a sliver of compute so the ratio stays positive.
        let measured_compute = (latency_ms - fit.fixed_overhead_ms).max(latency_ms * 0.01);
        let r = if estimated > 0.0 { measured_compute / estimated } else { 1.0 };
        ratio.low = ratio.low.min(r);
        ratio.high = ratio.high.max(r);
    }
    let scale = Range { low: ratio.low * (1.0 - CALIBRATION_MARGIN), high: ratio.high * (1.0 + CALIBRATION_MARGIN) };
    for est in &mut fit.per_batch {
        let compute_mid = fit.compute_ms_per_sample.mid() * est.batch as f64;
        let latency = Range {
            low: compute_mid * scale.low + fit.fixed_overhead_ms,
            high: compute_mid * scale.high + fit.fixed_overhead_ms,
        };
        est.latency_ms = latency;
        est.throughput_per_s = throughput(est.batch, latency);
        est.energy_mj = energy(est.batch, latency, fit.compute_power_w);
        // The latest measurement at a batch size wins.
        est.measured_latency_ms = measured.iter().rev().find(|(b, _)| *b == est.batch).map(|&(_, l)| l);
    }
    let beyond: Vec<String> = measured.iter().filter(|(b, _)| *b > fit.max_batch).map(|(b, _)| b.to_string()).collect();
    let mut message = format!(
        "calibrated with {} measurement(s): measured compute time is {:.2}–{:.2}× the midpoint estimate; latency ranges now span that ±{}",
        measured.len(),
        ratio.low,
        ratio.high,
        percent(CALIBRATION_MARGIN)
    );
    if !beyond.is_empty() {
        message.push_str(&format!(
            "; measured at batch {} although the memory estimate allows at most {}",
            beyond.join(", "),
            fit.max_batch
        ));
    }
    fit.reasons.retain(|r| !(r.kind == ReasonKind::Info && r.message.starts_with("calibrated with")));
    fit.reasons.push(reason(ReasonKind::Info, true, message));
    let calibration = Calibration { points: measured.len(), ratio };
    fit.calibration = Some(calibration.clone());
    Ok(calibration)
}

/// [`calibrate`] with the p50 latencies of an agent's benchmark answer.
pub fn calibrate_from_benchmark(fit: &mut Fit, bench: &BenchmarkResponse) -> Result<Calibration, CalibrateError> {
    let measured: Vec<(u32, f64)> = bench.results.iter().map(|r| (r.batch, r.latency_ms_p50)).collect();
    calibrate(fit, &measured)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::DeviceType;

    fn mlp() -> ModelProfile {
        ModelProfile {
            name: "mlp".into(),
            params: 17_354,
            weights_bytes: 69_416,
            file_bytes: 70_000,
            flops_per_sample: 34_432,
            peak_activation_bytes_per_sample: 1_024,
            ops: vec!["Gemm".into(), "Relu".into(), "Softmax".into()],
            opset: Some(13),
            inputs: vec![],
            outputs: vec![],
            target_device_types: vec![],
            accuracy: None,
        }
    }

    fn big() -> ModelProfile {
        ModelProfile {
            name: "big".into(),
            weights_bytes: 300 * 1024 * 1024,
            file_bytes: 300 * 1024 * 1024,
            flops_per_sample: 20_000_000_000,
            peak_activation_bytes_per_sample: 50 * 1024 * 1024,
            ..mlp()
        }
    }

    fn sensor() -> Device {
        Device::new("s1", DeviceType::IotSensor, 1, 256, 4.0)
    }

    fn server() -> Device {
        let mut d = Device::new("srv", DeviceType::EdgeServer, 16, 65536, 1000.0);
        d.gflops = Some(200.0);
        d
    }

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
        // (0.6 × 256 MiB − 32 MiB − 69416 B) / 1024 B ≫ 256 → the cap.
        assert_eq!(fit.max_batch, 256);
        assert_eq!(fit.per_batch.iter().map(|b| b.batch).collect::<Vec<_>>(), vec![1, 2, 4, 8, 16, 32, 64, 128, 256]);
    }

    #[test]
    fn memory_figures_follow_the_formula() {
        let fit = estimate_fit(&mlp(), &sensor(), &FitConfig::default());
        let want = (69_416.0 + 1_024.0 + 32.0 * BYTES_PER_MB) / BYTES_PER_MB;
        assert!((fit.memory_at_batch1_mb - want).abs() < 1e-9);
        assert!((fit.per_batch[1].memory_mb - (want + 1024.0 / BYTES_PER_MB)).abs() < 1e-9);
    }

    #[test]
    fn big_model_is_refused_on_a_sensor_with_reasons() {
        let fit = estimate_fit(&big(), &sensor(), &FitConfig::default());
        assert!(!fit.compatible);
        assert_eq!(fit.max_batch, 0);
        assert!(fit.per_batch.is_empty());
        let mem = fit.failures().find(|r| r.kind == ReasonKind::Memory).expect("memory failure");
        // 300 + 50 + 32 MiB = 382 MB; 80% of 256 is 205 MB.
        assert!(mem.message.contains("382 MB") && mem.message.contains("205 MB"), "{}", mem.message);
        assert!(fit.failures().all(|r| r.kind == ReasonKind::Memory));
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
        let p = ModelProfile { weights_bytes: 150 * 1024 * 1024, ..mlp() };
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

    #[test]
    fn json_has_the_documented_keys() {
        let fit = estimate_fit(&mlp(), &sensor(), &FitConfig::default());
        let v: serde_json::Value = serde_json::from_str(&serde_json::to_string_pretty(&fit).unwrap()).unwrap();
        for key in ["compatible", "reasons", "max_batch", "per_batch"] {
            assert!(v.get(key).is_some(), "{key}");
        }
        let b = &v["per_batch"][0];
        for key in ["latency_ms", "throughput_per_s", "energy_mj"] {
            assert!(b[key]["low"].is_number() && b[key]["high"].is_number(), "{key}");
        }
        assert_eq!(b["batch"], 1);
        assert_eq!(v["reasons"][0]["kind"], "memory");
        // Floats may differ in the last bit after a JSON round trip.
        let back: Fit = serde_json::from_value(v).unwrap();
        assert_eq!((back.compatible, back.max_batch, &back.reasons), (fit.compatible, fit.max_batch, &fit.reasons));
        assert_eq!(back.per_batch.len(), fit.per_batch.len());
        assert!((back.per_batch[3].latency_ms.high - fit.per_batch[3].latency_ms.high).abs() < 1e-12);
    }

    #[test]
    fn calibration_narrows_and_keeps_estimate_and_measurement() {
        let p = ModelProfile { flops_per_sample: 1_000_000_000, ..mlp() };
        let mut fit = estimate_fit(&p, &server(), &FitConfig::default());
        let before = fit.per_batch[0].latency_ms;
        // Midpoint compute is (7.14 + 20) / 2 = 13.57 ms; measure 10.5 ms at batch 1.
        let cal = calibrate(&mut fit, &[(1, 10.5)]).unwrap();
        assert_eq!(cal.points, 1);
        let b1 = &fit.per_batch[0];
        assert_eq!(b1.measured_latency_ms, Some(10.5));
        assert_eq!(b1.estimated_latency_ms, before);
        assert!(b1.latency_ms.contains(10.5), "{:?}", b1.latency_ms);
        assert!(b1.latency_ms.width() < before.width() / 2.0);
        // Other batches are scaled too, without a measurement of their own.
        let b8 = fit.at_batch(8).unwrap();
        assert_eq!(b8.measured_latency_ms, None);
        // 8 × the measured 10 ms of compute, + 0.5 ms overhead.
        assert!(b8.latency_ms.contains(80.5), "{:?}", b8.latency_ms);
        assert!(fit.reasons.iter().any(|r| r.message.starts_with("calibrated with 1 measurement")));
        // Calibrating again replaces the old calibration.
        calibrate(&mut fit, &[(1, 10.5), (8, 100.0)]).unwrap();
        assert_eq!(fit.reasons.iter().filter(|r| r.message.starts_with("calibrated")).count(), 1);
        assert_eq!(fit.at_batch(8).unwrap().measured_latency_ms, Some(100.0));
    }

    #[test]
    fn bad_measurements_change_nothing() {
        let mut fit = estimate_fit(&mlp(), &sensor(), &FitConfig::default());
        let orig = fit.clone();
        assert_eq!(calibrate(&mut fit, &[]), Err(CalibrateError::Empty));
        assert_eq!(calibrate(&mut fit, &[(1, 2.0), (0, 1.0)]), Err(CalibrateError::ZeroBatch { index: 1 }));
        assert!(matches!(calibrate(&mut fit, &[(1, f64::NAN)]), Err(CalibrateError::BadLatency { .. })));
        assert!(matches!(calibrate(&mut fit, &[(1, -3.0)]), Err(CalibrateError::BadLatency { .. })));
        assert_eq!(fit, orig);
        let mut bad = estimate_fit(&big(), &sensor(), &FitConfig::default());
        assert_eq!(calibrate(&mut bad, &[(1, 1.0)]), Err(CalibrateError::Incompatible));
    }

    #[test]
    fn benchmark_answers_calibrate() {
        let mut fit = estimate_fit(&mlp(), &sensor(), &FitConfig::default());
        let bench = BenchmarkResponse {
            model: "mlp".into(),
            version: "1".into(),
            results: vec![crate::wire::BatchLatency { batch: 32, latency_ms_p50: 2.0, latency_ms_p90: 2.5 }],
        };
        calibrate_from_benchmark(&mut fit, &bench).unwrap();
        assert_eq!(fit.at_batch(32).unwrap().measured_latency_ms, Some(2.0));
        assert!(fit.at_batch(32).unwrap().latency_ms.contains(2.0));
    }

    #[test]
    fn config_validation_names_the_field() {
        assert_eq!(FitConfig::default().validate(), Ok(()));
        let cfg = FitConfig { mem_fit_fraction: 1.5, ..FitConfig::default() };
        assert!(cfg.validate().unwrap_err().to_string().contains("mem_fit_fraction"));
        let cfg = FitConfig { efficiency_low: 0.9, ..FitConfig::default() };
        assert!(matches!(cfg.validate(), Err(FitConfigError::EfficiencyOrder { .. })));
        let cfg = FitConfig { max_batch_cap: 0, ..FitConfig::default() };
        assert_eq!(cfg.validate(), Err(FitConfigError::ZeroBatchCap));
        let partial: FitConfig = serde_json::from_str(r#"{"max_batch_cap": 64}"#).unwrap();
        assert_eq!(partial.max_batch_cap, 64);
        assert_eq!(partial.batch_fraction, 0.6);
    }
}
