//! tract and ONNX Runtime side by side in one run, one thread each,
//! steady state (p50 after warm-up), with absolute figures and ratios:
//!
//! 1. our ONNX Runtime call vs Python's `onnxruntime` in-process on the
//!    same model and rows, batch 1 and 540 (`scripts/ort_time.py`);
//! 2. int8 vs float on ONNX Runtime for a 64-1024-512-10 MLP at batch 540
//!    (int8-dynamic, and int8-static calibrated on the training rows);
//! 3. tract float vs ONNX Runtime float on the same models;
//! 4. tract's integer path against tract float (why tract never serves
//!    int8-dynamic for speed), the size of its int8 plan, and what tract
//!    does with ONNX Runtime's own quantized models.
//!
//! ```text
//! scripts/install-test-deps.sh && pip install scikit-learn
//! cargo run --release -p edgefleet-optimize --example runtime_bench
//! ```
//!
//! The wide MLP is trained by `scripts/make_wide_mlp.py` (scikit-learn,
//! seconds) into the system temp dir on first use.

use anyhow::{Context, Result, bail};
use edgefleet_core::OptimizationKind as K;
use edgefleet_optimize::evaluate::{compare_outputs, predict_all};
use edgefleet_optimize::transform::{CalibrationMethod, int8_static};
use edgefleet_optimize::{EvalData, OrtRuntime, Runner, Runtime, TractRuntime, apply_recipe, decode_model};
use std::path::{Path, PathBuf};
use std::process::Command;
use tract_onnx::pb;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// p50 of `runs` timed runs at `batch` (rows cycled), after warm-up.
fn p50_ms(runtime: &dyn Runtime, model: &pb::ModelProto, rows: &[Vec<f32>], batch: usize, runs: usize) -> Result<f64> {
    let runner = Runner::load(runtime, model.clone())?;
    let flat: Vec<f32> = (0..batch).flat_map(|i| rows[i % rows.len()].iter().copied()).collect();
    let mut times = runner.session().benchmark(&runner.input_shape(batch), &flat, (runs / 5).max(2), runs)?;
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// p50 from Python's onnxruntime on the same file and rows.
fn python_p50_ms(model: &Path, rows_csv: &Path, batch: usize, runs: usize) -> Result<f64> {
    let out = Command::new("python3")
        .arg(root().join("scripts/ort_time.py"))
        .arg(model)
        .arg(rows_csv)
        .args(["--batch", &batch.to_string(), "--runs", &runs.to_string()])
        .output()
        .context("running scripts/ort_time.py")?;
    if !out.status.success() {
        bail!("ort_time.py failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    v["p50_ms"].as_f64().context("no p50_ms in ort_time.py output")
}

/// The wide MLP and its calibration rows, made once.
fn wide_mlp() -> Result<(PathBuf, PathBuf)> {
    let dir = std::env::temp_dir().join("edgefleet-runtime-bench");
    std::fs::create_dir_all(&dir)?;
    let (model, calib) = (dir.join("mlp_64_1024_512_10.onnx"), dir.join("digits_train.csv"));
    if !model.exists() || !calib.exists() {
        let status = Command::new("python3")
            .arg(root().join("scripts/make_wide_mlp.py"))
            .arg(&model)
            .arg(&calib)
            .status()
            .context("running scripts/make_wide_mlp.py")?;
        if !status.success() {
            bail!("scripts/make_wide_mlp.py failed (pip install scikit-learn onnx numpy)");
        }
    }
    Ok((model, calib))
}

fn row(what: &str, a_ms: f64, b_ms: f64, ratio_label: &str) {
    println!("  {what:<44} {a_ms:>10.4} {b_ms:>10.4}   {ratio_label} {:.2}x", a_ms / b_ms);
}

fn main() -> Result<()> {
    let ort = OrtRuntime::load(None)?.with_intra_threads(1);
    let tract = TractRuntime;
    let eval_csv = root().join("assets/models/digits_eval.csv");
    let eval = EvalData::from_path(&eval_csv)?;
    let mlp_path = root().join("assets/models/mlp_digits.onnx");
    let mlp = decode_model(&std::fs::read(&mlp_path)?)?;
    let (wide_path, calib_csv) = wide_mlp()?;
    let wide = decode_model(&std::fs::read(&wide_path)?)?;
    let calib = EvalData::from_path(&calib_csv)?;
    println!(
        "{} vs {} ({}), one thread each, p50 ms after warm-up; rows from {}",
        ort.label(),
        tract.label(),
        ort.library(),
        eval_csv.display()
    );

    println!("\n1. ONNX Runtime: edgefleet's call vs Python onnxruntime in-process, same file and rows");
    println!("  {:<44} {:>10} {:>10}", "", "ours", "python");
    for (name, path, model) in [("mlp_digits 64-128-64-10", &mlp_path, &mlp), ("mlp 64-1024-512-10", &wide_path, &wide)]
    {
        for (batch, runs) in [(1, 2000), (540, 200)] {
            let ours = p50_ms(&ort, model, &eval.rows, batch, runs)?;
            let py = python_p50_ms(path, &eval_csv, batch, runs)?;
            row(&format!("{name}, batch {batch}"), ours, py, "ours/python");
        }
    }

    println!("\n2. int8 vs float on ONNX Runtime, mlp 64-1024-512-10, batch 540");
    let dynamic = apply_recipe(&wide, &[K::Int8Dynamic])?;
    let stat = int8_static(&wide, &calib.rows[..300], CalibrationMethod::MinMax)?;
    let float_ms = p50_ms(&ort, &wide, &eval.rows, 540, 200)?;
    let dyn_ms = p50_ms(&ort, &dynamic, &eval.rows, 540, 200)?;
    let static_ms = p50_ms(&ort, &stat, &eval.rows, 540, 200)?;
    println!("  {:<44} {:>10} {:>10}", "", "float", "int8");
    row("int8-dynamic (DynamicQuantizeLinear+MatMulInteger)", float_ms, dyn_ms, "speed-up");
    row("int8-static (QDQ, 300 calibration rows, minmax)", float_ms, static_ms, "speed-up");
    let float_out = predict_all(&Runner::load(&ort, wide.clone())?, &eval.rows)?;
    for (label, m) in [("int8-dynamic", &dynamic), ("int8-static", &stat)] {
        let (agree, diff) = compare_outputs(&float_out, &predict_all(&Runner::load(&ort, m.clone())?, &eval.rows)?)?;
        println!("  {label}: top-1 agreement with float {agree:.4}, max abs diff {diff:.4}");
    }

    println!("\n3. tract float vs ONNX Runtime float, same model");
    println!("  {:<44} {:>10} {:>10}", "", "tract", "ort");
    for (name, model) in [("mlp_digits", &mlp), ("mlp 64-1024-512-10", &wide)] {
        for (batch, runs) in [(1, 1000), (540, 50)] {
            let t = p50_ms(&tract, model, &eval.rows, batch, runs)?;
            let o = p50_ms(&ort, model, &eval.rows, batch, runs)?;
            row(&format!("{name}, batch {batch}"), t, o, "tract/ort");
        }
    }

    println!("\n4. tract's integer path, mlp 64-1024-512-10, batch 540");
    let t_float = p50_ms(&tract, &wide, &eval.rows, 540, 30)?;
    let t_dyn = p50_ms(&tract, &dynamic, &eval.rows, 540, 10)?;
    println!("  {:<44} {:>10} {:>10}", "", "int8-dyn", "float");
    row("tract int8-dynamic vs tract float", t_dyn, t_float, "slower");
    let plan_len = |m: &pb::ModelProto| -> Result<usize> { Ok(Runner::load(&tract, m.clone())?.plan_ops(540)?.len()) };
    println!("  tract plan ops at batch 540: float {}, int8-dynamic {}", plan_len(&wide)?, plan_len(&dynamic)?);
    let qop = std::fs::read(root().join("assets/models/mlp_digits_qoperator.onnx"))?;
    match Runner::load_bytes(&tract, &qop) {
        Ok(_) => println!("  tract loaded ORT's QOperator model (unexpected)"),
        Err(e) => println!("  ORT's QOperator model in tract: {e}"),
    }
    let qdq = std::env::temp_dir().join("edgefleet-runtime-bench/mlp_digits_ort_qdq.onnx");
    let made = Command::new("python3")
        .arg(root().join("scripts/make_ort_only_model.py"))
        .args(["--format", "qdq", "--out"])
        .arg(&qdq)
        .output()?;
    if made.status.success() {
        let q = decode_model(&std::fs::read(&qdq)?)?;
        let on_ort = predict_all(&Runner::load(&ort, q.clone())?, &eval.rows)?;
        let on_tract = predict_all(&Runner::load(&tract, q)?, &eval.rows)?;
        let (agree, diff) = compare_outputs(&on_ort, &on_tract)?;
        let all_one = on_tract.iter().all(|r| r.iter().all(|v| (*v - 1.0).abs() < 1e-6));
        println!(
            "  ORT's QDQ model (Softmax between Q/DQ): tract vs ORT top-1 agreement {agree:.3}, max abs diff {diff:.3}{}",
            if all_one { ", tract answers 1.0 for every class" } else { "" }
        );
    }
    Ok(())
}
