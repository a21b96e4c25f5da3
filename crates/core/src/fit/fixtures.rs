//! Models and devices the estimator's unit tests share.

use crate::device::{Device, DeviceType};
use crate::model::ModelProfile;

/// The digits MLP: tiny, fits anywhere.
pub(crate) fn mlp() -> ModelProfile {
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
        work: Default::default(),
    }
}

/// 300 MB of weights and 20 GFLOP a sample: too big for a sensor.
pub(crate) fn big() -> ModelProfile {
    ModelProfile {
        name: "big".into(),
        weights_bytes: 300 * 1024 * 1024,
        file_bytes: 300 * 1024 * 1024,
        flops_per_sample: 20_000_000_000,
        peak_activation_bytes_per_sample: 50 * 1024 * 1024,
        ..mlp()
    }
}

/// 1 core, 256 MB, 4 GB, no live figures, no measured speed.
pub(crate) fn sensor() -> Device {
    Device::new("s1", DeviceType::IotSensor, 1, 256, 4.0)
}

/// 16 cores, 64 GB, a measured 200 GFLOP/s.
pub(crate) fn server() -> Device {
    let mut d = Device::new("srv", DeviceType::EdgeServer, 16, 65536, 1000.0);
    d.gflops = Some(200.0);
    d
}
