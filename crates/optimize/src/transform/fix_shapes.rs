//! `fix-shapes:B`: make every input shape concrete (batch B), give the
//! outputs concrete shapes, drop stale intermediate `value_info` (tract
//! refuses symbolic dims there once the input is concrete) and fold
//! constant subgraphs into initializers.
//!
//! Folding evaluates each node whose inputs are all constants with tract
//! itself (a one-node model), so any op tract knows folds; `Shape` of a
//! now-concrete tensor becomes a constant too. A fold that would grow the
//! file (e.g. `DequantizeLinear` of int8 weights) is skipped: the point of
//! those nodes is to keep the stored weights small.

use super::weights::overridable;
use crate::error::{OptimizeError, Result};
use crate::proto::{self, GraphIndex, graph_mut, i64_tensor, tensor_bytes};
use crate::runner::real_inputs;
use crate::shapes;
use std::collections::HashSet;
use tract_onnx::pb;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as D;
use tract_onnx::prelude::*;

/// Fix the batch size to `batch` and fold constants.
pub fn fix_shapes(model: &pb::ModelProto, batch: u32) -> Result<pb::ModelProto> {
    if batch == 0 {
        return Err(OptimizeError::BadInput("fix-shapes: the batch must be at least 1".into()));
    }
    let batch = i64::from(batch);
    let opset = proto::opset(model).unwrap_or(13);
    let mut out = model.clone();
    let g = graph_mut(&mut out)?;
    let real: HashSet<String> = real_inputs(g).iter().map(|v| v.name.clone()).collect();
    for v in g.input.iter_mut().filter(|v| real.contains(&v.name)) {
        set_dims(v, batch, true)?;
    }
    let facts = shapes::infer(g, batch);
    for v in g.output.iter_mut() {
        set_dims(v, batch, false)?;
        if let Some(f) = facts.get(&v.name) {
            fill_from(v, &f.shape);
        }
    }
    g.value_info.clear();
    fold_constants(g, opset)?;
    Ok(out)
}

fn tensor_dims(v: &mut pb::ValueInfoProto) -> Option<&mut Vec<pb::tensor_shape_proto::Dimension>> {
    match v.r#type.as_mut()?.value.as_mut()? {
        pb::type_proto::Value::TensorType(t) => t.shape.as_mut().map(|s| &mut s.dim),
    }
}

