//! `prune-structured:R`: remove the weakest fraction R of hidden units (of
//! MatMul / Gemm layers) and conv channels, together with the matching rows
//! (or input channels) of the layer that reads them, so tensors and FLOPs
//! really shrink.
//!
//! A layer is pruned only when its output reaches exactly one next layer
//! through a plain chain: an optional bias Add, elementwise activations,
//! pooling (conv only) and a Flatten (conv → dense, where each channel owns
//! a block of `H·W` flattened features). Output layers, shared weights and
//! weights listed as graph inputs are left alone. A unit's importance is
//! the L2 norm of its incoming weights times that of its outgoing weights.

use super::weights::overridable;
use crate::error::{OptimizeError, Result};
use crate::proto::{GraphIndex, attr_i, f32_tensor, graph, graph_mut, tensor_to_f32};
use crate::shapes;
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

const PASS_THROUGH: [&str; 11] =
    ["Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "Dropout", "Identity", "HardSwish", "Elu", "Selu", "Gelu"];

/// A weight (or bias) slice to keep: initializer, axis, group size.
#[derive(Debug, Clone)]
struct Cut {
    init: String,
    axis: usize,
    /// Consecutive indices per unit along `axis` (H·W after a Flatten).
    group: usize,
}

#[derive(Debug)]
struct Chain {
    units: usize,
    /// The producing layer's weight and bias slices.
    produce: Vec<Cut>,
    /// The reading layer's weight slice.
    consume: Cut,
}

/// Remove `ratio` of the hidden units / channels of every prunable layer.
pub fn prune_structured(model: &pb::ModelProto, ratio: f64) -> Result<pb::ModelProto> {
    if !(0.0..1.0).contains(&ratio) {
        return Err(OptimizeError::BadInput(format!("prune-structured: ratio must be in [0, 1), got {ratio}")));
    }
    let mut out = model.clone();
    let node_count = graph(&out)?.node.len();
    let mut pruned_layers = 0;
    for i in 0..node_count {
        let g = graph(&out)?;
        let Some(chain) = find_chain(g, i)? else { continue };
        let remove = ((chain.units as f64) * ratio).floor() as usize;
        let remove = remove.min(chain.units - 1);
        pruned_layers += 1;
        if remove == 0 {
            continue;
        }
        let keep = units_to_keep(g, &chain, chain.units - remove)?;
        let g = graph_mut(&mut out)?;
        for cut in chain.produce.iter().chain(std::iter::once(&chain.consume)) {
            let t = g
                .initializer
                .iter_mut()
                .find(|t| t.name == cut.init)
                .ok_or_else(|| OptimizeError::Decode(format!("initializer `{}` vanished", cut.init)))?;
            let (values, dims) = slice_units(&tensor_to_f32(t)?, &t.dims, cut, &keep);
            *t = f32_tensor(&t.name, &dims, &values);
        }
    }
    if pruned_layers == 0 {
        return Err(OptimizeError::Unsupported(
            "prune-structured: no hidden layer feeds exactly one next MatMul/Gemm/Conv through a plain chain".into(),
        ));
    }
    // Declared intermediate shapes are stale now.
    let g = graph_mut(&mut out)?;
    g.value_info.clear();
    super::weights::tidy_inputs(g, graph(model)?);
    Ok(out)
}

fn float_init<'g>(
    g: &'g pb::GraphProto,
    ix: &GraphIndex,
    name: &str,
    inputs: &std::collections::HashSet<String>,
) -> Option<&'g pb::TensorProto> {
    let t = ix.init(g, name)?;
    // Sole reader, float, not overridable.
    (t.data_type == DataType::Float as i32 && ix.consumers_of(name).len() == 1 && !inputs.contains(name)).then_some(t)
}

