//! Activation ranges for static quantization: run the float model with
//! tract on calibration rows, keeping chosen intermediate tensors as extra
//! outputs, and reduce each tensor's values to a range — the plain min/max,
//! or percentiles that ignore rare outliers.

use crate::error::{OptimizeError, Result};
use crate::proto::graph_mut;
use crate::runner::{real_inputs, value_dims};
use std::collections::HashMap;
use tract_onnx::pb;
use tract_onnx::prelude::*;

/// Rows run through the model at once during calibration.
const CALIBRATION_BATCH: usize = 32;

/// How a tensor's observed values become its range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CalibrationMethod {
    /// The smallest and largest value seen.
    MinMax,
    /// The `p`-th and `(100 − p)`-th percentiles (e.g. 99.99), so a few
    /// outliers do not stretch the range and waste the 256 levels.
    Percentile(f64),
}

impl std::fmt::Display for CalibrationMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CalibrationMethod::MinMax => f.write_str("minmax"),
            CalibrationMethod::Percentile(p) => write!(f, "percentile:{p}"),
        }
    }
}

impl std::str::FromStr for CalibrationMethod {
    type Err = OptimizeError;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| OptimizeError::BadInput(format!("calibration method `{s}`: {why}"));
        match s.split_once(':') {
            None if s == "minmax" => Ok(CalibrationMethod::MinMax),
            None if s == "percentile" => Ok(CalibrationMethod::Percentile(99.99)),
            Some(("percentile", p)) => match p.parse::<f64>() {
                Ok(p) if p > 50.0 && p <= 100.0 => Ok(CalibrationMethod::Percentile(p)),
                _ => Err(bad("the percentile must be a number above 50 and at most 100")),
            },
            _ => Err(bad("choose minmax, percentile or percentile:P")),
        }
    }
}

/// The range `[low, high]` of each named tensor over the calibration rows.
pub fn activation_ranges(
    model: &pb::ModelProto,
    tensors: &[String],
    rows: &[Vec<f32>],
    method: CalibrationMethod,
) -> Result<HashMap<String, (f32, f32)>> {
    if rows.is_empty() {
        return Err(OptimizeError::BadInput("static int8 needs at least one calibration row".into()));
    }
    let mut probe = model.clone();
    let g = graph_mut(&mut probe)?;
    let input = real_inputs(g)
        .first()
        .map(|v| (*v).clone())
        .ok_or_else(|| OptimizeError::Unsupported("the model has no input to calibrate with".into()))?;
    let dims = value_dims(&input);
    let sample_shape: Vec<usize> = dims
        .iter()
        .skip(1)
        .map(|d| d.map(|n| n as usize))
        .collect::<Option<_>>()
        .ok_or_else(|| OptimizeError::Unsupported(format!("input `{}` has symbolic sample dims", input.name)))?;
    let features: usize = sample_shape.iter().product();
    if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != features) {
        return Err(OptimizeError::BadInput(format!(
            "calibration row {} has {} values; the model takes {features}",
            i + 1,
            r.len()
        )));
    }
    let batch = dims.first().copied().flatten().map(|n| n as usize).unwrap_or(CALIBRATION_BATCH);
    // The tensors become extra graph outputs, after the model's own.
    let first_extra = g.output.len();
    for name in tensors {
        g.output.push(pb::ValueInfoProto {
            name: name.clone(),
            r#type: Some(pb::TypeProto {
                value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                    elem_type: pb::tensor_proto::DataType::Float as i32,
                    shape: None,
                })),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    // Intermediate shapes written with symbolic dims would not unify with a concrete batch.
    g.value_info.clear();
    let mut shape = vec![batch];
    shape.extend_from_slice(&sample_shape);
    let plan = tract_onnx::onnx()
        .model_for_proto_model(&probe)
        .and_then(|m| m.with_input_fact(0, f32::fact(&shape).into()))
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .map_err(OptimizeError::runtime)?;
    let mut seen: Vec<Vec<f32>> = vec![Vec::new(); tensors.len()];
    for part in rows.chunks(batch) {
        // A short last chunk is padded by repeating its rows; only the real rows' values count.
        let flat: Vec<f32> = (0..batch).flat_map(|i| part[i % part.len()].iter().copied()).collect();
        let tensor = Tensor::from_shape(&shape, &flat).map_err(OptimizeError::runtime)?;
        let outputs = plan.run(tvec!(tensor.into())).map_err(OptimizeError::runtime)?;
        for (k, values) in seen.iter_mut().enumerate() {
            let out = outputs
                .get(first_extra + k)
                .ok_or_else(|| OptimizeError::Runtime(format!("calibration lost tensor `{}`", tensors[k])))?;
            let out = out.cast_to::<f32>().map_err(OptimizeError::runtime)?;
            let view = out.to_plain_array_view::<f32>().map_err(OptimizeError::runtime)?;
            let all: Vec<f32> = view.iter().copied().collect();
            let per_row = all.len() / batch;
            values.extend(all[..per_row * part.len()].iter().copied().filter(|v| v.is_finite()));
        }
    }
    Ok(tensors.iter().cloned().zip(seen.into_iter().map(|v| range_of(v, method))).collect())
}

/// Reduce observed values to a range.
pub fn range_of(mut values: Vec<f32>, method: CalibrationMethod) -> (f32, f32) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    match method {
        CalibrationMethod::MinMax => values.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v))),
        CalibrationMethod::Percentile(p) => {
            values.sort_by(f32::total_cmp);
            let at = |q: f64| values[((q / 100.0) * (values.len() - 1) as f64).round() as usize];
            (at(100.0 - p), at(p))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_parse_and_reduce() {
        assert_eq!("minmax".parse::<CalibrationMethod>().unwrap(), CalibrationMethod::MinMax);
        assert_eq!("percentile:99.9".parse::<CalibrationMethod>().unwrap(), CalibrationMethod::Percentile(99.9));
        assert!("percentile:20".parse::<CalibrationMethod>().is_err());
        assert!("entropy".parse::<CalibrationMethod>().is_err());
        let mut v: Vec<f32> = (0..=1000).map(|i| i as f32 / 1000.0).collect();
        v.push(50.0);
        assert_eq!(range_of(v.clone(), CalibrationMethod::MinMax), (0.0, 50.0));
        let (lo, hi) = range_of(v, CalibrationMethod::Percentile(99.0));
        assert!(lo < 0.02 && (0.98..1.0).contains(&hi), "{lo} {hi}");
    }
}
