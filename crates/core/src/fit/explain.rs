//! The estimator's numbers in plain words: one [`Reason`] per check, each
//! naming the figures it was decided on, so a user can see *why* a model
//! fits or not without reading the formulas.
//!
//! Nothing here decides anything; the verdicts come in from
//! [`crate::fit::estimate_fit`] and [`crate::fit::calibrate`].

use super::config::{BYTES_PER_GB, BYTES_PER_MB, CALIBRATION_MARGIN, FitConfig};
use super::factors::{DeviceFactors, GflopsSource, ModelFactors};
use super::report::{Range, Reason, ReasonKind};
use crate::device::Device;
use crate::model::ModelProfile;
use crate::ops::DEFAULT_RUNTIME_NAME;

/// A figure in MB (or GB) with as many decimals as make it readable.
fn fmt_amount(x: f64) -> String {
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

/// How a free-memory or free-storage figure was obtained.
fn memory_word(live: bool) -> &'static str {
    if live { "free" } else { "installed (no live figure)" }
}

/// Memory at batch 1 against the compatibility budget.
pub(super) fn memory_reason(
    profile: &ModelProfile,
    m: &ModelFactors,
    d: &DeviceFactors,
    cfg: &FitConfig,
    free_is_live: bool,
    ok: bool,
) -> Reason {
    let copies = if (cfg.weights_copies_loaded - 1.0).abs() < 1e-9 {
        String::new()
    } else {
        let c = cfg.weights_copies_loaded;
        let copies = if (c - c.round()).abs() < 1e-9 { format!("{c:.0}") } else { format!("{c:.2}") };
        format!(" × {copies} (the runtime's copies)")
    };
    let parts = format!(
        "weights {} MB{copies} + activations {} MB + runtime {} MB",
        fmt_amount(profile.weights_bytes as f64 / BYTES_PER_MB),
        fmt_amount(m.act_bytes / BYTES_PER_MB),
        fmt_amount(cfg.runtime_overhead_bytes as f64 / BYTES_PER_MB),
    );
    let message = format!(
        "{} {} MB at batch 1 ({parts}); {} of {} MB {} is {} MB",
        if ok { "needs" } else { "too big: needs" },
        fmt_amount(m.memory_bytes(1) / BYTES_PER_MB),
        percent(cfg.mem_fit_fraction),
        fmt_amount(d.free_mem_bytes / BYTES_PER_MB),
        memory_word(free_is_live),
        fmt_amount(d.fit_budget_bytes / BYTES_PER_MB),
    );
    Reason { kind: ReasonKind::Memory, ok, message }
}

/// The model file against the storage budget.
pub(super) fn storage_reason(
    m: &ModelFactors,
    d: &DeviceFactors,
    cfg: &FitConfig,
    storage_is_live: bool,
    ok: bool,
) -> Reason {
    let message = format!(
        "model file is {} MB; {} of {} GB storage {} is {} GB",
        fmt_amount(m.storage_bytes / BYTES_PER_MB),
        percent(cfg.storage_fraction),
        fmt_amount(d.free_storage_bytes / BYTES_PER_GB),
        memory_word(storage_is_live),
        fmt_amount(d.storage_budget_bytes / BYTES_PER_GB),
    );
    Reason { kind: ReasonKind::Storage, ok, message }
}

/// The model's target device types against the device's type.
pub(super) fn device_type_reason(profile: &ModelProfile, device: &Device, ok: bool) -> Reason {
    let message = if profile.target_device_types.is_empty() {
        format!("model targets any device type; device type is {}", device.device_type)
    } else {
        let names: Vec<&str> = profile.target_device_types.iter().map(|t| t.as_str()).collect();
        format!(
            "model targets {}{}; device type is {}",
            names.join(", "),
            if ok { "" } else { " only" },
            device.device_type
        )
    };
    Reason { kind: ReasonKind::DeviceType, ok, message }
}

/// The model's op types against the device's runtime; `missing` are the
/// ones the runtime lacks.
pub(super) fn ops_reason(profile: &ModelProfile, device: &Device, missing: &[String]) -> Reason {
    let ok = missing.is_empty();
    let runtime = match (&device.runtime, &device.runtime_ops) {
        (Some(name), Some(ops)) => format!("the device's runtime, {name} ({} ops)", ops.len()),
        (Some(name), None) => format!("the device's runtime, {name}"),
        (None, Some(ops)) => format!("the device's runtime ({} ops)", ops.len()),
        (None, None) => format!("{DEFAULT_RUNTIME_NAME} (default runtime)"),
    };
    let message = if ok {
        format!("all {} op types the model uses run on {runtime}", profile.ops.len())
    } else {
        format!(
            "{runtime} lacks {} of the model's {} op types: {}",
            missing.len(),
            profile.ops.len(),
            missing.join(", ")
        )
    };
    Reason { kind: ReasonKind::Ops, ok, message }
}

