//! Inspection and the protobuf round trip on the shipped demo models,
//! checked against values computed by hand from their architecture.

#![allow(clippy::unwrap_used)] // test helpers: a failure should panic

use edgefleet_core::Dim;
use edgefleet_optimize::{OptimizeError, decode_model, encode_model, inspect_bytes, inspect_path};
use std::path::PathBuf;

fn asset(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/models").join(name)
}

#[test]
fn round_trip_is_lossless_on_every_shipped_model() {
    for name in ["mlp_digits.onnx", "cnn_digits.onnx"] {
        let bytes = std::fs::read(asset(name)).unwrap();
        let first = decode_model(&bytes).unwrap();
        let again = decode_model(&encode_model(&first)).unwrap();
        assert_eq!(first, again, "{name}");
        // Every node, initializer and value survives. (The re-encoded file
        // may differ by a few bytes: prost omits the explicitly empty opset
        // `domain` string, which onnx reads back as the same default —
        // checked with onnx in Python: the models compare equal otherwise.)
        let graph = |m: &tract_onnx::pb::ModelProto| m.graph.clone().unwrap();
        assert_eq!(graph(&again).node.len(), graph(&first).node.len());
        assert!(bytes.len().abs_diff(encode_model(&first).len()) <= 4, "{name}");
    }
}

#[test]
fn mlp_profile_matches_hand_count() {
    let p = inspect_path(&asset("mlp_digits.onnx")).unwrap();
    // 64·128 + 128 + 128·64 + 64 + 64·10 + 10
    assert_eq!(p.params, 17_226);
    assert_eq!(p.weights_bytes, 17_226 * 4);
    // MatMuls 2·64·128 + 2·128·64 + 2·64·10, Adds 128+64+10, Relus 128+64, Softmax 3·10
    assert_eq!(p.flops_per_sample, 16_384 + 16_384 + 1_280 + 202 + 192 + 30);
    // Largest live set: a 128-float MatMul output and the Add output made from it.
    assert_eq!(p.peak_activation_bytes_per_sample, 2 * 128 * 4);
    assert_eq!(p.ops, vec!["Add", "MatMul", "Relu", "Softmax"]);
    assert_eq!(p.opset, Some(13));
    assert_eq!(p.inputs.len(), 1);
    assert_eq!(p.inputs[0].shape, vec![Dim::Symbolic("N".into()), Dim::Fixed(64)]);
    assert_eq!(p.outputs[0].shape, vec![Dim::Symbolic("N".into()), Dim::Fixed(10)]);
    assert_eq!(p.file_bytes, std::fs::metadata(asset("mlp_digits.onnx")).unwrap().len());
}

#[test]
fn cnn_profile_matches_hand_count() {
    let p = inspect_path(&asset("cnn_digits.onnx")).unwrap();
    // conv 8·1·3·3 + 8, fc1 32·128 + 32, fc2 10·32 + 10
    assert_eq!(p.params, 4_538);
    // conv 2·(8·8·8)·9 + 512 bias; relu 512; maxpool 128·4; fc1 2·32·128 + 32; relu 32; fc2 2·10·32 + 10
    assert_eq!(p.flops_per_sample, 9_728 + 512 + 512 + 8_224 + 32 + 650);
    // Relu on the 8×8×8 conv output: input and output both live (2 · 512 floats).
    assert_eq!(p.peak_activation_bytes_per_sample, 2 * 512 * 4);
    assert_eq!(p.ops, vec!["Conv", "Flatten", "Gemm", "MaxPool", "Relu"]);
    assert_eq!(p.inputs[0].shape, vec![Dim::Symbolic("N".into()), Dim::Fixed(1), Dim::Fixed(8), Dim::Fixed(8)]);
}

#[test]
fn malformed_files_are_decode_errors() {
    let bytes = std::fs::read(asset("mlp_digits.onnx")).unwrap();
    let truncated = &bytes[..bytes.len() / 2];
    assert!(matches!(inspect_bytes(truncated, "t"), Err(OptimizeError::Decode(_))));
    assert!(matches!(inspect_bytes(b"", "empty"), Err(OptimizeError::Decode(_))));
    let e = inspect_path(std::path::Path::new("/nonexistent/model.onnx")).unwrap_err();
    assert!(matches!(e, OptimizeError::Io { .. }), "{e}");
}

#[test]
fn a_node_reading_an_unknown_tensor_is_named() {
    let mut model = decode_model(&std::fs::read(asset("mlp_digits.onnx")).unwrap()).unwrap();
    model.graph.as_mut().unwrap().node[1].input[0] = "nowhere".into();
    let e = edgefleet_optimize::inspect_model(&model, "broken").unwrap_err();
    assert!(e.to_string().contains("nowhere"), "{e}");
}
