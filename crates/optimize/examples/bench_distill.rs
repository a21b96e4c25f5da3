//! Distillation benchmark: a 64-1024-512-10 teacher trained on the digits
//! (by `scripts/distill_bench_setup.py`, scikit-learn) against students of
//! at most 10 % of its parameters, trained on one core from the teacher's
//! soft labels — and the same students trained on the hard labels alone
//! (the distillation gain), side by side. Every model is measured the same
//! way: tract, the same held-out rows (the 540 test rows no student saw),
//! the same batches.
//!
//! ```text
//! python3 scripts/distill_bench_setup.py target/distill-bench
//! cargo run --release -p edgefleet-optimize --example bench_distill -- target/distill-bench [--seeds 3] [--student mlp:128]
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failure should stop it loudly

use edgefleet_optimize::distill::{Arch, Dataset, DistillConfig, Goal, Progress, Teacher, distill};
use edgefleet_optimize::evaluate::{Accuracy, EvalConfig, LatencyStat, accuracy, predict_all, time_batch};
use edgefleet_optimize::{Runner, encode_model};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

struct Row {
    label: String,
    params: u64,
    size_bytes: u64,
    accuracy: Accuracy,
    latency: Vec<LatencyStat>,
    training_s: f64,
    epochs: usize,
}

fn measure(runner: &Runner, test: &Dataset, cfg: &EvalConfig) -> (Accuracy, Vec<LatencyStat>) {
    let outputs = predict_all(runner, &test.rows).unwrap();
    let acc = accuracy(&outputs, test.labels.as_ref().unwrap());
    let latency = [1, 32].iter().map(|&b| time_batch(runner, b, &test.rows, cfg).unwrap()).collect();
    (acc, latency)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut dir = PathBuf::from("target/distill-bench");
    let mut seeds = 3u64;
    let mut students = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seeds" => seeds = args.next().and_then(|s| s.parse().ok()).expect("--seeds N"),
            "--student" => students.push(args.next().expect("--student SPEC")),
            other => dir = PathBuf::from(other),
        }
    }
    if students.is_empty() {
        students = vec!["mlp:64".into(), "mlp:128".into(), "mlp:256,128".into()];
    }
    let teacher_path = dir.join("teacher_1024_512.onnx");
    let Ok(teacher_bytes) = std::fs::read(&teacher_path) else {
        eprintln!(
            "{} is missing: run python3 scripts/distill_bench_setup.py {}",
            teacher_path.display(),
            dir.display()
        );
        std::process::exit(2);
    };
    let teacher = Teacher::from_bytes(&teacher_bytes, "teacher_1024_512").unwrap();
    let train = Dataset::from_path(&dir.join("digits_train.csv"), true).unwrap();
    let test = Dataset::from_path(&dir.join("digits_test.csv"), true).unwrap();
    let eval = EvalConfig { warmup_runs: 20, timed_runs: 200, large_batch: 32, zstd_level: 3 };
    println!(
        "teacher {} ({} params), {} training rows (10 % of them held out for the run's own report), {} test rows; \
         tract, one thread; {} seed(s) per student",
        teacher_path.display(),
        teacher.params,
        train.len(),
        test.len(),
        seeds
    );

    let (t_acc, t_lat) = measure(teacher.runner(), &test, &eval);
    let mut rows = vec![Row {
        label: "teacher 64-1024-512-10".into(),
        params: teacher.params,
        size_bytes: teacher.size_bytes,
        accuracy: t_acc,
        latency: t_lat,
        training_s: f64::NAN,
        epochs: 0,
    }];
    let mut gains = Vec::new();
    for spec in &students {
        let arch = Arch::parse(spec).unwrap();
        let mut kd_mean = 0.0;
        let mut hard_mean = 0.0;
        for seed in 0..seeds {
            for (kind, soft, hard) in [("distilled", 1.0, 1.0), ("hard labels only", 0.0, 1.0)] {
                let cfg = DistillConfig {
                    held_out_fraction: 0.1,
                    epochs: 200,
                    soft_weight: soft,
                    hard_weight: hard,
                    seed,
                    threads: 1,
                    time_budget: Some(Duration::from_secs(60)),
                    eval,
                    ..DistillConfig::default()
                };
                let out = distill(
                    &teacher,
                    &train,
                    &arch,
                    &cfg,
                    &Goal::default(),
                    &AtomicBool::new(false),
                    &mut |_: &Progress| {},
                )
                .unwrap();
                let runner = Runner::from_proto(out.model.clone()).unwrap();
                let (acc, latency) = measure(&runner, &test, &eval);
                if soft > 0.0 {
                    kd_mean += acc.value / seeds as f64;
                } else {
                    hard_mean += acc.value / seeds as f64;
                }
                rows.push(Row {
                    label: format!("{spec} {kind} (seed {seed})"),
                    params: out.report.student.params,
                    size_bytes: encode_model(&out.model).len() as u64,
                    accuracy: acc,
                    latency,
                    training_s: out.report.training_ms / 1e3,
                    epochs: out.report.recipe.epochs,
                });
            }
        }
        gains.push((spec.clone(), arch.params(&teacher.sample_shape, teacher.classes), kd_mean, hard_mean));
    }

    println!(
        "\n{:<40} {:>8} {:>6} {:>10} {:>22} {:>10} {:>10} {:>8} {:>6}",
        "model", "params", "% T", "bytes", "test accuracy [95% CI]", "b1 p50 ms", "b32 p50 ms", "train s", "epochs"
    );
    for r in &rows {
        println!(
            "{:<40} {:>8} {:>5.1}% {:>10} {:>7.2}% [{:.2}, {:.2}] {:>10.4} {:>10.4} {:>8.1} {:>6}",
            r.label,
            r.params,
            r.params as f64 * 100.0 / teacher.params as f64,
            r.size_bytes,
            r.accuracy.value * 100.0,
            r.accuracy.ci95_low * 100.0,
            r.accuracy.ci95_high * 100.0,
            r.latency[0].p50_ms,
            r.latency[1].p50_ms,
            r.training_s,
            r.epochs
        );
    }
    println!("\nteacher test accuracy {:.2}%", t_acc.value * 100.0);
    println!(
        "{:<14} {:>8} {:>6} {:>14} {:>16} {:>18} {:>16}",
        "student", "params", "% T", "distilled", "hard labels", "distillation gain", "gap to teacher"
    );
    for (spec, params, kd, hard) in gains {
        println!(
            "{:<14} {:>8} {:>5.1}% {:>13.2}% {:>15.2}% {:>+17.2} pt {:>+15.2} pt",
            spec,
            params,
            params as f64 * 100.0 / teacher.params as f64,
            kd * 100.0,
            hard * 100.0,
            (kd - hard) * 100.0,
            (kd - t_acc.value) * 100.0
        );
    }
}
