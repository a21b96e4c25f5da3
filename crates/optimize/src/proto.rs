//! ONNX protobuf plumbing: decode / encode through tract's prost types, and
//! small helpers to read and build tensors, attributes and nodes.
//!
//! tract's `pb` comes from an IR-8 era `onnx.proto`; fields newer than that
//! are dropped on re-encode, which the round-trip tests check on every model
//! we ship.

use crate::error::{OptimizeError, Result};
use prost::Message;
use std::collections::HashMap;
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::prelude::f16;

/// Decode ONNX bytes into the protobuf model.
pub fn decode_model(bytes: &[u8]) -> Result<pb::ModelProto> {
    let proto = pb::ModelProto::decode(bytes).map_err(|e| OptimizeError::Decode(e.to_string()))?;
    if proto.graph.is_none() {
        return Err(OptimizeError::Decode("the file has no graph".into()));
    }
    Ok(proto)
}

/// Serialize a model to ONNX bytes.
pub fn encode_model(model: &pb::ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// The model's graph, or a decode error naming what is missing.
pub fn graph(model: &pb::ModelProto) -> Result<&pb::GraphProto> {
    model.graph.as_ref().ok_or_else(|| OptimizeError::Decode("the file has no graph".into()))
}

/// Mutable access to the model's graph.
pub fn graph_mut(model: &mut pb::ModelProto) -> Result<&mut pb::GraphProto> {
    model.graph.as_mut().ok_or_else(|| OptimizeError::Decode("the file has no graph".into()))
}

/// The version of the default (`ai.onnx`) opset the model imports.
pub fn opset(model: &pb::ModelProto) -> Option<i64> {
    model.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map(|o| o.version)
}

/// ONNX's name for an element type (`float`, `int8`, …).
pub fn elem_type_name(t: i32) -> String {
    match DataType::try_from(t) {
        Ok(DataType::Float) => "float",
        Ok(DataType::Uint8) => "uint8",
        Ok(DataType::Int8) => "int8",
        Ok(DataType::Uint16) => "uint16",
        Ok(DataType::Int16) => "int16",
        Ok(DataType::Int32) => "int32",
        Ok(DataType::Int64) => "int64",
        Ok(DataType::String) => "string",
        Ok(DataType::Bool) => "bool",
        Ok(DataType::Float16) => "float16",
        Ok(DataType::Double) => "double",
        Ok(DataType::Uint32) => "uint32",
        Ok(DataType::Uint64) => "uint64",
        Ok(DataType::Bfloat16) => "bfloat16",
        _ => return format!("type{t}"),
    }
    .to_owned()
}

/// Bytes per element of an ONNX element type (0 when unknown or variable).
pub fn elem_size_bytes(t: i32) -> u64 {
    match DataType::try_from(t) {
        Ok(DataType::Uint8 | DataType::Int8 | DataType::Bool) => 1,
        Ok(DataType::Uint16 | DataType::Int16 | DataType::Float16 | DataType::Bfloat16) => 2,
        Ok(DataType::Float | DataType::Int32 | DataType::Uint32) => 4,
        Ok(DataType::Int64 | DataType::Uint64 | DataType::Double | DataType::Complex64) => 8,
        Ok(DataType::Complex128) => 16,
        _ => 0,
    }
}

/// Number of elements of a tensor, from its dims.
pub fn tensor_len(t: &pb::TensorProto) -> u64 {
    t.dims.iter().map(|&d| d.max(0) as u64).product()
}

/// Bytes a tensor's values occupy as stored (element size × count).
pub fn tensor_bytes(t: &pb::TensorProto) -> u64 {
    tensor_len(t) * elem_size_bytes(t.data_type)
}

fn bad_tensor(t: &pb::TensorProto, why: &str) -> OptimizeError {
    OptimizeError::Decode(format!("initializer `{}`: {why}", t.name))
}

/// Read a float or float16 tensor as f32 values.
pub fn tensor_to_f32(t: &pb::TensorProto) -> Result<Vec<f32>> {
    if t.data_location == Some(pb::tensor_proto::DataLocation::External as i32) {
        return Err(OptimizeError::Unsupported(format!("initializer `{}` keeps its data in an external file", t.name)));
    }
    let n = tensor_len(t) as usize;
    let values: Vec<f32> = match DataType::try_from(t.data_type) {
        Ok(DataType::Float) if !t.raw_data.is_empty() => {
            t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
        }
        Ok(DataType::Float) => t.float_data.clone(),
        Ok(DataType::Float16) if !t.raw_data.is_empty() => {
            t.raw_data.chunks_exact(2).map(|c| f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32()).collect()
        }
        // float16 values without raw_data are stored as bit patterns in int32_data.
        Ok(DataType::Float16) => t.int32_data.iter().map(|&b| f16::from_bits(b as u16).to_f32()).collect(),
        _ => return Err(bad_tensor(t, &format!("expected float data, found {}", elem_type_name(t.data_type)))),
    };
    if values.len() != n {
        return Err(bad_tensor(t, &format!("holds {} values but its dims {:?} need {n}", values.len(), t.dims)));
    }
    Ok(values)
}

/// Read an integer tensor (int8/uint8/int32/int64) as i64 values.
pub fn tensor_to_i64(t: &pb::TensorProto) -> Result<Vec<i64>> {
    let n = tensor_len(t) as usize;
    let raw = &t.raw_data;
    let values: Vec<i64> = match DataType::try_from(t.data_type) {
        Ok(DataType::Int64) if !raw.is_empty() => {
            raw.chunks_exact(8).map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).collect()
        }
        Ok(DataType::Int64) => t.int64_data.clone(),
        Ok(DataType::Int32) if !raw.is_empty() => {
            raw.chunks_exact(4).map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect()
        }
        Ok(DataType::Int8) if !raw.is_empty() => raw.iter().map(|&b| i64::from(b as i8)).collect(),
        Ok(DataType::Uint8) if !raw.is_empty() => raw.iter().map(|&b| i64::from(b)).collect(),
        Ok(DataType::Int32 | DataType::Int8 | DataType::Uint8) => t.int32_data.iter().map(|&v| i64::from(v)).collect(),
        _ => return Err(bad_tensor(t, &format!("expected integer data, found {}", elem_type_name(t.data_type)))),
    };
    if values.len() != n {
        return Err(bad_tensor(t, &format!("holds {} values but its dims {:?} need {n}", values.len(), t.dims)));
    }
    Ok(values)
}

