//! Graph transformations, one file each, every one a pure function
//! `&ModelProto → Result<ModelProto>`, and [`apply_recipe`] to compose them.
//! [`int8_static`] also takes calibration rows: in a recipe it runs through
//! [`apply_recipe_with_rows`], which the evaluation data feeds.
//!
//! A recipe runs in a fixed order whatever order it was written in:
//! structural changes first (structured pruning, magnitude pruning, fixed
//! shapes), then integer compute, then weight storage (int8, fp16). That
//! order is the one that composes: pruning needs float weights, and int8
//! after int8-dynamic quantizes only what int8-dynamic left in float (the
//! convs), fp16 only what is still float32 (biases).

pub mod calibrate;
pub mod fix_shapes;
pub mod fp16;
pub mod int8;
pub mod int8_dynamic;
pub mod int8_static;
pub mod prune;
pub mod prune_structured;
pub mod weights;

pub use calibrate::CalibrationMethod;
pub use fix_shapes::fix_shapes;
pub use fp16::fp16;
pub use int8::int8;
pub use int8_dynamic::int8_dynamic;
pub use int8_static::int8_static;
pub use prune::{prune, weight_sparsity};
pub use prune_structured::prune_structured;

use crate::error::{OptimizeError, Result};
use edgefleet_core::OptimizationKind;
use tract_onnx::pb;

fn rank(kind: &OptimizationKind) -> u8 {
    match kind {
        OptimizationKind::PruneStructured { .. } => 0,
        OptimizationKind::Prune { .. } => 1,
        OptimizationKind::FixShapes { .. } => 2,
        // Static and dynamic int8 are two ways to the same integer compute:
        // sharing a rank, a recipe may name only one of them.
        OptimizationKind::Int8Dynamic | OptimizationKind::Int8Static => 3,
        OptimizationKind::Int8 => 4,
        OptimizationKind::Fp16 => 5,
    }
}

/// The order a recipe's steps are applied in. Each kind may appear once.
pub fn canonical_order(recipe: &[OptimizationKind]) -> Result<Vec<OptimizationKind>> {
    let mut steps = recipe.to_vec();
    steps.sort_by_key(rank);
    if let Some(w) = steps.windows(2).find(|w| rank(&w[0]) == rank(&w[1])) {
        return Err(OptimizeError::BadInput(format!(
            "the recipe names `{}` and `{}`; give each kind of step once",
            w[0], w[1]
        )));
    }
    Ok(steps)
}

/// Rows `int8-static` calibrates on when a recipe names it: at most this
/// many, the first of the data (ranges settle long before).
pub const MAX_CALIBRATION_ROWS: usize = 256;

/// Apply one transformation. `int8-static` needs `rows` to calibrate on.
pub fn apply_with_rows(
    model: &pb::ModelProto,
    kind: &OptimizationKind,
    rows: Option<&[Vec<f32>]>,
) -> Result<pb::ModelProto> {
    match (kind, rows) {
        (OptimizationKind::Int8Static, Some(rows)) => {
            int8_static(model, &rows[..rows.len().min(MAX_CALIBRATION_ROWS)], CalibrationMethod::MinMax)
        }
        _ => apply(model, kind),
    }
}

/// Apply one transformation.
pub fn apply(model: &pb::ModelProto, kind: &OptimizationKind) -> Result<pb::ModelProto> {
    match kind {
        OptimizationKind::Int8Static => Err(OptimizeError::BadInput(
            "int8-static calibrates activation ranges on sample rows: give evaluation data (--eval DATA.csv)".into(),
        )),
        OptimizationKind::Int8 => int8(model),
        OptimizationKind::Int8Dynamic => int8_dynamic(model),
        OptimizationKind::Fp16 => fp16(model),
        OptimizationKind::Prune { sparsity } => prune(model, *sparsity),
        OptimizationKind::PruneStructured { ratio } => prune_structured(model, *ratio),
        OptimizationKind::FixShapes { batch } => fix_shapes(model, *batch),
    }
}

/// Apply a recipe in [`canonical_order`]; the result is checked to be a
/// well-formed graph.
pub fn apply_recipe(model: &pb::ModelProto, recipe: &[OptimizationKind]) -> Result<pb::ModelProto> {
    apply_recipe_with_rows(model, recipe, None)
}

/// [`apply_recipe`], with sample rows for the steps that calibrate on data
/// (`int8-static`).
pub fn apply_recipe_with_rows(
    model: &pb::ModelProto,
    recipe: &[OptimizationKind],
    rows: Option<&[Vec<f32>]>,
) -> Result<pb::ModelProto> {
    let mut current = model.clone();
    for step in canonical_order(recipe)? {
        current = apply_with_rows(&current, &step, rows)?;
    }
    crate::inspect::check_well_formed(&current)?;
    Ok(current)
}
