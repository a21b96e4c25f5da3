//! Architecture search by successive halving under a time budget.
//!
//! 1. Screening: every candidate is built, written and measured untrained —
//!    size, latency at batch 1 and the device's best batch, `estimate_fit` —
//!    since none of these depend on the weights. Candidates that miss a
//!    size, latency or fit limit are dropped before any training.
//! 2. Each survivor trains one epoch; if that alone would overrun the
//!    budget, the search stops with [`DistillError::BudgetTooSmall`].
//! 3. Rounds: the remaining time is split evenly over the rounds left and
//!    the survivors; each trains for its share (carrying on from where it
//!    stopped), is measured on the held-out rows, and the better half goes
//!    on. Candidates that already meet the agreement goal rank by size (the
//!    smallest first), the others by agreement.
//! 4. The Pareto front over (size, latency, agreement) of everything trained
//!    is reported, and the smallest candidate that meets every limit is
//!    chosen, written and measured like a single student (int8 optional).

use super::arch::Arch;
use super::data::Dataset;
use super::export::net_to_onnx;
use super::measure::{Goal, measure, predictions};
use super::net::Net;
use super::prepare::{Distilled, Prepared, finish, prepare, recipe, timed_batches};
use super::report::ModelFigures;
use super::teacher::Teacher;
use super::train::{Trainer, on_pool};
use super::{DistillConfig, DistillError, Progress, Result, Stage};
use crate::evaluate::Accuracy;
use crate::runner::Runner;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Budget used when the configuration gives none.
pub const DEFAULT_SEARCH_BUDGET: Duration = Duration::from_secs(60);

/// One architecture tried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateReport {
    pub arch: String,
    /// Size, latency and fit (measured at screening); accuracy when trained.
    pub figures: ModelFigures,
    /// Held-out agreement with the teacher at the last measurement.
    pub agreement: Option<Accuracy>,
    pub epochs: usize,
    /// Halving rounds it took part in (0: pruned before training).
    pub rounds: usize,
    /// The round after which it stopped training (it may still be chosen).
    pub dropped_after_round: Option<usize>,
    pub on_pareto_front: bool,
    pub meets_goal: bool,
    /// Why it was not chosen or not trained further, in plain words.
    pub rejected_because: Vec<String>,
}

/// The result of a search.
#[derive(Debug, Clone)]
pub struct SearchOutcome {
    /// Every candidate, smallest first.
    pub candidates: Vec<CandidateReport>,
    /// Index into `candidates` of the chosen one.
    pub chosen: Option<usize>,
    /// The chosen student, written and measured against the teacher.
    pub best: Option<Distilled>,
    pub rounds: usize,
    /// Wall time of screening, training and measuring.
    pub elapsed_ms: f64,
    pub budget_s: f64,
}

struct Cand {
    arch: Arch,
    figures: ModelFigures,
    trainer: Option<Trainer>,
    agreement: Option<Accuracy>,
    rounds: usize,
    dropped_after_round: Option<usize>,
    rejected: Vec<String>,
}

/// Rank for halving: candidates meeting the agreement goal first, smallest
/// first; then the rest by agreement.
fn rank_key(c: &Cand, goal: &Goal) -> (u8, f64, f64) {
    let agreement = c.agreement.map_or(0.0, |a| a.value);
    if agreement + 1e-12 >= goal.min_agreement {
        (0, c.figures.size_bytes as f64, c.figures.latency_ms_batch1())
    } else {
        (1, -agreement, c.figures.size_bytes as f64)
    }
}

fn cmp_rank(a: &Cand, b: &Cand, goal: &Goal) -> std::cmp::Ordering {
    let (ka, kb) = (rank_key(a, goal), rank_key(b, goal));
    ka.0.cmp(&kb.0).then(ka.1.total_cmp(&kb.1)).then(ka.2.total_cmp(&kb.2))
}

/// Whether `a` is at least as good as `b` everywhere (smaller, faster, more
/// in agreement) and better somewhere.
fn dominates(a: &CandidateReport, b: &CandidateReport) -> bool {
    let agree = |c: &CandidateReport| c.agreement.map_or(0.0, |a| a.value);
    let (sa, sb) = (a.figures.size_bytes, b.figures.size_bytes);
    let (la, lb) = (a.figures.latency_ms_batch1(), b.figures.latency_ms_batch1());
    sa <= sb && la <= lb && agree(a) >= agree(b) && (sa < sb || la < lb || agree(a) > agree(b))
}

