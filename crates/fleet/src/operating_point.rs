//! A model on a device at the device's current state: total latency =
//! network (the RTT the console measured + the input's transfer at the
//! device's bandwidth) + compute (the fit's batch-1 estimate) + queuing
//! (M/M/1 at a request rate), and the energy per inference and, for a
//! device with a battery, the battery life at that rate.
//!
//! The formulas are `edgefleet_core::latency` and `edgefleet_core::energy`;
//! this file only gathers their inputs from a [`Fit`], a profile and a
//! device, so the CLI and the GUI show the same figures.

use edgefleet_core::energy::{EnergyBreakdown, EnergyInputs, battery_life_hours, energy_per_inference};
use edgefleet_core::latency::{NetworkPath, mm1_wait_ms, transfer_ms};
use edgefleet_core::{Device, Fit, FitConfig, ModelProfile};
use serde::Serialize;

/// Bytes per element of an ONNX element type (4 when unknown).
fn elem_bytes(elem_type: &str) -> u64 {
    match elem_type {
        "double" | "int64" | "uint64" => 8,
        "float16" | "bfloat16" | "int16" | "uint16" => 2,
        "int8" | "uint8" | "bool" => 1,
        _ => 4,
    }
}

/// Bytes of one sample of a model's inputs (or outputs), from its graph.
/// Symbolic dimensions count as 1.
pub fn sample_bytes(tensors: &[edgefleet_core::TensorInfo]) -> u64 {
    tensors
        .iter()
        .map(|t| {
            let elems: u64 = t
                .shape
                .iter()
                .skip(1)
                .map(|d| match d {
                    edgefleet_core::Dim::Fixed(n) if *n > 0 => *n as u64,
                    _ => 1,
                })
                .product();
            elems * elem_bytes(&t.elem_type)
        })
        .sum()
}

/// The queue at a request rate: stable with a wait, or unstable (said so).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Queue {
    Stable { wait_ms: f64, utilization: f64 },
    Unstable { message: String },
}

/// Total latency of one request at batch 1, its parts, and the energy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperatingPoint {
    pub request_rate_per_s: f64,
    pub rtt_ms: f64,
    /// `true` when the RTT was measured by the console, `false` when assumed.
    pub rtt_measured: bool,
    pub input_bytes: u64,
    pub output_bytes: u64,
    pub bandwidth_mbps: f64,
    /// RTT + (input + output) × 8 ÷ bandwidth.
    pub network_ms: f64,
    /// Middle of the batch-1 latency range of the fit (calibrated when it is).
    pub compute_ms: f64,
    pub queue: Queue,
    /// network + compute + wait; `None` when the queue is unstable.
    pub total_ms: Option<f64>,
    /// Energy per inference at the rate; `None` when the rate is 0.
    pub energy: Option<EnergyBreakdown>,
    /// Battery life at the rate; only for a device with a battery.
    pub battery_hours: Option<f64>,
}

/// Why the operating point cannot be computed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OperatingPointError {
    #[error("the model does not fit this device: there is no compute time to build on")]
    Incompatible,
    #[error("the request rate must be a finite number ≥ 0, got {0}")]
    BadRate(f64),
    #[error("{0}")]
    Latency(#[from] edgefleet_core::latency::LatencyError),
}

/// RTT assumed when the console has not measured one yet (a LAN).
pub const ASSUMED_RTT_MS: f64 = 2.0;

/// The operating point of `fit` (of `profile` on `device`) at
/// `request_rate_per_s`, with `rtt_ms` as measured (or `None`: assumed).
pub fn operating_point(
    fit: &Fit,
    profile: &ModelProfile,
    device: &Device,
    cfg: &FitConfig,
    rtt_ms: Option<f64>,
    request_rate_per_s: f64,
) -> Result<OperatingPoint, OperatingPointError> {
    if !(request_rate_per_s.is_finite() && request_rate_per_s >= 0.0) {
        return Err(OperatingPointError::BadRate(request_rate_per_s));
    }
    // An empty sum of rates is -0.0; shown, it would read "-0.00 req/s".
    let request_rate_per_s = request_rate_per_s + 0.0;
    let compute_ms = fit.per_batch.first().filter(|_| fit.compatible).ok_or(OperatingPointError::Incompatible)?;
    let compute_ms = compute_ms.latency_ms.mid();
    let input_bytes = sample_bytes(&profile.inputs);
    let output_bytes = sample_bytes(&profile.outputs);
    let rtt = rtt_ms.unwrap_or(ASSUMED_RTT_MS);
    let network = NetworkPath { bandwidth_mbps: device.network_bandwidth_mbps, rtt_ms: rtt };
    let network_ms = transfer_ms(input_bytes + output_bytes, &network)?;
    let queue = match mm1_wait_ms(request_rate_per_s, 1000.0 / compute_ms) {
        Ok((wait_ms, utilization)) => Queue::Stable { wait_ms, utilization },
        Err(e @ edgefleet_core::latency::LatencyError::Unstable { .. }) => Queue::Unstable { message: e.to_string() },
        Err(e) => return Err(e.into()),
    };
    let total_ms = match &queue {
        Queue::Stable { wait_ms, .. } => Some(network_ms + compute_ms + wait_ms),
        Queue::Unstable { .. } => None,
    };
    let power = cfg.power.get(device.device_type);
    let energy = (request_rate_per_s > 0.0)
        .then(|| {
            energy_per_inference(
                &power,
                &EnergyInputs {
                    compute_ms,
                    radio_bytes: (input_bytes + output_bytes) as f64,
                    inferences_per_s: request_rate_per_s,
                },
            )
        })
        .transpose()
        .ok()
        .flatten();
    let battery_hours = match (device.battery_capacity_mah, &energy) {
        (Some(mah), Some(e)) => {
            battery_life_hours(f64::from(mah), power.battery_voltage_v, e.average_power_w.min(f64::MAX)).ok()
        }
        _ => None,
    };
    Ok(OperatingPoint {
        request_rate_per_s,
        rtt_ms: rtt,
        rtt_measured: rtt_ms.is_some(),
        input_bytes,
        output_bytes,
        bandwidth_mbps: device.network_bandwidth_mbps,
        network_ms,
        compute_ms,
        queue,
        total_ms,
        energy,
        battery_hours,
    })
}

