//! The placement problem: models with priorities, request rates and
//! memory and storage needs (items), devices with memory and storage
//! capacities and the load they already carry (bins), and what each model
//! costs on each device; how a problem is built from the fit estimator,
//! checked, and how an assignment is scored and reported.
//!
//! A device serves its models' requests on one inference thread, an M/M/1
//! queue: model `i` on device `b` keeps it busy `rate_i × service_ib` of the
//! time (its utilisation); the device's utilisation ρ_b is what it already
//! carries plus the sum over its models, and must stay below 1 (a queue at
//! ρ ≥ 1 grows without end). A model's latency there is its service time ÷
//! (1 − ρ_b): waiting behind every model of that device is counted.

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
    /// Its file on the device's storage, GB.
    #[serde(default)]
    pub storage_gb: f64,
    /// Requests per second it will serve (0: latency only, no load).
    #[serde(default)]
    pub rate_per_s: f64,
}

/// A device to place models on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacementBin {
    pub device_id: String,
    pub capacity_mb: f64,
    /// Storage the models may take, GB (`None`: not limited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_gb: Option<f64>,
    /// Utilisation of its inference thread before anything is placed (the
    /// requests it already serves), in 0..1.
    #[serde(default)]
    pub base_utilisation: f64,
}

/// A queue at or above this utilisation never drains: no placement may
/// reach it.
pub const MAX_UTILISATION: f64 = 1.0;