/// Set a symbolic leading dim to the batch; other symbolic dims of an
/// input cannot be guessed.
fn set_dims(v: &mut pb::ValueInfoProto, batch: i64, is_input: bool) -> Result<()> {
    let name = v.name.clone();
    let Some(dims) = tensor_dims(v) else {
        return if is_input {
            Err(OptimizeError::Unsupported(format!("fix-shapes: input `{name}` has no declared shape")))
        } else {
            Ok(())
        };
    };
    for (i, d) in dims.iter_mut().enumerate() {
        match &d.value {
            Some(D::DimValue(n)) if *n > 0 && i == 0 && *n != batch && is_input => {
                return Err(OptimizeError::BadInput(format!(
                    "fix-shapes: input `{name}` already has a fixed batch of {n}, not {batch}"
                )));
            }
            Some(D::DimValue(n)) if *n > 0 => {}
            _ if i == 0 => d.value = Some(D::DimValue(batch)),
            _ if is_input => {
                return Err(OptimizeError::Unsupported(format!(
                    "fix-shapes: input `{name}` dimension {i} is symbolic; only the batch (first) dimension can be fixed"
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

fn fill_from(v: &mut pb::ValueInfoProto, shape: &[i64]) {
    if let Some(dims) = tensor_dims(v)
        && dims.len() == shape.len()
    {
        for (d, &n) in dims.iter_mut().zip(shape) {
            d.value = Some(D::DimValue(n));
        }
    }
}

/// Replace constant-only nodes by initializers until nothing changes.
fn fold_constants(g: &mut pb::GraphProto, opset: i64) -> Result<usize> {
    let mut folded = 0;
    loop {
        let inputs = overridable(g);
        let facts = shapes::infer(g, 1);
        let constants: HashSet<String> =
            g.initializer.iter().map(|t| t.name.clone()).filter(|n| !inputs.contains(n)).collect();
        let mut change = None;
        for (i, n) in g.node.iter().enumerate() {
            let computed = match n.op_type.as_str() {
                "Constant" => proto::attr_t(n, "value").map(|t| vec![t.clone()]),
                "Shape" if n.attribute.is_empty() => {
                    // Shapes are known only when no dim was taken for the batch guess.
                    let known = n.input.first().and_then(|x| facts.get(x)).filter(|_| !has_symbolic_input(g));
                    known.map(|f| vec![i64_tensor("", &[f.shape.len() as i64], &f.shape)])
                }
                _ if !n.input.is_empty() && n.input.iter().all(|x| x.is_empty() || constants.contains(x)) => {
                    evaluate(g, n, opset)?
                }
                _ => None,
            };
            let Some(mut tensors) = computed else { continue };
            let in_bytes: u64 =
                n.input.iter().filter_map(|x| g.initializer.iter().find(|t| &t.name == x)).map(tensor_bytes).sum();
            let out_bytes: u64 = tensors.iter().map(tensor_bytes).sum();
            if n.op_type != "Constant" && n.op_type != "Shape" && out_bytes > in_bytes {
                continue;
            }
            for (t, name) in tensors.iter_mut().zip(&n.output) {
                t.name = name.clone();
            }
            change = Some((i, tensors));
            break;
        }
        let Some((i, tensors)) = change else { break };
        g.node.remove(i);
        g.initializer.extend(tensors);
        folded += 1;
        // Drop initializers nothing reads any more.
        let ix = GraphIndex::new(g);
        g.initializer.retain(|t| {
            !ix.consumers_of(&t.name).is_empty() || ix.outputs.contains(&t.name) || inputs.contains(&t.name)
        });
    }
    Ok(folded)
}

/// Whether some input dimension is still symbolic (then no Shape is a
/// constant).
fn has_symbolic_input(g: &pb::GraphProto) -> bool {
    real_inputs(g).iter().any(|v| crate::runner::value_dims(v).iter().any(Option::is_none))
}

/// Run one node on its constant inputs with tract; `None` when tract
/// cannot (the node is then left in place).
fn evaluate(g: &pb::GraphProto, n: &pb::NodeProto, opset: i64) -> Result<Option<Vec<pb::TensorProto>>> {
    let inits: Vec<pb::TensorProto> =
        n.input.iter().filter_map(|x| g.initializer.iter().find(|t| &t.name == x).cloned()).collect();
    let mini = pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: opset }],
        graph: Some(pb::GraphProto {
            node: vec![n.clone()],
            name: "fold".into(),
            initializer: inits,
            output: n.output.iter().map(|o| pb::ValueInfoProto { name: o.clone(), ..Default::default() }).collect(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let run = || -> TractResult<TVec<TValue>> {
        tract_onnx::onnx().model_for_proto_model(&mini)?.into_typed()?.into_runnable()?.run(tvec!())
    };
    let Ok(values) = run() else { return Ok(None) };
    let mut out = Vec::new();
    for v in values {
        match to_proto(&v) {
            Some(t) => out.push(t),
            None => return Ok(None),
        }
    }
    Ok(Some(out))
}

fn to_proto(t: &Tensor) -> Option<pb::TensorProto> {
    let dims: Vec<i64> = t.shape().iter().map(|&d| d as i64).collect();
    fn values<D: Datum + Copy>(t: &Tensor) -> Option<Vec<D>> {
        Some(t.to_plain_array_view::<D>().ok()?.iter().copied().collect())
    }
    Some(match t.datum_type() {
        DatumType::F32 => proto::f32_tensor("", &dims, &values::<f32>(t)?),
        DatumType::I64 => i64_tensor("", &dims, &values::<i64>(t)?),
        DatumType::I8 => proto::i8_tensor("", &dims, &values::<i8>(t)?),
        _ => return None,
    })
}