/// Where the compute speed came from and what is left of it (context, not
/// a check).
pub(super) fn compute_reason(device: &Device, m: &ModelFactors, d: &DeviceFactors, cfg: &FitConfig) -> Reason {
    let speed = match d.gflops_source {
        GflopsSource::Measured => format!(
            "{} {} GFLOP/s on all cores",
            if device.simulated { "synthetic" } else { "measured" },
            fmt_amount(d.peak_gflops)
        ),
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
    let thread = if d.thread_measured {
        format!(
            "one inference thread {} {} GFLOP/s",
            if device.simulated { "synthetic" } else { "measured" },
            fmt_amount(d.thread_gflops)
        )
    } else {
        format!("one inference thread assumed {} GFLOP/s (÷ {} core(s))", fmt_amount(d.thread_gflops), device.cpu_cores)
    };
    let call_b2 = super::factors::pair_call_ms(m, d, 2);
    let mut overhead = format!(
        "per-call overhead {} ms {} a node, {} ms for this model's graph (allowed {}–{} ms)",
        fmt_amount(d.fixed_overhead_ms),
        if d.overhead_measured { "measured" } else { "assumed" },
        fmt_amount(call_b2),
        fmt_amount(call_b2 * d.overhead_low_factor),
        fmt_amount(call_b2 * m.overhead_high_factor),
    );
    if d.ms_per_weight_byte > 0.0 {
        overhead.push_str(&format!(
            "; reading the {} MB of weights once a call takes {} ms (×{}–{}; {} KB of them fit the cache)",
            fmt_amount(m.weights_bytes / BYTES_PER_MB),
            fmt_amount(super::factors::pair_weights_ms(m, d)),
            d.weight_read_low,
            d.weight_read_high,
            fmt_amount(m.weights_bytes.min(d.cache_bytes) / 1024.0),
        ));
    }
    let work = if m.work_flops > m.flops {
        format!(
            "its work, {} MFLOP a sample with the per-layer costs (FLOPs alone {} MFLOP),",
            fmt_amount(m.work_flops / 1e6),
            fmt_amount(m.flops / 1e6)
        )
    } else {
        format!("the model ({}, layers not counted)", if m.convolutional { "convolutional" } else { "dense" })
    };
    let message = format!(
        "compute: {speed}; {thread}; at {} load on {} core(s) a new inference thread gets {} of a core, {} GFLOP/s; \
         {work} is assumed to run at {}–{} of that; {overhead}",
        percent(d.load),
        device.cpu_cores,
        percent(d.share),
        fmt_amount(d.available_gflops),
        percent(m.eff_low),
        percent(m.eff_high),
    );
    Reason { kind: ReasonKind::Info, ok: true, message }
}

/// Why the largest batch is `max_batch` (for compatible pairs only).
pub(super) fn max_batch_reason(
    m: &ModelFactors,
    d: &DeviceFactors,
    cfg: &FitConfig,
    max_batch: u32,
    free_is_live: bool,
) -> Reason {
    let budget = format!(
        "{} of {} MB {} is {} MB",
        percent(cfg.batch_fraction),
        fmt_amount(d.free_mem_bytes / BYTES_PER_MB),
        memory_word(free_is_live),
        fmt_amount(d.batch_budget_bytes / BYTES_PER_MB)
    );
    let need = |b: u32| fmt_amount(m.memory_bytes(b) / BYTES_PER_MB);
    let message = if max_batch >= d.max_batch_cap {
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
    };
    Reason { kind: ReasonKind::Memory, ok: true, message }
}

/// What a calibration with `measured` found: the measured ÷ estimated
/// `ratio`, and any measurement at a batch the memory estimate does not
/// allow.
pub(super) fn calibration_reason(measured: &[(u32, f64)], ratio: Range, max_batch: u32) -> Reason {
    let beyond: Vec<String> = measured.iter().filter(|(b, _)| *b > max_batch).map(|(b, _)| b.to_string()).collect();
    let mut message = format!(
        "calibrated with {} measurement(s): measured compute time is {:.2}–{:.2}× the midpoint estimate; latency ranges now span that ±{}",
        measured.len(),
        ratio.low,
        ratio.high,
        percent(CALIBRATION_MARGIN)
    );
    if !beyond.is_empty() {
        message.push_str(&format!(
            "; measured at batch {} although the memory estimate allows at most {max_batch}",
            beyond.join(", "),
        ));
    }
    Reason { kind: ReasonKind::Calibration, ok: true, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_get_fewer_decimals_as_they_grow() {
        assert_eq!(fmt_amount(1.2345), "1.23");
        assert_eq!(fmt_amount(12.345), "12.3");
        assert_eq!(fmt_amount(123.45), "123");
        assert_eq!(percent(0.8), "80%");
    }

    #[test]
    fn calibration_names_batches_beyond_the_memory_estimate() {
        let r = calibration_reason(&[(1, 2.0), (64, 9.0)], Range { low: 0.5, high: 1.25 }, 32);
        assert_eq!(r.kind, ReasonKind::Calibration);
        assert!(r.message.starts_with("calibrated with 2 measurement(s)"), "{}", r.message);
        assert!(r.message.contains("0.50–1.25×") && r.message.contains("±10%"), "{}", r.message);
        assert!(r.message.ends_with("measured at batch 64 although the memory estimate allows at most 32"));
    }
}