impl OperatingPoint {
    /// The breakdown in one line, the way the CLI and the GUI print it.
    pub fn latency_line(&self) -> String {
        let rtt = if self.rtt_measured { "measured RTT" } else { "assumed RTT" };
        let network = format!(
            "network {:.2} ms ({rtt} {:.2} ms + {} B at {} Mbit/s)",
            self.network_ms,
            self.rtt_ms,
            self.input_bytes + self.output_bytes,
            self.bandwidth_mbps
        );
        match &self.queue {
            Queue::Stable { wait_ms, utilization } => format!(
                "total {:.2} ms = {network} + compute {:.2} ms + queue {:.2} ms (M/M/1 at {:.2} req/s, {:.0}% busy)",
                self.total_ms.unwrap_or(f64::NAN),
                self.compute_ms,
                wait_ms,
                self.request_rate_per_s,
                utilization * 100.0
            ),
            Queue::Unstable { message } => {
                format!("{network} + compute {:.2} ms + queue: UNSTABLE — {message}", self.compute_ms)
            }
        }
    }

    /// Energy and battery in one line (`None` when the rate is 0).
    pub fn energy_line(&self) -> Option<String> {
        let e = self.energy.as_ref()?;
        let mut line = format!(
            "energy {:.3} mJ per inference at {:.2} req/s (compute {:.3} + radio {:.3} + idle share {:.3}), average {:.3} W",
            e.total_mj, self.request_rate_per_s, e.compute_mj, e.radio_mj, e.idle_share_mj, e.average_power_w
        );
        if let Some(h) = self.battery_hours {
            line.push_str(&format!("; battery life {h:.1} h"));
        }
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgefleet_core::{DeviceType, Dim, TensorInfo, estimate_fit};

    fn profile() -> ModelProfile {
        ModelProfile {
            name: "mlp".into(),
            params: 1000,
            weights_bytes: 4000,
            file_bytes: 4000,
            flops_per_sample: 2_000_000,
            peak_activation_bytes_per_sample: 512,
            ops: vec!["Gemm".into()],
            opset: None,
            inputs: vec![TensorInfo {
                name: "x".into(),
                elem_type: "float".into(),
                shape: vec![Dim::Symbolic("N".into()), Dim::Fixed(64)],
            }],
            outputs: vec![TensorInfo {
                name: "y".into(),
                elem_type: "float".into(),
                shape: vec![Dim::Symbolic("N".into()), Dim::Fixed(10)],
            }],
            target_device_types: vec![],
            accuracy: None,
            work: Default::default(),
        }
    }

    #[test]
    fn parts_add_up_and_battery_shows_only_with_a_battery() {
        let cfg = FitConfig::default();
        let mut phone = Device::new("phone", DeviceType::MobilePhone, 8, 4096, 10.0);
        phone.battery_capacity_mah = Some(4000);
        phone.network_bandwidth_mbps = 10.0;
        let fit = estimate_fit(&profile(), &phone, &cfg);
        let op = operating_point(&fit, &profile(), &phone, &cfg, Some(3.0), 5.0).unwrap();
        assert_eq!(op.input_bytes, 256);
        assert_eq!(op.output_bytes, 40);
        // 296 B × 8 / 10 Mbit/s = 0.2368 ms, + 3 ms RTT.
        assert!((op.network_ms - 3.2368).abs() < 1e-9, "{}", op.network_ms);
        let Queue::Stable { wait_ms, .. } = op.queue else { panic!("unstable: {:?}", op.queue) };
        assert!((op.total_ms.unwrap() - (op.network_ms + op.compute_ms + wait_ms)).abs() < 1e-9);
        assert!(op.battery_hours.is_some_and(|h| h > 0.0));
        assert!(op.energy_line().unwrap().contains("battery life"));

        let server = Device::new("srv", DeviceType::EdgeServer, 16, 32768, 500.0);
        let fit = estimate_fit(&profile(), &server, &cfg);
        let op = operating_point(&fit, &profile(), &server, &cfg, None, 5.0).unwrap();
        assert_eq!(op.battery_hours, None);
        assert!(!op.energy_line().unwrap().contains("battery"));
        assert!(op.latency_line().contains("assumed RTT"));
    }

    #[test]
    fn an_overloaded_device_is_said_to_be_unstable() {
        let cfg = FitConfig::default();
        let d = Device::new("s", DeviceType::IotSensor, 1, 256, 1.0);
        let fit = estimate_fit(&profile(), &d, &cfg);
        let rate = 2.0 * 1000.0 / fit.per_batch[0].latency_ms.mid();
        let op = operating_point(&fit, &profile(), &d, &cfg, Some(1.0), rate).unwrap();
        assert!(matches!(op.queue, Queue::Unstable { .. }));
        assert_eq!(op.total_ms, None);
        assert!(op.latency_line().contains("UNSTABLE"), "{}", op.latency_line());
        assert!(operating_point(&fit, &profile(), &d, &cfg, None, f64::NAN).is_err());
    }
}
