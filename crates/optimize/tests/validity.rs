//! Every transformation of the shipped models, written to disk, is valid
//! ONNX that `onnx.checker` accepts and onnxruntime loads and runs with
//! predictions agreeing with the original (scripts/onnx_validate.py).
//!
//! Needs Python with `onnx` and `onnxruntime`. Without them the test is
//! skipped locally but FAILS when `CI` is set, so CI cannot pass silently.

#![allow(clippy::unwrap_used)] // test code: a failure should panic

use edgefleet_core::OptimizationKind as K;
use edgefleet_optimize::{apply_recipe, decode_model, encode_model};
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python_ready() -> bool {
    Command::new("python3")
        .args(["-c", "import onnx, onnxruntime"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn every_transformation_is_valid_onnx_that_onnxruntime_agrees_with() {
    if !python_ready() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but `python3 -c \"import onnx, onnxruntime\"` fails: install them (pip install onnx onnxruntime numpy)"
        );
        eprintln!("skipped: python3 with onnx and onnxruntime is not available");
        return;
    }
    let recipes: Vec<(&str, Vec<K>)> = vec![
        ("int8", vec![K::Int8]),
        ("int8_dynamic", vec![K::Int8Dynamic]),
        ("fp16", vec![K::Fp16]),
        ("prune", vec![K::Prune { sparsity: 0.3 }]),
        ("prune_structured", vec![K::PruneStructured { ratio: 0.1 }]),
        ("fix_shapes", vec![K::FixShapes { batch: 4 }]),
        ("combined", vec![K::PruneStructured { ratio: 0.1 }, K::FixShapes { batch: 1 }, K::Int8, K::Fp16]),
    ];
    let dir = tempfile::tempdir().unwrap();
    let eval = root().join("assets/models/digits_eval.csv");
    for model in ["mlp_digits", "cnn_digits"] {
        let original_path = root().join(format!("assets/models/{model}.onnx"));
        let original = decode_model(&std::fs::read(&original_path).unwrap()).unwrap();
        let mut paths = Vec::new();
        for (label, recipe) in &recipes {
            let result = apply_recipe(&original, recipe).unwrap();
            let path = dir.path().join(format!("{model}_{label}.onnx"));
            std::fs::write(&path, encode_model(&result)).unwrap();
            paths.push(path);
        }
        // The opset < 13 int8 path (Cast + Mul instead of per-axis DequantizeLinear).
        let mut old = original.clone();
        old.opset_import[0].version = 11;
        let path = dir.path().join(format!("{model}_opset11_int8.onnx"));
        std::fs::write(&path, encode_model(&apply_recipe(&old, &[K::Int8]).unwrap())).unwrap();
        paths.push(path);

        let out = Command::new("python3")
            .arg(root().join("scripts/onnx_validate.py"))
            .args(&paths)
            .arg("--eval")
            .arg(&eval)
            .arg("--reference")
            .arg(&original_path)
            .args(["--min-agreement", "0.95"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{model}: onnx_validate.py failed:\n{stdout}");
        assert_eq!(stdout.matches("\nok ").count() + usize::from(stdout.starts_with("ok ")), paths.len(), "{stdout}");
    }
}
