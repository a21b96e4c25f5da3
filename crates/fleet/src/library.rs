//! The model library's work: importing an ONNX file (read it, profile it,
//! add it to the registry) and optimizing a library model for one device
//! (search recipes against evaluation data, write the chosen variant next to
//! the registry, add it as a child of its parent). Blocking work — file
//! reads, tract, SQLite — for a background thread or the command line;
//! nothing here needs the GUI (`edgefleet import`, `edgefleet models` and the
//! app's library panel all come through here).
//!
//! Names and versions follow the project's one rule: the model name is the
//! file stem made safe, the version the first 12 hex digits of the file's
//! SHA-256 — the same bytes always get the same version, so re-deploying
//! them sends nothing. Variants follow the same rule; their lineage is kept
//! in `parent_id` and `recipe`.

use edgefleet_core::{Device, default_version, model_name_from_stem, now_ms, sha256_hex};
use edgefleet_optimize::{EvalConfig, EvalData, Objective, OptimizeError, SearchLimits, SearchTarget, encode_model};
use edgefleet_store::{ModelRecord, NewModel, Store, StoreError};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Why a library operation failed; one variant per kind of failure.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("{}: not an .onnx file", path.display())]
    NotOnnx { path: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a usable ONNX model: {source}", path.display())]
    NotAModel {
        path: PathBuf,
        #[source]
        source: OptimizeError,
    },
    #[error("{} is already in the library as {name} v{version}", path.display())]
    AlreadyInLibrary { path: PathBuf, id: i64, name: String, version: String },
    #[error("the registry failed: {0}")]
    Store(#[from] StoreError),
    #[error("the registry lock is poisoned (an earlier task panicked)")]
    StorePoisoned,
    #[error("{name} v{version} was added but cannot be read back from the registry")]
    Vanished { name: String, version: String },
    #[error("no evaluation data to check accuracy ({}): {source}", path.display())]
    EvalData {
        path: PathBuf,
        #[source]
        source: OptimizeError,
    },
    #[error("the search failed: {0}")]
    SearchFailed(#[source] OptimizeError),
    #[error("no recipe meets the limits on {device}: {why}")]
    NoRecipe { device: String, why: String },
    #[error("cannot write {}: {source}", path.display())]
    CannotWrite {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot record the measurements of {name}: {source}")]
    Metrics {
        name: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Lock the shared registry.
pub fn lock_store(store: &Mutex<Store>) -> Result<MutexGuard<'_, Store>, LibraryError> {
    store.lock().map_err(|_| LibraryError::StorePoisoned)
}

/// An ONNX file read and profiled, ready to add to the library.
#[derive(Debug, Clone)]
pub struct ModelFile {
    /// Absolute when it could be resolved (the registry outlives the cwd).
    pub path: PathBuf,
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub size_bytes: u64,
    pub profile: edgefleet_core::ModelProfile,
}

impl ModelFile {
    /// Read and profile `path` (no registry involved, so callers can do this
    /// slow part without holding the registry lock).
    pub fn read(path: &Path) -> Result<ModelFile, LibraryError> {
        if path.extension().and_then(|e| e.to_str()).is_none_or(|e| !e.eq_ignore_ascii_case("onnx")) {
            return Err(LibraryError::NotOnnx { path: path.to_path_buf() });
        }
        let bytes =
            std::fs::read(path).map_err(|source| LibraryError::Unreadable { path: path.to_path_buf(), source })?;
        let name = model_name(path);
        let profile = edgefleet_optimize::inspect_bytes(&bytes, &name)
            .map_err(|source| LibraryError::NotAModel { path: path.to_path_buf(), source })?;
        let sha256 = sha256_hex(&bytes);
        Ok(ModelFile {
            path: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
            name,
            version: default_version(&sha256),
            sha256,
            size_bytes: bytes.len() as u64,
            profile,
        })
    }
}

/// The library's name for a model file: its stem made safe.
pub fn model_name(path: &Path) -> String {
    model_name_from_stem(&path.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default())
}

/// Write next to `path` and rename, so a failure never leaves half a file
/// where the model should be.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), LibraryError> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| "model.onnx".into());
    let tmp = dir.join(format!(".{file}.partial"));
    std::fs::write(&tmp, bytes).map_err(|source| LibraryError::CannotWrite { path: tmp.clone(), source })?;
    std::fs::rename(&tmp, path).map_err(|source| LibraryError::CannotWrite { path: path.to_owned(), source })
}

/// Add a model read by [`ModelFile::read`]; the same bytes twice is an error
/// ([`LibraryError::AlreadyInLibrary`]), whatever the file is called.
pub fn add_model(store: &Store, file: ModelFile) -> Result<ModelRecord, LibraryError> {
    if let Some(same) = store.list_models()?.into_iter().find(|m| m.sha256 == file.sha256) {
        return Err(LibraryError::AlreadyInLibrary {
            path: file.path,
            id: same.id,
            name: same.name,
            version: same.version,
        });
    }
    let new = NewModel {
        name: file.name,
        version: file.version,
        path: file.path.display().to_string(),
        sha256: file.sha256,
        size_bytes: file.size_bytes,
        profile: Some(file.profile),
        parent_id: None,
        recipe: None,
        metrics: None,
        created_ms: now_ms(),
    };
    let id = store.add_model(&new)?;
    store.get_model(id)?.ok_or(LibraryError::Vanished { name: new.name, version: new.version })
}

/// Remove model `id` from the library (its file stays on disk); a model
/// with variants is refused. The CLI's `remove-model` and the app's Remove.
pub fn remove_model(store: &Mutex<Store>, id: i64) -> Result<ModelRecord, LibraryError> {
    Ok(lock_store(store)?.remove_model(id)?)
}

/// Read, profile and add an ONNX file to a shared registry (the registry is
/// locked only to add it).
pub fn import_model(store: &Mutex<Store>, path: &Path) -> Result<ModelRecord, LibraryError> {
    let file = ModelFile::read(path)?;
    let store = lock_store(store)?;
    add_model(&store, file)
}

/// What to optimize, for which device, checked against which data.
#[derive(Debug, Clone, Copy)]
pub struct VariantRequest<'a> {
    /// The library model to start from.
    pub parent_id: i64,
    pub name: &'a str,
    pub model_path: &'a Path,
    pub device: &'a Device,
    /// Labelled samples (CSV: features, then the label) the variant's
    /// accuracy is checked on: a variant may lose at most one point.
    pub eval_data: &'a Path,
    /// Where the variant's file is written.
    pub out_dir: &'a Path,
    /// Which variant wins: the smallest that keeps accuracy within the
    /// limit ([`Objective::Size`]), or the fastest ([`Objective::Latency`]).
    pub objective: Objective,
}

/// What "Optimize for this device" decided, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OptimizeChoice {
    /// The new variant; `None` when the original is the answer.
    pub variant: Option<ModelRecord>,
    /// The objective, what won and by how much, or why the original stays.
    pub why: String,
}

/// A model "fits with room" when its batch-1 memory is at most this share of
/// the device's free memory (the estimator refuses above 80%) and its file
/// at most this share of free storage: then no transform is applied for
/// the size objective.
pub const ROOM_FRACTION: f64 = 0.25;

/// The original already fits `device` with room to spare (see
/// [`ROOM_FRACTION`]): the reason, in words.
fn fits_with_room(profile: &edgefleet_core::ModelProfile, device: &Device) -> Option<String> {
    let fit = edgefleet_core::estimate_fit(profile, device, &edgefleet_core::FitConfig::default());
    let free_mb = fit.free_memory_mb;
    let file_gb = profile.file_bytes.max(profile.weights_bytes) as f64 / 1e9;
    let roomy = fit.compatible
        && fit.memory_at_batch1_mb <= ROOM_FRACTION * free_mb
        && file_gb <= ROOM_FRACTION * fit.free_storage_gb;
    roomy.then(|| {
        format!(
            "the original already fits {} with room: {:.1} MB at batch 1 of {:.0} MB free (≤ {:.0}%), so no transform \
             was applied",
            device.display_name(),
            fit.memory_at_batch1_mb,
            free_mb,
            ROOM_FRACTION * 100.0
        )
    })
}

/// The objective in words, for the explanation.
pub fn objective_words(objective: Objective, limits: &SearchLimits) -> String {
    let loss = limits.max_accuracy_loss * 100.0;
    match objective {
        Objective::Size => format!("smallest file that loses at most {loss:.1} accuracy point(s)"),
        Objective::Latency => format!("fastest on the device's runtime, losing at most {loss:.1} accuracy point(s)"),
        Objective::Accuracy => "most accurate, then smallest".to_owned(),
    }
}

/// Why the chosen candidate won, with its figures against the original's
/// (also printed by `edgefleet optimize --search`).
pub fn chosen_words(objective: Objective, limits: &SearchLimits, r: &edgefleet_optimize::OptimizeReport) -> String {
    let acc = |a: Option<f64>| a.map_or("not measured".to_owned(), |a| format!("{:.1}%", a * 100.0));
    let what = if r.recipe.is_empty() { "the original".to_owned() } else { format!("`{}`", r.recipe.join(",")) };
    format!(
        "objective: {}; chose {what}: {} → {} bytes, {:.3} → {:.3} ms, accuracy {} → {}",
        objective_words(objective, limits),
        r.size_before_bytes,
        r.size_after_bytes,
        r.latency_ms_before,
        r.latency_ms_after,
        acc(r.accuracy_before),
        acc(r.accuracy_after)
    )
}

/// Run the recipe search for `req.device`, write the chosen variant to
/// `req.out_dir` and add it to the library as a child of `req.parent_id`.
/// The answer says why: the objective and the winner's figures against the
/// original's. The original is the answer (no variant) when it wins the
/// search, or — for the size objective — when it already fits the device
/// with room, without searching. `progress(done, total, what)` is called
/// before each candidate.
pub fn optimize_for_device(
    req: &VariantRequest<'_>,
    store: &Mutex<Store>,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<OptimizeChoice, LibraryError> {
    let bytes = std::fs::read(req.model_path)
        .map_err(|source| LibraryError::Unreadable { path: req.model_path.to_path_buf(), source })?;
    let limits = SearchLimits::default();
    if req.objective == Objective::Size
        && let Ok(profile) = edgefleet_optimize::inspect_bytes(&bytes, req.name)
        && let Some(why) = fits_with_room(&profile, req.device)
    {
        return Ok(OptimizeChoice {
            variant: None,
            why: format!("objective: {}; {why}", objective_words(req.objective, &limits)),
        });
    }
    let data = EvalData::from_path(req.eval_data)
        .map_err(|source| LibraryError::EvalData { path: req.eval_data.to_path_buf(), source })?;
    let target = SearchTarget { device: req.device.clone(), limits, objective: req.objective };
    let cfg = EvalConfig { warmup_runs: 2, timed_runs: 10, large_batch: 8, zstd_level: 3 };
    // Measure on the runtime the device runs, so "fastest" means fastest there.
    let (runtime, note) = edgefleet_optimize::runtime::for_device(req.device);
    if let Some(note) = note {
        tracing::warn!("{note}");
    }
    let (result, model) =
        edgefleet_optimize::search::search_on(runtime.as_ref(), &bytes, req.name, &target, &data, &cfg, progress)
            .map_err(LibraryError::SearchFailed)?;
    let (Some(i), Some(model)) = (result.chosen, model) else {
        let why: Vec<String> =
            result.candidates.iter().flat_map(|c| c.rejected_because.iter().cloned()).take(3).collect();
        return Err(LibraryError::NoRecipe { device: req.device.display_name().to_owned(), why: why.join("; ") });
    };
    let report = &result.candidates[i].report;
    let why = chosen_words(req.objective, &limits, report);
    if report.recipe.is_empty() {
        return Ok(OptimizeChoice { variant: None, why });
    }
    let recipe = report.recipe.join(",");
    let slug: String = recipe.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let out = encode_model(&model);
    let sha256 = sha256_hex(&out);
    std::fs::create_dir_all(req.out_dir)
        .map_err(|source| LibraryError::CannotWrite { path: req.out_dir.to_path_buf(), source })?;
    let file = req.out_dir.join(format!("{}-{}-{}.onnx", req.name, slug, &sha256[..8]));
    std::fs::write(&file, &out).map_err(|source| LibraryError::CannotWrite { path: file.clone(), source })?;
    let profile = edgefleet_optimize::inspect_model(&model, req.name).ok();
    let mut metrics =
        serde_json::to_value(report).map_err(|source| LibraryError::Metrics { name: req.name.to_owned(), source })?;
    if let Some(obj) = metrics.as_object_mut() {
        obj.insert("target_device".into(), serde_json::Value::String(req.device.device_id.clone()));
    }
    let new = NewModel {
        name: req.name.to_owned(),
        version: default_version(&sha256),
        path: file.display().to_string(),
        sha256,
        size_bytes: out.len() as u64,
        profile,
        parent_id: Some(req.parent_id),
        recipe: Some(recipe),
        metrics: Some(metrics),
        created_ms: now_ms(),
    };
    let store = lock_store(store)?;
    Ok(OptimizeChoice { variant: Some(add_variant(&store, new)?), why })
}

/// Add a model made from another one (an optimized variant, a distilled
/// student). The same bytes made again are not an error: the record already
/// in the library stands and is returned.
pub fn add_variant(store: &Store, new: NewModel) -> Result<ModelRecord, LibraryError> {
    if let Some(existing) = store.list_models()?.into_iter().find(|m| m.sha256 == new.sha256) {
        return Ok(existing);
    }
    let id = store.add_model(&new)?;
    store.get_model(id)?.ok_or(LibraryError::Vanished { name: new.name, version: new.version })
}

/// The accuracy measured on the evaluation data, when it was (variants
/// record `accuracy_after`; a plain `accuracy` is read too).
pub fn measured_accuracy(model: &ModelRecord) -> Option<f64> {
    model.metrics.as_ref().and_then(|m| m.get("accuracy_after").or_else(|| m.get("accuracy"))).and_then(|v| v.as_f64())
}

/// One model in the lineage tree: its library record (flattened into the
/// JSON), two figures read from it, and the variants made from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineageNode {
    #[serde(flatten)]
    pub model: ModelRecord,
    /// From the profile, when the model has one.
    pub params: Option<u64>,
    pub accuracy: Option<f64>,
    pub variants: Vec<LineageNode>,
}

/// The library as a forest: every model whose parent is not in `models` is
/// a root, each followed by its variants (and theirs), oldest first.
pub fn lineage(models: &[ModelRecord]) -> Vec<LineageNode> {
    let known: HashSet<i64> = models.iter().map(|m| m.id).collect();
    let mut children: HashMap<i64, Vec<&ModelRecord>> = HashMap::new();
    for m in models {
        if let Some(p) = m.parent_id.filter(|p| known.contains(p) && *p != m.id) {
            children.entry(p).or_default().push(m);
        }
    }
    fn node(m: &ModelRecord, children: &HashMap<i64, Vec<&ModelRecord>>, seen: &mut HashSet<i64>) -> LineageNode {
        seen.insert(m.id);
        let variants = children
            .get(&m.id)
            .map(|list| list.iter().filter(|c| !seen.contains(&c.id)).copied().collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .map(|c| node(c, children, seen))
            .collect();
        LineageNode {
            model: m.clone(),
            params: m.profile.as_ref().map(|p| p.params),
            accuracy: measured_accuracy(m),
            variants,
        }
    }
    // `seen` guards against a corrupt registry whose parents form a loop.
    let mut seen = HashSet::new();
    models
        .iter()
        .filter(|m| m.parent_id.is_none_or(|p| !known.contains(&p) || p == m.id))
        .map(|m| node(m, &children, &mut seen))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/models").join(name)
    }

    #[test]
    fn import_profiles_names_and_versions_by_content() {
        let store = Mutex::new(Store::open_in_memory().unwrap());
        let rec = import_model(&store, &asset("mlp_digits.onnx")).unwrap();
        assert_eq!(rec.name, "mlp_digits");
        assert_eq!(rec.version, default_version(&rec.sha256));
        assert_eq!(rec.version.len(), 12);
        assert!(rec.profile.as_ref().is_some_and(|p| p.params > 0));
        assert!(Path::new(&rec.path).is_absolute());
        // The same bytes again, under any name, is refused.
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("my copy.onnx");
        std::fs::copy(asset("mlp_digits.onnx"), &copy).unwrap();
        match import_model(&store, &copy) {
            Err(LibraryError::AlreadyInLibrary { id, .. }) => assert_eq!(id, rec.id),
            other => panic!("expected AlreadyInLibrary, got {other:?}"),
        }
    }

    #[test]
    fn bad_files_say_what_is_wrong_and_add_nothing() {
        let store = Mutex::new(Store::open_in_memory().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let txt = dir.path().join("notes.txt");
        std::fs::write(&txt, "hello").unwrap();
        let garbage = dir.path().join("broken.onnx");
        std::fs::write(&garbage, b"\x08\x07 not protobuf").unwrap();
        assert!(matches!(import_model(&store, &txt), Err(LibraryError::NotOnnx { .. })));
        assert!(matches!(import_model(&store, &dir.path().join("gone.onnx")), Err(LibraryError::Unreadable { .. })));
        let err = import_model(&store, &garbage).unwrap_err();
        assert!(matches!(err, LibraryError::NotAModel { .. }));
        assert!(err.to_string().contains("is not a usable ONNX model"), "{err}");
        assert!(lock_store(&store).unwrap().list_models().unwrap().is_empty());
    }

    fn record(id: i64, parent_id: Option<i64>) -> ModelRecord {
        ModelRecord {
            id,
            name: "m".into(),
            version: format!("v{id}"),
            path: String::new(),
            sha256: String::new(),
            size_bytes: 1,
            profile: None,
            parent_id,
            recipe: parent_id.map(|_| "int8".into()),
            metrics: Some(serde_json::json!({ "accuracy_after": 0.9 })),
            created_ms: 0,
        }
    }

    #[test]
    fn lineage_nests_variants_under_their_parent() {
        let tree = lineage(&[record(1, None), record(2, Some(1)), record(3, Some(2)), record(4, Some(99))]);
        let ids: Vec<(i64, Vec<i64>)> =
            tree.iter().map(|n| (n.model.id, n.variants.iter().map(|v| v.model.id).collect())).collect();
        assert_eq!(ids, vec![(1, vec![2]), (4, vec![])]);
        assert_eq!(tree[0].variants[0].variants[0].model.id, 3);
        assert_eq!(tree[0].accuracy, Some(0.9));
    }
}
