//! tract and ONNX Runtime behind the one `Runtime` trait: the same
//! predictions on the shipped models, a model only ONNX Runtime can run
//! refused by tract with the reason, and a missing library reported in one
//! line.
//!
//! The ONNX Runtime tests need its library (scripts/install-onnxruntime.sh,
//! run by scripts/install-test-deps.sh). Without it they are skipped
//! locally but FAIL when `CI` is set.

#![allow(clippy::unwrap_used)] // test code: a failure should panic

use edgefleet_core::OptimizationKind as K;
use edgefleet_optimize::evaluate::{compare_outputs, predict_all};
use edgefleet_optimize::runtime::{RuntimeChoice, select};
use edgefleet_optimize::{EvalData, OptimizeError, OrtRuntime, Runner, Runtime, RuntimeKind, TractRuntime};
use edgefleet_optimize::{apply_recipe, decode_model};
use std::path::{Path, PathBuf};

fn asset(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/models").join(name)
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

fn eval() -> EvalData {
    EvalData::from_path(&asset("digits_eval.csv")).unwrap()
}

/// Rows shaped for the model (the CNN takes [N,1,8,8]: the same 64 values).
fn predictions(runtime: &dyn Runtime, model: &edgefleet_optimize::runner::Runner, rows: &[Vec<f32>]) -> Vec<Vec<f32>> {
    assert_eq!(model.runtime(), runtime.kind());
    predict_all(model, rows).unwrap()
}

#[test]
fn both_runtimes_answer_the_same_on_the_shipped_models() {
    let Some(ort) = ort() else { return };
    let data = eval();
    for name in ["mlp_digits.onnx", "cnn_digits.onnx"] {
        let proto = decode_model(&std::fs::read(asset(name)).unwrap()).unwrap();
        let on_tract = Runner::load(&TractRuntime, proto.clone()).unwrap();
        let on_ort = Runner::load(&ort, proto).unwrap();
        assert!(on_ort.runtime_label().starts_with("ort 1."), "{}", on_ort.runtime_label());
        let a = predictions(&TractRuntime, &on_tract, &data.rows);
        let b = predictions(&ort, &on_ort, &data.rows);
        let (agreement, max_diff) = compare_outputs(&a, &b).unwrap();
        assert_eq!(agreement, 1.0, "{name}: argmax agreement");
        assert!(max_diff < 1e-4, "{name}: max abs diff {max_diff}");
        // Batch 1 too (a different plan in tract, a different shape in ORT).
        let one_a = on_tract.run_rows(&data.rows[..1]).unwrap();
        let one_b = on_ort.run_rows(&data.rows[..1]).unwrap();
        assert!(compare_outputs(&one_a, &one_b).unwrap().1 < 1e-4);
    }
}

#[test]
fn int8_dynamic_runs_on_both_with_the_same_answers() {
    let Some(ort) = ort() else { return };
    let data = eval();
    let proto = decode_model(&std::fs::read(asset("mlp_digits.onnx")).unwrap()).unwrap();
    let q = apply_recipe(&proto, &[K::Int8Dynamic]).unwrap();
    let a = predict_all(&Runner::load(&TractRuntime, q.clone()).unwrap(), &data.rows).unwrap();
    let b = predict_all(&Runner::load(&ort, q).unwrap(), &data.rows).unwrap();
    let (agreement, max_diff) = compare_outputs(&a, &b).unwrap();
    assert!(agreement >= 0.99, "{agreement}");
    assert!(max_diff < 0.05, "{max_diff}");
}

#[test]
fn a_model_only_onnx_runtime_runs_is_refused_by_tract_with_the_reason() {
    let bytes = std::fs::read(asset("mlp_digits_qoperator.onnx")).unwrap();
    let e = Runner::load_bytes(&TractRuntime, &bytes).unwrap_err();
    assert!(matches!(e, OptimizeError::OpsUnsupported { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("tract 0.23.9 cannot run this model"), "{msg}");
    assert!(msg.contains("com.microsoft:QLinearAdd") && msg.contains("only ONNX Runtime runs it"), "{msg}");
    assert_eq!(TractRuntime.unsupported_ops(&decode_model(&bytes).unwrap()).len(), 2, "QLinearAdd, QLinearSoftmax");
    let Some(ort) = ort() else { return };
    let runner = Runner::load_bytes(&ort, &bytes).unwrap();
    let data = eval();
    let out = predict_all(&runner, &data.rows).unwrap();
    let acc = edgefleet_optimize::evaluate::accuracy(&out, &data.labels).value;
    assert!(acc > 0.9, "{acc}");
}

#[test]
fn asking_for_onnx_runtime_without_its_library_is_one_clear_line() {
    let e = select(RuntimeChoice::Ort, Some(Path::new("/nonexistent/libonnxruntime.so")), 1).unwrap_err();
    let msg = e.to_string();
    assert!(msg.starts_with("ONNX Runtime library not found; tried --ort-lib /nonexistent"), "{msg}");
    assert!(msg.ends_with("run scripts/install-onnxruntime.sh or pass --ort-lib") && !msg.contains('\n'), "{msg}");
    // auto falls back to tract and says why.
    let auto = select(RuntimeChoice::Auto, Some(Path::new("/nonexistent/libonnxruntime.so")), 1).unwrap();
    assert_eq!(auto.runtime.kind(), RuntimeKind::Tract);
    assert!(auto.why.starts_with("using tract: ONNX Runtime library not found"), "{}", auto.why);
}

#[test]
fn a_file_that_is_not_the_library_is_refused_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libonnxruntime.so.1.32.0");
    std::fs::write(&fake, b"not a shared library").unwrap();
    // Only meaningful before a real library is loaded in this process;
    // afterwards the call reports the library already loaded instead.
    let e = OrtRuntime::load(Some(&fake)).unwrap_err().to_string();
    assert!(e.contains("cannot be used") || e.contains("already loaded"), "{e}");
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn the_search_on_onnx_runtime_measures_there_and_never_picks_a_slower_model_on_tract() {
    use edgefleet_core::{Device, DeviceType};
    use edgefleet_optimize::search::{Objective, SearchLimits, SearchTarget, search_on};
    let bytes = std::fs::read(asset("mlp_digits.onnx")).unwrap();
    let data = eval();
    let cfg = edgefleet_optimize::EvalConfig { warmup_runs: 3, timed_runs: 20, large_batch: 8, zstd_level: 3 };
    let target = SearchTarget {
        device: Device::new("edge", DeviceType::EdgeServer, 4, 4096, 32.0),
        limits: SearchLimits::default(),
        objective: Objective::Latency,
    };
    let (on_tract, _) = search_on(&TractRuntime, &bytes, "mlp", &target, &data, &cfg, &mut |_, _, _| {}).unwrap();
    let chosen = &on_tract.candidates[on_tract.chosen.unwrap()];
    assert!(chosen.report.runtime.starts_with("tract"), "{}", chosen.report.runtime);
    assert!(!chosen.report.recipe.iter().any(|s| s == "int8-dynamic"), "{:?}", chosen.report.recipe);
    for c in &on_tract.candidates {
        if c.report.recipe.iter().any(|s| s == "int8-dynamic") {
            assert!(c.rejected_because.iter().any(|r| r.contains("slower than the original")), "{c:?}");
        }
    }
    let Some(ort) = ort() else { return };
    let (on_ort, _) = search_on(&ort, &bytes, "mlp", &target, &data, &cfg, &mut |_, _, _| {}).unwrap();
    assert!(on_ort.candidates.iter().all(|c| c.report.runtime.starts_with("ort 1.")));
}

#[test]
fn int8_static_in_a_recipe_calibrates_on_the_evaluation_rows_and_keeps_accuracy_on_onnx_runtime() {
    use edgefleet_optimize::optimize_model_on;
    let bytes = std::fs::read(asset("mlp_digits.onnx")).unwrap();
    let cfg = edgefleet_optimize::EvalConfig { warmup_runs: 2, timed_runs: 10, large_batch: 8, zstd_level: 3 };
    // Without rows it cannot calibrate: a clear error naming --eval.
    let original = decode_model(&bytes).unwrap();
    let e = apply_recipe(&original, &[K::Int8Static]).unwrap_err().to_string();
    assert!(e.contains("int8-static") && e.contains("--eval"), "{e}");
    // Static and dynamic int8 are one kind of step.
    assert!(apply_recipe(&original, &[K::Int8Static, K::Int8Dynamic]).is_err());
    let Some(ort) = ort() else { return };
    let data = eval();
    let (_, report) = optimize_model_on(&ort, &bytes, "mlp", &[K::Int8Static], Some(&data), &cfg).unwrap();
    assert_eq!(report.recipe, vec!["int8-static".to_owned()]);
    assert!(report.runtime.starts_with("ort 1."), "{}", report.runtime);
    let (before, after) = (report.accuracy_before.unwrap(), report.accuracy_after.unwrap());
    assert!(after > before - 0.03, "int8-static lost too much: {before} -> {after}");
    assert!(report.size_after_bytes < report.size_before_bytes / 2, "{report:?}");
}
