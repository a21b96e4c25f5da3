//! Placement: which model goes on which device.
//!
//! Each item (a model) has a priority and a memory need; each bin (a device)
//! has a memory capacity; each (item, bin) pair has a latency from the fit
//! estimator (or none when the model cannot run there) and a cost. A
//! placement minimises, lexicographically,
//!
//! 1. the number of items left unplaced, then
//! 2. Σ over placed items of latency × priority + cost,
//!
//! subject to the memory of the items on each bin fitting its capacity.
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