/// Search student architectures (`space`, e.g. from
/// [`super::search_space`]) for the smallest that meets `goal`, within
/// `cfg.time_budget` (default one minute).
pub fn search_students(
    teacher: &Teacher,
    data: &Dataset,
    space: &[Arch],
    cfg: &DistillConfig,
    goal: &Goal,
    cancel: &AtomicBool,
    progress: &mut (dyn FnMut(&Progress) + Send),
) -> Result<SearchOutcome> {
    if space.is_empty() {
        return Err(DistillError::BadConfig("the search has no candidate architectures".into()));
    }
    for arch in space {
        arch.check_input(&teacher.sample_shape)?;
    }
    progress(&Progress {
        stage: Stage::Teacher,
        candidate: None,
        arch: String::new(),
        epoch: 0,
        fraction: 0.0,
        best: None,
    });
    let prep = prepare(teacher, data, cfg)?;
    let budget = cfg.time_budget.unwrap_or(DEFAULT_SEARCH_BUDGET);
    let start = Instant::now();
    let (mut cands, rounds) =
        on_pool(cfg.threads, || run_rounds(teacher, &prep, space, cfg, goal, budget, start, cancel, progress))??;
    let elapsed_ms = start.elapsed().as_secs_f64() * 1e3;

    let mut reports: Vec<CandidateReport> = cands
        .iter()
        .map(|c| {
            let mut rejected = c.rejected.clone();
            let agreement = c.agreement.map_or(0.0, |a| a.value);
            let misses = if c.trainer.is_some() { goal.misses(&c.figures, agreement) } else { Vec::new() };
            for m in misses {
                if !rejected.contains(&m) {
                    rejected.push(m);
                }
            }
            CandidateReport {
                arch: c.arch.to_string(),
                figures: c.figures.clone(),
                agreement: c.agreement,
                epochs: c.trainer.as_ref().map_or(0, |t| t.epochs_done),
                rounds: c.rounds,
                dropped_after_round: c.dropped_after_round,
                on_pareto_front: false,
                meets_goal: c.trainer.is_some() && c.agreement.is_some() && rejected.is_empty(),
                rejected_because: rejected,
            }
        })
        .collect();
    let trained: Vec<usize> = (0..reports.len()).filter(|&i| reports[i].agreement.is_some()).collect();
    for &i in &trained {
        reports[i].on_pareto_front = !trained.iter().any(|&j| j != i && dominates(&reports[j], &reports[i]));
    }
    let key = |r: &CandidateReport| (r.figures.size_bytes, r.figures.latency_ms_batch1());
    let pick = |front_only: bool| {
        (0..reports.len()).filter(|&i| reports[i].meets_goal && (!front_only || reports[i].on_pareto_front)).min_by(
            |&a, &b| {
                key(&reports[a]).0.cmp(&key(&reports[b]).0).then(key(&reports[a]).1.total_cmp(&key(&reports[b]).1))
            },
        )
    };
    let chosen = pick(true).or_else(|| pick(false));
    let best = match chosen {
        Some(i) => {
            let cand = &mut cands[i];
            let Some(trainer) = cand.trainer.take() else {
                return Err(DistillError::Training("the chosen candidate has no trained weights".into()));
            };
            let model = net_to_onnx(&trainer.net, &prep.io, &format!("{}_student", teacher.name))?;
            let rec = recipe(&cand.arch, trainer.epochs_done, data, cfg, false);
            let arch = cand.arch.to_string();
            let mut stage = |stage| {
                progress(&Progress {
                    stage,
                    candidate: None,
                    arch: arch.clone(),
                    epoch: trainer.epochs_done,
                    fraction: 1.0,
                    best: None,
                })
            };
            let mut out = finish(teacher, &prep, model, rec, goal, cfg, &mut stage)?;
            out.report.training_ms = elapsed_ms;
            out.report.final_loss = trainer.last_loss;
            out.report.stopped_by = if trainer.epochs_done >= cfg.epochs { "epochs" } else { "time budget" }.into();
            Some(out)
        }
        None => None,
    };
    progress(&Progress {
        stage: Stage::Done,
        candidate: None,
        arch: String::new(),
        epoch: 0,
        fraction: 1.0,
        best: None,
    });
    Ok(SearchOutcome { candidates: reports, chosen, best, rounds, elapsed_ms, budget_s: budget.as_secs_f64() })
}

