//! `int8-static`: QDQ quantization of MatMul / Gemm / Conv with activation
//! ranges measured on calibration rows — the format ONNX Runtime's
//! `quantize_static` writes and fuses into integer kernels (QLinearMatMul,
//! QLinearConv, QGemm).
//!
//! - Weights: per-output-channel symmetric int8 (zero point 0, values in
//!   [-127, 127]) behind `DequantizeLinear(axis)`; the axis follows the
//!   rules of [`super::weights::channel_axis`].
//! - Biases of Conv / Gemm: int32 with scale `s_x · s_w[c]` (what the fused
//!   integer kernels expect), behind `DequantizeLinear(axis 0)`.
//! - Activations: asymmetric uint8, one scale a tensor, from the range the
//!   calibration saw ([`CalibrationMethod`]: min/max or percentiles); each
//!   layer's input gets `QuantizeLinear → DequantizeLinear`, and so does a
//!   Conv's output (see [`quantized_output`] for why MatMul / Gemm keep
//!   theirs float).
//!
//! Needs opset ≥ 13 (per-axis DequantizeLinear). Without calibration data
//! use `int8-dynamic`, which quantizes activations on every call.

use super::calibrate::{CalibrationMethod, activation_ranges};
use super::int8::quantize_symmetric;
use super::weights::channel_axis;
use crate::error::{OptimizeError, Result};
use crate::proto::{
    GraphIndex, attr_i, f32_tensor, fresh_name, graph, graph_mut, i8_tensor, i32_tensor, int_attr, node, opset,
    taken_names, tensor_to_f32, u8_tensor,
};
use std::collections::{HashMap, HashSet};
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

/// uint8 scale and zero point covering `[low, high]` (always including 0,
/// so zero padding and ReLU's zeros are exact).
pub fn uint8_params(low: f32, high: f32) -> (f32, u8) {
    let (lo, hi) = (low.min(0.0), high.max(0.0));
    let scale = (hi - lo) / 255.0;
    if !(scale.is_finite() && scale > 0.0) {
        return (1.0, 0);
    }
    (scale, (-lo / scale).round().clamp(0.0, 255.0) as u8)
}

/// `QuantizeLinear → DequantizeLinear` on activation `x` with a uint8
/// range; returns the dequantized name (`dq_name` or a fresh one) and the
/// scale.
fn qdq(
    nodes: &mut Vec<pb::NodeProto>,
    taken: &mut HashSet<String>,
    inits: &mut Vec<pb::TensorProto>,
    x: &str,
    dq_name: Option<String>,
    (lo, hi): (f32, f32),
) -> (String, f32) {
    let (scale, zp) = uint8_params(lo, hi);
    let s = fresh_name(taken, &format!("{x}_scale"));
    let z = fresh_name(taken, &format!("{x}_zero_point"));
    let q = fresh_name(taken, &format!("{x}_quantized"));
    let dq = dq_name.unwrap_or_else(|| fresh_name(taken, &format!("{x}_dequantized")));
    inits.push(f32_tensor(&s, &[], &[scale]));
    inits.push(u8_tensor(&z, &[], &[zp]));
    let q_node = fresh_name(taken, &format!("{x}_QuantizeLinear"));
    nodes.push(node("QuantizeLinear", &q_node, &[x, &s, &z], &[&q], vec![]));
    let dq_node = fresh_name(taken, &format!("{x}_DequantizeLinear"));
    nodes.push(node("DequantizeLinear", &dq_node, &[&q, &s, &z], &[&dq], vec![]));
    (dq, scale)
}

/// Whether a target's output gets `Q → DQ` too. Conv does, so ONNX
/// Runtime fuses it into QLinearConv; MatMul and Gemm keep a float output,
/// which ONNX Runtime runs as an integer product with a float result
/// (MatMulIntegerToFloat, QGemm) and the bias, ReLU and the next layer's
/// quantization stay one step each. Graph outputs stay float.
fn quantized_output(n: &pb::NodeProto, ix: &GraphIndex) -> bool {
    n.op_type == "Conv" && !ix.outputs.contains(&n.output[0])
}

