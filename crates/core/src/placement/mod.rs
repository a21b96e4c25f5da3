//! Placement: which model goes on which device.
//!
//! Each item (a model) has a priority, a memory and a storage need and a
//! request rate; each bin (a device) has memory and storage capacities and
//! the utilisation its inference thread already carries; each (item, bin)
//! pair has a service time from the fit estimator (or none when the model
//! cannot run there) and a cost. A placement minimises, lexicographically,
//!
//! 1. the number of items left unplaced, then
//! 2. Σ over placed items of queued latency × priority + cost, the queued
//!    latency being M/M/1 on the bin: service ÷ (1 − ρ), ρ the bin's
//!    utilisation with every item on it (rate × service time each),
//!
//! subject to the memory and the storage of the items on each bin fitting
//! its capacities and ρ < 1 on every bin (a queue that never drains).
//! Items that cannot be placed are reported with the reason, never dropped.
//!
//! - `problem`: the [`PlacementProblem`] (built by hand or
//!   [`PlacementProblem::from_fits`]), its checks and scoring, and the
//!   [`Placement`] answer;
//! - `heuristic`: [`place_heuristic`], a greedy pass then local search
//!   (place the unplaced, move to cheaper, swap), for any size;
//! - `exact`: [`place_exact`], branch and bound for small instances
//!   (≤ [`EXACT_MAX_ITEMS`] × [`EXACT_MAX_BINS`]), the heuristic's yardstick.

mod exact;
#[cfg(test)]
mod fixtures;
mod heuristic;
mod problem;

pub use exact::{EXACT_MAX_BINS, EXACT_MAX_ITEMS, place_exact};
pub use heuristic::place_heuristic;
pub use problem::{Placement, PlacementBin, PlacementError, PlacementItem, PlacementProblem, Unplaced};
