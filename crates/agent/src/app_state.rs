//! The state every handler of one agent shares.

use crate::bounded_server::ServeLimits;
use crate::model_store::ModelStore;
use crate::serving::Serving;
use crate::synthetic::SyntheticLoad;
use crate::system_probe::SystemProbe;
use crate::token_gate::TokenGate;
use crate::upstream::Upstream;
use edgefleet_core::fit::{BYTES_PER_GB, thread_share};
use edgefleet_core::wire::{Metrics, RuntimeInfo};
use edgefleet_core::{Device, now_ms};
use edgefleet_optimize::Runtime;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Scheduler-share floor used when pacing simulated calls (as the fit's default).
const MIN_SHARE: f64 = 0.05;
/// Below this much waiting left, a paced call spins instead of sleeping
/// (a sleep overshoots by tens of µs).
const SPIN_BELOW: Duration = Duration::from_micros(200);

/// Where live numbers come from.
#[derive(Debug)]
pub(crate) enum Probe {
    Real(Box<Mutex<SystemProbe>>),
    Synthetic(SyntheticLoad),
}

#[derive(Debug)]
pub(crate) struct AppState {
    pub device: Device,
    /// The bearer-token check (hash, rotation, failed-attempt counts).
    pub token: TokenGate,
    pub started: Instant,
    pub probe: Probe,
    pub store: ModelStore,
    pub serving: Serving,
    pub upstream: Option<Upstream>,
    pub default_threshold: f64,
    /// What loads, runs and benchmarks every model of this agent.
    pub runtime: Arc<dyn Runtime>,
    pub runtime_info: RuntimeInfo,
    /// Connection cap and timeouts the server was started with.
    pub serve_limits: ServeLimits,
    /// Predict requests read and run at once (bounds body buffers and rows in memory).
    pub predict_permits: tokio::sync::Semaphore,
    /// Benchmarks run at once.
    pub benchmark_permits: tokio::sync::Semaphore,
    /// The console key models must be signed by, once pinned.
    pub trust: crate::model_trust::ModelTrust,
    /// The lowest per-call overhead measured so far (a real agent keeps
    /// refining the probe's, see [`crate::overhead_refine`]).
    pub best_overhead: BestOverhead,
}

impl AppState {
    pub fn uptime_s(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// A metrics sample now, with per-model statistics. Reads /proc and
    /// /sys for a real agent, so call it off the async workers.
    pub fn metrics(&self) -> Metrics {
        let mut m = match &self.probe {
            Probe::Real(p) => match p.lock() {
                Ok(mut p) => p.sample(self.uptime_s(), now_ms()),
                Err(_) => Metrics { timestamp_ms: now_ms(), uptime_s: self.uptime_s(), ..Default::default() },
            },
            Probe::Synthetic(load) => load.sample(&self.device, self.started.elapsed().as_secs_f64(), now_ms()),
        };
        m.models = self.serving.stats();
        // A storage budget leaves less than the disk may have free.
        if let Some(free) = self.store.storage_free_bytes() {
            m.storage_free_gb = m.storage_free_gb.min(free as f64 / BYTES_PER_GB);
        }
        m
    }
}

impl AppState {
    /// On a simulated agent, how long one call of `flops` FLOPs takes on
    /// its synthetic hardware: the per-call overhead plus the FLOPs at one
    /// thread's speed × the scheduler share at its current synthetic load
    /// (the same rule the fit uses). `None` on a real agent.
    pub fn simulated_call_ms(&self, flops: f64) -> Option<f64> {
        let Probe::Synthetic(load) = &self.probe else { return None };
        let cores = self.device.cpu_cores.max(1);
        let thread = self.device.gflops_per_thread.or(self.device.gflops.map(|g| g / f64::from(cores)))?;
        let share = thread_share(cores, load.load_at(self.started.elapsed().as_secs_f64()), MIN_SHARE);
        Some(self.device.call_overhead_ms.unwrap_or(0.0) + flops / (thread * share * 1e9) * 1e3)
    }
}

/// Wait until `target_ms` have passed since `start` (nothing when already
/// past): simulated hardware slower than the host.
pub(crate) fn pad_to(start: Instant, target_ms: f64) {
    let target = Duration::from_secs_f64(target_ms.max(0.0) / 1e3);
    loop {
        let spent = start.elapsed();
        if spent >= target {
            return;
        }
        let left = target - spent;
        if left > SPIN_BELOW {
            std::thread::sleep(left - SPIN_BELOW);
        } else {
            std::hint::spin_loop();
        }
    }
}

/// The lowest per-call overhead measured so far, ms (`None` before any).
#[derive(Debug, Default)]
pub(crate) struct BestOverhead(AtomicU64);

impl BestOverhead {
    pub fn new(ms: Option<f64>) -> Self {
        BestOverhead(AtomicU64::new(ms.filter(|v| v.is_finite() && *v > 0.0).map_or(0, f64::to_bits)))
    }

    pub fn get(&self) -> Option<f64> {
        match self.0.load(Relaxed) {
            0 => None,
            bits => Some(f64::from_bits(bits)),
        }
    }

    /// Keep `ms` if it is lower than the figure kept (or the first).
    pub fn offer(&self, ms: f64) {
        if !(ms.is_finite() && ms > 0.0) {
            return;
        }
        // Positive f64s order as their bits do.
        let _ = self.0.fetch_update(Relaxed, Relaxed, |old| (old == 0 || ms.to_bits() < old).then_some(ms.to_bits()));
    }
}

#[cfg(test)]
mod tests {
    use super::BestOverhead;

    #[test]
    fn the_lowest_positive_figure_is_kept() {
        let best = BestOverhead::new(None);
        assert_eq!(best.get(), None);
        best.offer(0.017);
        best.offer(f64::NAN);
        best.offer(-1.0);
        best.offer(0.0);
        assert_eq!(best.get(), Some(0.017));
        best.offer(0.011);
        best.offer(0.016);
        assert_eq!(best.get(), Some(0.011));
        assert_eq!(BestOverhead::new(Some(0.02)).get(), Some(0.02));
        assert_eq!(BestOverhead::new(Some(f64::INFINITY)).get(), None);
    }
}
