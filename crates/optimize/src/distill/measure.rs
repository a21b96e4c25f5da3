//! Measuring a written student (or the teacher) the way every model is
//! measured: loaded from its ONNX by the project's runtime, run on the
//! held-out rows (agreement with the teacher and accuracy, with Wilson
//! intervals), timed at batch 1 and at the device's best batch, profiled by
//! `inspect` and fitted to the device with `estimate_fit`.

use super::report::ModelFigures;
use super::{DistillError, Result};
use crate::evaluate::{Accuracy, EvalConfig, predict_all, time_batch};
use crate::inspect::inspect_model;
use crate::proto::encode_model;
use crate::runner::{Runner, top_class};
use edgefleet_core::{Device, FitConfig, estimate_fit};
use serde::{Deserialize, Serialize};
use tract_onnx::pb;

/// What the chosen student must satisfy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Goal {
    /// The device to fit (`estimate_fit`) and whose best batch is timed.
    pub device: Option<Device>,
    /// Largest p50 latency at batch 1 on the project's runtime.
    pub max_latency_ms: Option<f64>,
    /// Largest file size.
    pub max_size_bytes: Option<u64>,
    /// Smallest held-out top-1 agreement with the teacher.
    pub min_agreement: f64,
    /// Quantize the student to int8 after training (kept when it still
    /// meets `min_agreement`).
    pub int8: bool,
}

impl Default for Goal {
    fn default() -> Self {
        Goal { device: None, max_latency_ms: None, max_size_bytes: None, min_agreement: 0.95, int8: false }
    }
}

impl Goal {
    /// The limits a model misses on size, latency and fit (not agreement,
    /// which training can still change).
    pub fn static_misses(&self, f: &ModelFigures) -> Vec<String> {
        let mut why = Vec::new();
        if let Some(max) = self.max_latency_ms
            && f.latency_ms_batch1() > max
        {
            why.push(format!("latency {:.3} ms exceeds {max} ms", f.latency_ms_batch1()));
        }
        if let Some(max) = self.max_size_bytes
            && f.size_bytes > max
        {
            why.push(format!("size {} bytes exceeds {max}", f.size_bytes));
        }
        if f.fits_device == Some(false) {
            let device = self.device.as_ref().map_or("the device", |d| d.display_name());
            why.extend(f.fit_failures.iter().map(|r| format!("{device}: {r}")));
        }
        why
    }

    /// Every limit a measured model misses.
    pub fn misses(&self, f: &ModelFigures, agreement: f64) -> Vec<String> {
        let mut why = self.static_misses(f);
        if agreement + 1e-12 < self.min_agreement {
            why.push(format!("agreement {:.2}% is below {:.2}%", agreement * 100.0, self.min_agreement * 100.0));
        }
        why
    }
}

/// The held-out rows and what the teacher said about them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HeldOut {
    pub rows: Vec<Vec<f32>>,
    pub teacher_top1: Vec<usize>,
    pub labels: Option<Vec<usize>>,
}

impl HeldOut {
    /// Accuracy of the teacher's own answers.
    pub fn teacher_accuracy(&self) -> Option<Accuracy> {
        self.labels
            .as_ref()
            .map(|l| Accuracy::new(self.teacher_top1.iter().zip(l).filter(|(a, b)| a == b).count(), l.len()))
    }
}

/// The batch the device runs fastest per sample (estimated), if it fits.
pub(crate) fn best_batch(model: &pb::ModelProto, device: Option<&Device>) -> Option<usize> {
    let profile = inspect_model(model, "student").ok()?;
    let fit = estimate_fit(&profile, device?, &FitConfig::default());
    fit.per_batch
        .iter()
        .max_by(|a, b| a.throughput_per_s.mid().total_cmp(&b.throughput_per_s.mid()))
        .map(|b| b.batch as usize)
}

/// Load a model and measure its size, profile, latency and fit; with
/// `held`, also its agreement with the teacher and accuracy.
pub(crate) fn measure(
    model: &pb::ModelProto,
    name: &str,
    goal: &Goal,
    held: &HeldOut,
    eval: &EvalConfig,
    batches: &[usize],
    with_quality: bool,
) -> Result<(ModelFigures, Option<Accuracy>)> {
    let size_bytes = encode_model(model).len() as u64;
    let profile = inspect_model(model, name).map_err(DistillError::Student)?;
    let runner = Runner::from_proto(model.clone()).map_err(DistillError::Student)?;
    let latency = batches
        .iter()
        .map(|&b| time_batch(&runner, b, &held.rows, eval))
        .collect::<crate::error::Result<Vec<_>>>()
        .map_err(DistillError::Student)?;
    let (fits_device, fit_failures) = match &goal.device {
        Some(device) => {
            let fit = estimate_fit(&profile, device, &FitConfig::default());
            (Some(fit.compatible), fit.failures().map(|r| r.message.clone()).collect())
        }
        None => (None, Vec::new()),
    };
    let (accuracy, agreement) = if with_quality {
        let top1 = predictions(&runner, &held.rows)?;
        let agree = top1.iter().zip(&held.teacher_top1).filter(|(a, b)| a == b).count();
        let accuracy =
            held.labels.as_ref().map(|l| Accuracy::new(top1.iter().zip(l).filter(|(a, b)| a == b).count(), l.len()));
        (accuracy, Some(Accuracy::new(agree, top1.len())))
    } else {
        (None, None)
    };
    let figures = ModelFigures {
        name: name.to_owned(),
        params: profile.params,
        size_bytes,
        accuracy,
        latency,
        fits_device,
        fit_failures,
    };
    Ok((figures, agreement))
}

/// Top-1 class of each row.
pub(crate) fn predictions(runner: &Runner, rows: &[Vec<f32>]) -> Result<Vec<usize>> {
    let outputs = predict_all(runner, rows).map_err(DistillError::Student)?;
    Ok(outputs.iter().map(|o| top_class(o).map_or(usize::MAX, |t| t.0)).collect())
}

/// Time the teacher at the same batches as the student.
pub(crate) fn teacher_figures(
    teacher: &super::Teacher,
    goal: &Goal,
    held: &HeldOut,
    eval: &EvalConfig,
    batches: &[usize],
) -> Result<ModelFigures> {
    let runner = teacher.runner();
    let latency = batches
        .iter()
        .map(|&b| time_batch(runner, b, &held.rows, eval))
        .collect::<crate::error::Result<Vec<_>>>()
        .map_err(DistillError::Teacher)?;
    let (fits_device, fit_failures) = match (&goal.device, inspect_model(runner.proto(), &teacher.name)) {
        (Some(device), Ok(mut profile)) => {
            profile.file_bytes = teacher.size_bytes;
            let fit = estimate_fit(&profile, device, &FitConfig::default());
            (Some(fit.compatible), fit.failures().map(|r| r.message.clone()).collect())
        }
        _ => (None, Vec::new()),
    };
    Ok(ModelFigures {
        name: teacher.name.clone(),
        params: teacher.params,
        size_bytes: teacher.size_bytes,
        accuracy: held.teacher_accuracy(),
        latency,
        fits_device,
        fit_failures,
    })
}
