//! A model dropped on a selection (or a map cluster): the fit of that model
//! on every device of the group, summed up — how many fit, the smallest
//! max batch, the worst latency at batch 1, the misfits with their first
//! failing reason — and the rollout plan the user edits before Roll out.

use crate::app::fleet_model::FleetModel;
use edgefleet_core::{Fit, FitConfig, ModelProfile};
use edgefleet_fleet::RolloutPlan;

/// One device that does not fit, and why (the first failing reason).
#[derive(Debug, Clone, PartialEq)]
pub struct Misfit {
    pub device_id: String,
    pub name: String,
    pub reason: String,
}

/// The open group fit panel and its plan.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupFitView {
    pub card_id: i64,
    /// Devices the model fits, in selection order (canaries first).
    pub fits: Vec<String>,
    pub misfits: Vec<Misfit>,
    /// Smallest max batch among the devices it fits.
    pub min_max_batch: Option<u32>,
    /// Highest upper latency bound at batch 1 among the devices it fits,
    /// that device's name, and whether its estimate is calibrated.
    pub worst_latency_ms: Option<(f64, String)>,
    pub worst_is_calibrated: bool,
    /// Devices whose estimate is calibrated by benchmarks kept for them
    /// (the fit panel's calibration).
    pub calibrated: usize,
    /// The plan dialog's values.
    pub plan: RolloutPlan,
    /// The plan dialog is open (after "Roll out…").
    pub planning: bool,
}

impl GroupFitView {
    /// Estimate `profile` on each of `device_ids` (unknown ids are misfits).
    pub fn estimate(card_id: i64, profile: &ModelProfile, device_ids: &[String], fleet: &FleetModel) -> Self {
        let cfg = FitConfig::default();
        let mut view = GroupFitView {
            card_id,
            fits: Vec::new(),
            misfits: Vec::new(),
            min_max_batch: None,
            worst_latency_ms: None,
            worst_is_calibrated: false,
            calibrated: 0,
            plan: RolloutPlan { canary: 1.min(device_ids.len()), ..RolloutPlan::default() },
            planning: false,
        };
        for id in device_ids {
            let Some(entry) = fleet.get(id) else {
                view.misfits.push(Misfit { device_id: id.clone(), name: id.clone(), reason: "not known".into() });
                continue;
            };
            let (fit, calibrated) = entry.fit(profile, &cfg);
            view.calibrated += usize::from(calibrated);
            view.add(id, entry.device.display_name(), &fit, calibrated);
        }
        view
    }

    fn add(&mut self, id: &str, name: &str, fit: &Fit, calibrated: bool) {
        if !fit.compatible {
            let reason =
                fit.reasons.iter().find(|r| !r.ok).map_or_else(|| "does not fit".into(), |r| r.message.clone());
            self.misfits.push(Misfit { device_id: id.to_owned(), name: name.to_owned(), reason });
            return;
        }
        self.fits.push(id.to_owned());
        self.min_max_batch = Some(self.min_max_batch.map_or(fit.max_batch, |m| m.min(fit.max_batch)));
        if let Some(b1) = fit.per_batch.first() {
            let worse = self.worst_latency_ms.as_ref().is_none_or(|(ms, _)| b1.latency_ms.high > *ms);
            if worse {
                self.worst_latency_ms = Some((b1.latency_ms.high, name.to_owned()));
                self.worst_is_calibrated = calibrated;
            }
        }
    }

    /// The group's device ids, fits then misfits.
    pub fn device_ids(&self) -> Vec<String> {
        self.fits.iter().cloned().chain(self.misfits.iter().map(|m| m.device_id.clone())).collect()
    }

    /// Devices in the group.
    pub fn total(&self) -> usize {
        self.fits.len() + self.misfits.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgefleet_core::{Device, DeviceType};

    fn profile() -> ModelProfile {
        let text = include_str!("../../../assets/profiles/big_detector.json");
        serde_json::from_str(text).expect("the sample profile")
    }

    #[test]
    fn a_group_is_split_into_fits_and_misfits_with_reasons() {
        let mut fleet = FleetModel::default();
        fleet.upsert_device(Device::new("server", DeviceType::EdgeServer, 16, 65_536, 512.0));
        fleet.upsert_device(Device::new("sensor", DeviceType::IotSensor, 1, 64, 0.5));
        let ids = vec!["server".to_owned(), "sensor".to_owned(), "ghost".to_owned()];
        let view = GroupFitView::estimate(-1, &profile(), &ids, &fleet);
        assert_eq!(view.fits, ["server"]);
        assert_eq!(view.misfits.len(), 2);
        assert!(view.misfits.iter().all(|m| !m.reason.is_empty()));
        assert!(view.min_max_batch.is_some_and(|b| b >= 1));
        assert!(
            view.worst_latency_ms.as_ref().is_some_and(|(ms, id)| *ms > 0.0 && id == "server"),
            "{:?}",
            view.worst_latency_ms
        );
        assert_eq!(view.total(), 3);
        assert_eq!(view.calibrated, 0);
    }

    #[test]
    fn a_device_with_kept_benchmarks_is_estimated_calibrated() {
        use edgefleet_core::fit::BenchmarkRun;
        use edgefleet_core::wire::{BatchLatency, BenchmarkResponse};
        let mut fleet = FleetModel::default();
        let mut server = Device::new("server", DeviceType::EdgeServer, 16, 65_536, 512.0);
        server.gflops_per_thread = Some(50.0);
        server.call_overhead_ms = Some(0.01);
        fleet.upsert_device(server);
        let mut other = Device::new("other", DeviceType::EdgeServer, 16, 65_536, 512.0);
        other.gflops_per_thread = Some(500.0);
        fleet.upsert_device(other);
        let ids = vec!["server".to_owned(), "other".to_owned()];
        let p = profile();
        let plain = GroupFitView::estimate(-1, &p, &ids, &fleet);
        // The server ran this model far slower than its probe says: 4 s a sample.
        let bench = BenchmarkResponse {
            model: p.name.clone(),
            version: "1".into(),
            results: [1u32, 2, 4]
                .iter()
                .map(|&b| BatchLatency {
                    batch: b,
                    latency_ms_p50: 4000.0 * f64::from(b),
                    latency_ms_p90: 4400.0 * f64::from(b),
                    peak_mb: None,
                })
                .collect(),
            memory: None,
            synthetic: false,
        };
        let runs = std::collections::HashMap::from([("server".to_owned(), vec![BenchmarkRun::new(&p, &bench)])]);
        fleet.set_benchmark_runs(runs);
        let view = GroupFitView::estimate(-1, &p, &ids, &fleet);
        assert_eq!(view.calibrated, 1);
        let (ms, name) = view.worst_latency_ms.clone().expect("a worst latency");
        assert_eq!(name, "server");
        assert!(view.worst_is_calibrated);
        // Its own benchmark: the upper end is just above the measured 4 s
        // (uncalibrated it was 13 s).
        assert!((4000.0..4800.0).contains(&ms), "{ms}");
        assert_ne!(plain.worst_latency_ms, view.worst_latency_ms);
    }
}
