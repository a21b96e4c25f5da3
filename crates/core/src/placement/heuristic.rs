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

use super::problem::{EPS, Placement, PlacementError, PlacementProblem};

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

/// A placement being built: the bin of each item and the memory used on
/// each bin, kept in step.
struct Draft<'a> {
    p: &'a PlacementProblem,
    assignment: Vec<Option<usize>>,
    used: Vec<f64>,
}

impl<'a> Draft<'a> {
    fn empty(p: &'a PlacementProblem) -> Self {
        Draft { p, assignment: vec![None; p.items.len()], used: vec![0.0; p.bins.len()] }
    }

    /// Bin `b` can take `extra_mb` more.
    fn has_room(&self, b: usize, extra_mb: f64) -> bool {
        self.used[b] + extra_mb <= self.p.bins[b].capacity_mb + EPS
    }

    /// Put unplaced item `i` on the cheapest bin it runs on with room; false
    /// when there is none.
    fn insert(&mut self, i: usize) -> bool {
        let mem = self.p.items[i].memory_mb;
        match cheapest_bin(self.p, i, |b| self.has_room(b, mem), None) {
            Some(b) => {
                self.assignment[i] = Some(b);
                self.used[b] += mem;
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
    let mem_u = p.items[u].memory_mb;
    for b in 0..p.bins.len() {
        if p.latency_ms[u][b].is_none() {
            continue;
        }
        for i in 0..p.items.len() {
            if draft.assignment[i] != Some(b)
                || draft.used[b] - p.items[i].memory_mb + mem_u > p.bins[b].capacity_mb + EPS
            {
                continue;
            }
            if let Some(b2) = cheapest_bin(p, i, |b2| draft.has_room(b2, p.items[i].memory_mb), Some(b)) {
                draft.used[b] -= p.items[i].memory_mb;
                draft.used[b2] += p.items[i].memory_mb;
                draft.assignment[i] = Some(b2);
                draft.used[b] += mem_u;
                draft.assignment[u] = Some(b);
                return true;
            }
        }
    }
    false
}

/// Each placed item to a cheaper bin with room. True when any moved.
fn move_to_cheaper(draft: &mut Draft) -> bool {
    let p = draft.p;
    let mut improved = false;
    for i in 0..p.items.len() {
        let Some(cur) = draft.assignment[i] else { continue };
        let Some(now) = p.pair_cost(i, cur) else { continue };
        let mem = p.items[i].memory_mb;
        if let Some(b) = cheapest_bin(p, i, |b| draft.has_room(b, mem), Some(cur))
            && p.pair_cost(i, b).is_some_and(|c| c < now - EPS)
        {
            draft.used[cur] -= mem;
            draft.used[b] += mem;
            draft.assignment[i] = Some(b);
            improved = true;
        }
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
            let (Some(ci), Some(cj), Some(ci2), Some(cj2)) =
                (p.pair_cost(i, bi), p.pair_cost(j, bj), p.pair_cost(i, bj), p.pair_cost(j, bi))
            else {
                continue;
            };
            let (mi, mj) = (p.items[i].memory_mb, p.items[j].memory_mb);
            let fits = draft.used[bi] - mi + mj <= p.bins[bi].capacity_mb + EPS
                && draft.used[bj] - mj + mi <= p.bins[bj].capacity_mb + EPS;
            if fits && ci2 + cj2 < ci + cj - EPS {
                draft.used[bi] += mj - mi;
                draft.used[bj] += mi - mj;
                draft.assignment[i] = Some(bj);
                draft.assignment[j] = Some(bi);
                improved = true;
            }
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
        assert_eq!(d.used, vec![80.0, 60.0]);
        assert!(!move_to_cheaper(&mut d) && !swap_pairs(&mut d));

        // A placed item moves to a cheaper bin with room.
        let p = problem(&[10.0], &[1.0], &[100.0, 100.0], vec![vec![Some(5.0), Some(1.0)]]);
        let mut d = Draft { assignment: vec![Some(0)], used: vec![10.0, 0.0], ..Draft::empty(&p) };
        assert!(move_to_cheaper(&mut d));
        assert_eq!((d.assignment, d.used), (vec![Some(1)], vec![0.0, 10.0]));

        // Two full bins trade their items when that is cheaper.
        let p = problem(
            &[50.0, 50.0],
            &[1.0, 1.0],
            &[50.0, 50.0],
            vec![vec![Some(9.0), Some(1.0)], vec![Some(1.0), Some(9.0)]],
        );
        let mut d = Draft { assignment: vec![Some(0), Some(1)], used: vec![50.0, 50.0], ..Draft::empty(&p) };
        assert!(!move_to_cheaper(&mut d));
        assert!(swap_pairs(&mut d));
        assert_eq!(d.assignment, vec![Some(1), Some(0)]);
    }
}
