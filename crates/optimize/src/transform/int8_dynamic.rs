//! `int8-dynamic`: MatMul / Gemm with a constant weight become
//! `DynamicQuantizeLinear(x)` + `MatMulInteger(x_u8, w_i8)` + rescale, the
//! pattern ONNX Runtime's `quantize_dynamic` writes, so the product is
//! computed in integers (u8 × i8 → i32) at run time.
//!
//! Weights are per-output-column symmetric int8 (zero point 0); the
//! activation is quantized per tensor on every call. Gemm's `transB` is
//! applied to the stored weight, `alpha` folds into the weight scales and
//! `beta · C` into the bias. Conv stays float (tract's ConvInteger wants
//! u8×u8 or i8×i8, not the u8×i8 this pattern makes).
//! Whether this is faster depends on the runtime: measure it (see the
//! evaluation report) rather than assume.

use super::int8::quantize_symmetric;
use super::weights::overridable;
use crate::error::{OptimizeError, Result};
use crate::proto::{
    GraphIndex, attr_f, attr_i, f32_tensor, fresh_name, graph, graph_mut, i8_tensor, int_attr, node, opset,
    taken_names, tensor_to_f32,
};
use std::collections::HashMap;
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

/// Rewrite MatMul / Gemm nodes with constant weights to integer matmuls.
pub fn int8_dynamic(model: &pb::ModelProto) -> Result<pb::ModelProto> {
    let version = opset(model).unwrap_or(1);
    if version < 11 {
        return Err(OptimizeError::Unsupported(format!(
            "int8-dynamic needs opset ≥ 11 (DynamicQuantizeLinear); the model imports opset {version}"
        )));
    }
    let mut out = model.clone();
    let g = graph_mut(&mut out)?;
    let ix = GraphIndex::new(g);
    let inputs = overridable(g);
    let mut taken = taken_names(g);
    // Activation tensor → its (x_u8, x_scale, x_zero_point), shared by all readers.
    let mut quantized_acts: HashMap<String, [String; 3]> = HashMap::new();
    // Weight name (+ transposition, alpha) → (w_i8, w_scale, w_zero_point).
    let mut quantized_weights: HashMap<String, [String; 3]> = HashMap::new();
    let mut new_inits = Vec::new();
    let mut nodes = Vec::with_capacity(g.node.len());
    let mut rewritten = 0;
    for n in std::mem::take(&mut g.node) {
        let plan = plan_node(&n, g, &ix, &inputs)?;
        let Some(plan) = plan else {
            nodes.push(n);
            continue;
        };
        rewritten += 1;
        let x = &n.input[0];
        let y = &n.output[0];
        let base = if n.name.is_empty() { y.clone() } else { n.name.clone() };
        let act = match quantized_acts.get(x) {
            Some(a) => a.clone(),
            None => {
                let a = [
                    fresh_name(&mut taken, &format!("{x}_quantized")),
                    fresh_name(&mut taken, &format!("{x}_scale")),
                    fresh_name(&mut taken, &format!("{x}_zero_point")),
                ];
                let dq = fresh_name(&mut taken, &format!("{x}_DynamicQuantizeLinear"));
                nodes.push(node("DynamicQuantizeLinear", &dq, &[x], &[&a[0], &a[1], &a[2]], vec![]));
                quantized_acts.insert(x.clone(), a.clone());
                a
            }
        };
        let key = format!("{}|{}|{}", plan.weight_name, plan.transposed, plan.alpha);
        let w = match quantized_weights.get(&key) {
            Some(w) => w.clone(),
            None => {
                let (q, mut scales) = quantize_symmetric(&plan.weight, &plan.dims, Some(1));
                scales.iter_mut().for_each(|s| *s *= plan.alpha);
                let cols = plan.dims[1];
                let w = [
                    fresh_name(&mut taken, &format!("{}_quantized", plan.weight_name)),
                    fresh_name(&mut taken, &format!("{}_scale", plan.weight_name)),
                    fresh_name(&mut taken, &format!("{}_zero_point", plan.weight_name)),
                ];
                new_inits.push(i8_tensor(&w[0], &plan.dims, &q));
                new_inits.push(f32_tensor(&w[1], &[cols], &scales));
                new_inits.push(i8_tensor(&w[2], &[cols], &vec![0; cols as usize]));
                quantized_weights.insert(key, w.clone());
                w
            }
        };
        let acc = fresh_name(&mut taken, &format!("{base}_int32"));
        let acc_f = fresh_name(&mut taken, &format!("{base}_int32_as_float"));
        let scale = fresh_name(&mut taken, &format!("{base}_scale"));
        nodes.push(node(
            "MatMulInteger",
            &fresh_name(&mut taken, &format!("{base}_MatMulInteger")),
            &[&act[0], &w[0], &act[2], &w[2]],
            &[&acc],
            vec![],
        ));
        nodes.push(node(
            "Cast",
            &fresh_name(&mut taken, &format!("{base}_Cast")),
            &[&acc],
            &[&acc_f],
            vec![int_attr("to", DataType::Float as i64)],
        ));
        nodes.push(node(
            "Mul",
            &fresh_name(&mut taken, &format!("{base}_ScaleProduct")),
            &[&act[1], &w[1]],
            &[&scale],
            vec![],
        ));
        match plan.bias {
            None => nodes.push(node(
                "Mul",
                &fresh_name(&mut taken, &format!("{base}_Rescale")),
                &[&acc_f, &scale],
                &[y],
                vec![],
            )),
            Some(bias) => {
                let pre = fresh_name(&mut taken, &format!("{base}_no_bias"));
                nodes.push(node(
                    "Mul",
                    &fresh_name(&mut taken, &format!("{base}_Rescale")),
                    &[&acc_f, &scale],
                    &[&pre],
                    vec![],
                ));
                let b_name = fresh_name(&mut taken, &format!("{base}_bias"));
                new_inits.push(f32_tensor(&b_name, &bias.1, &bias.0));
                nodes.push(node(
                    "Add",
                    &fresh_name(&mut taken, &format!("{base}_AddBias")),
                    &[&pre, &b_name],
                    &[y],
                    vec![],
                ));
            }
        }
    }
    if rewritten == 0 {
        return Err(OptimizeError::Unsupported(
            "int8-dynamic: the model has no MatMul/Gemm with a float weight initializer to rewrite".into(),
        ));
    }
    g.node = nodes;
    g.initializer.extend(new_inits);
    // Float weights nobody reads any more go.
    let still_read: std::collections::HashSet<String> = g.node.iter().flat_map(|n| n.input.iter().cloned()).collect();
    g.initializer.retain(|t| still_read.contains(&t.name) || ix.outputs.contains(&t.name));
    g.value_info.clear();
    super::weights::tidy_inputs(g, graph(model)?);
    Ok(out)
}

