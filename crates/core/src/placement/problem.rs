//! The placement problem: models with priorities and memory needs (items),
//! devices with memory capacities (bins), and what each model costs on each
//! device; how a problem is built from the fit estimator, checked, and how
//! an assignment is scored and reported.

use crate::device::Device;
use crate::fit::{FitConfig, estimate_fit};
use crate::model::ModelProfile;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// Improvements smaller than this are rounding noise.
pub(super) const EPS: f64 = 1e-9;

/// A model to place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacementItem {
    pub name: String,
    /// Weight of this item's latency in the objective (≥ 0).
    pub priority: f64,
    pub memory_mb: f64,
}

/// A device to place models on.
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

/// Compare two (unplaced count, cost) objectives: fewer unplaced first,
/// then cheaper, costs within rounding noise counting as equal.
pub(super) fn objective_cmp(a: (usize, f64), b: (usize, f64)) -> Ordering {
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

    /// The [`Placement`] of a feasible assignment: its cost, the memory
    /// used per bin, and every unplaced item with the reason.
    pub(super) fn finish(&self, assignment: Vec<Option<usize>>) -> Placement {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::DeviceType;
    use crate::placement::fixtures::problem;
    use crate::placement::{place_exact, place_heuristic};

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
            work: Default::default(),
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
