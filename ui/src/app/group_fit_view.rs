//! A model dropped on a selection (or a map cluster): the fit of that model
//! on every device of the group, summed up — how many fit, the smallest
//! max batch, the worst latency at batch 1, the misfits with their first
//! failing reason — and the rollout plan the user edits before Roll out.

use crate::app::fleet_model::FleetModel;
use edgefleet_core::{Fit, FitConfig, ModelProfile, estimate_fit};
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
    /// and that device's name.
    pub worst_latency_ms: Option<(f64, String)>,
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
            plan: RolloutPlan { canary: 1.min(device_ids.len()), ..RolloutPlan::default() },
            planning: false,
        };
        for id in device_ids {
            let Some(entry) = fleet.get(id) else {
                view.misfits.push(Misfit { device_id: id.clone(), name: id.clone(), reason: "not known".into() });
                continue;
            };
            let fit = estimate_fit(profile, &entry.live_device(), &cfg);
            view.add(id, entry.device.display_name(), &fit);
        }
        view
    }

    fn add(&mut self, id: &str, name: &str, fit: &Fit) {
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
            }
        }
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
    }
}
