//! The gateway's view of its devices: which are healthy and have the model
//! active, how many requests each has in flight, and how fast each answers
//! (an exponentially weighted moving average). Picks the device with the
//! least outstanding requests weighted by its latency.

use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Weight of the newest latency sample in the moving average.
const EWMA_ALPHA: f64 = 0.3;
/// Latency assumed for a device not measured yet, when no device is.
const UNMEASURED_MS: f64 = 1.0;

/// One device as the gateway sees it (served on `/v1/gateway/backends`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackendStatus {
    pub device_id: String,
    pub base_url: String,
    /// Answered the last health probe (and no request failed since).
    pub healthy: bool,
    /// Has the gateway's model active.
    pub has_model: bool,
    pub outstanding: u32,
    /// Moving average of request latency seen by the gateway.
    pub ewma_ms: Option<f64>,
    pub requests: u64,
    pub failures: u64,
}

#[derive(Debug, Clone)]
struct Backend {
    status: BackendStatus,
    token: Option<String>,
}

/// Every known device of the gateway.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    backends: Mutex<HashMap<String, Backend>>,
}

/// A request in flight on one device; `outstanding` drops when it ends,
/// however it ends (including the client going away).
pub(crate) struct Lease {
    pool: Arc<Pool>,
    pub device_id: String,
    pub base_url: String,
    pub token: Option<String>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(b) = self.pool.lock().get_mut(&self.device_id) {
            b.status.outstanding = b.status.outstanding.saturating_sub(1);
        }
    }
}

impl Lease {
    /// The request succeeded in `latency_ms`.
    pub fn succeeded(&self, latency_ms: f64) {
        if let Some(b) = self.pool.lock().get_mut(&self.device_id) {
            let s = &mut b.status;
            s.requests += 1;
            s.ewma_ms = Some(match s.ewma_ms {
                Some(old) => old + EWMA_ALPHA * (latency_ms - old),
                None => latency_ms,
            });
        }
    }

    /// The request failed: the device is skipped until a probe finds it
    /// healthy again (`lost_model`: it answered but no longer serves it).
    pub fn failed(&self, lost_model: bool) {
        if let Some(b) = self.pool.lock().get_mut(&self.device_id) {
            b.status.failures += 1;
            if lost_model {
                b.status.has_model = false;
            } else {
                b.status.healthy = false;
            }
        }
    }
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Backend>> {
        // The map holds plain counters: a panic elsewhere cannot leave it
        // inconsistent, so a poisoned lock is still usable.
        self.backends.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record a probe: `Some(has_model)` when the device answered.
    pub fn probed(&self, device_id: &str, base_url: &str, token: Option<String>, result: Option<bool>) {
        let mut map = self.lock();
        let b = map.entry(device_id.to_owned()).or_insert_with(|| Backend {
            status: BackendStatus {
                device_id: device_id.to_owned(),
                base_url: base_url.to_owned(),
                healthy: false,
                has_model: false,
                outstanding: 0,
                ewma_ms: None,
                requests: 0,
                failures: 0,
            },
            token: None,
        });
        b.status.base_url = base_url.to_owned();
        b.token = token;
        b.status.healthy = result.is_some();
        if let Some(has) = result {
            b.status.has_model = has;
        }
    }

    /// Forget devices no longer in the directory.
    pub fn retain(&self, ids: &[String]) {
        self.lock().retain(|id, _| ids.contains(id));
    }

    /// The best ready device not in `exclude`, leased.
    pub fn pick(self: &Arc<Self>, exclude: &[String]) -> Option<Lease> {
        let mut map = self.lock();
        let fallback =
            map.values().filter_map(|b| b.status.ewma_ms).min_by(|a, b| a.total_cmp(b)).unwrap_or(UNMEASURED_MS);
        let best = map
            .values()
            .filter(|b| b.status.healthy && b.status.has_model && !exclude.contains(&b.status.device_id))
            .min_by(|a, b| {
                let score = |x: &Backend| f64::from(x.status.outstanding + 1) * x.status.ewma_ms.unwrap_or(fallback);
                score(a).total_cmp(&score(b)).then(a.status.requests.cmp(&b.status.requests))
            })?
            .status
            .device_id
            .clone();
        let b = map.get_mut(&best)?;
        b.status.outstanding += 1;
        Some(Lease { pool: self.clone(), device_id: best, base_url: b.status.base_url.clone(), token: b.token.clone() })
    }

    /// Every device, sorted by id.
    pub fn snapshot(&self) -> Vec<BackendStatus> {
        let mut out: Vec<BackendStatus> = self.lock().values().map(|b| b.status.clone()).collect();
        out.sort_by(|a, b| a.device_id.cmp(&b.device_id));
        out
    }

    /// Devices that can take requests now.
    pub fn ready(&self) -> usize {
        self.lock().values().filter(|b| b.status.healthy && b.status.has_model).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(devs: &[(&str, bool, bool)]) -> Arc<Pool> {
        let p = Arc::new(Pool::default());
        for (id, answered, has) in devs {
            p.probed(id, &format!("http://{id}"), None, answered.then_some(*has));
        }
        p
    }

    #[test]
    fn only_healthy_devices_with_the_model_are_picked() {
        let p = pool(&[("down", false, true), ("nomodel", true, false), ("ok", true, true)]);
        let l = p.pick(&[]).unwrap();
        assert_eq!(l.device_id, "ok");
        assert!(p.pick(&["ok".into()]).is_none());
        assert_eq!(p.ready(), 1);
    }

    #[test]
    fn outstanding_requests_weighted_by_latency_decide() {
        let p = pool(&[("fast", true, true), ("slow", true, true)]);
        {
            let f = p.pick(&["slow".into()]).unwrap();
            f.succeeded(1.0);
            let s = p.pick(&["fast".into()]).unwrap();
            s.succeeded(10.5);
        }
        // fast: (0+1)·1 < slow: (0+1)·10.5, and still with up to 9 in flight.
        let leases: Vec<Lease> = (0..9).map(|_| p.pick(&[]).unwrap()).collect();
        assert!(leases.iter().all(|l| l.device_id == "fast"));
        // 9 in flight on fast (score 10) still wins; 10 (score 11) loses to an idle slow one (10.5).
        let tenth = p.pick(&[]).unwrap();
        assert_eq!(tenth.device_id, "fast");
        assert_eq!(p.pick(&[]).unwrap().device_id, "slow");
        drop(leases);
        drop(tenth);
        assert!(p.snapshot().iter().all(|b| b.outstanding == 0), "leases give their slot back");
    }

    #[test]
    fn a_failed_request_sidelines_the_device_until_probed() {
        let p = pool(&[("a", true, true), ("b", true, true)]);
        let l = p.pick(&[]).unwrap();
        let id = l.device_id.clone();
        l.failed(false);
        drop(l);
        for _ in 0..5 {
            assert_ne!(p.pick(&[]).unwrap().device_id, id);
        }
        p.probed(&id, "http://x", None, Some(true));
        assert_eq!(p.ready(), 2);
        let snap = p.snapshot();
        assert_eq!(snap.iter().find(|b| b.device_id == id).unwrap().failures, 1);
    }

    #[test]
    fn ewma_moves_toward_new_samples() {
        let p = pool(&[("a", true, true)]);
        let l = p.pick(&[]).unwrap();
        l.succeeded(10.0);
        l.succeeded(20.0);
        let ewma = p.snapshot()[0].ewma_ms.unwrap();
        assert!((ewma - 13.0).abs() < 1e-9, "{ewma}");
    }
}
