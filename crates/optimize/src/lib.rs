//! edgefleet-optimize: read ONNX graphs, profile them, rewrite them for real
//! (int8 / fp16 weights, pruning, fixed shapes) and measure the result on
//! the runtime that will serve it: tract, or ONNX Runtime when its library
//! is there ([`runtime`]).

pub mod csv_rows;
#[cfg(feature = "distill")]
pub mod distill;
pub mod error;
pub mod evaluate;
pub mod inspect;
pub mod layer_work;
pub mod proto;
pub mod report;
pub mod runner;
pub mod runtime;
pub mod search;
pub mod shapes;
pub mod transform;

#[cfg(feature = "distill")]
pub use distill::{DistillConfig, DistillError, DistillReport};
pub use error::{OptimizeError, Result};
pub use evaluate::{EvalConfig, EvalData};
pub use inspect::{inspect_bytes, inspect_model, inspect_path};
pub use proto::encode_model;
pub use report::{OptimizeReport, optimize_model_on};
pub use runner::{Runner, decode_model, top_class};
pub use runtime::{OrtRuntime, Runtime, RuntimeChoice, RuntimeKind, TractRuntime};
pub use search::{Objective, SearchLimits, SearchResult, SearchTarget, search_on};
pub use transform::{apply_recipe, canonical_order};