/// A node this transform rewrites: its weight's name and channel axis.
struct Target {
    node: usize,
    axis: usize,
}

fn targets(g: &pb::GraphProto, ix: &GraphIndex) -> Vec<Target> {
    g.node
        .iter()
        .enumerate()
        .filter_map(|(i, n)| {
            if !matches!(n.op_type.as_str(), "MatMul" | "Gemm" | "Conv") || n.input.len() < 2 {
                return None;
            }
            if n.op_type == "Gemm" && attr_i(n, "transA").unwrap_or(0) != 0 {
                return None;
            }
            let t = ix.init(g, &n.input[1])?;
            if t.data_type != DataType::Float as i32 || t.dims.len() < 2 {
                return None;
            }
            Some(Target { node: i, axis: channel_axis(n, t.dims.len())? })
        })
        .collect()
}

/// Rewrite the model to QDQ int8 with activation ranges from `rows`.
pub fn int8_static(model: &pb::ModelProto, rows: &[Vec<f32>], method: CalibrationMethod) -> Result<pb::ModelProto> {
    let version = opset(model).unwrap_or(1);
    if version < 13 {
        return Err(OptimizeError::Unsupported(format!(
            "int8-static needs opset ≥ 13 (per-channel DequantizeLinear); the model imports opset {version}"
        )));
    }
    let g0 = graph(model)?;
    let ix = GraphIndex::new(g0);
    let found = targets(g0, &ix);
    if found.is_empty() {
        return Err(OptimizeError::Unsupported(
            "int8-static: the model has no MatMul/Gemm/Conv with a float weight initializer".into(),
        ));
    }
    // Tensors to calibrate: every target's activation input, and the
    // outputs that get quantized too.
    let mut wanted: Vec<String> = Vec::new();
    for t in &found {
        let n = &g0.node[t.node];
        let output = quantized_output(n, &ix).then_some(&n.output[0]);
        for name in std::iter::once(&n.input[0]).chain(output) {
            if !wanted.contains(name) {
                wanted.push(name.clone());
            }
        }
    }
    let ranges = activation_ranges(model, &wanted, rows, method)?;
    let range = |name: &str| {
        ranges.get(name).copied().ok_or_else(|| OptimizeError::Runtime(format!("no calibration range for `{name}`")))
    };

    let mut out = model.clone();
    let g = graph_mut(&mut out)?;
    let mut taken = taken_names(g);
    let mut new_inits: Vec<pb::TensorProto> = Vec::new();
    // Activation name → (its dequantized name, its scale).
    let mut qdq_of: HashMap<String, (String, f32)> = HashMap::new();
    let by_node: HashMap<usize, usize> = found.iter().map(|t| (t.node, t.axis)).collect();
    let mut nodes = Vec::with_capacity(g.node.len() * 3);
    for (i, mut n) in std::mem::take(&mut g.node).into_iter().enumerate() {
        let Some(&axis) = by_node.get(&i) else {
            nodes.push(n);
            continue;
        };
        let base = if n.name.is_empty() { n.output[0].clone() } else { n.name.clone() };
        let x = n.input[0].clone();
        let (x_dq, x_scale) = match qdq_of.get(&x) {
            Some(v) => v.clone(),
            None => {
                let v = qdq(&mut nodes, &mut taken, &mut new_inits, &x, None, range(&x)?);
                qdq_of.insert(x.clone(), v.clone());
                v
            }
        };
        // Weight: int8 per channel behind DequantizeLinear.
        let w_name = n.input[1].clone();
        let w = ix.init(g0, &w_name).ok_or_else(|| OptimizeError::Decode(format!("weight `{w_name}` vanished")))?;
        let (wq, w_scales) = quantize_symmetric(&tensor_to_f32(w)?, &w.dims, Some(axis));
        let channels = w_scales.len() as i64;
        let [wq_name, ws_name, wz_name, w_dq] = [
            format!("{w_name}_quantized"),
            format!("{w_name}_scale"),
            format!("{w_name}_zero_point"),
            format!("{w_name}_dequantized"),
        ]
        .map(|s| fresh_name(&mut taken, &s));
        new_inits.push(i8_tensor(&wq_name, &w.dims, &wq));
        new_inits.push(f32_tensor(&ws_name, &[channels], &w_scales));
        new_inits.push(i8_tensor(&wz_name, &[channels], &vec![0; w_scales.len()]));
        nodes.push(node(
            "DequantizeLinear",
            &fresh_name(&mut taken, &format!("{w_name}_DequantizeLinear")),
            &[&wq_name, &ws_name, &wz_name],
            &[&w_dq],
            vec![int_attr("axis", axis as i64)],
        ));
        n.input[0] = x_dq;
        n.input[1] = w_dq;
        // Bias (Conv, Gemm): int32 at scale s_x · s_w[c].
        if n.op_type != "MatMul"
            && let Some(b_name) = n.input.get(2).filter(|s| !s.is_empty()).cloned()
            && let Some(b) = ix.init(g0, &b_name).filter(|b| b.data_type == DataType::Float as i32)
            && b.dims.len() == 1
            && b.dims[0] == channels
        {
            let bias = tensor_to_f32(b)?;
            let scales: Vec<f32> = w_scales.iter().map(|s| s * x_scale).collect();
            let q: Vec<i32> = bias
                .iter()
                .zip(&scales)
                .map(|(v, s)| {
                    (f64::from(*v) / f64::from(*s)).round().clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
                })
                .collect();
            let [bq, bs, bz, b_dq] = [
                format!("{b_name}_quantized"),
                format!("{b_name}_scale"),
                format!("{b_name}_zero_point"),
                format!("{b_name}_dequantized"),
            ]
            .map(|s| fresh_name(&mut taken, &s));
            new_inits.push(i32_tensor(&bq, &[channels], &q));
            new_inits.push(f32_tensor(&bs, &[channels], &scales));
            new_inits.push(i32_tensor(&bz, &[channels], &vec![0; q.len()]));
            nodes.push(node(
                "DequantizeLinear",
                &fresh_name(&mut taken, &format!("{b_name}_DequantizeLinear")),
                &[&bq, &bs, &bz],
                &[&b_dq],
                vec![int_attr("axis", 0)],
            ));
            n.input[2] = b_dq;
        }
        // Output: the node now writes a float temporary; Q → DQ gives back
        // the original name, so the readers need no change.
        let y = n.output[0].clone();
        if !quantized_output(&n, &ix) {
            nodes.push(n);
            continue;
        }
        let y_float = fresh_name(&mut taken, &format!("{base}_float"));
        n.output[0] = y_float.clone();
        nodes.push(n);
        let v = qdq(&mut nodes, &mut taken, &mut new_inits, &y_float, Some(y.clone()), range(&y)?);
        qdq_of.insert(y, v);
    }
    g.node = nodes;
    g.initializer.extend(new_inits);
    // Float weights and biases nobody reads any more go.
    let still_read: HashSet<String> = g.node.iter().flat_map(|n| n.input.iter().cloned()).collect();
    g.initializer.retain(|t| still_read.contains(&t.name) || ix.outputs.contains(&t.name));
    g.value_info.clear();
    super::weights::tidy_inputs(g, g0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uint8_params_cover_the_range_and_zero() {
        let (s, z) = uint8_params(0.0, 2.55);
        assert!((s - 0.01).abs() < 1e-6 && z == 0);
        let (s, z) = uint8_params(-1.0, 1.0);
        assert!((s - 2.0 / 255.0).abs() < 1e-6 && (127..=128).contains(&z));
        // A range away from zero is stretched to include it.
        let (_, z) = uint8_params(1.0, 3.0);
        assert_eq!(z, 0);
        assert_eq!(uint8_params(0.0, 0.0), (1.0, 0));
    }
}
