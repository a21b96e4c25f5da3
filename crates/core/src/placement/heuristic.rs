//! The placement heuristic, for fleets of any size: a greedy pass, then
//! local search until no step improves the objective.
//!
//! Stages, each its own function:
//!
//! 1. [`greedy_assign`] — most important (then biggest) item first, each to
//!    the cheapest bin with room.
//! 2. [`improve`] — rounds of local search, each running in turn
//!    - [`place_unplaced`]: an unplaced item into a bin with room, or into a
//!      full bin after moving one of that bin's items elsewhere;
//!    - [`move_to_cheaper`]: a placed item to a cheaper bin with room;
//!    - [`swap_pairs`]: two items on different bins trade places when that
//!      is cheaper and both fit;
//!
//!    until a round changes nothing. Every step strictly improves the
//!    lexicographic objective, so this ends; [`MAX_ROUNDS`] is a backstop.

use super::problem::{BinLoad, EPS, Placement, PlacementError, PlacementProblem};

/// Upper bound on local-search rounds.
const MAX_ROUNDS: usize = 10_000;

/// Greedy placement followed by local search.
pub fn place_heuristic(problem: &PlacementProblem) -> Result<Placement, PlacementError> {
    problem.validate()?;
    let mut draft = Draft::empty(problem);
    greedy_assign(&mut draft);
    improve(&mut draft);
    Ok(problem.finish(draft.assignment))
}

/// A placement being built: the bin of each item and what the items take
/// on each bin, kept in step.
struct Draft<'a> {
    p: &'a PlacementProblem,
    assignment: Vec<Option<usize>>,
    load: Vec<BinLoad>,
}

impl<'a> Draft<'a> {
    fn empty(p: &'a PlacementProblem) -> Self {
        Draft { p, assignment: vec![None; p.items.len()], load: vec![BinLoad::default(); p.bins.len()] }
    }

    #[cfg(test)]
    fn with(p: &'a PlacementProblem, assignment: Vec<Option<usize>>) -> Self {
        let load = p.loads(&assignment).unwrap_or_default();
        Draft { p, assignment, load }
    }

    #[cfg(test)]
    fn used_mb(&self) -> Vec<f64> {
        self.load.iter().map(|l| l.memory_mb).collect()
    }

    /// Bin `b` can also take item `i` (memory, storage, a draining queue).
    fn has_room(&self, b: usize, i: usize) -> bool {
        self.p.fits(i, b, &self.load[b])
    }

    fn put(&mut self, i: usize, b: usize) {
        let l = self.p.load_of(i, b);
        let t = &mut self.load[b];
        t.memory_mb += l.memory_mb;
        t.storage_gb += l.storage_gb;
        t.utilisation += l.utilisation;
        self.assignment[i] = Some(b);
    }

    fn take(&mut self, i: usize) {
        if let Some(b) = self.assignment[i].take() {
            let l = self.p.load_of(i, b);
            let t = &mut self.load[b];
            t.memory_mb -= l.memory_mb;
            t.storage_gb -= l.storage_gb;
            t.utilisation -= l.utilisation;
        }
    }

    /// The objective's cost part now (every placed item's queued latency).
    fn cost(&self) -> f64 {
        self.p.cost_with(&self.assignment, &self.load).unwrap_or(f64::INFINITY)
    }

    /// Put unplaced item `i` on the cheapest bin it runs on with room; false
    /// when there is none.
    fn insert(&mut self, i: usize) -> bool {
        match cheapest_bin(self.p, i, |b| self.has_room(b, i), None) {
            Some(b) => {
                self.put(i, b);
                true
            }
            None => false,
        }
    }
}

/// Stage 1: most important (then biggest) first, each to its cheapest bin
/// with room.
fn greedy_assign(draft: &mut Draft) {
    let p = draft.p;
    let mut order: Vec<usize> = (0..p.items.len()).collect();
    order.sort_by(|&a, &b| {
        p.items[b].priority.total_cmp(&p.items[a].priority).then(p.items[b].memory_mb.total_cmp(&p.items[a].memory_mb))
    });
    for &i in &order {
        draft.insert(i);
    }
}

/// Stage 2: local search rounds until one changes nothing.
fn improve(draft: &mut Draft) {
    let mut improved = true;
    let mut rounds = 0;
    while improved && rounds < MAX_ROUNDS {
        rounds += 1;
        // Every step runs each round, even after an earlier one improved.
        let placed = place_unplaced(draft);
        let moved = move_to_cheaper(draft);
        let swapped = swap_pairs(draft);
        improved = placed || moved || swapped;
    }
}

/// Unplaced items into any bin with room, or by moving one item out of a
/// bin to make room. True when anything was placed.
fn place_unplaced(draft: &mut Draft) -> bool {
    let mut improved = false;
    for u in 0..draft.p.items.len() {
        if draft.assignment[u].is_some() {
            continue;
        }
        if draft.insert(u) || eject_one_for(draft, u) {
            improved = true;
        }
    }
    improved
}

/// Place unplaced item `u` on a bin it runs on by moving one of that bin's
/// items to another bin with room. True when it worked.
fn eject_one_for(draft: &mut Draft, u: usize) -> bool {
    let p = draft.p;
    for b in 0..p.bins.len() {
        if p.latency_ms[u][b].is_none() {
            continue;
        }
        for i in 0..p.items.len() {
            if draft.assignment[i] != Some(b) {
                continue;
            }
            draft.take(i);
            if draft.has_room(b, u) {
                draft.put(u, b);
                if let Some(b2) = cheapest_bin(p, i, |b2| draft.has_room(b2, i), Some(b)) {
                    draft.put(i, b2);
                    return true;
                }
                draft.take(u);
            }
            draft.put(i, b);
        }
    }
    false
}

