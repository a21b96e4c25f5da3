//! `int8`: per-channel symmetric int8 weights for MatMul / Gemm / Conv,
//! expanded back to float by DequantizeLinear at load.
//!
//! Honest label: this is storage compression (≈4× smaller weights). tract
//! folds the DequantizeLinear into a float constant when it loads the model,
//! so memory and latency stay those of the float model.
//!
//! Opset ≥ 13 gets `DequantizeLinear(q, scale[C], zero_point[C], axis)`.
//! Older opsets have no per-axis DequantizeLinear, and raising the opset
//! would change the meaning of Squeeze / Unsqueeze / Split / ReduceSum, so
//! there the same arithmetic is written as `Cast(q) · scale` with the scale
//! shaped to broadcast along the channel axis.
//! A weight shared by several nodes is quantized once (per-tensor if they
//! disagree on the channel axis); a weight also listed as a graph input
//! (old IR versions list them all) loses that entry, since it is now made
//! by a node.

use super::weights::{channel_of, compute_weights, overridable};
use crate::error::{OptimizeError, Result};
use crate::proto::{
    self, f32_tensor, fresh_name, graph, graph_mut, i8_tensor, int_attr, node, taken_names, tensor_to_f32,
};
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

/// Symmetric int8 quantization of `values` with one scale per channel along
/// `axis` (or one for the whole tensor): values in [-127, 127], zero point 0.
pub fn quantize_symmetric(values: &[f32], dims: &[i64], axis: Option<usize>) -> (Vec<i8>, Vec<f32>) {
    let channels = axis.map(|a| dims[a].max(1) as usize).unwrap_or(1);
    let chan = |i: usize| axis.map(|a| channel_of(dims, a, i)).unwrap_or(0);
    let mut max_abs = vec![0f32; channels];
    for (i, v) in values.iter().enumerate() {
        let c = chan(i);
        max_abs[c] = max_abs[c].max(v.abs());
    }
    // An all-zero channel keeps scale 1 so dequantization stays finite.
    let scales: Vec<f32> = max_abs.iter().map(|&m| if m > 0.0 && m.is_finite() { m / 127.0 } else { 1.0 }).collect();
    let q = values.iter().enumerate().map(|(i, v)| (v / scales[chan(i)]).round().clamp(-127.0, 127.0) as i8).collect();
    (q, scales)
}

/// Rewrite every float MatMul / Gemm / Conv weight as int8 + dequantization.
pub fn int8(model: &pb::ModelProto) -> Result<pb::ModelProto> {
    let mut out = model.clone();
    let opset = proto::opset(&out).unwrap_or(1);
    let g = graph_mut(&mut out)?;
    let inputs = overridable(g);
    let weights: Vec<_> = compute_weights(g).into_iter().filter(|(name, _)| !inputs.contains(name)).collect();
    if weights.is_empty() {
        return Err(OptimizeError::Unsupported(
            "int8: the model has no float MatMul/Gemm/Conv weight initializer to quantize".into(),
        ));
    }
    let mut taken = taken_names(g);
    let mut new_nodes = Vec::new();
    for (name, usage) in weights {
        let Some(pos) = g.initializer.iter().position(|t| t.name == name) else { continue };
        let t = g.initializer.remove(pos);
        let values = tensor_to_f32(&t)?;
        let (q, scales) = quantize_symmetric(&values, &t.dims, usage.axis);
        let q_name = fresh_name(&mut taken, &format!("{name}_quantized"));
        let s_name = fresh_name(&mut taken, &format!("{name}_scale"));
        g.initializer.push(i8_tensor(&q_name, &t.dims, &q));
        if opset >= 13 {
            let z_name = fresh_name(&mut taken, &format!("{name}_zero_point"));
            let (scale_dims, attrs) = match usage.axis {
                Some(a) => (vec![scales.len() as i64], vec![int_attr("axis", a as i64)]),
                None => (vec![], vec![]),
            };
            g.initializer.push(f32_tensor(&s_name, &scale_dims, &scales));
            g.initializer.push(i8_tensor(&z_name, &scale_dims, &vec![0; scales.len()]));
            let n_name = fresh_name(&mut taken, &format!("{name}_DequantizeLinear"));
            new_nodes.push(node("DequantizeLinear", &n_name, &[&q_name, &s_name, &z_name], &[&name], attrs));
        } else {
            // Broadcast shape: 1 everywhere but the channel axis.
            let scale_dims: Vec<i64> = match usage.axis {
                Some(a) => (0..t.dims.len()).map(|d| if d == a { scales.len() as i64 } else { 1 }).collect(),
                None => vec![],
            };
            g.initializer.push(f32_tensor(&s_name, &scale_dims, &scales));
            let as_float = fresh_name(&mut taken, &format!("{name}_int8_as_float"));
            let cast = fresh_name(&mut taken, &format!("{name}_Cast"));
            let mul = fresh_name(&mut taken, &format!("{name}_Dequantize"));
            new_nodes.push(node("Cast", &cast, &[&q_name], &[&as_float], vec![int_attr("to", DataType::Float as i64)]));
            new_nodes.push(node("Mul", &mul, &[&as_float, &s_name], &[&name], vec![]));
        }
    }
    // The dequantizing nodes read only initializers, so they may go first.
    new_nodes.append(&mut g.node);
    g.node = new_nodes;
    g.value_info.clear();
    super::weights::tidy_inputs(g, graph(model)?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_channel_scales_follow_the_axis() {
        // [2, 3] weight, channels along axis 1: columns.
        let w = [1.0, -2.0, 0.0, 0.5, 4.0, 0.0];
        let (q, s) = quantize_symmetric(&w, &[2, 3], Some(1));
        assert_eq!(s, vec![1.0 / 127.0, 4.0 / 127.0, 1.0]);
        assert_eq!(q, vec![127, -64, 0, 64, 127, 0]);
        let (_, s0) = quantize_symmetric(&w, &[2, 3], None);
        assert_eq!(s0, vec![4.0 / 127.0]);
    }
}
