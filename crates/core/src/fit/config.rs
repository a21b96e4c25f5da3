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

#[cfg(test)]
mod tests {
    use super::*;

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
