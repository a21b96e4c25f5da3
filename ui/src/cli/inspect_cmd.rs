//! `edgefleet inspect MODEL.onnx [--json]`: the static profile of a model
//! (parameters, weights, FLOPs and peak activations per sample, ops, opset,
//! inputs and outputs), computed from the graph without running it.

use super::GlobalArgs;
use edgefleet_core::{ModelProfile, TensorInfo, human_bytes};
use edgefleet_optimize::OptimizeError;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The ONNX model file.
    pub model: PathBuf,
    /// Print the profile as JSON (the format `edgefleet estimate --profile` reads).
    #[arg(long)]
    pub json: bool,
}

/// Map a library error: problems with the user's file are bad input (exit
/// 2); failures while running are runtime errors (exit 1).
pub(crate) fn classify(err: OptimizeError) -> anyhow::Error {
    match err {
        OptimizeError::Runtime(_) => anyhow::Error::new(err),
        other => anyhow::Error::new(super::BadInput(other.to_string())),
    }
}

pub fn run(_global: &GlobalArgs, args: InspectArgs) -> anyhow::Result<()> {
    let profile = edgefleet_optimize::inspect_path(&args.model).map_err(classify)?;
    // write! rather than print!: a closed pipe (`| head`) is an error, not a panic.
    use std::io::Write;
    let text = if args.json { serde_json::to_string_pretty(&profile)? + "\n" } else { table(&profile) };
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(())
}

fn shape(t: &TensorInfo) -> String {
    let dims: Vec<String> = t.shape.iter().map(ToString::to_string).collect();
    format!("{} {}[{}]", t.name, t.elem_type, dims.join(", "))
}

/// A byte count in the project's units, with the exact count after it
/// when the unit rounds (`1.5 KiB (1536 B)`).
fn bytes_cell(n: u64) -> String {
    let human = human_bytes(n);
    if n < 1024 { human } else { format!("{human} ({n} B)") }
}

/// The human-readable profile.
pub(crate) fn table(p: &ModelProfile) -> String {
    let mut rows: Vec<(&str, String)> = vec![
        ("model", p.name.clone()),
        ("file", bytes_cell(p.file_bytes)),
        ("params", p.params.to_string()),
        ("weights", bytes_cell(p.weights_bytes)),
        ("FLOPs / sample", p.flops_per_sample.to_string()),
        ("peak activations / sample", bytes_cell(p.peak_activation_bytes_per_sample)),
        ("opset", p.opset.map(|o| o.to_string()).unwrap_or_else(|| "-".into())),
        ("ops", p.ops.join(", ")),
    ];
    rows.extend(p.inputs.iter().map(|t| ("input", shape(t))));
    rows.extend(p.outputs.iter().map(|t| ("output", shape(t))));
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter().map(|(k, v)| format!("{k:<width$}  {v}\n")).collect()
}
