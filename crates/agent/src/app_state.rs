//! The state every handler of one agent shares.

use crate::model_store::ModelStore;
use crate::serving::Serving;
use crate::synthetic::SyntheticLoad;
use crate::system_probe::SystemProbe;
use crate::upstream::Upstream;
use edgefleet_core::wire::{Metrics, RuntimeInfo};
use edgefleet_core::{Device, now_ms};
use edgefleet_optimize::Runtime;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Where live numbers come from.
#[derive(Debug)]
pub(crate) enum Probe {
    Real(Box<Mutex<SystemProbe>>),
    Synthetic(SyntheticLoad),
}

#[derive(Debug)]
pub(crate) struct AppState {
    pub device: Device,
    pub token: String,
    pub started: Instant,
    pub probe: Probe,
    pub store: ModelStore,
    pub serving: Serving,
    pub upstream: Option<Upstream>,
    pub default_threshold: f64,
    /// What loads, runs and benchmarks every model of this agent.
    pub runtime: Arc<dyn Runtime>,
    pub runtime_info: RuntimeInfo,
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
        m
    }
}
