//! Static int8 (QDQ, calibrated) on the shipped models: valid ONNX that
//! onnx.checker accepts, ONNX Runtime runs it within a point of the float
//! model's accuracy, and tract loads it too.
//!
//! The ONNX Runtime parts need its library and Python's onnx/onnxruntime
//! (scripts/install-test-deps.sh); without them they are skipped locally
//! but FAIL when `CI` is set.

#![allow(clippy::unwrap_used)] // test code: a failure should panic

use edgefleet_optimize::evaluate::{accuracy, compare_outputs, predict_all};
use edgefleet_optimize::transform::{CalibrationMethod, int8_static};
use edgefleet_optimize::{EvalData, OptimizeError, OrtRuntime, Runner, TractRuntime, decode_model, encode_model};
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ort() -> Option<OrtRuntime> {
    match OrtRuntime::load(None) {
        Ok(rt) => Some(rt),
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "CI is set but ONNX Runtime is missing: {e}");
            eprintln!("skipped: {e}");
            None
        }
    }
}

#[test]
fn calibrated_int8_keeps_accuracy_on_onnx_runtime_and_is_valid_onnx() {
    let data = EvalData::from_path(&root().join("assets/models/digits_eval.csv")).unwrap();
    let calibration = &data.rows[..200];
    let dir = tempfile::tempdir().unwrap();
    let ort = ort();
    for model in ["mlp_digits", "cnn_digits"] {
        let original_path = root().join(format!("assets/models/{model}.onnx"));
        let original = decode_model(&std::fs::read(&original_path).unwrap()).unwrap();
        let mut paths = Vec::new();
        for method in [CalibrationMethod::MinMax, CalibrationMethod::Percentile(99.99)] {
            let q = int8_static(&original, calibration, method).unwrap();
            let ops: Vec<&str> = q.graph.as_ref().unwrap().node.iter().map(|n| n.op_type.as_str()).collect();
            assert!(ops.contains(&"QuantizeLinear") && ops.contains(&"DequantizeLinear"), "{ops:?}");
            let bytes = encode_model(&q);
            assert!(bytes.len() * 2 < std::fs::metadata(&original_path).unwrap().len() as usize, "{model} shrinks");
            // tract loads it and agrees with the float model.
            let float_out = predict_all(&Runner::load(&TractRuntime, original.clone()).unwrap(), &data.rows).unwrap();
            let on_tract = predict_all(&Runner::load(&TractRuntime, q.clone()).unwrap(), &data.rows).unwrap();
            let (agreement, _) = compare_outputs(&float_out, &on_tract).unwrap();
            assert!(agreement >= 0.97, "{model} {method} on tract: {agreement}");
            if let Some(ort) = &ort {
                let on_ort = predict_all(&Runner::load(ort, q.clone()).unwrap(), &data.rows).unwrap();
                let (agreement, _) = compare_outputs(&float_out, &on_ort).unwrap();
                let loss = accuracy(&float_out, &data.labels).value - accuracy(&on_ort, &data.labels).value;
                assert!(agreement >= 0.97 && loss <= 0.015, "{model} {method} on ORT: {agreement} {loss}");
            }
            let path = dir.path().join(format!("{model}_int8_static_{method}.onnx").replace(':', "_"));
            std::fs::write(&path, bytes).unwrap();
            paths.push(path);
        }
        if ort.is_none() {
            continue;
        }
        let out = Command::new("python3")
            .arg(root().join("scripts/onnx_validate.py"))
            .args(&paths)
            .arg("--eval")
            .arg(root().join("assets/models/digits_eval.csv"))
            .arg("--reference")
            .arg(&original_path)
            .args(["--min-agreement", "0.97"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{model}: onnx_validate.py failed:\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn static_int8_needs_rows_and_opset_13() {
    let original = decode_model(&std::fs::read(root().join("assets/models/mlp_digits.onnx")).unwrap()).unwrap();
    let e = int8_static(&original, &[], CalibrationMethod::MinMax).unwrap_err();
    assert!(matches!(e, OptimizeError::BadInput(_)), "{e}");
    let e = int8_static(&original, &[vec![0.0; 3]], CalibrationMethod::MinMax).unwrap_err();
    assert!(e.to_string().contains("calibration row 1 has 3 values"), "{e}");
    let mut old = original.clone();
    old.opset_import[0].version = 11;
    let e = int8_static(&old, &[vec![0.0; 64]], CalibrationMethod::MinMax).unwrap_err();
    assert!(matches!(e, OptimizeError::Unsupported(_)), "{e}");
}
