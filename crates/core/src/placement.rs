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
//! [`place_heuristic`] runs a greedy pass then local search (moves, swaps,
//! and "move one out to let an unplaced one in"); [`place_exact`] runs a
//! branch and bound for small instances and is the heuristic's yardstick.
//! Items that cannot be placed are reported with the reason, never dropped.

use crate::device::Device;
use crate::fit::{FitConfig, estimate_fit};
use crate::model::ModelProfile;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// Largest instance [`place_exact`] accepts.
pub const EXACT_MAX_ITEMS: usize = 8;
pub const EXACT_MAX_BINS: usize = 5;
/// Improvements smaller than this are rounding noise.
const EPS: f64 = 1e-9;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacementItem {
    pub name: String,
    /// Weight of this item's latency in the objective (≥ 0).
    pub priority: f64,
    pub memory_mb: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacementBin {
    pub device_id: String,
    pub capacity_mb: f64,
}

/// A placement problem. `latency_ms[i][b]` is `None` when item `i` cannot
/// run on bin `b`; `cost[i][b]` is added when it is placed there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacementProblem {
    pub items: Vec<PlacementItem>,
    pub bins: Vec<PlacementBin>,
    pub latency_ms: Vec<Vec<Option<f64>>>,
    pub cost: Vec<Vec<f64>>,
}

/// An item that was left out, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unplaced {
    pub item: usize,
    pub reason: String,
}

/// A solution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// Bin of each item, `None` when unplaced.
    pub assignment: Vec<Option<usize>>,
    /// Σ latency × priority + cost over placed items.
    pub cost: f64,
    pub unplaced: Vec<Unplaced>,
    /// Memory used on each bin.
    pub used_mb: Vec<f64>,
}

impl Placement {
    /// Lexicographic order of the objective: fewer unplaced, then cheaper.
    pub fn compare(&self, other: &Placement) -> Ordering {
        objective_cmp((self.unplaced.len(), self.cost), (other.unplaced.len(), other.cost))
    }
}