/// What the items on one bin take, kept in step with an assignment.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(super) struct BinLoad {
    pub memory_mb: f64,
    pub storage_gb: f64,
    pub utilisation: f64,
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
    /// Utilisation of each bin's inference thread, what it carried before
    /// included.
    #[serde(default)]
    pub utilisation: Vec<f64>,
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
            items.push(PlacementItem {
                name: m.name.clone(),
                priority,
                memory_mb,
                storage_gb: m.storage_bytes() as f64 / crate::fit::BYTES_PER_GB,
                rate_per_s: 0.0,
            });
        }
        let bins = devices
            .iter()
            .map(|d| PlacementBin {
                device_id: d.device_id.clone(),
                capacity_mb: cfg.mem_fit_fraction * d.effective_free_memory_mb() as f64,
                storage_gb: Some(cfg.storage_fraction * d.effective_free_storage_gb().max(0.0)),
                base_utilisation: 0.0,
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
            check("storage_gb", i, item.storage_gb)?;
            check("rate_per_s", i, item.rate_per_s)?;
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
            if let Some(gb) = bin.storage_gb {
                check("storage_gb", b, gb)?;
            }
            if !(bin.base_utilisation.is_finite() && (0.0..MAX_UTILISATION).contains(&bin.base_utilisation)) {
                return Err(PlacementError::BadValue {
                    field: "base_utilisation",
                    index: b,
                    value: bin.base_utilisation,
                });
            }
        }
        Ok(())
    }

    /// How busy item `i` keeps bin `b`'s inference thread: requests per
    /// second × service time (0 when it cannot run there).
    pub fn utilisation(&self, i: usize, b: usize) -> f64 {
        self.latency_ms[i][b].map_or(0.0, |l| self.items[i].rate_per_s * l / 1000.0)
    }

    /// Whether bin `b`, carrying `load`, can also take item `i`: memory,
    /// storage and a queue that still drains.
    pub(super) fn fits(&self, i: usize, b: usize, load: &BinLoad) -> bool {
        let (item, bin) = (&self.items[i], &self.bins[b]);
        self.latency_ms[i][b].is_some()
            && load.memory_mb + item.memory_mb <= bin.capacity_mb + EPS
            && bin.storage_gb.is_none_or(|cap| load.storage_gb + item.storage_gb <= cap + EPS)
            && bin.base_utilisation + load.utilisation + self.utilisation(i, b) < MAX_UTILISATION
    }

    /// The load of item `i` on bin `b`.
    pub(super) fn load_of(&self, i: usize, b: usize) -> BinLoad {
        BinLoad {
            memory_mb: self.items[i].memory_mb,
            storage_gb: self.items[i].storage_gb,
            utilisation: self.utilisation(i, b),
        }
    }

    /// The loads of an assignment (`None` when it names a bin that is not there).
    pub(super) fn loads(&self, assignment: &[Option<usize>]) -> Option<Vec<BinLoad>> {
        let mut loads = vec![BinLoad::default(); self.bins.len()];
        for (i, a) in assignment.iter().enumerate() {
            if let Some(b) = *a {
                if b >= loads.len() {
                    return None;
                }
                let l = self.load_of(i, b);
                let t = &mut loads[b];
                t.memory_mb += l.memory_mb;
                t.storage_gb += l.storage_gb;
                t.utilisation += l.utilisation;
            }
        }
        Some(loads)
    }

    /// Latency of item `i` on bin `b` whose inference thread is
    /// `utilisation` busy in all: M/M/1, service ÷ (1 − ρ).
    pub fn queued_latency_ms(&self, i: usize, b: usize, utilisation: f64) -> Option<f64> {
        let service = self.latency_ms[i][b]?;
        (utilisation < MAX_UTILISATION).then(|| service / (1.0 - utilisation))
    }

    /// The cost of the placed items given the bins' loads: Σ priority ×
    /// queued latency + cost.
    pub(super) fn cost_with(&self, assignment: &[Option<usize>], loads: &[BinLoad]) -> Option<f64> {
        let mut cost = 0.0;
        for (i, a) in assignment.iter().enumerate() {
            if let Some(b) = *a {
                let rho = self.bins[b].base_utilisation + loads[b].utilisation;
                cost += self.queued_latency_ms(i, b, rho)? * self.items[i].priority + self.cost[i][b];
            }
        }
        Some(cost)
    }

    /// A lower bound of item `i`'s share of the objective on bin `b` —
    /// priority × its latency with the bin carrying only what it carried
    /// before and this item, + cost — or `None` when it cannot run there
    /// (or alone would overload it). Other items on the bin only add to it.
    pub fn pair_cost(&self, i: usize, b: usize) -> Option<f64> {
        let rho = self.bins[b].base_utilisation + self.utilisation(i, b);
        self.queued_latency_ms(i, b, rho).map(|l| l * self.items[i].priority + self.cost[i][b])
    }

    /// Cost of an assignment, or `None` when it breaks a constraint
    /// (memory, storage, or a queue that would not drain).
    pub fn evaluate(&self, assignment: &[Option<usize>]) -> Option<f64> {
        if assignment.len() != self.items.len() {
            return None;
        }
        let loads = self.loads(assignment)?;
        for (b, (load, bin)) in loads.iter().zip(&self.bins).enumerate() {
            let placed_here = assignment.iter().enumerate().filter(|(_, a)| **a == Some(b));
            let runs = placed_here.clone().all(|(i, _)| self.latency_ms[i][b].is_some());
            let fits = load.memory_mb <= bin.capacity_mb + EPS
                && bin.storage_gb.is_none_or(|cap| load.storage_gb <= cap + EPS)
                && bin.base_utilisation + load.utilisation < MAX_UTILISATION;
            if !(runs && fits) {
                return None;
            }
        }
        self.cost_with(assignment, &loads)
    }

    /// The [`Placement`] of a feasible assignment: its cost, the memory
    /// used and utilisation per bin, and every unplaced item with the reason.
    pub(super) fn finish(&self, assignment: Vec<Option<usize>>) -> Placement {
        let loads = self.loads(&assignment).unwrap_or_else(|| vec![BinLoad::default(); self.bins.len()]);
        let cost = self.cost_with(&assignment, &loads).unwrap_or(f64::INFINITY);
        let unplaced = assignment
            .iter()
            .enumerate()
            .filter(|(_, a)| a.is_none())
            .map(|(i, _)| Unplaced { item: i, reason: self.unplaced_reason(i, &loads) })
            .collect();
        let used_mb = loads.iter().map(|l| l.memory_mb).collect();
        let utilisation = loads.iter().zip(&self.bins).map(|(l, bin)| bin.base_utilisation + l.utilisation).collect();
        Placement { assignment, cost, unplaced, used_mb, utilisation }
    }

    fn unplaced_reason(&self, i: usize, loads: &[BinLoad]) -> String {
        let item = &self.items[i];
        let runnable: Vec<usize> = (0..self.bins.len()).filter(|&b| self.latency_ms[i][b].is_some()).collect();
        if runnable.is_empty() {
            return format!(
                "`{}` can run on none of the {} devices (the fit estimator refused every one)",
                item.name,
                self.bins.len()
            );
        }
        // What stops it on each device it runs on, the first check failing.
        let mut why = Vec::new();
        for &b in &runnable {
            let (bin, load) = (&self.bins[b], &loads[b]);
            let rho = bin.base_utilisation + load.utilisation + self.utilisation(i, b);
            let reason = if item.memory_mb > bin.capacity_mb + EPS {
                format!("needs {:.1} MB, it has room for {:.1} MB", item.memory_mb, bin.capacity_mb)
            } else if load.memory_mb + item.memory_mb > bin.capacity_mb + EPS {
                format!(
                    "needs {:.1} MB; after placing the others {:.1} MB is left",
                    item.memory_mb,
                    bin.capacity_mb - load.memory_mb
                )
            } else if bin.storage_gb.is_some_and(|cap| load.storage_gb + item.storage_gb > cap + EPS) {
                format!(
                    "its file needs {:.3} GB of storage, {:.3} GB is left",
                    item.storage_gb,
                    bin.storage_gb.unwrap_or(0.0) - load.storage_gb
                )
            } else if rho >= MAX_UTILISATION {
                format!(
                    "at {:.1} requests/s it would keep the device {:.0}% busy (with what it already serves): \
                     the queue would never drain",
                    item.rate_per_s,
                    rho * 100.0
                )
            } else {
                "a better use of it was found for another model".to_owned()
            };
            why.push(format!("{}: {reason}", bin.device_id));
        }
        format!("`{}` fits no device it can run on — {}", item.name, why.join("; "))
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
        assert!(
            h.unplaced[0].reason.contains("d0: needs 60.0 MB; after placing the others 40.0 MB is left"),
            "{}",
            h.unplaced[0].reason
        );
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

    #[test]
    fn a_device_whose_queue_would_not_drain_is_refused_and_queues_count_in_the_cost() {
        // Two models at 30 requests/s of 20 ms each: 60% busy apiece. Both
        // on one device would be 120%: one goes to the slower device.
        let mut p = problem(&[10.0, 10.0], &[1.0, 1.0], &[100.0, 100.0], vec![vec![Some(20.0), Some(30.0)]; 2]);
        for item in &mut p.items {
            item.rate_per_s = 30.0;
        }
        assert_eq!(p.evaluate(&[Some(0), Some(0)]), None, "120% busy");
        let e = place_exact(&p).unwrap();
        let h = place_heuristic(&p).unwrap();
        assert!(e.unplaced.is_empty() && h.unplaced.is_empty());
        assert_ne!(e.assignment[0], e.assignment[1]);
        // 20 ms at 60% busy waits 20 / 0.4 = 50 ms; 30 ms at 90% busy 300 ms.
        assert!((e.cost - (50.0 + 300.0)).abs() < 1e-9, "{}", e.cost);
        assert!((e.utilisation[0] - 0.6).abs() < 1e-12 && (e.utilisation[1] - 0.9).abs() < 1e-12);
        assert_eq!(h.compare(&e), std::cmp::Ordering::Equal);
        // A device already 50% busy cannot take a 60% model.
        p.bins[0].base_utilisation = 0.5;
        p.bins[1].base_utilisation = 0.5;
        let e = place_exact(&p).unwrap();
        assert_eq!(e.unplaced.len(), 2);
        assert!(e.unplaced[0].reason.contains("the queue would never drain"), "{}", e.unplaced[0].reason);
        // Storage: a 3 GB file on a device with 2 GB for models.
        let mut p = problem(&[10.0], &[1.0], &[100.0], vec![vec![Some(1.0)]]);
        p.items[0].storage_gb = 3.0;
        p.bins[0].storage_gb = Some(2.0);
        let e = place_heuristic(&p).unwrap();
        assert!(e.unplaced[0].reason.contains("3.000 GB of storage"), "{}", e.unplaced[0].reason);
    }
}
