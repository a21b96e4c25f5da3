//! Writing a trained student as ONNX (opset 13, IR 8 like the shipped
//! models, symbolic batch dimension `N`), with the teacher's input name and
//! shape so it drops in where the teacher ran. It ends in Softmax when the
//! teacher does, so callers get the same kind of output.
//!
//! Dense layers are `Gemm(transB = 1)` + `Relu`; conv blocks `Conv(3×3,
//! pad 1)` + `Relu` + `MaxPool(2×2)`, then `Flatten`. An MLP on a
//! non-flat input starts with `Flatten`.

use super::Result;
use super::arch::Arch;
use super::net::{NamedWeight, Net};
use crate::proto::{f32_tensor, int_attr, node};
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

/// Opset the students are written for.
pub const STUDENT_OPSET: i64 = 13;

/// What the student's graph must look like from outside.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StudentIo {
    pub input_name: String,
    pub sample_shape: Vec<usize>,
    pub output_name: String,
    pub classes: usize,
    /// Append Softmax (the teacher outputs probabilities).
    pub softmax: bool,
}

fn ints_attr(name: &str, values: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_owned(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints: values.to_vec(),
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[usize]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value as D};
    let batch = Dimension { value: Some(D::DimParam("N".into())), ..Default::default() };
    let rest = dims.iter().map(|&d| Dimension { value: Some(D::DimValue(d as i64)), ..Default::default() });
    pb::ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(pb::TensorShapeProto { dim: std::iter::once(batch).chain(rest).collect() }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The ONNX model of a trained student.
pub(crate) fn net_to_onnx(net: &Net, io: &StudentIo, graph_name: &str) -> Result<pb::ModelProto> {
    Ok(weights_to_onnx(&net.arch, &net.weights()?, io, graph_name))
}

/// Build the graph from weights named `convK.weight`/`convK.bias` and
/// `fcK.weight`/`fcK.bias` (as the trainer names them).
pub(crate) fn weights_to_onnx(
    arch: &Arch,
    weights: &[NamedWeight],
    io: &StudentIo,
    graph_name: &str,
) -> pb::ModelProto {
    let mut nodes = Vec::new();
    let mut prev = io.input_name.clone();
    let step = |nodes: &mut Vec<pb::NodeProto>, op: &str, name: &str, inputs: &[&str], attrs| {
        let out = name.to_owned();
        nodes.push(node(op, name, inputs, &[&out], attrs));
        out
    };
    let (convs, dense) = match arch {
        Arch::Mlp { hidden } => (0, hidden.len() + 1),
        Arch::Cnn { channels, hidden } => (channels.len(), hidden.len() + 1),
    };
    for k in 1..=convs {
        let (w, b) = (format!("conv{k}.weight"), format!("conv{k}.bias"));
        let attrs = vec![ints_attr("kernel_shape", &[3, 3]), ints_attr("pads", &[1, 1, 1, 1])];
        prev = step(&mut nodes, "Conv", &format!("conv{k}"), &[&prev, &w, &b], attrs);
        prev = step(&mut nodes, "Relu", &format!("conv{k}.relu"), &[&prev], vec![]);
        let attrs = vec![ints_attr("kernel_shape", &[2, 2]), ints_attr("strides", &[2, 2])];
        prev = step(&mut nodes, "MaxPool", &format!("pool{k}"), &[&prev], attrs);
    }
    if convs > 0 || io.sample_shape.len() > 1 {
        prev = step(&mut nodes, "Flatten", "flatten", &[&prev], vec![int_attr("axis", 1)]);
    }
    for k in 1..=dense {
        let (w, b) = (format!("fc{k}.weight"), format!("fc{k}.bias"));
        let last = k == dense;
        let name = if last && !io.softmax { io.output_name.clone() } else { format!("fc{k}") };
        prev = step(&mut nodes, "Gemm", &name, &[&prev, &w, &b], vec![int_attr("transB", 1)]);
        if !last {
            prev = step(&mut nodes, "Relu", &format!("fc{k}.relu"), &[&prev], vec![]);
        }
    }
    if io.softmax {
        step(&mut nodes, "Softmax", &io.output_name, &[&prev], vec![int_attr("axis", 1)]);
    }
    let graph = pb::GraphProto {
        name: graph_name.to_owned(),
        node: nodes,
        initializer: weights.iter().map(|w| f32_tensor(&w.name, &w.dims, &w.values)).collect(),
        input: vec![value_info(&io.input_name, &io.sample_shape)],
        output: vec![value_info(&io.output_name, &[io.classes])],
        ..Default::default()
    };
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: STUDENT_OPSET }],
        producer_name: "edgefleet-distill".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(graph),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::Runner;

    fn io(sample_shape: Vec<usize>, softmax: bool) -> StudentIo {
        StudentIo { input_name: "input".into(), sample_shape, output_name: "out".into(), classes: 10, softmax }
    }

    #[test]
    fn written_students_load_in_tract_and_match_candle() {
        for (spec, shape, softmax) in
            [("mlp:16,8", vec![64], true), ("cnn:4,8:16", vec![1, 8, 8], false), ("mlp:4", vec![2, 4, 8], false)]
        {
            let arch = Arch::parse(spec).unwrap();
            let net = Net::new(&arch, &shape, 10, 3).unwrap();
            let model = net_to_onnx(&net, &io(shape.clone(), softmax), "student").unwrap();
            let runner = Runner::from_proto(model).unwrap();
            assert_eq!(runner.sample_shape(), &shape[..], "{spec}");
            assert_eq!(runner.fixed_batch(), None, "{spec}: the batch stays symbolic");
            let features: usize = shape.iter().product();
            let rows: Vec<Vec<f32>> =
                (0..3).map(|r| (0..features).map(|i| ((i * 7 + r) % 5) as f32 / 4.0).collect()).collect();
            let ours = runner.run_rows(&rows).unwrap();
            let x = candle_core::Tensor::from_vec(rows.concat(), (3, features), &candle_core::Device::Cpu).unwrap();
            let mut theirs = net.forward(&x).unwrap();
            if softmax {
                theirs = candle_nn::ops::softmax(&theirs, 1).unwrap();
            }
            for (a, b) in ours.iter().flatten().zip(theirs.to_vec2::<f32>().unwrap().iter().flatten()) {
                assert!((a - b).abs() < 1e-4, "{spec}: {a} vs {b}");
            }
        }
    }
}
