//! The estimator's tunable constants ([`FitConfig`], with its defaults and
//! validation) and the fixed unit constants the arithmetic uses.

use crate::energy::PowerTable;
use serde::{Deserialize, Serialize};

/// Bytes in the "MB" that memory is reported in.
pub const BYTES_PER_MB: f64 = 1024.0 * 1024.0;
/// Bytes in the "GB" that storage is reported in.
pub const BYTES_PER_GB: f64 = 1e9;
/// How far calibrated ranges reach either side of the measured ratio.
pub const CALIBRATION_MARGIN: f64 = 0.1;

/// Tunable constants of the estimator. `Default` gives the values of the
/// formulas in the [`crate::fit`] module doc (and docs/design.md, "Estimator").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FitConfig {
    /// Memory the runtime takes per loaded model besides its weights and
    /// activations.
    pub runtime_overhead_bytes: u64,
    /// Copies of the weights the runtime holds once a model is loaded. tract
    /// keeps the decoded model (to build a plan per batch size) and the
    /// batch-1 plan built at load, each with the weights: 2 (the agent's
    /// heap grew by 2.0–2.1 × the weights + 0.06–0.12 MB on loading each of
    /// five models, `fit_accuracy`).
    pub weights_copies_loaded: f64,
    /// Copies more for serving a batch size other than 1 (its own plan).
    pub weights_copies_per_batch_size: f64,
    /// Share of free memory batch 1 may use to count as compatible.
    pub mem_fit_fraction: f64,
    /// Share of free memory the largest batch may use.
    pub batch_fraction: f64,
    /// Share of free storage the model file may use.
    pub storage_fraction: f64,
    pub max_batch_cap: u32,
    /// Per-call cost independent of batch size (dispatch, copies), assumed
    /// when the device has not measured its own (`call_overhead_ms`).
    pub fixed_overhead_ms: f64,
    /// The per-call overhead is taken to lie between this and
    /// `overhead_high_factor` × the device's figure (calls vary with input
    /// and output size and with the plan).
    pub overhead_low_factor: f64,
    pub overhead_high_factor: f64,
    /// Reading the weights once per call (weights ÷ the device's
    /// `weight_read_gbps`) is taken to cost between these multiples of it
    /// (caches help small models, strided layouts hurt).
    pub weight_read_low_factor: f64,
    pub weight_read_high_factor: f64,
    /// Share of one inference thread's probe speed (GFLOP/s of a GEMM of
    /// inference shape through the runtime) a model reaches, pessimistic end
    /// (small layers, convolutions, element-wise ops).
    pub efficiency_low: f64,
    /// The optimistic end: a model of large dense layers may beat the probe
    /// (bigger GEMMs amortise better).
    pub efficiency_high: f64,
    /// The same for convolutional models (any `Conv` op): small
    /// convolutions run far below a GEMM's speed (im2col, short rows).
    pub conv_efficiency_low: f64,
    pub conv_efficiency_high: f64,
    /// For a profile whose [`crate::LayerWork`] is counted: the share of the
    /// probe's speed its work (FLOPs plus the per-layer terms below) runs
    /// at, both ends, and the high end of the per-call overhead factor —
    /// narrower than the FLOPs-only ranges above, which must also cover
    /// what the per-layer terms would have said.
    pub layer_efficiency_low: f64,
    pub layer_efficiency_high: f64,
    pub layer_overhead_high_factor: f64,
    /// Peak GFLOP/s per core assumed when the device has not measured its own.
    pub default_gflops_per_core: f64,
    /// Each graph node beyond the first costs this × the per-call overhead
    /// (one dispatch each); at batch 1 every node costs `batch1_node_factor`
    /// × the overhead more (the runtime's batch-1 plan).
    pub node_overhead_factor: f64,
    pub batch1_node_factor: f64,
    /// Weights read per call: the part that fits `weight_cache_fraction` of
    /// the device's per-core cache (the rest of it holds activations,
    /// packed panels and code) at `cached_weight_read_factor` × the probe's
    /// read time per byte, the rest at `uncached_weight_read_factor` × it.
    pub weight_cache_fraction: f64,
    pub cached_weight_read_factor: f64,
    pub uncached_weight_read_factor: f64,
    /// Per-core cache assumed when the device did not report its own, KiB.
    pub default_cache_kb: u32,
    /// Work besides FLOPs, in FLOPs of the probe's GEMM each (see
    /// [`crate::LayerWork`]): a row of a matrix product, an element of a
    /// convolution's patch or output matrix, an element an elementwise node
    /// reads or writes, a row of a softmax.
    pub matmul_row_flops: f64,
    pub conv_element_flops: f64,
    pub elementwise_element_flops: f64,
    pub row_op_flops: f64,
    /// Floor of the scheduler share one inference thread gets on a loaded
    /// device (see `factors::thread_share`).
    pub min_available_compute_fraction: f64,
    /// Power figures per device type, for energy per inference.
    pub power: PowerTable,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            // Measured 0.06–0.12 MB on the heap; 1 MiB leaves room for what
            // the heap count does not see (allocator slack, page rounding).
            runtime_overhead_bytes: 1024 * 1024,
            weights_copies_loaded: 2.0,
            weights_copies_per_batch_size: 1.0,
            mem_fit_fraction: 0.8,
            batch_fraction: 0.6,
            storage_fraction: 0.5,
            max_batch_cap: 256,
            fixed_overhead_ms: 0.1,
            overhead_low_factor: 0.5,
            overhead_high_factor: 8.0,
            weight_read_low_factor: 0.5,
            weight_read_high_factor: 2.0,
            efficiency_low: 0.3,
            efficiency_high: 2.0,
            conv_efficiency_low: 0.03,
            conv_efficiency_high: 0.5,
            layer_efficiency_low: 0.8,
            layer_efficiency_high: 4.5,
            layer_overhead_high_factor: 2.5,
            default_gflops_per_core: 2.0,
            node_overhead_factor: 0.6,
            batch1_node_factor: 0.2,
            weight_cache_fraction: 0.5,
            cached_weight_read_factor: 0.1,
            uncached_weight_read_factor: 1.0,
            default_cache_kb: 1024,
            matmul_row_flops: 7400.0,
            conv_element_flops: 550.0,
            elementwise_element_flops: 20.0,
            row_op_flops: 68_000.0,
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
    #[error("fit config overhead_low_factor ({low}) must not exceed overhead_high_factor ({high})")]
    OverheadOrder { low: f64, high: f64 },
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
        if !(self.efficiency_high.is_finite() && self.efficiency_high > 0.0) {
            return Err(FitConfigError::NotPositive { field: "efficiency_high", value: self.efficiency_high });
        }
        for (field, value) in [
            ("overhead_low_factor", self.overhead_low_factor),
            ("overhead_high_factor", self.overhead_high_factor),
            ("weight_read_low_factor", self.weight_read_low_factor),
            ("weight_read_high_factor", self.weight_read_high_factor),
            ("weights_copies_loaded", self.weights_copies_loaded),
            ("weights_copies_per_batch_size", self.weights_copies_per_batch_size),
            ("node_overhead_factor", self.node_overhead_factor),
            ("batch1_node_factor", self.batch1_node_factor),
            ("cached_weight_read_factor", self.cached_weight_read_factor),
            ("uncached_weight_read_factor", self.uncached_weight_read_factor),
            ("matmul_row_flops", self.matmul_row_flops),
            ("conv_element_flops", self.conv_element_flops),
            ("elementwise_element_flops", self.elementwise_element_flops),
            ("row_op_flops", self.row_op_flops),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(FitConfigError::Negative { field, value });
            }
        }
        if self.overhead_low_factor > self.overhead_high_factor {
            return Err(FitConfigError::OverheadOrder {
                low: self.overhead_low_factor,
                high: self.overhead_high_factor,
            });
        }
        fraction("min_available_compute_fraction", self.min_available_compute_fraction)?;
        fraction("weight_cache_fraction", self.weight_cache_fraction)?;
        fraction("conv_efficiency_low", self.conv_efficiency_low)?;
        if !(self.conv_efficiency_high.is_finite() && self.conv_efficiency_high > 0.0) {
            return Err(FitConfigError::NotPositive {
                field: "conv_efficiency_high",
                value: self.conv_efficiency_high,
            });
        }
        for (field, value) in [
            ("layer_efficiency_low", self.layer_efficiency_low),
            ("layer_efficiency_high", self.layer_efficiency_high),
            ("layer_overhead_high_factor", self.layer_overhead_high_factor),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(FitConfigError::NotPositive { field, value });
            }
        }
        if self.layer_efficiency_low > self.layer_efficiency_high {
            return Err(FitConfigError::EfficiencyOrder {
                low: self.layer_efficiency_low,
                high: self.layer_efficiency_high,
            });
        }
        if self.overhead_low_factor > self.layer_overhead_high_factor {
            return Err(FitConfigError::OverheadOrder {
                low: self.overhead_low_factor,
                high: self.layer_overhead_high_factor,
            });
        }
        if self.efficiency_low > self.efficiency_high {
            return Err(FitConfigError::EfficiencyOrder { low: self.efficiency_low, high: self.efficiency_high });
        }
        if self.conv_efficiency_low > self.conv_efficiency_high {
            return Err(FitConfigError::EfficiencyOrder {
                low: self.conv_efficiency_low,
                high: self.conv_efficiency_high,
            });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation_names_the_field() {
        assert_eq!(FitConfig::default().validate(), Ok(()));
        let cfg = FitConfig { mem_fit_fraction: 1.5, ..FitConfig::default() };
        assert!(cfg.validate().unwrap_err().to_string().contains("mem_fit_fraction"));
        let cfg = FitConfig { efficiency_low: 0.9, efficiency_high: 0.5, ..FitConfig::default() };
        assert!(matches!(cfg.validate(), Err(FitConfigError::EfficiencyOrder { .. })));
        let cfg = FitConfig { max_batch_cap: 0, ..FitConfig::default() };
        assert_eq!(cfg.validate(), Err(FitConfigError::ZeroBatchCap));
        let partial: FitConfig = serde_json::from_str(r#"{"max_batch_cap": 64}"#).unwrap();
        assert_eq!(partial.max_batch_cap, 64);
        assert_eq!(partial.batch_fraction, 0.6);
    }
}