/// Why a problem was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlacementError {
    #[error("placement table `{table}` has {got} rows/columns where {want} were expected")]
    Shape { table: &'static str, want: usize, got: usize },
    #[error("placement value `{field}` of entry {index} must be a finite number ≥ 0, got {value}")]
    BadValue { field: &'static str, index: usize, value: f64 },
    #[error("exact placement handles at most {max_items} models × {max_bins} devices, got {items} × {bins}")]
    TooLarge { items: usize, bins: usize, max_items: usize, max_bins: usize },
}

fn objective_cmp(a: (usize, f64), b: (usize, f64)) -> Ordering {
    a.0.cmp(&b.0).then(if (a.1 - b.1).abs() <= EPS * (1.0 + a.1.abs().max(b.1.abs())) {
        Ordering::Equal
    } else {
        a.1.total_cmp(&b.1)
    })
}

impl PlacementProblem {
    /// Build a problem from the fit estimator: a model can go on a device
    /// when `estimate_fit` says compatible; its latency there is the
    /// midpoint of the batch-1 range; its memory need is memory(1); a
    /// device's capacity is `mem_fit_fraction` of its free memory; placing
    /// anything on device `b` costs `device_cost[b]`.
    pub fn from_fits(
        models: &[ModelProfile],
        priorities: &[f64],
        devices: &[Device],
        device_cost: &[f64],
        cfg: &FitConfig,
    ) -> Result<Self, PlacementError> {
        if priorities.len() != models.len() {
            return Err(PlacementError::Shape { table: "priorities", want: models.len(), got: priorities.len() });
        }
        if device_cost.len() != devices.len() {
            return Err(PlacementError::Shape { table: "device_cost", want: devices.len(), got: device_cost.len() });
        }
        let mut items = Vec::with_capacity(models.len());
        let mut latency_ms = Vec::with_capacity(models.len());
        for (m, &priority) in models.iter().zip(priorities) {
            let fits: Vec<_> = devices.iter().map(|d| estimate_fit(m, d, cfg)).collect();
            let memory_mb = match fits.first() {
                Some(f) => f.memory_at_batch1_mb,
                None => 0.0,
            };
            latency_ms.push(
                fits.iter().map(|f| f.per_batch.first().filter(|_| f.compatible).map(|b| b.latency_ms.mid())).collect(),
            );
            items.push(PlacementItem { name: m.name.clone(), priority, memory_mb });
        }
        let bins = devices
            .iter()
            .map(|d| PlacementBin {
                device_id: d.device_id.clone(),
                capacity_mb: cfg.mem_fit_fraction * d.effective_free_memory_mb() as f64,
            })
            .collect();
        let cost = vec![device_cost.to_vec(); models.len()];
        let p = PlacementProblem { items, bins, latency_ms, cost };
        p.validate()?;
        Ok(p)
    }

    /// Check table shapes and that every number is finite and ≥ 0.
    pub fn validate(&self) -> Result<(), PlacementError> {
        let (n, k) = (self.items.len(), self.bins.len());
        let check = |field, index, value: f64| {
            if value.is_finite() && value >= 0.0 {
                Ok(())
            } else {
                Err(PlacementError::BadValue { field, index, value })
            }
        };
        for (table, rows) in [("latency_ms", self.latency_ms.len()), ("cost", self.cost.len())] {
            if rows != n {
                return Err(PlacementError::Shape { table, want: n, got: rows });
            }
        }
        for (i, item) in self.items.iter().enumerate() {
            check("priority", i, item.priority)?;
            check("memory_mb", i, item.memory_mb)?;
            if self.latency_ms[i].len() != k {
                return Err(PlacementError::Shape { table: "latency_ms", want: k, got: self.latency_ms[i].len() });
            }
            if self.cost[i].len() != k {
                return Err(PlacementError::Shape { table: "cost", want: k, got: self.cost[i].len() });
            }
            for b in 0..k {
                if let Some(l) = self.latency_ms[i][b] {
                    check("latency_ms", i, l)?;
                }
                check("cost", i, self.cost[i][b])?;
            }
        }
        for (b, bin) in self.bins.iter().enumerate() {
            check("capacity_mb", b, bin.capacity_mb)?;
        }
        Ok(())
    }

    /// latency × priority + cost of item `i` on bin `b`, or `None` when it
    /// cannot run there.
    pub fn pair_cost(&self, i: usize, b: usize) -> Option<f64> {
        self.latency_ms[i][b].map(|l| l * self.items[i].priority + self.cost[i][b])
    }

    /// Cost of an assignment, or `None` when it breaks a constraint.
    pub fn evaluate(&self, assignment: &[Option<usize>]) -> Option<f64> {
        if assignment.len() != self.items.len() {
            return None;
        }
        let mut used = vec![0.0; self.bins.len()];
        let mut cost = 0.0;
        for (i, a) in assignment.iter().enumerate() {
            if let Some(b) = *a {
                if b >= used.len() {
                    return None;
                }
                cost += self.pair_cost(i, b)?;
                used[b] += self.items[i].memory_mb;
            }
        }
        let fits = used.iter().zip(&self.bins).all(|(u, bin)| *u <= bin.capacity_mb + EPS);
        fits.then_some(cost)
    }

    fn finish(&self, assignment: Vec<Option<usize>>) -> Placement {
        let mut used_mb = vec![0.0; self.bins.len()];
        let mut cost = 0.0;
        for (i, a) in assignment.iter().enumerate() {
            if let Some(b) = *a {
                used_mb[b] += self.items[i].memory_mb;
                cost += self.pair_cost(i, b).unwrap_or(0.0);
            }
        }
        let unplaced = assignment
            .iter()
            .enumerate()
            .filter(|(_, a)| a.is_none())
            .map(|(i, _)| Unplaced { item: i, reason: self.unplaced_reason(i, &used_mb) })
            .collect();
        Placement { assignment, cost, unplaced, used_mb }
    }

    fn unplaced_reason(&self, i: usize, used_mb: &[f64]) -> String {
        let item = &self.items[i];
        let runnable: Vec<usize> = (0..self.bins.len()).filter(|&b| self.latency_ms[i][b].is_some()).collect();
        if runnable.is_empty() {
            return format!(
                "`{}` can run on none of the {} devices (the fit estimator refused every one)",
                item.name,
                self.bins.len()
            );
        }
        let biggest = runnable.iter().map(|&b| self.bins[b].capacity_mb).fold(0.0, f64::max);
        if item.memory_mb > biggest + EPS {
            return format!(
                "`{}` needs {:.1} MB; the largest device it can run on has room for {:.1} MB",
                item.name, item.memory_mb, biggest
            );
        }
        let (best_bin, most_left) = runnable
            .iter()
            .map(|&b| (b, self.bins[b].capacity_mb - used_mb[b]))
            .fold((runnable[0], f64::NEG_INFINITY), |acc, x| if x.1 > acc.1 { x } else { acc });
        format!(
            "`{}` needs {:.1} MB; after placing the others the most room left on a device it can run on is {:.1} MB ({})",
            item.name, item.memory_mb, most_left, self.bins[best_bin].device_id
        )
    }
}

/// Greedy placement followed by local search.
pub fn place_heuristic(problem: &PlacementProblem) -> Result<Placement, PlacementError> {
    problem.validate()?;
    let p = problem;
    let (n, k) = (p.items.len(), p.bins.len());
    let mut assignment: Vec<Option<usize>> = vec![None; n];
    let mut used = vec![0.0; k];
    let room = |used: &[f64], b: usize, extra: f64| used[b] + extra <= p.bins[b].capacity_mb + EPS;

    // Greedy: most important (then biggest) first, each to its cheapest bin with room.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        p.items[b].priority.total_cmp(&p.items[a].priority).then(p.items[b].memory_mb.total_cmp(&p.items[a].memory_mb))
    });
    for &i in &order {
        if let Some(b) = cheapest_bin(p, i, |b| room(&used, b, p.items[i].memory_mb), None) {
            assignment[i] = Some(b);
            used[b] += p.items[i].memory_mb;
        }
    }

    // Local search until nothing improves (bounded: every step strictly
    // improves the lexicographic objective).
    let mut improved = true;
    let mut rounds = 0;
    while improved && rounds < 10_000 {
        improved = false;
        rounds += 1;
        // Unplaced items into any bin with room, or by moving one item out.
        for u in 0..n {
            if assignment[u].is_some() {
                continue;
            }
            let mem_u = p.items[u].memory_mb;
            if let Some(b) = cheapest_bin(p, u, |b| room(&used, b, mem_u), None) {
                assignment[u] = Some(b);
                used[b] += mem_u;
                improved = true;
                continue;
            }
            'eject: for b in 0..k {
                if p.latency_ms[u][b].is_none() {
                    continue;
                }
                for i in 0..n {
                    if assignment[i] != Some(b) || used[b] - p.items[i].memory_mb + mem_u > p.bins[b].capacity_mb + EPS
                    {
                        continue;
                    }
                    if let Some(b2) = cheapest_bin(p, i, |b2| room(&used, b2, p.items[i].memory_mb), Some(b)) {
                        used[b] -= p.items[i].memory_mb;
                        used[b2] += p.items[i].memory_mb;
                        assignment[i] = Some(b2);
                        used[b] += mem_u;
                        assignment[u] = Some(b);
                        improved = true;
                        break 'eject;
                    }
                }
            }
        }
        // Moves.
        for (i, slot) in assignment.iter_mut().enumerate() {
            let Some(cur) = *slot else { continue };
            let Some(now) = p.pair_cost(i, cur) else { continue };
            let mem = p.items[i].memory_mb;
            if let Some(b) = cheapest_bin(p, i, |b| room(&used, b, mem), Some(cur))
                && p.pair_cost(i, b).is_some_and(|c| c < now - EPS)
            {
                used[cur] -= mem;
                used[b] += mem;
                *slot = Some(b);
                improved = true;
            }
        }
        // Swaps.
        for i in 0..n {
            for j in (i + 1)..n {
                let (Some(bi), Some(bj)) = (assignment[i], assignment[j]) else { continue };
                if bi == bj {
                    continue;
                }
                let (Some(ci), Some(cj), Some(ci2), Some(cj2)) =
                    (p.pair_cost(i, bi), p.pair_cost(j, bj), p.pair_cost(i, bj), p.pair_cost(j, bi))
                else {
                    continue;
                };
                let (mi, mj) = (p.items[i].memory_mb, p.items[j].memory_mb);
                let fits = used[bi] - mi + mj <= p.bins[bi].capacity_mb + EPS
                    && used[bj] - mj + mi <= p.bins[bj].capacity_mb + EPS;
                if fits && ci2 + cj2 < ci + cj - EPS {
                    used[bi] += mj - mi;
                    used[bj] += mi - mj;
                    assignment[i] = Some(bj);
                    assignment[j] = Some(bi);
                    improved = true;
                }
            }
        }
    }
    Ok(p.finish(assignment))
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
                .filter(|&b| p.items[i].memory_mb <= p.bins[b].capacity_mb + EPS)
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
        used: vec![0.0; k],
        current: vec![None; n],
        best: vec![None; n],
        best_obj: (usize::MAX, f64::INFINITY),
    };
    search.dfs(0, 0, 0.0);
    Ok(p.finish(search.best))
}

