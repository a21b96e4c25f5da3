//! Loaded models (cached `Runner`s, swapped atomically on activation) and
//! per-model serving statistics.

use edgefleet_core::ModelProfile;
use edgefleet_core::wire::ModelStats;
use edgefleet_optimize::Runner;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Latencies kept per model for the percentiles.
const LATENCY_WINDOW: usize = 1024;
/// Window over which qps is computed.
const QPS_WINDOW: Duration = Duration::from_secs(10);

/// One active model version, ready to run.
#[derive(Debug)]
pub struct LoadedModel {
    pub version: String,
    pub runner: Arc<Runner>,
    /// Offload below this top-class confidence.
    pub threshold: f64,
    /// End-to-end latency limit of the offload rule, when set.
    pub sla_ms: Option<f64>,
    /// The model's profile (FLOPs, weights, activations), read on simulated
    /// agents to pace calls and report memory like their hardware would.
    pub profile: Option<ModelProfile>,
}

#[derive(Debug, Default)]
struct StatsAcc {
    version: String,
    requests: u64,
    offloaded: u64,
    upstream_failures: u64,
    rows_local: u64,
    rows_upstream: u64,
    latencies_ms: VecDeque<f64>,
    recent: VecDeque<Instant>,
}

/// How one request went, for the statistics.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outcome {
    pub latency_ms: f64,
    pub offloaded: bool,
    pub upstream_failed: bool,
    /// Rows answered by the local model, and by the upstream.
    pub rows_local: u64,
    pub rows_upstream: u64,
}

/// The cache and the counters of one agent.
#[derive(Debug, Default)]
pub struct Serving {
    models: RwLock<HashMap<String, Arc<LoadedModel>>>,
    stats: Mutex<HashMap<String, StatsAcc>>,
    /// Recent time the upstream took to answer, ms (moving average), for
    /// the offload rule's SLA check.
    upstream_ms: Mutex<Option<f64>>,
}

impl Serving {
    /// The loaded active version of `name`, if loaded.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedModel>> {
        self.models.read().ok()?.get(name).cloned()
    }

    /// Make `model` the one served for `name`; requests already running
    /// keep the `Arc` of the old one until they finish.
    pub fn swap(&self, name: &str, model: Arc<LoadedModel>) {
        if let Ok(mut models) = self.models.write() {
            models.insert(name.to_owned(), model);
        }
    }

    /// Recent upstream answer time, ms; `None` before the first answer.
    pub fn upstream_latency_ms(&self) -> Option<f64> {
        self.upstream_ms.lock().ok().and_then(|g| *g)
    }

    /// Fold one upstream answer time into the moving average.
    pub fn record_upstream_ms(&self, ms: f64) {
        if let Ok(mut g) = self.upstream_ms.lock() {
            *g = Some(match *g {
                Some(avg) => 0.8 * avg + 0.2 * ms,
                None => ms,
            });
        }
    }

    pub fn record(&self, name: &str, version: &str, outcome: Outcome) {
        let Ok(mut stats) = self.stats.lock() else { return };
        let acc = stats.entry(name.to_owned()).or_default();
        if acc.version != version {
            // A new version starts new latency figures; counters keep counting.
            acc.version = version.to_owned();
            acc.latencies_ms.clear();
        }
        acc.requests += 1;
        acc.offloaded += u64::from(outcome.offloaded);
        acc.upstream_failures += u64::from(outcome.upstream_failed);
        acc.rows_local += outcome.rows_local;
        acc.rows_upstream += outcome.rows_upstream;
        if acc.latencies_ms.len() == LATENCY_WINDOW {
            acc.latencies_ms.pop_front();
        }
        acc.latencies_ms.push_back(outcome.latency_ms);
        let now = Instant::now();
        acc.recent.push_back(now);
        while acc.recent.front().is_some_and(|t| now.duration_since(*t) > QPS_WINDOW) {
            acc.recent.pop_front();
        }
    }

    /// Statistics of every model that served a request, by name.
    pub fn stats(&self) -> Vec<ModelStats> {
        let Ok(stats) = self.stats.lock() else { return Vec::new() };
        let now = Instant::now();
        let mut out: Vec<ModelStats> = stats
            .iter()
            .map(|(name, acc)| {
                let recent = acc.recent.iter().filter(|t| now.duration_since(**t) <= QPS_WINDOW).count();
                let mut sorted: Vec<f64> = acc.latencies_ms.iter().copied().collect();
                sorted.sort_by(f64::total_cmp);
                ModelStats {
                    name: name.clone(),
                    version: acc.version.clone(),
                    requests: acc.requests,
                    qps: recent as f64 / QPS_WINDOW.as_secs_f64(),
                    p50_ms: percentile(&sorted, 0.50),
                    p99_ms: percentile(&sorted, 0.99),
                    offloaded: acc.offloaded,
                    upstream_failures: acc.upstream_failures,
                    answered_locally: acc.rows_local,
                    sent_upstream: acc.rows_upstream,
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

/// Nearest-rank percentile of sorted values (0 when empty).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(percentile(&[3.0], 0.99), 3.0);
    }

    #[test]
    fn stats_count_offloads_and_failures() {
        let s = Serving::default();
        for i in 0..10 {
            let offloaded = i % 2 == 0;
            s.record(
                "m",
                "1",
                Outcome {
                    latency_ms: f64::from(i),
                    offloaded,
                    upstream_failed: i == 3,
                    rows_local: 3 - u64::from(offloaded),
                    rows_upstream: u64::from(offloaded),
                },
            );
        }
        let st = &s.stats()[0];
        assert_eq!((st.requests, st.offloaded, st.upstream_failures), (10, 5, 1));
        assert_eq!((st.answered_locally, st.sent_upstream), (25, 5));
        assert_eq!(st.p50_ms, 4.0);
        assert!(st.qps > 0.0);
    }
}
