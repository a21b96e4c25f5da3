//! Static int8 (QDQ) with calibration data, from the command line:
//!
//! ```text
//! cargo run -p edgefleet-optimize --example quantize_static -- \
//!     MODEL.onnx CALIBRATION.csv OUT.onnx [minmax|percentile|percentile:P]
//! ```
//!
//! The calibration CSV has the evaluation format (features, then a label,
//! which is ignored). Prints the sizes and how long the rewrite took.

use anyhow::{Context, bail};
use edgefleet_optimize::transform::{CalibrationMethod, int8_static};
use edgefleet_optimize::{EvalData, decode_model, encode_model};
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, calib, out, rest @ ..] = args.as_slice() else {
        bail!("usage: quantize_static MODEL.onnx CALIBRATION.csv OUT.onnx [minmax|percentile|percentile:P]");
    };
    let method: CalibrationMethod = rest.first().map(|m| m.parse()).transpose()?.unwrap_or(CalibrationMethod::MinMax);
    let bytes = std::fs::read(model).with_context(|| format!("reading {model}"))?;
    let rows = EvalData::from_path(&PathBuf::from(calib))?.rows;
    let started = std::time::Instant::now();
    let q = int8_static(&decode_model(&bytes)?, &rows, method)?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let encoded = encode_model(&q);
    std::fs::write(out, &encoded).with_context(|| format!("writing {out}"))?;
    println!(
        "{{\"size_before_bytes\": {}, \"size_after_bytes\": {}, \"transform_ms\": {ms:.3}, \"method\": \"{method}\", \"calibration_rows\": {}}}",
        bytes.len(),
        encoded.len(),
        rows.len()
    );
    Ok(())
}