/// A float32 tensor stored as raw little-endian bytes.
pub fn f32_tensor(name: &str, dims: &[i64], values: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.to_owned(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// A float16 tensor stored as raw little-endian bytes.
pub fn f16_tensor(name: &str, dims: &[i64], values: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.to_owned(),
        dims: dims.to_vec(),
        data_type: DataType::Float16 as i32,
        raw_data: values.iter().flat_map(|v| f16::from_f32(*v).to_bits().to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// An int8 tensor stored as raw bytes.
pub fn i8_tensor(name: &str, dims: &[i64], values: &[i8]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.to_owned(),
        dims: dims.to_vec(),
        data_type: DataType::Int8 as i32,
        raw_data: values.iter().map(|&v| v as u8).collect(),
        ..Default::default()
    }
}

/// A uint8 tensor stored as raw bytes.
pub fn u8_tensor(name: &str, dims: &[i64], values: &[u8]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.to_owned(),
        dims: dims.to_vec(),
        data_type: DataType::Uint8 as i32,
        raw_data: values.to_vec(),
        ..Default::default()
    }
}

/// An int32 tensor stored as raw little-endian bytes.
pub fn i32_tensor(name: &str, dims: &[i64], values: &[i32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.to_owned(),
        dims: dims.to_vec(),
        data_type: DataType::Int32 as i32,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// An int64 tensor stored as raw bytes.
pub fn i64_tensor(name: &str, dims: &[i64], values: &[i64]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.to_owned(),
        dims: dims.to_vec(),
        data_type: DataType::Int64 as i32,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// An integer attribute's value, if the node has it.
pub fn attr_i(node: &pb::NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

/// A float attribute's value, if the node has it.
pub fn attr_f(node: &pb::NodeProto, name: &str) -> Option<f32> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.f)
}

/// An integer-list attribute's values, if the node has it.
pub fn attr_ints(node: &pb::NodeProto, name: &str) -> Option<Vec<i64>> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.ints.clone())
}

/// A tensor attribute (e.g. `Constant`'s `value`).
pub fn attr_t<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a pb::TensorProto> {
    node.attribute.iter().find(|a| a.name == name).and_then(|a| a.t.as_ref())
}

/// An integer attribute.
pub fn int_attr(name: &str, value: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_owned(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: value,
        ..Default::default()
    }
}

/// A node of the default domain.
pub fn node(
    op_type: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attribute: Vec<pb::AttributeProto>,
) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op_type.to_owned(),
        name: name.to_owned(),
        input: inputs.iter().map(|s| (*s).to_owned()).collect(),
        output: outputs.iter().map(|s| (*s).to_owned()).collect(),
        attribute,
        ..Default::default()
    }
}

