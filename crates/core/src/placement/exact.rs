//! The exact placement: branch and bound over every assignment of a small
//! instance. It is the yardstick the heuristic is measured against.
//!
//! Items are tried biggest first (capacity prunes early) and each item's
//! bins cheapest first (good incumbents early). A branch is cut when its
//! lower bound — the unplaced so far plus the items that fit nowhere, then
//! the cost of the partial assignment (its queues as they stand) plus every
//! remaining item's cheapest cost alone on a bin — is no better than the
//! best placement found.

use super::problem::{BinLoad, Placement, PlacementError, PlacementProblem, objective_cmp};
use std::cmp::Ordering;

/// Largest number of models [`place_exact`] accepts.
pub const EXACT_MAX_ITEMS: usize = 8;
/// Largest number of devices [`place_exact`] accepts.
pub const EXACT_MAX_BINS: usize = 5;

/// The optimal placement by branch and bound (small instances only).
pub fn place_exact(problem: &PlacementProblem) -> Result<Placement, PlacementError> {
    problem.validate()?;
    let p = problem;
    let (n, k) = (p.items.len(), p.bins.len());
    if n > EXACT_MAX_ITEMS || k > EXACT_MAX_BINS {
        return Err(PlacementError::TooLarge {
            items: n,
            bins: k,
            max_items: EXACT_MAX_ITEMS,
            max_bins: EXACT_MAX_BINS,
        });
    }
    // Big items first prune capacity early; cheapest bins first find good
    // incumbents early.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| p.items[b].memory_mb.total_cmp(&p.items[a].memory_mb));
    let choices: Vec<Vec<(usize, f64)>> = order
        .iter()
        .map(|&i| {
            let mut c: Vec<(usize, f64)> = (0..k)
                .filter(|&b| p.fits(i, b, &BinLoad::default()))
                .filter_map(|b| p.pair_cost(i, b).map(|c| (b, c)))
                .collect();
            c.sort_by(|a, b| a.1.total_cmp(&b.1));
            c
        })
        .collect();
    // Lower bounds for the items from depth d on: forced-unplaced count and
    // Σ cheapest cost of the rest.
    let mut forced = vec![0usize; n + 1];
    let mut min_cost = vec![0.0; n + 1];
    for d in (0..n).rev() {
        match choices[d].first() {
            Some(&(_, c)) => {
                forced[d] = forced[d + 1];
                min_cost[d] = min_cost[d + 1] + c;
            }
            None => {
                forced[d] = forced[d + 1] + 1;
                min_cost[d] = min_cost[d + 1];
            }
        }
    }
    let mut search = Search {
        p,
        order: &order,
        choices: &choices,
        forced: &forced,
        min_cost: &min_cost,
        load: vec![BinLoad::default(); k],
        current: vec![None; n],
        best: vec![None; n],
        best_obj: (usize::MAX, f64::INFINITY),
    };
    search.dfs(0, 0);
    Ok(p.finish(search.best))
}

/// The branch-and-bound state: the fixed tables, the partial assignment
/// being explored and the best complete one so far.
struct Search<'a> {
    p: &'a PlacementProblem,
    order: &'a [usize],
    choices: &'a [Vec<(usize, f64)>],
    forced: &'a [usize],
    min_cost: &'a [f64],
    load: Vec<BinLoad>,
    current: Vec<Option<usize>>,
    best: Vec<Option<usize>>,
    best_obj: (usize, f64),
}

impl Search<'_> {
    /// `unplaced` items so far; the cost so far is that of the partial
    /// assignment with the loads it makes — a lower bound of what those
    /// items cost in any completion, since more items only lengthen queues.
    fn dfs(&mut self, depth: usize, unplaced: usize) {
        let cost = self.p.cost_with(&self.current, &self.load).unwrap_or(f64::INFINITY);
        let bound = (unplaced + self.forced[depth], cost + self.min_cost[depth]);
        if objective_cmp(bound, self.best_obj) != Ordering::Less {
            return;
        }
        if depth == self.order.len() {
            self.best_obj = (unplaced, cost);
            self.best.clone_from(&self.current);
            return;
        }
        let i = self.order[depth];
        for &(b, _) in &self.choices[depth] {
            if self.p.fits(i, b, &self.load[b]) {
                let l = self.p.load_of(i, b);
                self.add(b, l, 1.0);
                self.current[i] = Some(b);
                self.dfs(depth + 1, unplaced);
                self.current[i] = None;
                self.add(b, l, -1.0);
            }
        }
        self.dfs(depth + 1, unplaced + 1);
    }

    fn add(&mut self, b: usize, l: BinLoad, sign: f64) {
        let t = &mut self.load[b];
        t.memory_mb += sign * l.memory_mb;
        t.storage_gb += sign * l.storage_gb;
        t.utilisation += sign * l.utilisation;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::fixtures::problem;
    use crate::placement::place_heuristic;

    /// Every assignment, for checking the exact solver.
    fn brute_force(p: &PlacementProblem) -> (usize, f64) {
        let (n, k) = (p.items.len(), p.bins.len());
        let mut best = (usize::MAX, f64::INFINITY);
        let total = (k + 1).pow(n as u32);
        for code in 0..total {
            let mut c = code;
            let a: Vec<Option<usize>> = (0..n)
                .map(|_| {
                    let d = c % (k + 1);
                    c /= k + 1;
                    (d < k).then_some(d)
                })
                .collect();
            if let Some(cost) = p.evaluate(&a) {
                let obj = (a.iter().filter(|x| x.is_none()).count(), cost);
                if objective_cmp(obj, best) == Ordering::Less {
                    best = obj;
                }
            }
        }
        best
    }

    #[test]
    fn exact_matches_brute_force_on_fixed_instances() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as f64 / (1u64 << 31) as f64
        };
        for _ in 0..120 {
            let n = 1 + (next() * 6.0) as usize;
            let k = 1 + (next() * 4.0) as usize;
            let mem: Vec<f64> = (0..n).map(|_| (next() * 100.0).round()).collect();
            let prio: Vec<f64> = (0..n).map(|_| 1.0 + (next() * 4.0).round()).collect();
            let caps: Vec<f64> = (0..k).map(|_| (next() * 200.0).round()).collect();
            let lat =
                (0..n).map(|_| (0..k).map(|_| (next() > 0.2).then(|| (next() * 50.0).round())).collect()).collect();
            let mut p = problem(&mem, &prio, &caps, lat);
            // Half the instances also limit storage and serve requests:
            // utilisation up to ~1.5 a model, some bins already busy.
            if next() > 0.5 {
                for item in &mut p.items {
                    item.storage_gb = (next() * 4.0).round() / 2.0;
                    item.rate_per_s = (next() * 30.0).round();
                }
                for bin in &mut p.bins {
                    bin.storage_gb = Some((next() * 6.0).round());
                    bin.base_utilisation = (next() * 0.5 * 100.0).round() / 100.0;
                }
            }
            let e = place_exact(&p).unwrap();
            let want = brute_force(&p);
            assert_eq!(e.unplaced.len(), want.0, "{p:?}");
            assert!((e.cost - want.1).abs() < 1e-6, "{} vs {} for {p:?}", e.cost, want.1);
            let h = place_heuristic(&p).unwrap();
            assert!(p.evaluate(&h.assignment).is_some(), "heuristic broke a capacity: {h:?}");
            assert!(e.utilisation.iter().all(|&u| u < 1.0), "{e:?}");
            assert_ne!(e.compare(&h), Ordering::Greater);
        }
    }
}
