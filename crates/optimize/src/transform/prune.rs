//! `prune:R`: magnitude pruning — zero the fraction R of smallest-magnitude
//! values of every MatMul / Gemm / Conv weight (per tensor).
//!
//! The file keeps its dense layout, so the raw size and the latency do not
//! change (tract has no sparse kernels and ONNX sparse initializers pay off
//! only below ~33 % density); what shrinks is the compressed size. Use
//! [`weight_sparsity`] and the zstd size in the report to see it.

use super::weights::{compute_weights, overridable};
use crate::error::{OptimizeError, Result};
use crate::proto::{f32_tensor, graph, graph_mut, tensor_len, tensor_to_f32, tensor_to_i64};
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

/// Zero the `sparsity` fraction of smallest weights in each layer.
pub fn prune(model: &pb::ModelProto, sparsity: f64) -> Result<pb::ModelProto> {
    if !(0.0..1.0).contains(&sparsity) {
        return Err(OptimizeError::BadInput(format!("prune: sparsity must be in [0, 1), got {sparsity}")));
    }
    let mut out = model.clone();
    let g = graph_mut(&mut out)?;
    let inputs = overridable(g);
    let weights: Vec<String> = compute_weights(g).into_keys().filter(|n| !inputs.contains(n)).collect();
    if weights.is_empty() {
        return Err(OptimizeError::Unsupported(
            "prune: the model has no float MatMul/Gemm/Conv weight initializer".into(),
        ));
    }
    for t in g.initializer.iter_mut().filter(|t| weights.contains(&t.name)) {
        let mut values = tensor_to_f32(t)?;
        let k = (values.len() as f64 * sparsity).floor() as usize;
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&a, &b| values[a].abs().total_cmp(&values[b].abs()));
        for &i in &order[..k] {
            values[i] = 0.0;
        }
        *t = f32_tensor(&t.name, &t.dims, &values);
    }
    Ok(out)
}

/// Fraction of exact zeros among the elements of all rank ≥ 2 initializers
/// (the weight matrices and kernels, float or quantized).
pub fn weight_sparsity(model: &pb::ModelProto) -> Result<f64> {
    let g = graph(model)?;
    let (mut zeros, mut total) = (0u64, 0u64);
    for t in g.initializer.iter().filter(|t| t.dims.len() >= 2) {
        let z = if t.data_type == DataType::Float as i32 || t.data_type == DataType::Float16 as i32 {
            tensor_to_f32(t)?.iter().filter(|&&v| v == 0.0).count()
        } else {
            match tensor_to_i64(t) {
                Ok(v) => v.iter().filter(|&&v| v == 0).count(),
                Err(_) => continue,
            }
        };
        zeros += z as u64;
        total += tensor_len(t);
    }
    Ok(if total == 0 { 0.0 } else { zeros as f64 / total as f64 })
}
