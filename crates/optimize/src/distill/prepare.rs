//! Shared set-up of a run (check the rows against the teacher, run the
//! teacher, split, build the training tensors) and [`distill`], which
//! trains one given architecture and measures it against the teacher.

use super::arch::Arch;
use super::data::Dataset;
use super::export::{StudentIo, net_to_onnx};
use super::measure::{Goal, HeldOut, measure, teacher_figures};
use super::net::Net;
use super::report::{DistillReport, ModelFigures, Recipe};
use super::teacher::Teacher;
use super::train::{TrainSet, Trainer, on_pool};
use super::{DistillConfig, DistillError, Progress, Result, Stage};
use crate::evaluate::Accuracy;
use edgefleet_core::OptimizationKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tract_onnx::pb;

/// Fewest rows a run accepts (a few to hold out, the rest to train on).
pub const MIN_ROWS: usize = 10;

/// Everything a run needs before training.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub set: TrainSet,
    pub held: HeldOut,
    pub io: StudentIo,
    pub train_rows: usize,
}

/// Check the inputs, run the teacher on every row and split them.
pub(crate) fn prepare(teacher: &Teacher, data: &Dataset, cfg: &DistillConfig) -> Result<Prepared> {
    cfg.validate()?;
    data.check_fits(teacher.features(), teacher.classes)?;
    if data.len() < MIN_ROWS {
        return Err(DistillError::TooFewRows {
            source_name: data.source_name.clone(),
            rows: data.len(),
            needed: MIN_ROWS,
        });
    }
    let outputs = teacher.outputs(&data.rows)?;
    let (train, held) = data.split(cfg.held_out_fraction, cfg.seed);
    let rows: Vec<&[f32]> = train.iter().map(|&i| data.rows[i].as_slice()).collect();
    let logits: Vec<&[f32]> = train.iter().map(|&i| outputs.logits[i].as_slice()).collect();
    let labels: Option<Vec<usize>> = data.labels.as_ref().map(|l| train.iter().map(|&i| l[i]).collect());
    let set = TrainSet::new(&rows, &logits, labels.as_deref(), cfg.temperature)?;
    let held = HeldOut {
        rows: held.iter().map(|&i| data.rows[i].clone()).collect(),
        teacher_top1: held.iter().map(|&i| outputs.top1[i]).collect(),
        labels: data.labels.as_ref().map(|l| held.iter().map(|&i| l[i]).collect()),
    };
    let io = StudentIo {
        input_name: teacher.input_name.clone(),
        sample_shape: teacher.sample_shape.clone(),
        output_name: teacher.output_name.clone(),
        classes: teacher.classes,
        softmax: outputs.probabilities,
    };
    Ok(Prepared { set, held, io, train_rows: train.len() })
}

/// A trained student: its ONNX model and the measurements.
#[derive(Debug, Clone)]
pub struct Distilled {
    pub model: pb::ModelProto,
    pub report: DistillReport,
}

/// The batches timed: 1 and the device's best (or the configured large one).
pub(crate) fn timed_batches(model: &pb::ModelProto, goal: &Goal, cfg: &DistillConfig) -> Vec<usize> {
    let large = super::measure::best_batch(model, goal.device.as_ref()).unwrap_or(cfg.eval.large_batch).max(1);
    if large == 1 { vec![1] } else { vec![1, large] }
}

