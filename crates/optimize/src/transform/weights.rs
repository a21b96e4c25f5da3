//! Finding the weights of compute layers and the per-channel axis each one
//! is quantized or pruned along (the rules ONNX Runtime uses too).

use crate::proto::{GraphIndex, attr_i};
use std::collections::BTreeMap;
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

/// A float initializer read as the weight of MatMul / Gemm / Conv nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightUse {
    /// The output-channel axis, or `None` when the nodes sharing this
    /// weight disagree on it (then a single per-tensor scale is used).
    pub axis: Option<usize>,
    /// Nodes reading it.
    pub nodes: Vec<usize>,
}

/// The output-channel axis of a node's weight input (input 1).
pub fn channel_axis(node: &pb::NodeProto, rank: usize) -> Option<usize> {
    match node.op_type.as_str() {
        "Conv" => Some(0),
        "MatMul" => rank.checked_sub(1),
        "Gemm" => Some(if attr_i(node, "transB").unwrap_or(0) == 1 { 0 } else { 1 }),
        _ => None,
    }
}

/// Names we must not treat as rewritable constants. Initializers that are
/// also listed as graph inputs (every initializer is, below IR 4) are
/// rewritten like any other weight, and [`tidy_inputs`] then drops their
/// input entries, as ONNX Runtime's quantizer does; so this set is empty
/// today and kept as the one place to change that policy.
pub fn overridable(_graph: &pb::GraphProto) -> std::collections::HashSet<String> {
    std::collections::HashSet::new()
}

/// Drop graph-input entries that no longer describe a real input: names now
/// produced by a node, initializers that were removed, and initializers
/// whose declared shape no longer matches (after structured pruning).
pub fn tidy_inputs(graph: &mut pb::GraphProto, before: &pb::GraphProto) {
    use std::collections::{HashMap, HashSet};
    let produced: HashSet<&str> = graph.node.iter().flat_map(|n| n.output.iter().map(String::as_str)).collect();
    let inits: HashMap<&str, &Vec<i64>> = graph.initializer.iter().map(|t| (t.name.as_str(), &t.dims)).collect();
    let was_init: HashSet<&str> = before.initializer.iter().map(|t| t.name.as_str()).collect();
    let keep: Vec<bool> = graph
        .input
        .iter()
        .map(|v| {
            if produced.contains(v.name.as_str()) {
                return false;
            }
            if !was_init.contains(v.name.as_str()) {
                return true;
            }
            match inits.get(v.name.as_str()) {
                None => false,
                Some(dims) => {
                    let declared = crate::runner::value_dims(v);
                    declared.is_empty()
                        || declared.len() == dims.len() && declared.iter().zip(dims.iter()).all(|(d, n)| *d == Some(*n))
                }
            }
        })
        .collect();
    let mut k = keep.into_iter();
    graph.input.retain(|_| k.next().unwrap_or(true));
}

/// Every float weight (rank ≥ 2 initializer, input 1) of a MatMul, Gemm or
/// Conv, keyed by initializer name, in a stable order.
pub fn compute_weights(graph: &pb::GraphProto) -> BTreeMap<String, WeightUse> {
    let ix = GraphIndex::new(graph);
    let mut found: BTreeMap<String, WeightUse> = BTreeMap::new();
    for (i, n) in graph.node.iter().enumerate() {
        if !matches!(n.op_type.as_str(), "MatMul" | "Gemm" | "Conv") {
            continue;
        }
        let Some(w) = n.input.get(1) else { continue };
        let Some(t) = ix.init(graph, w) else { continue };
        if t.data_type != DataType::Float as i32 || t.dims.len() < 2 {
            continue;
        }
        let axis = channel_axis(n, t.dims.len());
        match found.get_mut(w) {
            Some(u) => {
                if u.axis != axis {
                    u.axis = None;
                }
                u.nodes.push(i);
            }
            None => {
                found.insert(w.clone(), WeightUse { axis, nodes: vec![i] });
            }
        }
    }
    found
}

/// Index of the channel that flat element `i` belongs to along `axis`.
pub fn channel_of(dims: &[i64], axis: usize, i: usize) -> usize {
    let stride: usize = dims[axis + 1..].iter().map(|&d| d.max(0) as usize).product();
    (i / stride.max(1)) % (dims[axis].max(1) as usize)
}
