//! Small placement problems the unit tests share.

use super::problem::{PlacementBin, PlacementItem, PlacementProblem};

/// Items `m0, m1, …` with these memory needs and priorities, bins
/// `d0, d1, …` with these capacities, the given latencies and no cost.
pub(crate) fn problem(mem: &[f64], prio: &[f64], caps: &[f64], lat: Vec<Vec<Option<f64>>>) -> PlacementProblem {
    PlacementProblem {
        items: mem
            .iter()
            .zip(prio)
            .enumerate()
            .map(|(i, (&m, &p))| PlacementItem {
                name: format!("m{i}"),
                priority: p,
                memory_mb: m,
                storage_gb: 0.0,
                rate_per_s: 0.0,
            })
            .collect(),
        bins: caps
            .iter()
            .enumerate()
            .map(|(b, &c)| PlacementBin {
                device_id: format!("d{b}"),
                capacity_mb: c,
                storage_gb: None,
                base_utilisation: 0.0,
            })
            .collect(),
        cost: vec![vec![0.0; caps.len()]; mem.len()],
        latency_ms: lat,
    }
}
