//! The fleet-wide fit matrix: every model × every device, compact and fast
//! enough to redraw a 10,000-device fleet every frame.
//!
//! Per pair it keeps a 16-byte [`FitSummary`] and builds no strings; the
//! per-model and per-device terms are computed once. It runs the same
//! arithmetic as [`crate::fit::estimate_fit`] (the shared `pair_*`
//! functions of `fit::factors`), so both agree exactly; call `estimate_fit`
//! for the reasons behind one cell.

use crate::device::Device;
use crate::fit::factors::{
    DeviceFactors, ModelFactors, pair_latency_ms, pair_max_batch, pair_memory_ok, pair_storage_ok, pair_type_ok,
};
use crate::fit::{Fit, FitConfig, ReasonKind};
use crate::model::ModelProfile;

/// Bits of [`FitSummary::failed`]: which checks failed.
pub mod failed {
    pub const MEMORY: u8 = 1;
    pub const STORAGE: u8 = 2;
    pub const DEVICE_TYPE: u8 = 4;
    pub const OPS: u8 = 8;
}

/// The fit of one model on one device, without the explanations.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FitSummary {
    pub compatible: bool,
    /// [`failed`] bits of the checks that failed (0 when compatible).
    pub failed: u8,
    pub max_batch: u32,
    /// Batch-1 latency range, ms (`NaN` when incompatible).
    pub latency_ms_b1_low: f32,
    pub latency_ms_b1_high: f32,
}

impl FitSummary {
    /// The summary of a full [`Fit`].
    pub fn from_fit(fit: &Fit) -> Self {
        let bit = |kind| match kind {
            ReasonKind::Memory => failed::MEMORY,
            ReasonKind::Storage => failed::STORAGE,
            ReasonKind::DeviceType => failed::DEVICE_TYPE,
            ReasonKind::Ops => failed::OPS,
            ReasonKind::Info | ReasonKind::Calibration => 0,
        };
        let b1 = fit.per_batch.first().map(|b| b.estimated_latency_ms);
        FitSummary {
            compatible: fit.compatible,
            failed: fit.failures().fold(0, |acc, r| acc | bit(r.kind)),
            max_batch: fit.max_batch,
            latency_ms_b1_low: b1.map_or(f32::NAN, |r| r.low as f32),
            latency_ms_b1_high: b1.map_or(f32::NAN, |r| r.high as f32),
        }
    }

    /// Same verdict and figures (NaN equal to NaN).
    pub fn same_as(&self, other: &FitSummary) -> bool {
        let eq = |a: f32, b: f32| a == b || (a.is_nan() && b.is_nan());
        self.compatible == other.compatible
            && self.failed == other.failed
            && self.max_batch == other.max_batch
            && eq(self.latency_ms_b1_low, other.latency_ms_b1_low)
            && eq(self.latency_ms_b1_high, other.latency_ms_b1_high)
    }
}

/// Fit summaries of every model × device pair, device-major: one device's
/// summaries for every model sit together, so building the matrix reads
/// each device once and writes memory in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FitMatrix {
    models: usize,
    devices: usize,
    cells: Vec<FitSummary>,
}

impl FitMatrix {
    pub fn models(&self) -> usize {
        self.models
    }

    pub fn devices(&self) -> usize {
        self.devices
    }

    /// The pair's summary; `None` when an index is out of range.
    pub fn get(&self, model_idx: usize, device_idx: usize) -> Option<FitSummary> {
        if model_idx < self.models && device_idx < self.devices {
            self.cells.get(device_idx * self.models + model_idx).copied()
        } else {
            None
        }
    }

    /// One device's summaries, indexed by model.
    pub fn for_device(&self, device_idx: usize) -> Option<&[FitSummary]> {
        if device_idx < self.devices {
            self.cells.get(device_idx * self.models..(device_idx + 1) * self.models)
        } else {
            None
        }
    }

    /// Devices the model fits on (none when the index is out of range).
    pub fn compatible_devices(&self, model_idx: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.devices).filter(move |&d| self.get(model_idx, d).is_some_and(|s| s.compatible))
    }

    /// Models that fit on the device (none when the index is out of range).
    pub fn compatible_models(&self, device_idx: usize) -> impl Iterator<Item = usize> + '_ {
        self.for_device(device_idx).unwrap_or(&[]).iter().enumerate().filter(|(_, s)| s.compatible).map(|(i, _)| i)
    }

    /// Number of compatible pairs.
    pub fn compatible_count(&self) -> usize {
        self.cells.iter().filter(|s| s.compatible).count()
    }
}

/// Build the matrix for every model × device.
pub fn fit_matrix(models: &[ModelProfile], devices: &[Device], cfg: &FitConfig) -> FitMatrix {
    // The model terms stay in L1 while each device is visited once.
    let mf: Vec<ModelFactors> = models.iter().map(|m| ModelFactors::new(m, cfg)).collect();
    let mut cells = Vec::with_capacity(models.len() * devices.len());
    for device in devices {
        let d = DeviceFactors::new(device, cfg);
        match &device.runtime_ops {
            None => cells.extend(mf.iter().map(|m| summarize(m, &d, m.default_ops_ok))),
            // Devices with their own op list are rare; check those pair by pair.
            Some(ops) => cells.extend(
                models.iter().zip(&mf).map(|(model, m)| summarize(m, &d, model.ops.iter().all(|op| ops.contains(op)))),
            ),
        }
    }
    FitMatrix { models: models.len(), devices: devices.len(), cells }
}

