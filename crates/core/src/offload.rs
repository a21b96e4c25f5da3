//! The edge/cloud decision for one prediction: keep the local answer, or
//! forward the request to a bigger model upstream.
//!
//! The local model always runs first. When its top-class confidence is at
//! or above the threshold its answer stands. Below it, the request goes
//! upstream — unless the upstream is down, or local time plus the upstream's
//! time (network included) would break the latency SLA; then the local
//! answer is returned and the decision says why.

use crate::latency::{LatencyError, NetworkPath, transfer_ms};
use serde::{Deserialize, Serialize};

/// What to do with a prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Confident enough: answer locally.
    Local,
    /// Not confident: ask the upstream.
    Offload,
    /// Not confident, but the upstream would miss the SLA: answer locally.
    LocalBecauseSla,
    /// Not confident, but no upstream is reachable: answer locally.
    LocalBecauseUpstreamDown,
}

/// The facts one decision is made from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OffloadInputs {
    /// Top-class confidence of the local model, 0..=1.
    pub confidence: f64,
    /// Confidence below which the upstream should answer, 0..=1.
    pub threshold: f64,
    /// Time the local inference takes.
    pub edge_latency_ms: f64,
    /// Time the upstream takes, network included.
    pub cloud_latency_ms: f64,
    /// End-to-end latency limit, if any.
    pub sla_ms: Option<f64>,
    pub upstream_available: bool,
}

/// A decision with the reason in words and the latency it implies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OffloadDecision {
    pub decision: Decision,
    pub reason: String,
    /// End-to-end latency of the chosen path.
    pub expected_latency_ms: f64,
}

