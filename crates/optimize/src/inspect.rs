//! Static profile of an ONNX model ([`ModelProfile`]): parameters, weight
//! bytes, FLOPs and peak activation memory per sample, ops, opset and the
//! declared inputs and outputs. Nothing is run, so models tract cannot run
//! still inspect.
//!
//! Conventions (so the numbers can be checked by hand):
//! - a multiply-add counts 2 FLOPs: MatMul `[M,K]×[K,N]` is `2·M·K·N`; Gemm
//!   adds `M·N` for the bias; Conv is `2·Cout·Hout·Wout·(Cin/group)·kh·kw`
//!   plus `Cout·Hout·Wout` for the bias;
//! - elementwise ops count one FLOP per output element, Softmax three,
//!   pooling one per window element; reshapes, casts and quantization
//!   bookkeeping count zero;
//! - peak activation bytes walk the nodes in topological order keeping a
//!   tensor alive from the node that makes it to its last reader (graph
//!   inputs from the start, outputs to the end); the peak is the largest
//!   live total while a node runs, at batch 1. Initializers are weights,
//!   not activations.

use crate::error::{OptimizeError, Result};
use crate::proto::{
    attr_i, decode_model, elem_size_bytes, elem_type_name, graph, opset, qualified_op, tensor_bytes, tensor_len,
};
use crate::runner::real_inputs;
use crate::shapes::{self, ShapeMap};
use edgefleet_core::{Dim, ModelProfile, TensorInfo};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use tract_onnx::pb;

/// Profile a model file.
pub fn inspect_path(path: &Path) -> Result<ModelProfile> {
    let bytes = std::fs::read(path).map_err(|source| OptimizeError::Io { path: path.display().to_string(), source })?;
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    inspect_bytes(&bytes, &name)
}

/// Profile a model given as ONNX bytes.
pub fn inspect_bytes(bytes: &[u8], name: &str) -> Result<ModelProfile> {
    let model = decode_model(bytes)?;
    let mut profile = inspect_model(&model, name)?;
    profile.file_bytes = bytes.len() as u64;
    Ok(profile)
}

/// Profile a decoded model; `file_bytes` is its encoded size.
pub fn inspect_model(model: &pb::ModelProto, name: &str) -> Result<ModelProfile> {
    let g = graph(model)?;
    check_topological(g)?;
    let shapes = shapes::infer(g, 1);
    let params: u64 = g.initializer.iter().map(tensor_len).sum();
    let weights_bytes: u64 = g.initializer.iter().map(tensor_bytes).sum();
    let ops: BTreeSet<String> = g.node.iter().map(qualified_op).collect();
    Ok(ModelProfile {
        name: name.to_owned(),
        params,
        weights_bytes,
        file_bytes: crate::proto::encode_model(model).len() as u64,
        flops_per_sample: g.node.iter().map(|n| node_flops(n, &shapes)).sum(),
        peak_activation_bytes_per_sample: peak_activation_bytes(g, &shapes),
        ops: ops.into_iter().collect(),
        opset: opset(model),
        inputs: real_inputs(g).into_iter().map(tensor_info).collect(),
        outputs: g.output.iter().map(tensor_info).collect(),
        target_device_types: Vec::new(),
        accuracy: None,
        work: crate::layer_work::layer_work(g, &shapes),
    })
}

/// Op types whose output shapes the static analysis could not derive; their
/// FLOPs and activations are missing from the profile.
pub fn unknown_shape_ops(model: &pb::ModelProto) -> Result<Vec<String>> {
    Ok(shapes::infer(graph(model)?, 1).unknown_ops.into_iter().collect())
}

/// Check a decoded model is a usable graph: it has one, and every node
/// reads only tensors defined before it.
pub fn check_well_formed(model: &pb::ModelProto) -> Result<()> {
    check_topological(graph(model)?)
}

/// Every node input must be a graph input, an initializer, or the output
/// of an earlier node (ONNX requires topological order).
pub(crate) fn check_topological(g: &pb::GraphProto) -> Result<()> {
    let mut known: std::collections::HashSet<&str> =
        g.input.iter().map(|i| i.name.as_str()).chain(g.initializer.iter().map(|t| t.name.as_str())).collect();
    for (i, n) in g.node.iter().enumerate() {
        if let Some(missing) = n.input.iter().find(|s| !s.is_empty() && !known.contains(s.as_str())) {
            return Err(OptimizeError::Decode(format!(
                "node #{i} `{}` ({}) reads `{missing}`, which no earlier node, input or initializer provides",
                n.name, n.op_type
            )));
        }
        known.extend(n.output.iter().map(String::as_str));
    }
    if let Some(o) = g.output.iter().find(|o| !known.contains(o.name.as_str())) {
        return Err(OptimizeError::Decode(format!("graph output `{}` is never produced", o.name)));
    }
    Ok(())
}

