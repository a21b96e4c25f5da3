//! What devices serve right now, for a placement planned away from the GUI
//! (`edgefleet place`): each device is asked for its description and
//! metrics (`GET /v1/info`, `GET /v1/metrics`), a bounded number at once and
//! each within a time limit, and becomes the device the plan sees — its
//! live free memory, storage and CPU load, and the utilisation of its
//! inference thread by the requests it already serves (the same inputs the
//! GUI's "Plan placement" takes from its poller). A device that does not
//! answer says why, so the caller can leave it out and report it.

use crate::client::AgentClient;
use crate::measure::{LiveDevice, poll_device};
use crate::placement_plan::base_utilisation;
use edgefleet_core::Device;
use edgefleet_core::wire::Metrics;
use futures_util::StreamExt;
use serde::Serialize;
use std::time::Duration;

/// How long one device may take to answer both calls.
pub const LIVE_POLL_TIMEOUT: Duration = Duration::from_secs(3);
/// Devices asked at once.
pub const LIVE_POLL_CONCURRENCY: usize = 16;

/// One device's live state, as placement takes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveLoad {
    /// The device with its live free memory, free storage and CPU load.
    pub device: Device,
    /// Requests per second it serves now, over all its models.
    pub request_rate_per_s: f64,
    /// Its inference thread's utilisation by those requests (Σ rate × p50).
    pub base_utilisation: f64,
    pub rtt_ms: f64,
}

impl LiveLoad {
    /// The registered device updated with what it just answered: its own
    /// description with the live free memory and storage of its metrics
    /// ([`with_live_metrics`]) and its CPU load.
    fn from_poll(registered: &Device, live: LiveDevice) -> Self {
        let m = &live.metrics;
        let device = with_live_metrics(&Device { device_id: registered.device_id.clone(), ..live.device.clone() }, m);
        LiveLoad {
            device,
            request_rate_per_s: live.request_rate_per_s(),
            base_utilisation: base_utilisation(m),
            rtt_ms: live.rtt_ms,
        }
    }
}

/// `device` with the free memory and storage its metrics `m` report (the
/// memory capped by the device's own size, the storage by its disk): what
/// estimates for it use, in the GUI and the CLI alike.
pub fn with_live_metrics(device: &Device, m: &Metrics) -> Device {
    let mut d = device.clone();
    if m.memory_total_mb > 0 {
        let total = m.memory_total_mb.min(d.memory_mb.max(1));
        d.free_memory_mb = Some(total.saturating_sub(m.memory_used_mb));
    }
    if m.storage_free_gb.is_finite() && m.storage_free_gb >= 0.0 {
        d.free_storage_gb = Some(m.storage_free_gb.min(d.storage_gb));
    }
    d
}

/// Ask every device (an `Err`: why it cannot be asked) for its live state, at most
/// `concurrency` at once, each within `timeout`; answers in the order given,
/// an `Err` saying why a device could not be asked or did not answer.
pub async fn poll_live_loads(
    targets: Vec<(Device, Result<AgentClient, String>)>,
    timeout: Duration,
    concurrency: usize,
) -> Vec<(Device, Result<LiveLoad, String>)> {
    futures_util::stream::iter(targets)
        .map(|(device, client)| async move {
            let client = match client {
                Ok(c) => c,
                Err(why) => return (device, Err(why)),
            };
            let client = client.timeout(timeout);
            let answer = match tokio::time::timeout(timeout, poll_device(&client)).await {
                Ok(Ok(live)) => Ok(LiveLoad::from_poll(&device, live)),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
            };
            (device, answer)
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}
