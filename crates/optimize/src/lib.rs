//! edgefleet-optimize: read ONNX graphs, profile them, rewrite them for real
//! (int8 / fp16 weights, pruning, fixed shapes) and measure the result with
//! tract.

pub mod error;
pub mod runner;

pub use error::{OptimizeError, Result};
pub use runner::{Runner, decode_model, top_class};