struct Search<'a> {
    p: &'a PlacementProblem,
    order: &'a [usize],
    choices: &'a [Vec<(usize, f64)>],
    forced: &'a [usize],
    min_cost: &'a [f64],
    used: Vec<f64>,
    current: Vec<Option<usize>>,
    best: Vec<Option<usize>>,
    best_obj: (usize, f64),
}

impl Search<'_> {
    fn dfs(&mut self, depth: usize, unplaced: usize, cost: f64) {
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
        let mem = self.p.items[i].memory_mb;
        for &(b, c) in &self.choices[depth] {
            if self.used[b] + mem <= self.p.bins[b].capacity_mb + EPS {
                self.used[b] += mem;
                self.current[i] = Some(b);
                self.dfs(depth + 1, unplaced, cost + c);
                self.current[i] = None;
                self.used[b] -= mem;
            }
        }
        self.dfs(depth + 1, unplaced + 1, cost);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::DeviceType;

    fn problem(mem: &[f64], prio: &[f64], caps: &[f64], lat: Vec<Vec<Option<f64>>>) -> PlacementProblem {
        PlacementProblem {
            items: mem
                .iter()
                .zip(prio)
                .enumerate()
                .map(|(i, (&m, &p))| PlacementItem { name: format!("m{i}"), priority: p, memory_mb: m })
                .collect(),
            bins: caps
                .iter()
                .enumerate()
                .map(|(b, &c)| PlacementBin { device_id: format!("d{b}"), capacity_mb: c })
                .collect(),
            cost: vec![vec![0.0; caps.len()]; mem.len()],
            latency_ms: lat,
        }
    }

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
    fn exact_matches_brute_force_on_fixed_instances() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as f64 / (1u64 << 31) as f64
        };
        for _ in 0..40 {
            let n = 1 + (next() * 6.0) as usize;
            let k = 1 + (next() * 4.0) as usize;
            let mem: Vec<f64> = (0..n).map(|_| (next() * 100.0).round()).collect();
            let prio: Vec<f64> = (0..n).map(|_| 1.0 + (next() * 4.0).round()).collect();
            let caps: Vec<f64> = (0..k).map(|_| (next() * 200.0).round()).collect();
            let lat =
                (0..n).map(|_| (0..k).map(|_| (next() > 0.2).then(|| (next() * 50.0).round())).collect()).collect();
            let p = problem(&mem, &prio, &caps, lat);
            let e = place_exact(&p).unwrap();
            let want = brute_force(&p);
            assert_eq!(e.unplaced.len(), want.0, "{p:?}");
            assert!((e.cost - want.1).abs() < 1e-6, "{} vs {} for {p:?}", e.cost, want.1);
            let h = place_heuristic(&p).unwrap();
            assert!(p.evaluate(&h.assignment).is_some(), "heuristic broke a capacity: {h:?}");
            assert_ne!(e.compare(&h), Ordering::Greater);
        }
    }

    #[test]
    fn unplaceable_items_are_reported_with_reasons() {
        let p = problem(
            &[10.0, 500.0, 50.0, 50.0],
            &[1.0, 1.0, 1.0, 1.0],
            &[100.0],
            vec![vec![None], vec![Some(1.0)], vec![Some(1.0)], vec![Some(1.0)]],
        );
        for solution in [place_heuristic(&p).unwrap(), place_exact(&p).unwrap()] {
            let reasons: Vec<&str> = solution.unplaced.iter().map(|u| u.reason.as_str()).collect();
            assert_eq!(solution.unplaced.len(), 2, "{reasons:?}");
            assert!(reasons[0].contains("none of the 1 devices"), "{reasons:?}");
            assert!(reasons[1].contains("needs 500.0 MB") && reasons[1].contains("100.0 MB"), "{reasons:?}");
            assert_eq!(solution.assignment[2..], [Some(0), Some(0)]);
        }
        let p = problem(&[60.0, 60.0], &[1.0, 1.0], &[100.0], vec![vec![Some(1.0)], vec![Some(1.0)]]);
        let h = place_heuristic(&p).unwrap();
        assert_eq!(h.unplaced.len(), 1);
        assert!(h.unplaced[0].reason.contains("40.0 MB (d0)"), "{}", h.unplaced[0].reason);
    }

    #[test]
    fn bad_problems_are_refused() {
        let mut p = problem(&[1.0], &[1.0], &[10.0], vec![vec![Some(1.0)]]);
        p.items[0].priority = f64::NAN;
        assert!(matches!(place_heuristic(&p), Err(PlacementError::BadValue { field: "priority", .. })));
        let p = problem(&[1.0], &[1.0], &[10.0], vec![vec![Some(1.0), Some(2.0)]]);
        assert!(matches!(place_exact(&p), Err(PlacementError::Shape { .. })));
        let p = problem(&[1.0; 9], &[1.0; 9], &[10.0], vec![vec![Some(1.0)]; 9]);
        assert!(matches!(place_exact(&p), Err(PlacementError::TooLarge { .. })));
        assert!(place_heuristic(&p).is_ok());
    }

    #[test]
    fn from_fits_uses_the_estimator() {
        let tiny = ModelProfile {
            name: "tiny".into(),
            params: 1000,
            weights_bytes: 4000,
            file_bytes: 4000,
            flops_per_sample: 2_000_000,
            peak_activation_bytes_per_sample: 512,
            ops: vec!["Gemm".into()],
            opset: None,
            inputs: vec![],
            outputs: vec![],
            target_device_types: vec![],
            accuracy: None,
        };
        let huge = ModelProfile { name: "huge".into(), weights_bytes: 400 * 1024 * 1024, ..tiny.clone() };
        let devices = vec![
            Device::new("sensor", DeviceType::IotSensor, 1, 256, 1.0),
            Device::new("server", DeviceType::EdgeServer, 16, 32768, 500.0),
        ];
        let p = PlacementProblem::from_fits(
            &[tiny.clone(), huge],
            &[1.0, 2.0],
            &devices,
            &[0.0, 5.0],
            &FitConfig::default(),
        )
        .unwrap();
        assert!(p.latency_ms[1][0].is_none() && p.latency_ms[1][1].is_some());
        assert!((p.bins[0].capacity_mb - 204.8).abs() < 1e-9);
        let e = place_exact(&p).unwrap();
        assert_eq!(e.assignment, vec![Some(0), Some(1)]);
        assert!(PlacementProblem::from_fits(&[tiny], &[], &devices, &[0.0, 0.0], &FitConfig::default()).is_err());
    }
}
