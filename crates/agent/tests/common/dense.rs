//! Dense ONNX models of any width, built in memory: `MatMul` + `Add` +
//! `Relu` layers and a `Softmax` at the end, the shape of a scikit-learn
//! MLP. Shared by the agent's tests and the `fit_accuracy` example.
#![allow(dead_code)]

use prost::Message;
use tract_onnx::pb;

fn value(name: &str, width: usize) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value as D};
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: 1,
                shape: Some(pb::TensorShapeProto {
                    dim: vec![
                        Dimension { value: Some(D::DimParam("N".into())), ..Default::default() },
                        Dimension { value: Some(D::DimValue(width as i64)), ..Default::default() },
                    ],
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str) -> pb::NodeProto {
    pb::NodeProto {
        input: inputs.iter().map(|s| (*s).to_owned()).collect(),
        output: vec![output.to_owned()],
        name: output.to_owned(),
        op_type: op.into(),
        ..Default::default()
    }
}

/// An MLP with layer widths `widths` (input first), seeded weights.
pub fn dense_mlp(widths: &[usize], seed: u64) -> Vec<u8> {
    assert!(widths.len() >= 2, "an MLP needs an input and an output width");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut nodes = Vec::new();
    let mut inits = Vec::new();
    let mut x = "X".to_owned();
    let layers = widths.len() - 1;
    for (i, pair) in widths.windows(2).enumerate() {
        let (k, n) = (pair[0], pair[1]);
        let scale = (2.0 / k as f32).sqrt();
        inits.push(pb::TensorProto {
            name: format!("W{i}"),
            dims: vec![k as i64, n as i64],
            data_type: 1,
            float_data: (0..k * n).map(|_| (rng.f32() * 2.0 - 1.0) * scale).collect(),
            ..Default::default()
        });
        inits.push(pb::TensorProto {
            name: format!("B{i}"),
            dims: vec![n as i64],
            data_type: 1,
            float_data: (0..n).map(|_| rng.f32() * 0.1).collect(),
            ..Default::default()
        });
        let (mm, add) = (format!("mm{i}"), format!("add{i}"));
        nodes.push(node("MatMul", &[&x, &format!("W{i}")], &mm));
        nodes.push(node("Add", &[&mm, &format!("B{i}")], &add));
        x = if i + 1 < layers {
            let relu = format!("relu{i}");
            nodes.push(node("Relu", &[&add], &relu));
            relu
        } else {
            add
        };
    }
    nodes.push(node("Softmax", &[&x], "Y"));
    let model = pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: 13 }],
        producer_name: "edgefleet dense_mlp".into(),
        graph: Some(pb::GraphProto {
            node: nodes,
            name: "mlp".into(),
            initializer: inits,
            input: vec![value("X", widths[0])],
            output: vec![value("Y", *widths.last().unwrap_or(&1))],
            ..Default::default()
        }),
        ..Default::default()
    };
    model.encode_to_vec()
}