/// Why a decision could not be made.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OffloadError {
    #[error("`{field}` must be between 0 and 1, got {value}")]
    NotAProbability { field: &'static str, value: f64 },
    #[error("`{field}` must be a finite number ≥ 0, got {value}")]
    Negative { field: &'static str, value: f64 },
    #[error(transparent)]
    Latency(#[from] LatencyError),
}

fn probability(field: &'static str, value: f64) -> Result<f64, OffloadError> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(OffloadError::NotAProbability { field, value })
    }
}

fn non_negative(field: &'static str, value: f64) -> Result<f64, OffloadError> {
    if value.is_finite() && value >= 0.0 { Ok(value) } else { Err(OffloadError::Negative { field, value }) }
}

/// Decide where one prediction is answered.
pub fn decide(inputs: &OffloadInputs) -> Result<OffloadDecision, OffloadError> {
    let confidence = probability("confidence", inputs.confidence)?;
    let threshold = probability("threshold", inputs.threshold)?;
    let edge_ms = non_negative("edge_latency_ms", inputs.edge_latency_ms)?;
    let cloud_ms = non_negative("cloud_latency_ms", inputs.cloud_latency_ms)?;
    let sla_ms = inputs.sla_ms.map(|s| non_negative("sla_ms", s)).transpose()?;

    if confidence >= threshold {
        return Ok(OffloadDecision {
            decision: Decision::Local,
            reason: format!("confidence {confidence:.2} ≥ threshold {threshold:.2}: the local answer stands"),
            expected_latency_ms: edge_ms,
        });
    }
    if !inputs.upstream_available {
        return Ok(OffloadDecision {
            decision: Decision::LocalBecauseUpstreamDown,
            reason: format!(
                "confidence {confidence:.2} < threshold {threshold:.2}, but no upstream is reachable: answering locally"
            ),
            expected_latency_ms: edge_ms,
        });
    }
    // The local model already ran, so offloading costs both.
    let offload_ms = edge_ms + cloud_ms;
    if let Some(sla) = sla_ms
        && offload_ms > sla
    {
        return Ok(OffloadDecision {
            decision: Decision::LocalBecauseSla,
            reason: format!(
                "confidence {confidence:.2} < threshold {threshold:.2}, but offloading would take \
                 {edge_ms:.1} + {cloud_ms:.1} = {offload_ms:.1} ms, over the {sla:.1} ms SLA: answering locally"
            ),
            expected_latency_ms: edge_ms,
        });
    }
    let within = sla_ms.map(|s| format!(", within the {s:.1} ms SLA")).unwrap_or_default();
    Ok(OffloadDecision {
        decision: Decision::Offload,
        reason: format!(
            "confidence {confidence:.2} < threshold {threshold:.2}: offloading, \
             {edge_ms:.1} + {cloud_ms:.1} = {offload_ms:.1} ms{within}"
        ),
        expected_latency_ms: offload_ms,
    })
}

/// Upstream latency: request and response over `network` plus the
/// upstream's compute time.
pub fn cloud_latency_ms(
    request_bytes: u64,
    response_bytes: u64,
    network: &NetworkPath,
    cloud_compute_ms: f64,
) -> Result<f64, OffloadError> {
    let compute = non_negative("cloud_compute_ms", cloud_compute_ms)?;
    Ok(transfer_ms(request_bytes.saturating_add(response_bytes), network)? + compute)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(confidence: f64) -> OffloadInputs {
        OffloadInputs {
            confidence,
            threshold: 0.8,
            edge_latency_ms: 5.0,
            cloud_latency_ms: 60.0,
            sla_ms: Some(100.0),
            upstream_available: true,
        }
    }

    #[test]
    fn confident_answers_stay_local() {
        let d = decide(&inputs(0.93)).unwrap();
        assert_eq!(d.decision, Decision::Local);
        assert_eq!(d.expected_latency_ms, 5.0);
        assert!(d.reason.contains("0.93") && d.reason.contains("0.80"), "{}", d.reason);
        // At the threshold exactly, the local answer stands.
        assert_eq!(decide(&inputs(0.8)).unwrap().decision, Decision::Local);
    }

    #[test]
    fn unsure_answers_go_upstream_within_sla() {
        let d = decide(&inputs(0.5)).unwrap();
        assert_eq!(d.decision, Decision::Offload);
        assert_eq!(d.expected_latency_ms, 65.0);
        assert!(d.reason.contains("65.0 ms") && d.reason.contains("100.0 ms SLA"), "{}", d.reason);
        let no_sla = OffloadInputs { sla_ms: None, cloud_latency_ms: 5000.0, ..inputs(0.5) };
        assert_eq!(decide(&no_sla).unwrap().decision, Decision::Offload);
    }

    #[test]
    fn sla_and_outage_keep_it_local() {
        let slow = OffloadInputs { cloud_latency_ms: 120.0, ..inputs(0.5) };
        let d = decide(&slow).unwrap();
        assert_eq!(d.decision, Decision::LocalBecauseSla);
        assert!(d.reason.contains("125.0 ms") && d.reason.contains("100.0 ms SLA"), "{}", d.reason);
        assert_eq!(d.expected_latency_ms, 5.0);
        let down = OffloadInputs { upstream_available: false, ..inputs(0.5) };
        assert_eq!(decide(&down).unwrap().decision, Decision::LocalBecauseUpstreamDown);
    }

    #[test]
    fn cloud_latency_includes_the_network() {
        let wan = NetworkPath { bandwidth_mbps: 10.0, rtt_ms: 40.0 };
        // 12.5 kB = 100 kbit at 10 Mbit/s = 10 ms; + 40 ms RTT + 15 ms compute.
        assert!((cloud_latency_ms(12_000, 500, &wan, 15.0).unwrap() - 65.0).abs() < 1e-9);
        let bad = NetworkPath { bandwidth_mbps: -1.0, rtt_ms: 40.0 };
        assert!(matches!(cloud_latency_ms(1, 1, &bad, 1.0), Err(OffloadError::Latency(_))));
    }

    #[test]
    fn bad_inputs_are_named() {
        assert_eq!(decide(&inputs(1.5)), Err(OffloadError::NotAProbability { field: "confidence", value: 1.5 }));
        let bad = OffloadInputs { threshold: f64::NAN, ..inputs(0.5) };
        assert!(decide(&bad).unwrap_err().to_string().contains("threshold"));
        let bad = OffloadInputs { sla_ms: Some(-1.0), ..inputs(0.5) };
        assert!(decide(&bad).unwrap_err().to_string().contains("sla_ms"));
    }
}
