//! The agent's inference runtime: `--runtime tract|ort|auto`, what
//! `/v1/info` and TXT say about it, the same predictions on both, a model
//! only ONNX Runtime runs refused by a tract agent with the reason, and
//! `--runtime ort` without the library exiting 2 with one clear line.
//!
//! The ONNX Runtime parts need its library (scripts/install-onnxruntime.sh,
//! run by scripts/install-test-deps.sh): skipped locally without it, FAIL
//! when `CI` is set.

#![allow(clippy::unwrap_used)] // test code: a failure should panic

mod common;

use common::{TestAgent, sha256_hex, start};
use edgefleet_core::wire::{ErrorBody, InfoResponse, PredictResponse};
use edgefleet_optimize::runtime::{RuntimeChoice, Selected, select};
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;

fn assets_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/models")
}

fn ort() -> Option<Selected> {
    match select(RuntimeChoice::Ort, None, 1) {
        Ok(s) => Some(s),
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "CI is set but ONNX Runtime is missing: {e}");
            eprintln!("skipped: {e}");
            None
        }
    }
}

fn digits_rows() -> Vec<Vec<f32>> {
    let text = std::fs::read_to_string(assets_dir().join("digits_eval.csv")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Vec<f32> = l.split(',').map(|f| f.trim().parse().unwrap()).collect();
            v[..v.len() - 1].to_vec()
        })
        .collect()
}

async fn info(agent: &TestAgent) -> InfoResponse {
    agent.get("/v1/info").send().await.unwrap().json().await.unwrap()
}

async fn predict(agent: &TestAgent, rows: &[Vec<f32>]) -> PredictResponse {
    let r = agent.post("/v1/predict/digits").json(&json!({ "inputs": rows })).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn a_tract_agent_refuses_a_model_only_onnx_runtime_runs_and_says_why() {
    let agent = start("tract-dev", |_| {}).await;
    let i = info(&agent).await;
    assert_eq!(i.device.runtime.as_deref(), Some("tract 0.23.9"));
    assert!(i.device.runtime_ops.as_ref().is_some_and(|ops| ops.iter().any(|o| o == "MatMul")));
    assert_eq!(i.runtime_info.as_ref().map(|r| r.name.as_str()), Some("tract"));

    let bytes = std::fs::read(assets_dir().join("mlp_digits_qoperator.onnx")).unwrap();
    let sha = sha256_hex(&bytes);
    let r = agent.put_model("digits", "q", bytes, &sha).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let r = agent.post("/v1/models/digits/activate").json(&json!({"version": "q"})).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let body: ErrorBody = r.json().await.unwrap();
    assert_eq!(body.error, "invalid_model");
    let why = &body.detail;
    assert!(why.contains("tract 0.23.9 cannot run this model"), "{why}");
    assert!(why.contains("com.microsoft:QLinearAdd") && why.contains("only ONNX Runtime"), "{why}");
    // Nothing was switched to it.
    let r = agent.post("/v1/predict/digits").json(&json!({ "inputs": [vec![0.0f32; 64]] })).send().await.unwrap();
    assert_ne!(r.status(), 200);
    agent.handle.shutdown().await;
}

#[tokio::test]
async fn an_onnx_runtime_agent_answers_like_a_tract_agent_and_runs_what_tract_cannot() {
    let Some(selected) = ort() else { return };
    let on_ort = start("ort-dev", |c| c.runtime = Some(selected)).await;
    let on_tract = start("tract-dev-2", |_| {}).await;
    let i = info(&on_ort).await;
    let label = i.device.runtime.clone().unwrap();
    assert!(label.starts_with("ort 1."), "{label}");
    let rt = i.runtime_info.unwrap();
    assert_eq!(rt.name, "ort");
    assert!(rt.library.is_some_and(|l| l.contains("libonnxruntime")));
    assert!(i.device.runtime_ops.as_ref().unwrap().iter().any(|o| o == "com.microsoft:QLinearAdd"));
    let props = edgefleet_agent::txt_properties(&i.device);
    assert!(props.get("rt").is_some_and(|v| v.starts_with("ort-1.")), "{props:?}");

    let mlp = std::fs::read(assets_dir().join("mlp_digits.onnx")).unwrap();
    on_ort.install("digits", "1", mlp.clone(), None).await;
    on_tract.install("digits", "1", mlp, None).await;
    let rows = digits_rows();
    let (a, b) = (predict(&on_ort, &rows).await, predict(&on_tract, &rows).await);
    let mut max_diff = 0f32;
    for (x, y) in a.outputs.iter().zip(&b.outputs) {
        assert_eq!(x.top_class, y.top_class);
        for (u, v) in x.values.iter().zip(&y.values) {
            max_diff = max_diff.max((u - v).abs());
        }
    }
    assert!(max_diff < 1e-4, "{max_diff}");

    // The QOperator model tract refuses runs here.
    let q = std::fs::read(assets_dir().join("mlp_digits_qoperator.onnx")).unwrap();
    on_ort.install("digits", "q", q, None).await;
    let p = predict(&on_ort, &rows).await;
    let agree = p.outputs.iter().zip(&b.outputs).filter(|(x, y)| x.top_class == y.top_class).count();
    assert!(agree as f64 / rows.len() as f64 > 0.97, "{agree}");
    on_ort.handle.shutdown().await;
    on_tract.handle.shutdown().await;
}

#[test]
fn runtime_ort_without_a_library_exits_2_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_edgefleet-agent"))
            .args(["--bind", "127.0.0.1", "--port", "0", "--no-advertise", "--token", "t", "--runtime", "ort"])
            .args(extra)
            .arg("--data-dir")
            .arg(dir.path())
            // Nowhere to find a library: no env path, empty data dir, no Python.
            .env_remove("ORT_DYLIB_PATH")
            .env("XDG_DATA_HOME", dir.path())
            .env("HOME", dir.path())
            .env("PYTHON", "/nonexistent/python3")
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        line.starts_with("error: ONNX Runtime library not found; tried --ort-lib (not given), ORT_DYLIB_PATH (unset)")
    );
    assert!(line.ends_with("run scripts/install-onnxruntime.sh or pass --ort-lib"), "{line}");
    let out = run(&["--ort-lib", "/nonexistent/libonnxruntime.so"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tried --ort-lib /nonexistent/libonnxruntime.so"));
}