/// Screening, the probe epoch and the halving rounds; returns the
/// candidates (trained ones keep their trainer) and the rounds run.
#[allow(clippy::too_many_arguments)]
fn run_rounds(
    teacher: &Teacher,
    prep: &Prepared,
    space: &[Arch],
    cfg: &DistillConfig,
    goal: &Goal,
    budget: Duration,
    start: Instant,
    cancel: &AtomicBool,
    progress: &mut (dyn FnMut(&Progress) + Send),
) -> Result<(Vec<Cand>, usize)> {
    let n = space.len();
    let fraction = |start: Instant| (start.elapsed().as_secs_f64() / budget.as_secs_f64()).min(1.0);
    let check = || if cancel.load(Ordering::Relaxed) { Err(DistillError::Cancelled) } else { Ok(()) };
    let mut cands = Vec::with_capacity(n);
    for (k, arch) in space.iter().enumerate() {
        check()?;
        progress(&Progress {
            stage: Stage::Screening,
            candidate: Some((k + 1, n)),
            arch: arch.to_string(),
            epoch: 0,
            fraction: fraction(start),
            best: None,
        });
        let net = Net::new(arch, &teacher.sample_shape, teacher.classes, cfg.seed.wrapping_add(k as u64))?;
        let model = net_to_onnx(&net, &prep.io, "candidate")?;
        let batches = timed_batches(&model, goal, cfg);
        let (figures, _) = measure(&model, &arch.to_string(), goal, &prep.held, &cfg.eval, &batches, false)?;
        let rejected = goal.static_misses(&figures);
        let trainer = if rejected.is_empty() { Some(Trainer::new(net, cfg)?) } else { None };
        cands.push(Cand {
            arch: arch.clone(),
            figures,
            trainer,
            agreement: None,
            rounds: 0,
            dropped_after_round: None,
            rejected,
        });
    }
    let mut alive: Vec<usize> = (0..n).filter(|&i| cands[i].trainer.is_some()).collect();
    if alive.is_empty() {
        return Ok((cands, 0));
    }
    // The probe epoch: one for each survivor, stopping as soon as the
    // budget clearly cannot hold them all.
    let screening_s = start.elapsed().as_secs_f64();
    let probing = Instant::now();
    for (done, &i) in alive.iter().enumerate() {
        check()?;
        let c = &mut cands[i];
        progress(&Progress {
            stage: Stage::Training,
            candidate: Some((i + 1, n)),
            arch: c.arch.to_string(),
            epoch: 1,
            fraction: fraction(start),
            best: None,
        });
        if let Some(t) = c.trainer.as_mut() {
            t.epoch(&prep.set, cfg)?;
        }
        let per_epoch = probing.elapsed().as_secs_f64() / (done + 1) as f64;
        let needed = screening_s + per_epoch * alive.len() as f64;
        if needed > budget.as_secs_f64() {
            return Err(DistillError::BudgetTooSmall {
                budget_s: budget.as_secs_f64(),
                needed_s: needed,
                what: format!("screening {n} candidates and one epoch of each of the {} that fit", alive.len()),
            });
        }
    }
    let rounds = (usize::BITS - (alive.len() - 1).leading_zeros()) as usize + 1;
    let mut best: Option<(String, f64)> = None;
    for round in 0..rounds {
        let left = budget.saturating_sub(start.elapsed());
        // Keep a little for measuring; each survivor gets an equal share.
        let share = left.mul_f64(0.9) / ((rounds - round) * alive.len()) as u32;
        for &i in &alive {
            let c = &mut cands[i];
            let Some(t) = c.trainer.as_mut() else { continue };
            let began = Instant::now();
            while t.epochs_done < cfg.epochs && began.elapsed() < share && start.elapsed() < budget {
                check()?;
                t.epoch(&prep.set, cfg)?;
                progress(&Progress {
                    stage: Stage::Training,
                    candidate: Some((i + 1, n)),
                    arch: c.arch.to_string(),
                    epoch: t.epochs_done,
                    fraction: fraction(start),
                    best: best.clone(),
                });
            }
            check()?;
            progress(&Progress {
                stage: Stage::Measuring,
                candidate: Some((i + 1, n)),
                arch: c.arch.to_string(),
                epoch: t.epochs_done,
                fraction: fraction(start),
                best: best.clone(),
            });
            let model = net_to_onnx(&t.net, &prep.io, "candidate")?;
            let runner = Runner::from_proto(model).map_err(DistillError::Student)?;
            let top1 = predictions(&runner, &prep.held.rows)?;
            let agree = top1.iter().zip(&prep.held.teacher_top1).filter(|(a, b)| a == b).count();
            c.agreement = Some(Accuracy::new(agree, top1.len()));
            c.figures.accuracy = prep
                .held
                .labels
                .as_ref()
                .map(|l| Accuracy::new(top1.iter().zip(l).filter(|(a, b)| a == b).count(), l.len()));
            c.rounds = round + 1;
        }
        alive.sort_by(|&a, &b| cmp_rank(&cands[a], &cands[b], goal));
        if let Some(&top) = alive.first() {
            best = Some((cands[top].arch.to_string(), cands[top].agreement.map_or(0.0, |a| a.value)));
        }
        if round + 1 == rounds || start.elapsed() >= budget {
            return Ok((cands, round + 1));
        }
        let keep = alive.len().div_ceil(2);
        for &i in &alive[keep..] {
            cands[i].dropped_after_round = Some(round + 1);
        }
        alive.truncate(keep);
    }
    Ok((cands, rounds))
}