/// Who produces and who consumes each tensor of a graph.
#[derive(Debug, Default)]
pub struct GraphIndex {
    /// Tensor name → index of the node producing it.
    pub producer: HashMap<String, usize>,
    /// Tensor name → indices of the nodes reading it (once per node).
    pub consumers: HashMap<String, Vec<usize>>,
    /// Initializer name → index in `graph.initializer`.
    pub initializer: HashMap<String, usize>,
    /// Names of the graph outputs.
    pub outputs: std::collections::HashSet<String>,
}

impl GraphIndex {
    pub fn new(graph: &pb::GraphProto) -> GraphIndex {
        let mut ix = GraphIndex::default();
        for (i, n) in graph.node.iter().enumerate() {
            for o in &n.output {
                ix.producer.insert(o.clone(), i);
            }
            let mut seen = std::collections::HashSet::new();
            for inp in n.input.iter().filter(|s| !s.is_empty()) {
                if seen.insert(inp) {
                    ix.consumers.entry(inp.clone()).or_default().push(i);
                }
            }
        }
        for (i, t) in graph.initializer.iter().enumerate() {
            ix.initializer.insert(t.name.clone(), i);
        }
        ix.outputs = graph.output.iter().map(|o| o.name.clone()).collect();
        ix
    }

    /// The nodes reading a tensor.
    pub fn consumers_of(&self, name: &str) -> &[usize] {
        self.consumers.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The initializer with this name, if it is one.
    pub fn init<'g>(&self, graph: &'g pb::GraphProto, name: &str) -> Option<&'g pb::TensorProto> {
        self.initializer.get(name).and_then(|&i| graph.initializer.get(i))
    }
}

/// A tensor name not yet used in the graph, built from `base`.
pub fn fresh_name(taken: &mut std::collections::HashSet<String>, base: &str) -> String {
    let mut name = base.to_owned();
    let mut k = 1;
    while taken.contains(&name) {
        name = format!("{base}_{k}");
        k += 1;
    }
    taken.insert(name.clone());
    name
}

/// Every tensor and node name used in a graph (to pick fresh ones).
pub fn taken_names(graph: &pb::GraphProto) -> std::collections::HashSet<String> {
    let mut names = std::collections::HashSet::new();
    for n in &graph.node {
        names.extend(n.input.iter().cloned());
        names.extend(n.output.iter().cloned());
        names.insert(n.name.clone());
    }
    names.extend(graph.initializer.iter().map(|t| t.name.clone()));
    names.extend(graph.input.iter().map(|t| t.name.clone()));
    names.extend(graph.output.iter().map(|t| t.name.clone()));
    names
}

/// Drop graph inputs that merely list an initializer we removed or
/// replaced by a node output (old IR versions list every initializer as an
/// input; a tensor cannot be both an input and a node output).
pub fn drop_inputs_named(graph: &mut pb::GraphProto, names: &std::collections::HashSet<String>) {
    graph.input.retain(|i| !names.contains(&i.name));
}

/// A node's op as profiles and runtimes name it: `MatMul` for the default
/// domain, `domain:Op` otherwise (`com.microsoft:QGemm`).
pub fn qualified_op(n: &pb::NodeProto) -> String {
    if n.domain.is_empty() || n.domain == "ai.onnx" { n.op_type.clone() } else { format!("{}:{}", n.domain, n.op_type) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_and_i8_tensors_read_back() {
        let t = f16_tensor("w", &[3], &[1.0, -0.5, 2.0]);
        assert_eq!(tensor_to_f32(&t).unwrap(), vec![1.0, -0.5, 2.0]);
        let q = i8_tensor("q", &[2], &[-127, 5]);
        assert_eq!(tensor_to_i64(&q).unwrap(), vec![-127, 5]);
        assert_eq!(tensor_bytes(&q), 2);
    }

    #[test]
    fn wrong_length_is_a_decode_error() {
        let mut t = f32_tensor("w", &[4], &[1.0, 2.0]);
        t.dims = vec![4];
        let e = tensor_to_f32(&t).unwrap_err();
        assert!(e.to_string().contains("holds 2 values"), "{e}");
    }
}