struct Plan {
    weight_name: String,
    /// The weight as [K, N] (already transposed for Gemm's transB).
    weight: Vec<f32>,
    dims: Vec<i64>,
    transposed: bool,
    alpha: f32,
    /// Gemm's `beta · C`, values and dims.
    bias: Option<(Vec<f32>, Vec<i64>)>,
}

fn plan_node(
    n: &pb::NodeProto,
    g: &pb::GraphProto,
    ix: &GraphIndex,
    inputs: &std::collections::HashSet<String>,
) -> Result<Option<Plan>> {
    if !matches!(n.op_type.as_str(), "MatMul" | "Gemm") || n.input.len() < 2 {
        return Ok(None);
    }
    let w_name = &n.input[1];
    let Some(t) = ix.init(g, w_name) else { return Ok(None) };
    if t.data_type != DataType::Float as i32 || t.dims.len() != 2 || inputs.contains(w_name) {
        return Ok(None);
    }
    let mut weight = tensor_to_f32(t)?;
    let mut dims = t.dims.clone();
    let (mut transposed, mut alpha, mut bias) = (false, 1.0, None);
    if n.op_type == "Gemm" {
        if attr_i(n, "transA").unwrap_or(0) != 0 {
            return Ok(None);
        }
        alpha = attr_f(n, "alpha").unwrap_or(1.0);
        if attr_i(n, "transB").unwrap_or(0) == 1 {
            let (r, c) = (dims[0] as usize, dims[1] as usize);
            weight = (0..c * r).map(|i| weight[(i % r) * c + i / r]).collect();
            dims = vec![c as i64, r as i64];
            transposed = true;
        }
        if let Some(c) = n.input.get(2).filter(|s| !s.is_empty()) {
            let Some(ct) = ix.init(g, c) else { return Ok(None) };
            if ct.data_type != DataType::Float as i32 || inputs.contains(c) {
                return Ok(None);
            }
            let beta = attr_f(n, "beta").unwrap_or(1.0);
            bias = Some((tensor_to_f32(ct)?.iter().map(|v| v * beta).collect(), ct.dims.clone()));
        }
    }
    Ok(Some(Plan { weight_name: w_name.clone(), weight, dims, transposed, alpha, bias }))
}
