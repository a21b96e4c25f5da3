//! `--demo-compare` (screenshots): once the demo has its models and a
//! camera, make three variants of the digits MLP — int8 with integer
//! compute, float16 weights, 30 % magnitude pruning — with the optimizer's
//! own `optimize_model_on` (measured on tract, checked on the digits data),
//! add them to the demo's library as its children (`fleet::library::
//! add_variant`, as "Optimize for this device" does), then select the camera
//! and open the variant comparison.

use crate::app::App;
use crate::app::background::BgEvent;
use crate::app::command::UiCommand;
use edgefleet_core::{DeviceType, OptimizationKind, now_ms};
use edgefleet_fleet::LibraryError;
use edgefleet_fleet::library::{add_variant, lock_store};
use edgefleet_optimize::{EvalConfig, EvalData, TractRuntime, encode_model, optimize_model_on};
use edgefleet_store::{ModelRecord, NewModel, Store};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The variants made, one background task each.
const RECIPES: [OptimizationKind; 3] =
    [OptimizationKind::Int8Dynamic, OptimizationKind::Fp16, OptimizationKind::Prune { sparsity: 0.3 }];

/// Where `--demo-compare` is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DemoCompare {
    #[default]
    Off,
    /// Waiting for the demo's models and a camera.
    Waiting,
    /// The variants are being made.
    Making {
        parent_id: i64,
    },
    Done,
}

impl App {
    /// One step of `--demo-compare`, once per frame while it is on.
    pub(super) fn demo_compare_step(&mut self) {
        match self.demo_compare {
            DemoCompare::Off | DemoCompare::Done => {}
            DemoCompare::Waiting => {
                let parent = self.state.library.cards.iter().find(|c| c.name == "mlp_digits" && c.parent_id.is_none());
                let (Some(parent), Some(dir)) = (parent, self.demo.as_ref().map(|d| d.dir().join("variants"))) else {
                    return;
                };
                let Some(path) = parent.path.clone() else { return };
                let parent_id = parent.id;
                let eval = self.config.assets_dir.join("models/digits_eval.csv");
                for kind in RECIPES {
                    let (store, path, dir, eval) = (self.store.clone(), path.clone(), dir.clone(), eval.clone());
                    self.spawn_bg("demo variant", move || {
                        BgEvent::ModelAdded(make_variant(&store, parent_id, &path, kind, &eval, &dir).map(Box::new))
                    });
                }
                self.demo_compare = DemoCompare::Making { parent_id };
            }
            DemoCompare::Making { parent_id } => {
                let made = self.state.library.cards.iter().filter(|c| c.parent_id == Some(parent_id)).count();
                let camera = self
                    .state
                    .fleet
                    .entries()
                    .iter()
                    .filter(|e| e.metrics.is_some() && e.device.device_type == DeviceType::SmartCamera)
                    .map(|e| e.id().to_owned())
                    .min();
                if made < RECIPES.len() || self.bg.busy() {
                    return;
                }
                let Some(camera) = camera else { return };
                self.state.selected = Some(camera.clone());
                self.commands.push(UiCommand::SelectDevice(camera));
                self.commands.push(UiCommand::OpenCompare { card_id: parent_id });
                self.demo_compare = DemoCompare::Done;
            }
        }
    }
}

/// Apply `kind` to the model at `path`, measure it, write it to `dir` and
/// add it to the library as a child of `parent_id`.
fn make_variant(
    store: &Mutex<Store>,
    parent_id: i64,
    path: &Path,
    kind: OptimizationKind,
    eval: &Path,
    dir: &Path,
) -> Result<ModelRecord, LibraryError> {
    let bytes = std::fs::read(path).map_err(|source| LibraryError::Unreadable { path: path.to_path_buf(), source })?;
    let data =
        EvalData::from_path(eval).map_err(|source| LibraryError::EvalData { path: eval.to_path_buf(), source })?;
    let cfg = EvalConfig { timed_runs: 20, ..EvalConfig::default() };
    let name = "mlp_digits";
    let (model, report) = optimize_model_on(&TractRuntime, &bytes, name, &[kind], Some(&data), &cfg)
        .map_err(LibraryError::SearchFailed)?;
    let recipe = report.recipe.join(",");
    let out = encode_model(&model);
    let sha256 = edgefleet_core::sha256_hex(&out);
    let slug: String = recipe.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let file: PathBuf = dir.join(format!("{name}-{slug}.onnx"));
    std::fs::create_dir_all(dir).map_err(|source| LibraryError::CannotWrite { path: dir.to_path_buf(), source })?;
    edgefleet_fleet::library::write_atomically(&file, &out)?;
    let new = NewModel {
        name: name.to_owned(),
        version: sha256[..12].to_owned(),
        path: file.display().to_string(),
        sha256,
        size_bytes: out.len() as u64,
        profile: edgefleet_optimize::inspect_model(&model, name).ok(),
        parent_id: Some(parent_id),
        recipe: Some(recipe),
        metrics: serde_json::to_value(&report).ok(),
        created_ms: now_ms(),
    };
    let store = lock_store(store)?;
    add_variant(&store, new)
}