/// The chain from layer `i` to the one layer reading its units, if any.
fn find_chain(g: &pb::GraphProto, i: usize) -> Result<Option<Chain>> {
    let ix = GraphIndex::new(g);
    let inputs = overridable(g);
    let n = &g.node[i];
    let is_conv = n.op_type == "Conv";
    if !matches!(n.op_type.as_str(), "MatMul" | "Gemm" | "Conv") || n.input.len() < 2 {
        return Ok(None);
    }
    if is_conv && attr_i(n, "group").unwrap_or(1) != 1 {
        return Ok(None);
    }
    if n.op_type == "Gemm" && attr_i(n, "transA").unwrap_or(0) != 0 {
        return Ok(None);
    }
    let Some(w) = float_init(g, &ix, &n.input[1], &inputs) else { return Ok(None) };
    let axis = super::weights::channel_axis(n, w.dims.len()).unwrap_or(0);
    if w.dims.len() < 2 || (!is_conv && w.dims.len() != 2) {
        return Ok(None);
    }
    let units = w.dims[axis] as usize;
    if units < 2 {
        return Ok(None);
    }
    let mut produce = vec![Cut { init: w.name.clone(), axis, group: 1 }];
    if let Some(b) = n.input.get(2).filter(|s| !s.is_empty()) {
        let Some(bt) = float_init(g, &ix, b, &inputs) else { return Ok(None) };
        if bt.dims.iter().product::<i64>() != units as i64 {
            return Ok(None);
        }
        produce.push(Cut { init: b.clone(), axis: bt.dims.len() - 1, group: 1 });
    }
    let mut cur = n.output[0].clone();
    let mut group = 1;
    let mut flattened = false;
    loop {
        let readers = ix.consumers_of(&cur);
        if readers.len() != 1 || ix.outputs.contains(&cur) {
            return Ok(None);
        }
        let c = &g.node[readers[0]];
        let op = c.op_type.as_str();
        if c.input.first() != Some(&cur) {
            // `cur` is read as something other than the data input.
            if op == "Add" && !is_conv && c.input.get(1) == Some(&cur) {
                // bias + x is the same as x + bias
            } else {
                return Ok(None);
            }
        }
        match op {
            "Add" if !is_conv => {
                let other = if c.input[0] == cur { &c.input[1] } else { &c.input[0] };
                let Some(bt) = float_init(g, &ix, other, &inputs) else { return Ok(None) };
                if bt.dims.iter().product::<i64>() != units as i64 || bt.dims.last() != Some(&(units as i64)) {
                    return Ok(None);
                }
                produce.push(Cut { init: other.clone(), axis: bt.dims.len() - 1, group: 1 });
            }
            _ if PASS_THROUGH.contains(&op) => {}
            "MaxPool" | "AveragePool" | "GlobalAveragePool" | "GlobalMaxPool" if is_conv && !flattened => {}
            "Flatten" if is_conv && !flattened && attr_i(c, "axis").unwrap_or(1) == 1 => {
                let shapes = shapes::infer(g, 1);
                let Some(f) = shapes.get(&cur) else { return Ok(None) };
                group = f.shape.iter().skip(2).product::<i64>().max(1) as usize;
                flattened = true;
            }
            "MatMul" | "Gemm" if !is_conv || flattened => {
                if op == "Gemm" && attr_i(c, "transA").unwrap_or(0) != 0 {
                    return Ok(None);
                }
                let Some(w2) = c.input.get(1).and_then(|name| float_init(g, &ix, name, &inputs)) else {
                    return Ok(None);
                };
                if w2.dims.len() != 2 {
                    return Ok(None);
                }
                // The reading layer's input-feature axis.
                let in_axis = if op == "Gemm" && attr_i(c, "transB").unwrap_or(0) == 1 { 1 } else { 0 };
                if w2.dims[in_axis] != (units * group) as i64 {
                    return Ok(None);
                }
                return Ok(Some(Chain {
                    units,
                    produce,
                    consume: Cut { init: w2.name.clone(), axis: in_axis, group },
                }));
            }
            "Conv" if is_conv && !flattened && attr_i(c, "group").unwrap_or(1) == 1 => {
                let Some(w2) = c.input.get(1).and_then(|name| float_init(g, &ix, name, &inputs)) else {
                    return Ok(None);
                };
                if w2.dims.get(1) != Some(&(units as i64)) {
                    return Ok(None);
                }
                return Ok(Some(Chain { units, produce, consume: Cut { init: w2.name.clone(), axis: 1, group: 1 } }));
            }
            _ => return Ok(None),
        }
        cur = c.output[0].clone();
    }
}

/// L2 norm of each unit's slice of a tensor.
fn unit_norms(values: &[f32], dims: &[i64], cut: &Cut, units: usize) -> Vec<f64> {
    let stride: usize = dims[cut.axis + 1..].iter().map(|&d| d as usize).product();
    let len = dims[cut.axis] as usize;
    let mut norms = vec![0f64; units];
    for (i, v) in values.iter().enumerate() {
        let unit = ((i / stride) % len) / cut.group;
        norms[unit] += f64::from(*v) * f64::from(*v);
    }
    norms.iter().map(|s| s.sqrt()).collect()
}

/// The indices of the `keep` most important units, ascending.
fn units_to_keep(g: &pb::GraphProto, chain: &Chain, keep: usize) -> Result<Vec<usize>> {
    let ix = GraphIndex::new(g);
    let norms_of = |cut: &Cut| -> Result<Vec<f64>> {
        let t = ix
            .init(g, &cut.init)
            .ok_or_else(|| OptimizeError::Decode(format!("initializer `{}` vanished", cut.init)))?;
        Ok(unit_norms(&tensor_to_f32(t)?, &t.dims, cut, chain.units))
    };
    let incoming = norms_of(&chain.produce[0])?;
    let outgoing = norms_of(&chain.consume)?;
    let mut order: Vec<usize> = (0..chain.units).collect();
    order.sort_by(|&a, &b| (incoming[b] * outgoing[b]).total_cmp(&(incoming[a] * outgoing[a])));
    let mut kept = order[..keep].to_vec();
    kept.sort_unstable();
    Ok(kept)
}

/// Keep only the given units (each `cut.group` wide) along `cut.axis`.
fn slice_units(values: &[f32], dims: &[i64], cut: &Cut, keep: &[usize]) -> (Vec<f32>, Vec<i64>) {
    let outer: usize = dims[..cut.axis].iter().map(|&d| d as usize).product();
    let len = dims[cut.axis] as usize;
    let inner: usize = dims[cut.axis + 1..].iter().map(|&d| d as usize).product();
    let mut out = Vec::with_capacity(outer * keep.len() * cut.group * inner);
    for o in 0..outer {
        for &u in keep {
            for k in u * cut.group..(u + 1) * cut.group {
                let start = (o * len + k) * inner;
                out.extend_from_slice(&values[start..start + inner]);
            }
        }
    }
    let mut new_dims = dims.to_vec();
    new_dims[cut.axis] = (keep.len() * cut.group) as i64;
    (out, new_dims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slicing_keeps_grouped_columns() {
        // [2, 4] with 2 units of 2 columns each along axis 1; keep unit 1.
        let v = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
        let cut = Cut { init: "w".into(), axis: 1, group: 2 };
        let (out, dims) = slice_units(&v, &[2, 4], &cut, &[1]);
        assert_eq!(dims, vec![2, 2]);
        assert_eq!(out, vec![2.0, 3.0, 6.0, 7.0]);
        let norms = unit_norms(&v, &[2, 4], &cut, 2);
        assert!((norms[0] - (0.0f64 + 1.0 + 16.0 + 25.0).sqrt()).abs() < 1e-9);
    }
}