/// Train one student of architecture `arch` from `teacher` on `data`, up to
/// `cfg.epochs` epochs or the time budget, then write and measure it.
pub fn distill(
    teacher: &Teacher,
    data: &Dataset,
    arch: &Arch,
    cfg: &DistillConfig,
    goal: &Goal,
    cancel: &AtomicBool,
    progress: &mut (dyn FnMut(&Progress) + Send),
) -> Result<Distilled> {
    arch.check_input(&teacher.sample_shape)?;
    let mut report = |stage, epoch, fraction| {
        progress(&Progress { stage, candidate: None, arch: arch.to_string(), epoch, fraction, best: None })
    };
    report(Stage::Teacher, 0, 0.0);
    let prep = prepare(teacher, data, cfg)?;
    let start = Instant::now();
    let trainer = on_pool(cfg.threads, || -> Result<Trainer> {
        let net = Net::new(arch, &teacher.sample_shape, teacher.classes, cfg.seed)?;
        let mut trainer = Trainer::new(net, cfg)?;
        for epoch in 1..=cfg.epochs {
            if cancel.load(Ordering::Relaxed) {
                return Err(DistillError::Cancelled);
            }
            trainer.epoch(&prep.set, cfg)?;
            let elapsed = start.elapsed();
            if epoch == 1
                && let Some(budget) = cfg.time_budget
                && elapsed > budget
            {
                return Err(DistillError::BudgetTooSmall {
                    budget_s: budget.as_secs_f64(),
                    needed_s: elapsed.as_secs_f64(),
                    what: format!("one epoch of {arch}"),
                });
            }
            let by_time = cfg.time_budget.map_or(0.0, |b| elapsed.as_secs_f64() / b.as_secs_f64());
            report(Stage::Training, epoch, by_time.max(epoch as f64 / cfg.epochs as f64).min(1.0));
            if cfg.time_budget.is_some_and(|b| elapsed >= b) {
                break;
            }
        }
        Ok(trainer)
    })??;
    let training_ms = start.elapsed().as_secs_f64() * 1e3;
    report(Stage::Measuring, trainer.epochs_done, 1.0);
    let model = net_to_onnx(&trainer.net, &prep.io, &format!("{}_student", teacher.name))?;
    let stopped_by = if trainer.epochs_done < cfg.epochs { "time budget" } else { "epochs" };
    let recipe = recipe(arch, trainer.epochs_done, data, cfg, false);
    let out = finish(teacher, &prep, model, recipe, goal, cfg, &mut |s| report(s, trainer.epochs_done, 1.0))?;
    let mut out = out;
    out.report.training_ms = training_ms;
    out.report.final_loss = trainer.last_loss;
    out.report.stopped_by = stopped_by.into();
    report(Stage::Done, trainer.epochs_done, 1.0);
    Ok(out)
}

pub(crate) fn recipe(arch: &Arch, epochs: usize, data: &Dataset, cfg: &DistillConfig, int8: bool) -> Recipe {
    Recipe {
        arch: arch.to_string(),
        temperature: cfg.temperature,
        epochs,
        data_file: data.source_name.clone(),
        data_sha256: data.sha256.clone(),
        labels: data.labels.is_some() && cfg.hard_weight > 0.0,
        held_out_fraction: cfg.held_out_fraction,
        seed: cfg.seed,
        learning_rate: cfg.learning_rate,
        batch_size: cfg.batch_size,
        soft_weight: cfg.soft_weight,
        hard_weight: cfg.hard_weight,
        int8,
    }
}

/// Measure a trained student and the teacher the same way, chain int8 when
/// asked (kept only if it still meets the agreement goal), and fill in the
/// report (training fields are left for the caller).
pub(crate) fn finish(
    teacher: &Teacher,
    prep: &Prepared,
    model: pb::ModelProto,
    mut recipe: Recipe,
    goal: &Goal,
    cfg: &DistillConfig,
    stage: &mut dyn FnMut(Stage),
) -> Result<Distilled> {
    let batches = timed_batches(&model, goal, cfg);
    let (mut student, agreement) = measure(&model, &recipe.arch, goal, &prep.held, &cfg.eval, &batches, true)?;
    let mut agreement = agreement.unwrap_or_else(|| Accuracy::new(0, 0));
    let mut model = model;
    let mut before_int8 = None;
    let mut notes = Vec::new();
    if goal.int8 {
        stage(Stage::Int8);
        let quantized =
            crate::transform::apply_recipe(&model, &[OptimizationKind::Int8]).map_err(DistillError::Student)?;
        let name = format!("{} int8", recipe.arch);
        let (figures, q_agreement) = measure(&quantized, &name, goal, &prep.held, &cfg.eval, &batches, true)?;
        let q_agreement = q_agreement.unwrap_or_else(|| Accuracy::new(0, 0));
        if q_agreement.value + 1e-12 >= goal.min_agreement {
            before_int8 = Some((std::mem::replace(&mut student, figures), agreement));
            agreement = q_agreement;
            model = quantized;
            recipe.int8 = true;
        } else {
            notes.push(format!(
                "int8 dropped: its agreement {:.2}% is below {:.2}%; the float student is kept",
                q_agreement.value * 100.0,
                goal.min_agreement * 100.0
            ));
        }
    }
    let teacher_fig: ModelFigures = teacher_figures(teacher, goal, &prep.held, &cfg.eval, &batches)?;
    let misses = goal.misses(&student, agreement.value);
    notes.extend(misses.iter().map(|m| format!("misses the goal: {m}")));
    let report = DistillReport {
        runtime: teacher.runner().runtime_label().to_owned(),
        teacher: teacher_fig,
        student,
        agreement,
        before_int8,
        recipe,
        train_rows: prep.train_rows,
        held_out_rows: prep.held.rows.len(),
        training_ms: 0.0,
        final_loss: 0.0,
        stopped_by: String::new(),
        meets_goal: misses.is_empty(),
        notes,
    };
    Ok(Distilled { model, report })
}
