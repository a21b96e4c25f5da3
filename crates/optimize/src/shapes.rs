//! Static shape propagation over an ONNX graph for a concrete batch size:
//! enough to count FLOPs and activation bytes, and to find the spatial size
//! of a flattened conv output when pruning channels.
//!
//! This covers the ops small classifiers use (dense, conv, pooling,
//! elementwise, reshaping, quantization). An op it does not know leaves
//! its outputs unknown (falling back to the graph's own `value_info`), and
//! [`ShapeMap::unknown_ops`] names it so callers can say so.

use crate::proto::{GraphIndex, attr_i, attr_ints, attr_t, tensor_to_i64};
use std::collections::{BTreeSet, HashMap};
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

/// Element type and concrete shape of one tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    pub elem_type: i32,
    pub shape: Vec<i64>,
}

impl Fact {
    pub fn len(&self) -> u64 {
        self.shape.iter().map(|&d| d.max(0) as u64).product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Shapes of every tensor whose shape could be worked out.
#[derive(Debug, Default)]
pub struct ShapeMap {
    pub facts: HashMap<String, Fact>,
    /// Op types whose output shapes could not be derived.
    pub unknown_ops: BTreeSet<String>,
}

impl ShapeMap {
    pub fn get(&self, name: &str) -> Option<&Fact> {
        self.facts.get(name)
    }
}

fn declared(v: &pb::ValueInfoProto, batch: i64) -> Option<Fact> {
    use pb::tensor_shape_proto::dimension::Value as D;
    let pb::type_proto::Value::TensorType(t) = v.r#type.as_ref()?.value.as_ref()?;
    let dims = &t.shape.as_ref()?.dim;
    let mut shape = Vec::with_capacity(dims.len());
    for (i, d) in dims.iter().enumerate() {
        match &d.value {
            Some(D::DimValue(n)) if *n >= 0 => shape.push(*n),
            // A symbolic or missing leading dim is the batch.
            _ if i == 0 => shape.push(batch),
            _ => return None,
        }
    }
    Some(Fact { elem_type: t.elem_type, shape })
}

fn broadcast(a: &[i64], b: &[i64]) -> Option<Vec<i64>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let x = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let y = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out[i] = match (x, y) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

fn matmul_shape(a: &[i64], b: &[i64]) -> Option<Vec<i64>> {
    let (a2, squeeze_a) = if a.len() == 1 { (vec![1, a[0]], true) } else { (a.to_vec(), false) };
    let (b2, squeeze_b) = if b.len() == 1 { (vec![b[0], 1], true) } else { (b.to_vec(), false) };
    let (m, k1) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k1 != k2 {
        return None;
    }
    let mut out = broadcast(&a2[..a2.len() - 2], &b2[..b2.len() - 2])?;
    if !squeeze_a {
        out.push(m);
    }
    if !squeeze_b {
        out.push(n);
    }
    Some(out)
}

/// Output spatial dims of a conv or pool window.
fn window_shape(node: &pb::NodeProto, input: &[i64], kernel: &[i64]) -> Option<Vec<i64>> {
    let spatial = input.len().checked_sub(2)?;
    if kernel.len() != spatial {
        return None;
    }
    let strides = attr_ints(node, "strides").filter(|v| !v.is_empty()).unwrap_or_else(|| vec![1; spatial]);
    let dilations = attr_ints(node, "dilations").filter(|v| !v.is_empty()).unwrap_or_else(|| vec![1; spatial]);
    let pads = attr_ints(node, "pads").filter(|v| !v.is_empty()).unwrap_or_else(|| vec![0; 2 * spatial]);
    let auto_pad =
        node.attribute.iter().find(|a| a.name == "auto_pad").map(|a| String::from_utf8_lossy(&a.s).into_owned());
    let ceil = attr_i(node, "ceil_mode").unwrap_or(0) == 1;
    let mut out = Vec::with_capacity(spatial);
    for i in 0..spatial {
        let x = input[2 + i];
        let s = *strides.get(i)?;
        if s <= 0 {
            return None;
        }
        let d = match auto_pad.as_deref() {
            Some("SAME_UPPER" | "SAME_LOWER") => (x + s - 1) / s,
            Some("VALID") => (x - (kernel[i] - 1) * dilations.get(i)? - 1) / s + 1,
            _ => {
                let eff = (kernel[i] - 1) * dilations.get(i)? + 1;
                let span = x + pads.get(i)? + pads.get(i + spatial)? - eff;
                if ceil { (span + s - 1) / s + 1 } else { span / s + 1 }
            }
        };
        out.push(d);
    }
    Some(out)
}

/// Integer values of a constant tensor (initializer or `Constant` output).
fn const_ints(name: &str, graph: &pb::GraphProto, ix: &GraphIndex) -> Option<Vec<i64>> {
    if let Some(t) = ix.init(graph, name) {
        return tensor_to_i64(t).ok();
    }
    let node = &graph.node[*ix.producer.get(name)?];
    if node.op_type == "Constant" {
        return attr_t(node, "value").and_then(|t| tensor_to_i64(t).ok());
    }
    None
}

fn norm_axis(axis: i64, rank: usize) -> Option<usize> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    (0..rank as i64).contains(&a).then_some(a as usize)
}

/// Propagate shapes through the graph with the batch dimension set to `batch`.
pub fn infer(graph: &pb::GraphProto, batch: i64) -> ShapeMap {
    let ix = GraphIndex::new(graph);
    let mut map = ShapeMap::default();
    for t in &graph.initializer {
        map.facts.insert(t.name.clone(), Fact { elem_type: t.data_type, shape: t.dims.clone() });
    }
    for v in &graph.input {
        if !map.facts.contains_key(&v.name)
            && let Some(f) = declared(v, batch)
        {
            map.facts.insert(v.name.clone(), f);
        }
    }
    let hints: HashMap<&str, &pb::ValueInfoProto> =
        graph.value_info.iter().chain(graph.output.iter()).map(|v| (v.name.as_str(), v)).collect();
    for node in &graph.node {
        let outs = infer_node(node, graph, &ix, &map);
        match outs {
            Some(outs) => {
                for (name, fact) in node.output.iter().zip(outs) {
                    map.facts.insert(name.clone(), fact);
                }
            }
            None => {
                let mut all = true;
                for name in &node.output {
                    match hints.get(name.as_str()).and_then(|v| declared(v, batch)) {
                        Some(f) => {
                            map.facts.insert(name.clone(), f);
                        }
                        None => all = false,
                    }
                }
                if !all {
                    map.unknown_ops.insert(node.op_type.clone());
                }
            }
        }
    }
    map
}

fn infer_node(node: &pb::NodeProto, graph: &pb::GraphProto, ix: &GraphIndex, map: &ShapeMap) -> Option<Vec<Fact>> {
    let input = |i: usize| node.input.get(i).filter(|s| !s.is_empty()).and_then(|n| map.get(n));
    let x = input(0);
    let same = |elem_type: i32| x.map(|f| vec![Fact { elem_type, shape: f.shape.clone() }]);
    let float = DataType::Float as i32;
    match node.op_type.as_str() {
        "Relu"
        | "LeakyRelu"
        | "Sigmoid"
        | "Tanh"
        | "Softmax"
        | "LogSoftmax"
        | "Clip"
        | "Identity"
        | "Exp"
        | "Log"
        | "Sqrt"
        | "Neg"
        | "Abs"
        | "Erf"
        | "HardSigmoid"
        | "HardSwish"
        | "Elu"
        | "Selu"
        | "Softplus"
        | "Gelu"
        | "BatchNormalization"
        | "InstanceNormalization"
        | "LayerNormalization"
        | "LRN"
        | "Reciprocal"
        | "Floor"
        | "Ceil"
        | "Round"
        | "Sign"
        | "Not"
        | "Dropout" => {
            let f = x?;
            Some(node.output.iter().map(|_| f.clone()).take(1).collect())
        }
        "Cast" => same(attr_i(node, "to")? as i32),
        "DequantizeLinear" => same(input(1).map(|s| s.elem_type).unwrap_or(float)),
        "QuantizeLinear" => same(input(2).map(|z| z.elem_type).unwrap_or(DataType::Uint8 as i32)),
        "DynamicQuantizeLinear" => {
            let f = x?;
            let u8t = DataType::Uint8 as i32;
            Some(vec![
                Fact { elem_type: u8t, shape: f.shape.clone() },
                Fact { elem_type: float, shape: vec![] },
                Fact { elem_type: u8t, shape: vec![] },
            ])
        }
        "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Max" | "Min" | "Sum" | "Mean" | "PRelu" | "Equal" | "Greater"
        | "Less" | "And" | "Or" | "Where" => {
            let mut shape = x?.shape.clone();
            for i in 1..node.input.len() {
                shape = broadcast(&shape, &input(i)?.shape)?;
            }
            let elem_type = match node.op_type.as_str() {
                "Equal" | "Greater" | "Less" | "And" | "Or" => DataType::Bool as i32,
                "Where" => input(1)?.elem_type,
                _ => x?.elem_type,
            };
            Some(vec![Fact { elem_type, shape }])
        }
        "MatMul" => Some(vec![Fact { elem_type: x?.elem_type, shape: matmul_shape(&x?.shape, &input(1)?.shape)? }]),
        "MatMulInteger" => {
            Some(vec![Fact { elem_type: DataType::Int32 as i32, shape: matmul_shape(&x?.shape, &input(1)?.shape)? }])
        }
        "Gemm" => {
            let (a, b) = (&x?.shape, &input(1)?.shape);
            if a.len() != 2 || b.len() != 2 {
                return None;
            }
            let m = if attr_i(node, "transA").unwrap_or(0) == 1 { a[1] } else { a[0] };
            let n = if attr_i(node, "transB").unwrap_or(0) == 1 { b[0] } else { b[1] };
            Some(vec![Fact { elem_type: x?.elem_type, shape: vec![m, n] }])
        }
        "Conv" | "ConvInteger" => {
            let (xs, w) = (&x?.shape, &input(1)?.shape);
            let kernel = attr_ints(node, "kernel_shape").filter(|k| !k.is_empty()).unwrap_or_else(|| w[2..].to_vec());
            let mut shape = vec![xs[0], w[0]];
            shape.extend(window_shape(node, xs, &kernel)?);
            let elem_type = if node.op_type == "Conv" { x?.elem_type } else { DataType::Int32 as i32 };
            Some(vec![Fact { elem_type, shape }])
        }
        "MaxPool" | "AveragePool" | "LpPool" => {
            let xs = &x?.shape;
            let mut shape = xs[..2].to_vec();
            shape.extend(window_shape(node, xs, &attr_ints(node, "kernel_shape")?)?);
            Some(vec![Fact { elem_type: x?.elem_type, shape }])
        }
        "GlobalAveragePool" | "GlobalMaxPool" => {
            let xs = &x?.shape;
            let mut shape = xs[..2].to_vec();
            shape.extend(std::iter::repeat_n(1, xs.len().checked_sub(2)?));
            Some(vec![Fact { elem_type: x?.elem_type, shape }])
        }
        "Flatten" => {
            let xs = &x?.shape;
            let axis = norm_axis(attr_i(node, "axis").unwrap_or(1), xs.len() + 1)?;
            let outer: i64 = xs[..axis].iter().product();
            let inner: i64 = xs[axis..].iter().product();
            Some(vec![Fact { elem_type: x?.elem_type, shape: vec![outer, inner] }])
        }
        "Reshape" => {
            let xs = &x?.shape;
            let target = const_ints(node.input.get(1)?, graph, ix)?;
            let total: i64 = xs.iter().product();
            let mut shape: Vec<i64> = target
                .iter()
                .enumerate()
                .map(|(i, &d)| if d == 0 { xs.get(i).copied().unwrap_or(0) } else { d })
                .collect();
            if let Some(pos) = shape.iter().position(|&d| d == -1) {
                let known: i64 = shape.iter().filter(|&&d| d != -1).product();
                if known == 0 {
                    return None;
                }
                shape[pos] = total / known;
            }
            let elem_type = x?.elem_type;
            (shape.iter().product::<i64>() == total).then(|| vec![Fact { elem_type, shape }])
        }
        "Transpose" => {
            let xs = &x?.shape;
            let perm = attr_ints(node, "perm").unwrap_or_else(|| (0..xs.len() as i64).rev().collect());
            let shape = perm.iter().map(|&p| xs.get(p as usize).copied()).collect::<Option<Vec<_>>>()?;
            Some(vec![Fact { elem_type: x?.elem_type, shape }])
        }
        "Concat" => {
            let mut shape = x?.shape.clone();
            let axis = norm_axis(attr_i(node, "axis")?, shape.len())?;
            for i in 1..node.input.len() {
                shape[axis] += input(i)?.shape.get(axis)?;
            }
            Some(vec![Fact { elem_type: x?.elem_type, shape }])
        }
        "Squeeze" | "Unsqueeze" => {
            let xs = &x?.shape;
            let axes = match attr_ints(node, "axes") {
                Some(a) => a,
                None if node.input.len() > 1 => const_ints(&node.input[1], graph, ix)?,
                None if node.op_type == "Squeeze" => (0..xs.len() as i64).filter(|&i| xs[i as usize] == 1).collect(),
                None => return None,
            };
            let shape = if node.op_type == "Squeeze" {
                let axes: Vec<usize> = axes.iter().map(|&a| norm_axis(a, xs.len())).collect::<Option<_>>()?;
                xs.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect()
            } else {
                let rank = xs.len() + axes.len();
                let axes: Vec<usize> = axes.iter().map(|&a| norm_axis(a, rank)).collect::<Option<_>>()?;
                let mut rest = xs.iter();
                (0..rank)
                    .map(|i| if axes.contains(&i) { Some(1) } else { rest.next().copied() })
                    .collect::<Option<_>>()?
            };
            Some(vec![Fact { elem_type: x?.elem_type, shape }])
        }
        "Shape" => Some(vec![Fact { elem_type: DataType::Int64 as i32, shape: vec![x?.shape.len() as i64] }]),
        "Gather" => {
            let xs = &x?.shape;
            let idx = &input(1)?.shape;
            let axis = norm_axis(attr_i(node, "axis").unwrap_or(0), xs.len())?;
            let mut shape = xs[..axis].to_vec();
            shape.extend_from_slice(idx);
            shape.extend_from_slice(&xs[axis + 1..]);
            Some(vec![Fact { elem_type: x?.elem_type, shape }])
        }
        "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" | "ReduceProd" | "ReduceL2" => {
            let xs = &x?.shape;
            let axes = match attr_ints(node, "axes") {
                Some(a) => a,
                None if node.input.len() > 1 => const_ints(&node.input[1], graph, ix)?,
                None => (0..xs.len() as i64).collect(),
            };
            let axes: Vec<usize> = axes.iter().map(|&a| norm_axis(a, xs.len())).collect::<Option<_>>()?;
            let keep = attr_i(node, "keepdims").unwrap_or(1) == 1;
            let shape = xs
                .iter()
                .enumerate()
                .filter_map(|(i, &d)| if axes.contains(&i) { keep.then_some(1) } else { Some(d) })
                .collect();
            Some(vec![Fact { elem_type: x?.elem_type, shape }])
        }
        "Constant" => attr_t(node, "value").map(|t| vec![Fact { elem_type: t.data_type, shape: t.dims.clone() }]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_and_matmul_follow_numpy() {
        assert_eq!(broadcast(&[1, 10], &[10]), Some(vec![1, 10]));
        assert_eq!(broadcast(&[2, 3], &[4]), None);
        assert_eq!(matmul_shape(&[5, 64], &[64, 128]), Some(vec![5, 128]));
        assert_eq!(matmul_shape(&[5, 63], &[64, 128]), None);
    }
}
