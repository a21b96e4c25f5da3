//! Knowledge distillation as the console does it, for the CLI (`edgefleet
//! distill`) and the app ("Distill for this device") alike: load the
//! teacher and the rows, train one student or search for one, write it
//! next to its teacher's variants and add it to the library as the
//! teacher's child with its recipe and report.

use crate::library::{LibraryError, ModelFile, add_model, add_variant, model_name, write_atomically};
use edgefleet_core::{Device, default_version, now_ms, sha256_hex};
use edgefleet_optimize::distill::{
    Arch, Dataset, DistillConfig, DistillError, DistillReport, Distilled, Goal, Progress, SearchOutcome, Teacher,
    distill, search_space, search_students,
};
use edgefleet_optimize::encode_model;
use edgefleet_store::{ModelRecord, NewModel, Store};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Why distilling for the library failed; one variant per kind.
#[derive(Debug, thiserror::Error)]
pub enum DistillJobError {
    #[error("cannot read the teacher {path}: {source}")]
    Teacher {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The distiller refused its input or failed while training.
    #[error(transparent)]
    Distill(#[from] DistillError),
    /// A search in which no candidate met the limits; the outcome has
    /// every candidate and why it fell short.
    #[error("no student meets the limits (min agreement {:.2}%{}); nothing written", .min_agreement * 100.0, .device.as_deref().map(|d| format!(", fits {d}")).unwrap_or_default())]
    NoStudent { min_agreement: f64, device: Option<String>, outcome: Box<SearchOutcome> },
    #[error(transparent)]
    Library(#[from] LibraryError),
}

impl DistillJobError {
    /// True when the user's input is at fault (a bad file, a bad setting).
    pub fn is_bad_input(&self) -> bool {
        match self {
            DistillJobError::Teacher { .. } => true,
            DistillJobError::Distill(e) => e.is_bad_input(),
            _ => false,
        }
    }
}

/// What to distill and how.
#[derive(Debug, Clone)]
pub struct DistillRequest<'a> {
    pub teacher_path: &'a Path,
    /// CSV rows of the teacher's input features.
    pub data_path: &'a Path,
    /// The data's last column is an integer class label.
    pub labels_last: bool,
    /// One architecture to train, or `None` to search depth and width.
    pub student: Option<Arch>,
    pub goal: Goal,
    pub cfg: DistillConfig,
}

/// A trained student and, for a search, every candidate.
#[derive(Debug)]
pub struct DistillOutcome {
    pub distilled: Distilled,
    pub search: Option<SearchOutcome>,
    pub teacher_bytes: Vec<u8>,
}

/// Train the student `req` asks for. `cancel` stops it at the next epoch
/// (`DistillError::Cancelled`); nothing is written here.
pub fn run_distill(
    req: &DistillRequest<'_>,
    cancel: &AtomicBool,
    progress: &mut (dyn FnMut(&Progress) + Send),
) -> Result<DistillOutcome, DistillJobError> {
    let teacher_bytes = std::fs::read(req.teacher_path)
        .map_err(|source| DistillJobError::Teacher { path: req.teacher_path.to_owned(), source })?;
    let name = model_name(req.teacher_path);
    let teacher = Teacher::from_bytes(&teacher_bytes, &name)?;
    let data = Dataset::from_path(req.data_path, req.labels_last)?;
    let (distilled, search) = match &req.student {
        Some(arch) => (distill(&teacher, &data, arch, &req.cfg, &req.goal, cancel, progress)?, None),
        None => {
            let space = search_space(&teacher.sample_shape, teacher.classes, teacher.width, teacher.is_image());
            let mut outcome = search_students(&teacher, &data, &space, &req.cfg, &req.goal, cancel, progress)?;
            match outcome.best.take() {
                Some(best) => (best, Some(outcome)),
                None => {
                    return Err(DistillJobError::NoStudent {
                        min_agreement: req.goal.min_agreement,
                        device: req.goal.device.as_ref().map(|d| d.display_name().to_owned()),
                        outcome: Box::new(outcome),
                    });
                }
            }
        }
    };
    Ok(DistillOutcome { distilled, search, teacher_bytes })
}

/// Add the student to the library as a child of its teacher (adding the
/// teacher first when it is not there yet), with its recipe and report.
pub fn add_student(
    store: &Store,
    teacher_path: &Path,
    student_path: &Path,
    student_bytes: &[u8],
    report: &DistillReport,
) -> Result<ModelRecord, DistillJobError> {
    let teacher = match add_model(store, ModelFile::read(teacher_path)?) {
        Ok(added) => added,
        Err(LibraryError::AlreadyInLibrary { id, name, version, .. }) => {
            store.get_model(id).map_err(LibraryError::from)?.ok_or(LibraryError::Vanished { name, version })?
        }
        Err(e) => return Err(e.into()),
    };
    let sha = sha256_hex(student_bytes);
    let metrics = serde_json::json!({
        "accuracy": report.student.accuracy.map(|a| a.value),
        "agreement": report.agreement.value,
        "distill": report,
    });
    let student = NewModel {
        name: teacher.name.clone(),
        version: default_version(&sha),
        path: absolute(student_path),
        sha256: sha,
        size_bytes: student_bytes.len() as u64,
        profile: edgefleet_optimize::inspect_bytes(student_bytes, &teacher.name).ok(),
        parent_id: Some(teacher.id),
        recipe: Some(report.recipe.summary()),
        metrics: Some(metrics),
        created_ms: now_ms(),
    };
    Ok(add_variant(store, student)?)
}

/// The app's "Distill for this device": search for the smallest student of
/// the teacher at `teacher_path` that fits `device` and agrees with it on
/// `data_path`'s rows within `time_budget`, write it into `out_dir` and
/// add it to the library.
pub struct ForDevice<'a> {
    pub teacher_path: &'a Path,
    pub device: &'a Device,
    /// Labelled rows (label last): the model's evaluation data.
    pub data_path: &'a Path,
    pub out_dir: &'a Path,
    pub time_budget: Duration,
}

/// Run [`ForDevice`]: search, write, add to the library.
pub fn distill_for_device(
    store: &Mutex<Store>,
    job: &ForDevice<'_>,
    cancel: &AtomicBool,
    progress: &mut (dyn FnMut(&Progress) + Send),
) -> Result<(ModelRecord, DistillReport), DistillJobError> {
    let ForDevice { teacher_path, device, data_path, out_dir, time_budget } = *job;
    let goal = Goal {
        device: Some(device.clone()),
        max_latency_ms: None,
        max_size_bytes: None,
        min_agreement: 0.95,
        int8: false,
    };
    // The evaluation data the app keeps per model is labelled (label last).
    let req = DistillRequest {
        teacher_path,
        data_path,
        labels_last: true,
        student: None,
        goal,
        cfg: DistillConfig { time_budget: Some(time_budget), ..DistillConfig::default() },
    };
    let outcome = run_distill(&req, cancel, progress)?;
    let bytes = encode_model(&outcome.distilled.model);
    let out = out_dir.join(format!("{}-student-{}.onnx", model_name(teacher_path), &sha256_hex(&bytes)[..8]));
    std::fs::create_dir_all(out_dir)
        .map_err(|source| LibraryError::CannotWrite { path: out_dir.to_owned(), source })?;
    write_atomically(&out, &bytes)?;
    let guard = crate::library::lock_store(store)?;
    let record = add_student(&guard, teacher_path, &out, &bytes, &outcome.distilled.report)?;
    Ok((record, outcome.distilled.report))
}

fn absolute(path: &Path) -> String {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string()
}