#[inline]
fn summarize(m: &ModelFactors, d: &DeviceFactors, ops_ok: bool) -> FitSummary {
    let mut fail = 0u8;
    if !pair_memory_ok(m, d) {
        fail |= failed::MEMORY;
    }
    if !pair_storage_ok(m, d) {
        fail |= failed::STORAGE;
    }
    if !pair_type_ok(m, d) {
        fail |= failed::DEVICE_TYPE;
    }
    if !ops_ok {
        fail |= failed::OPS;
    }
    if fail != 0 {
        return FitSummary {
            compatible: false,
            failed: fail,
            max_batch: 0,
            latency_ms_b1_low: f32::NAN,
            latency_ms_b1_high: f32::NAN,
        };
    }
    let latency = pair_latency_ms(m, d, 1);
    FitSummary {
        compatible: true,
        failed: 0,
        max_batch: pair_max_batch(m, d),
        latency_ms_b1_low: latency.low as f32,
        latency_ms_b1_high: latency.high as f32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::DeviceType;
    use crate::fit::estimate_fit;

    fn model(name: &str, weights_mb: u64, gflop: f64, targets: Vec<DeviceType>, ops: &[&str]) -> ModelProfile {
        ModelProfile {
            name: name.into(),
            params: weights_mb * 262_144,
            weights_bytes: weights_mb * 1024 * 1024,
            file_bytes: weights_mb * 1024 * 1024,
            flops_per_sample: (gflop * 1e9) as u64,
            peak_activation_bytes_per_sample: 4 * 1024 * 1024,
            ops: ops.iter().map(|s| s.to_string()).collect(),
            opset: Some(13),
            inputs: vec![],
            outputs: vec![],
            target_device_types: targets,
            accuracy: None,
            work: Default::default(),
        }
    }

    fn fleet() -> Vec<Device> {
        let mut custom = Device::new("custom", DeviceType::SmartCamera, 2, 1024, 8.0);
        custom.runtime_ops = Some(vec!["Conv".into(), "Relu".into()]);
        let mut busy = Device::new("busy", DeviceType::EdgeServer, 8, 16384, 100.0);
        busy.current_load = 0.9;
        busy.free_memory_mb = Some(300);
        vec![
            Device::new("sensor", DeviceType::IotSensor, 1, 256, 1.0),
            Device::new("phone", DeviceType::MobilePhone, 8, 6144, 64.0),
            custom,
            busy,
        ]
    }

    fn models() -> Vec<ModelProfile> {
        vec![
            model("tiny", 1, 0.001, vec![], &["Gemm", "Relu"]),
            model("conv", 20, 0.5, vec![], &["Conv", "Relu"]),
            model("server-only", 300, 20.0, vec![DeviceType::EdgeServer], &["Conv", "Relu"]),
            model("exotic", 1, 0.01, vec![], &["Loop"]),
        ]
    }

    #[test]
    fn matrix_agrees_with_estimate_fit_pair_by_pair() {
        let (ms, ds, cfg) = (models(), fleet(), FitConfig::default());
        let mx = fit_matrix(&ms, &ds, &cfg);
        assert_eq!((mx.models(), mx.devices()), (4, 4));
        for (i, m) in ms.iter().enumerate() {
            for (j, d) in ds.iter().enumerate() {
                let want = FitSummary::from_fit(&estimate_fit(m, d, &cfg));
                let got = mx.get(i, j).unwrap();
                assert!(got.same_as(&want), "{} on {}: {got:?} vs {want:?}", m.name, d.device_id);
            }
        }
    }

    #[test]
    fn verdicts_and_failure_bits_are_right() {
        let mx = fit_matrix(&models(), &fleet(), &FitConfig::default());
        let tiny_on_sensor = mx.get(0, 0).unwrap();
        assert!(tiny_on_sensor.compatible && tiny_on_sensor.max_batch >= 1);
        assert!(tiny_on_sensor.latency_ms_b1_low <= tiny_on_sensor.latency_ms_b1_high);
        // The custom runtime has no Gemm.
        assert_eq!(mx.get(0, 2).unwrap().failed, failed::OPS);
        assert!(mx.get(1, 2).unwrap().compatible);
        // server-only: wrong type on the phone; on the busy server 300 MB free is too little.
        assert_eq!(mx.get(2, 1).unwrap().failed, failed::DEVICE_TYPE);
        assert_eq!(mx.get(2, 3).unwrap().failed, failed::MEMORY);
        assert_eq!(mx.get(2, 0).unwrap().failed, failed::MEMORY | failed::DEVICE_TYPE);
        assert!(mx.compatible_devices(3).next().is_none());
        assert_eq!(mx.compatible_devices(1).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
        // The custom-runtime camera runs only the conv net.
        assert_eq!(mx.compatible_models(2).collect::<Vec<_>>(), vec![1]);
        assert_eq!(mx.get(2, 3).unwrap().max_batch, 0);
    }

    #[test]
    fn out_of_range_and_empty_inputs() {
        let mx = fit_matrix(&models(), &fleet(), &FitConfig::default());
        assert_eq!(mx.get(4, 0), None);
        assert_eq!(mx.get(0, 4), None);
        assert!(mx.for_device(9).is_none());
        assert_eq!(mx.compatible_devices(9).count(), 0);
        let empty = fit_matrix(&[], &fleet(), &FitConfig::default());
        assert_eq!(empty.compatible_count(), 0);
        assert_eq!(empty.get(0, 0), None);
        let no_devices = fit_matrix(&models(), &[], &FitConfig::default());
        assert_eq!(no_devices.compatible_devices(0).count(), 0);
        assert_eq!(empty.for_device(0).map(<[_]>::len), Some(0));
    }

    #[test]
    fn summary_is_compact() {
        assert_eq!(std::mem::size_of::<FitSummary>(), 16);
    }
}