/// Each placed item to a bin with room where the whole objective is
/// cheaper (its queue and the others' both counted). True when any moved.
fn move_to_cheaper(draft: &mut Draft) -> bool {
    let p = draft.p;
    let mut improved = false;
    for i in 0..p.items.len() {
        let Some(cur) = draft.assignment[i] else { continue };
        let now = draft.cost();
        let mut best: Option<(usize, f64)> = None;
        draft.take(i);
        for b in (0..p.bins.len()).filter(|&b| b != cur) {
            if draft.has_room(b, i) {
                draft.put(i, b);
                let c = draft.cost();
                if c < now - EPS * (1.0 + now.abs()) && best.is_none_or(|(_, bc)| c < bc) {
                    best = Some((b, c));
                }
                draft.take(i);
            }
        }
        draft.put(i, best.map_or(cur, |(b, _)| b));
        improved |= best.is_some();
    }
    improved
}

/// Two items on different bins trade places when that is cheaper and both
/// still fit. True when any pair swapped.
fn swap_pairs(draft: &mut Draft) -> bool {
    let p = draft.p;
    let n = p.items.len();
    let mut improved = false;
    for i in 0..n {
        for j in (i + 1)..n {
            let (Some(bi), Some(bj)) = (draft.assignment[i], draft.assignment[j]) else { continue };
            if bi == bj {
                continue;
            }
            let now = draft.cost();
            draft.take(i);
            draft.take(j);
            let fits = draft.has_room(bj, i) && {
                draft.put(i, bj);
                let ok = draft.has_room(bi, j);
                draft.take(i);
                ok
            };
            if fits {
                draft.put(i, bj);
                draft.put(j, bi);
                if draft.cost() < now - EPS * (1.0 + now.abs()) {
                    improved = true;
                    continue;
                }
                draft.take(i);
                draft.take(j);
            }
            draft.put(i, bi);
            draft.put(j, bj);
        }
    }
    improved
}

/// The cheapest bin item `i` can run on among those `allowed`, skipping `except`.
fn cheapest_bin(
    p: &PlacementProblem,
    i: usize,
    allowed: impl Fn(usize) -> bool,
    except: Option<usize>,
) -> Option<usize> {
    (0..p.bins.len())
        .filter(|&b| Some(b) != except && allowed(b))
        .filter_map(|b| p.pair_cost(i, b).map(|c| (b, c)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(b, _)| b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::fixtures::problem;
    use crate::placement::place_exact;

    #[test]
    fn greedy_trap_is_fixed_by_local_search_and_matches_exact() {
        // Item 0 (high priority) grabs the fast device greedily; item 1 then
        // fits nowhere else. Moving item 0 lets both be placed.
        let p = problem(
            &[60.0, 80.0],
            &[2.0, 1.0],
            &[100.0, 70.0],
            vec![vec![Some(1.0), Some(2.0)], vec![Some(1.0), None]],
        );
        let h = place_heuristic(&p).unwrap();
        let e = place_exact(&p).unwrap();
        assert_eq!(e.assignment, vec![Some(1), Some(0)]);
        assert_eq!(h.assignment, e.assignment);
        assert!(h.unplaced.is_empty());
        assert!((e.cost - 5.0).abs() < 1e-12);
        assert_eq!(e.used_mb, vec![80.0, 60.0]);
    }

    #[test]
    fn each_stage_does_its_one_step() {
        // Greedy alone leaves item 1 out (item 0 took the only bin it runs on).
        let p = problem(
            &[60.0, 80.0],
            &[2.0, 1.0],
            &[100.0, 70.0],
            vec![vec![Some(1.0), Some(2.0)], vec![Some(1.0), None]],
        );
        let mut d = Draft::empty(&p);
        greedy_assign(&mut d);
        assert_eq!(d.assignment, vec![Some(0), None]);
        // Ejecting item 0 to bin 1 lets item 1 in.
        assert!(place_unplaced(&mut d));
        assert_eq!(d.assignment, vec![Some(1), Some(0)]);
        assert_eq!(d.used_mb(), vec![80.0, 60.0]);
        assert!(!move_to_cheaper(&mut d) && !swap_pairs(&mut d));

        // A placed item moves to a cheaper bin with room.
        let p = problem(&[10.0], &[1.0], &[100.0, 100.0], vec![vec![Some(5.0), Some(1.0)]]);
        let mut d = Draft::with(&p, vec![Some(0)]);
        assert!(move_to_cheaper(&mut d));
        assert_eq!((d.assignment.clone(), d.used_mb()), (vec![Some(1)], vec![0.0, 10.0]));

        // Two full bins trade their items when that is cheaper.
        let p = problem(
            &[50.0, 50.0],
            &[1.0, 1.0],
            &[50.0, 50.0],
            vec![vec![Some(9.0), Some(1.0)], vec![Some(1.0), Some(9.0)]],
        );
        let mut d = Draft::with(&p, vec![Some(0), Some(1)]);
        assert!(!move_to_cheaper(&mut d));
        assert!(swap_pairs(&mut d));
        assert_eq!(d.assignment, vec![Some(1), Some(0)]);
    }
}
