//! The "Plan placement" window's model: which library models are chosen
//! and with what priority, whether the plan covers the selected devices or
//! the whole fleet, the plan the engine answered (or why it could not), and
//! the deploy job started from it.

use edgefleet_fleet::{JobId, PlacementPlan};
use std::collections::BTreeMap;

/// A model's place in the plan request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelChoice {
    pub chosen: bool,
    /// Weight of this model's latency in the objective (≥ 0).
    pub priority: f64,
    /// Requests per second it will serve (0: latency only).
    pub rate_per_s: f64,
}

impl Default for ModelChoice {
    fn default() -> Self {
        ModelChoice { chosen: false, priority: 1.0, rate_per_s: 0.0 }
    }
}

/// Which devices the plan may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceScope {
    /// Every device the console knows.
    #[default]
    All,
    /// The devices selected in the list or on the map.
    Selection,
}

/// The open "Plan placement" window.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlacementView {
    /// Per library card id.
    pub models: BTreeMap<i64, ModelChoice>,
    pub scope: DeviceScope,
    pub plan: Option<PlacementPlan>,
    /// Why the last plan could not be made.
    pub error: Option<String>,
    pub deploy_job: Option<JobId>,
    /// Price of a kWh (each model's energy per hour at its rate is a cost).
    pub energy_price_per_kwh: f64,
    /// A device's own cost per hour of hosting a model, by device id.
    pub device_cost_per_hour: BTreeMap<String, f64>,
}

impl PlacementView {
    /// The chosen cards with their priorities, in card order.
    pub fn chosen(&self) -> Vec<(i64, f64)> {
        self.models.iter().filter(|(_, c)| c.chosen).map(|(&id, c)| (id, c.priority)).collect()
    }

    /// The request rate chosen for a card (0 unless edited).
    pub fn rate_of(&self, card_id: i64) -> f64 {
        self.models.get(&card_id).map_or(0.0, |c| c.rate_per_s)
    }

    /// The choice for a card (unchosen, priority 1 until edited).
    pub fn choice_mut(&mut self, card_id: i64) -> &mut ModelChoice {
        self.models.entry(card_id).or_default()
    }

    /// A new plan replaces the old one (and its error).
    pub fn set_plan(&mut self, plan: Result<PlacementPlan, String>) {
        match plan {
            Ok(p) => {
                self.plan = Some(p);
                self.error = None;
            }
            Err(e) => {
                self.plan = None;
                self.error = Some(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_chosen_models_with_their_priorities_are_requested() {
        let mut v = PlacementView::default();
        v.choice_mut(3).chosen = true;
        v.choice_mut(3).priority = 2.5;
        v.choice_mut(1).priority = 9.0;
        v.choice_mut(2).chosen = true;
        assert_eq!(v.chosen(), vec![(2, 1.0), (3, 2.5)]);
        v.set_plan(Err("no devices".into()));
        assert_eq!(v.error.as_deref(), Some("no devices"));
    }
}
