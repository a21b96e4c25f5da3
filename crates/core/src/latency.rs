//! End-to-end latency of one request: network transfer + compute + waiting
//! in the device's queue.
//!
//! - network = (request + response bytes) × 8 / bandwidth + round-trip time
//! - queuing: the device is an M/M/1 queue with arrival rate λ and service
//!   rate μ = 1 / compute time. Utilisation ρ = λ/μ; the mean wait before
//!   service is Wq = ρ / (μ − λ). When λ ≥ μ the queue grows without bound:
//!   there is no finite latency and [`total_latency`] says so instead of
//!   returning a number.

use serde::{Deserialize, Serialize};

/// Why a latency cannot be given.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LatencyError {
    #[error("`{field}` must be a finite number ≥ 0, got {value}")]
    Negative { field: &'static str, value: f64 },
    #[error("`{field}` must be a finite number > 0, got {value}")]
    NotPositive { field: &'static str, value: f64 },
    #[error(
        "unstable queue: requests arrive at {arrival_per_s:.2}/s but the device serves at most {service_per_s:.2}/s \
         (utilisation {:.0}%), so the wait grows without bound",
        arrival_per_s / service_per_s * 100.0
    )]
    Unstable { arrival_per_s: f64, service_per_s: f64 },
}

/// A network path between client and device.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NetworkPath {
    pub bandwidth_mbps: f64,
    pub rtt_ms: f64,
}

/// One request's workload.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyInputs {
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub network: NetworkPath,
    /// Compute time of one request on the device (the service time).
    pub compute_ms: f64,
    /// Requests per second arriving at the device (λ); 0 for an idle device.
    pub arrival_per_s: f64,
}

/// The parts of the end-to-end latency, ms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyBreakdown {
    pub network_ms: f64,
    pub compute_ms: f64,
    pub queue_wait_ms: f64,
    pub total_ms: f64,
    /// ρ = λ/μ in [0, 1).
    pub utilization: f64,
}

fn non_negative(field: &'static str, value: f64) -> Result<f64, LatencyError> {
    if value.is_finite() && value >= 0.0 { Ok(value) } else { Err(LatencyError::Negative { field, value }) }
}

fn positive(field: &'static str, value: f64) -> Result<f64, LatencyError> {
    if value.is_finite() && value > 0.0 { Ok(value) } else { Err(LatencyError::NotPositive { field, value }) }
}

/// Time to move `bytes` over the path, including one round trip.
pub fn transfer_ms(bytes: u64, network: &NetworkPath) -> Result<f64, LatencyError> {
    let bandwidth = positive("bandwidth_mbps", network.bandwidth_mbps)?;
    let rtt = non_negative("rtt_ms", network.rtt_ms)?;
    // Mbit/s = 1e6 bit/s = 1e3 bit/ms.
    Ok(bytes as f64 * 8.0 / (bandwidth * 1e3) + rtt)
}

/// Mean wait in an M/M/1 queue before service, ms, and the utilisation.
pub fn mm1_wait_ms(arrival_per_s: f64, service_per_s: f64) -> Result<(f64, f64), LatencyError> {
    let lambda = non_negative("arrival_per_s", arrival_per_s)?;
    let mu = positive("service_per_s", service_per_s)?;
    if lambda >= mu {
        return Err(LatencyError::Unstable { arrival_per_s: lambda, service_per_s: mu });
    }
    let rho = lambda / mu;
    Ok((rho / (mu - lambda) * 1000.0, rho))
}

/// Network + compute + queuing wait for one request.
pub fn total_latency(inputs: &LatencyInputs) -> Result<LatencyBreakdown, LatencyError> {
    let compute_ms = positive("compute_ms", inputs.compute_ms)?;
    let network_ms = transfer_ms(inputs.request_bytes.saturating_add(inputs.response_bytes), &inputs.network)?;
    let (queue_wait_ms, utilization) = mm1_wait_ms(inputs.arrival_per_s, 1000.0 / compute_ms)?;
    Ok(LatencyBreakdown {
        network_ms,
        compute_ms,
        queue_wait_ms,
        total_ms: network_ms + compute_ms + queue_wait_ms,
        utilization,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAN: NetworkPath = NetworkPath { bandwidth_mbps: 100.0, rtt_ms: 2.0 };

    #[test]
    fn transfer_is_bits_over_bandwidth_plus_rtt() {
        // 1.25 MB = 10 Mbit at 100 Mbit/s = 100 ms.
        assert!((transfer_ms(1_250_000, &LAN).unwrap() - 102.0).abs() < 1e-9);
        assert_eq!(transfer_ms(0, &LAN).unwrap(), 2.0);
    }

    #[test]
    fn mm1_wait_matches_the_textbook() {
        // λ = 5/s, μ = 10/s: ρ = 0.5, Wq = 0.5 / 5 s = 100 ms.
        let (wait, rho) = mm1_wait_ms(5.0, 10.0).unwrap();
        assert!((wait - 100.0).abs() < 1e-9);
        assert!((rho - 0.5).abs() < 1e-12);
        assert_eq!(mm1_wait_ms(0.0, 10.0).unwrap(), (0.0, 0.0));
    }

    #[test]
    fn overload_is_reported_not_computed() {
        let err = mm1_wait_ms(10.0, 10.0).unwrap_err();
        assert!(matches!(err, LatencyError::Unstable { .. }));
        assert!(err.to_string().contains("utilisation 100%"), "{err}");
        assert!(mm1_wait_ms(12.0, 10.0).is_err());
    }

    #[test]
    fn total_adds_the_three_parts() {
        let t = total_latency(&LatencyInputs {
            request_bytes: 1_000_000,
            response_bytes: 250_000,
            network: LAN,
            compute_ms: 100.0,
            arrival_per_s: 5.0,
        })
        .unwrap();
        assert!((t.network_ms - 102.0).abs() < 1e-9);
        assert!((t.queue_wait_ms - 100.0).abs() < 1e-9);
        assert!((t.total_ms - 302.0).abs() < 1e-9);
        let busy =
            LatencyInputs { request_bytes: 0, response_bytes: 0, network: LAN, compute_ms: 100.0, arrival_per_s: 10.0 };
        assert!(matches!(total_latency(&busy), Err(LatencyError::Unstable { .. })));
    }

    #[test]
    fn wait_grows_with_load() {
        let mut last = 0.0;
        for lambda in [0.0, 1.0, 5.0, 9.0, 9.9] {
            let (w, _) = mm1_wait_ms(lambda, 10.0).unwrap();
            assert!(w >= last);
            last = w;
        }
    }

    #[test]
    fn bad_inputs_are_named() {
        let bad = NetworkPath { bandwidth_mbps: 0.0, rtt_ms: 1.0 };
        assert!(transfer_ms(10, &bad).unwrap_err().to_string().contains("bandwidth_mbps"));
        let bad = NetworkPath { bandwidth_mbps: 10.0, rtt_ms: f64::NAN };
        assert!(transfer_ms(10, &bad).unwrap_err().to_string().contains("rtt_ms"));
        assert!(mm1_wait_ms(-1.0, 10.0).is_err());
        let zero =
            LatencyInputs { request_bytes: 0, response_bytes: 0, network: LAN, compute_ms: 0.0, arrival_per_s: 0.0 };
        assert!(total_latency(&zero).unwrap_err().to_string().contains("compute_ms"));
    }
}