fn tensor_info(v: &pb::ValueInfoProto) -> TensorInfo {
    use pb::tensor_shape_proto::dimension::Value as D;
    let (elem_type, shape) = match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(pb::type_proto::Value::TensorType(t)) => (
            elem_type_name(t.elem_type),
            t.shape
                .as_ref()
                .map(|s| {
                    s.dim
                        .iter()
                        .map(|d| match &d.value {
                            Some(D::DimValue(n)) => Dim::Fixed(*n),
                            Some(D::DimParam(p)) => Dim::Symbolic(p.clone()),
                            None => Dim::Symbolic("?".into()),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        ),
        None => ("unknown".into(), Vec::new()),
    };
    TensorInfo { name: v.name.clone(), elem_type, shape }
}

fn numel(shapes: &ShapeMap, name: Option<&String>) -> u64 {
    name.and_then(|n| shapes.get(n)).map(|f| f.len()).unwrap_or(0)
}

/// FLOPs of one node at batch 1 (0 when its shapes are unknown).
pub fn node_flops(n: &pb::NodeProto, shapes: &ShapeMap) -> u64 {
    let out = numel(shapes, n.output.first());
    let input = |i: usize| n.input.get(i).and_then(|s| shapes.get(s));
    match n.op_type.as_str() {
        "MatMul" | "MatMulInteger" => {
            let k = input(0).and_then(|f| f.shape.last().copied()).unwrap_or(0).max(0) as u64;
            2 * out * k
        }
        "Gemm" => {
            let k = match (input(0), attr_i(n, "transA").unwrap_or(0)) {
                (Some(f), 0) => f.shape.get(1).copied().unwrap_or(0),
                (Some(f), _) => f.shape.first().copied().unwrap_or(0),
                (None, _) => 0,
            }
            .max(0) as u64;
            let bias = if n.input.len() > 2 && !n.input[2].is_empty() { out } else { 0 };
            2 * out * k + bias
        }
        "Conv" | "ConvInteger" => {
            // weight [Cout, Cin/group, k...]: each output element costs Cin/group·∏k MACs.
            let per_out: u64 =
                input(1).map(|w| w.shape.iter().skip(1).map(|&d| d.max(0) as u64).product()).unwrap_or(0);
            let bias = if n.input.len() > 2 && !n.input[2].is_empty() { out } else { 0 };
            2 * out * per_out + bias
        }
        "MaxPool" | "AveragePool" | "LpPool" => {
            let window: u64 = crate::proto::attr_ints(n, "kernel_shape")
                .unwrap_or_default()
                .iter()
                .map(|&k| k.max(0) as u64)
                .product();
            out * window
        }
        "GlobalAveragePool" | "GlobalMaxPool" | "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" => {
            numel(shapes, n.input.first())
        }
        "Softmax" | "LogSoftmax" => 3 * out,
        "BatchNormalization" | "InstanceNormalization" | "LayerNormalization" => 2 * out,
        "Relu" | "LeakyRelu" | "Sigmoid" | "Tanh" | "Clip" | "Exp" | "Log" | "Sqrt" | "Neg" | "Abs" | "Erf" | "Elu"
        | "Selu" | "Softplus" | "Gelu" | "HardSigmoid" | "HardSwish" | "PRelu" | "Add" | "Sub" | "Mul" | "Div"
        | "Pow" | "Max" | "Min" | "Sum" | "Mean" | "Reciprocal" => out,
        _ => 0,
    }
}

/// Peak bytes of live activations at batch 1, by tensor liveness over the
/// node order.
pub fn peak_activation_bytes(g: &pb::GraphProto, shapes: &ShapeMap) -> u64 {
    let inits: std::collections::HashSet<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    let bytes = |name: &str| shapes.get(name).map(|f| f.len() * elem_size_bytes(f.elem_type)).unwrap_or(0);
    let outputs: std::collections::HashSet<&str> = g.output.iter().map(|o| o.name.as_str()).collect();
    // Index of the last node reading each tensor.
    let mut last_use: HashMap<&str, usize> = HashMap::new();
    for (i, n) in g.node.iter().enumerate() {
        for inp in n.input.iter().filter(|s| !s.is_empty()) {
            last_use.insert(inp.as_str(), i);
        }
    }
    let mut live: HashMap<&str, u64> = HashMap::new();
    for v in real_inputs(g) {
        live.insert(v.name.as_str(), bytes(&v.name));
    }
    let mut peak: u64 = live.values().sum();
    for (i, n) in g.node.iter().enumerate() {
        for o in n.output.iter().filter(|s| !s.is_empty() && !inits.contains(s.as_str())) {
            live.insert(o.as_str(), bytes(o));
        }
        peak = peak.max(live.values().sum());
        live.retain(|name, _| outputs.contains(name) || last_use.get(name).is_some_and(|&last| last > i));
    }
    peak
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_decode_error() {
        let e = inspect_bytes(b"this is not onnx", "x").unwrap_err();
        assert!(matches!(e, OptimizeError::Decode(_)), "{e}");
    }
}
