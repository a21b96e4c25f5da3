//! `edgefleet distill`: train a small student from a teacher's soft labels
//! (one architecture, or a search over depth and width for a device), write
//! it as ONNX and add it to the library as a child of its teacher.
//!
//! ```text
//! edgefleet distill TEACHER.onnx --data ROWS.csv [--labels-last]
//!     [--student mlp:64,32 | --search] [--device DEVICE.json | --device-id ID]
//!     [--max-latency-ms X] [--min-agreement A] [--time-budget-s S]
//!     [--temperature T] [--int8] -o OUT.onnx [--json]
//! ```
//!
//! Bad input (unreadable or malformed rows, a teacher that is not a
//! single-float-input classifier, a budget too small to train anything)
//! exits 2 and writes nothing; a search where no candidate meets the limits
//! exits 1 and writes nothing. Ctrl-C stops training at its next check,
//! writes nothing and exits 130.

use super::estimate_cmd::load_device;
use super::store_args::open_store;
use super::{BadInput, GlobalArgs, Interrupted};
use crate::bad_input;
use edgefleet_core::Device;
use edgefleet_fleet::distill::{DistillJobError, DistillOutcome, DistillRequest, add_student, run_distill};
use edgefleet_fleet::library::write_atomically;
use edgefleet_optimize::distill::{
    Arch, DistillConfig, DistillError, DistillReport, Goal, Progress, SearchOutcome, Stage,
};
use edgefleet_optimize::encode_model;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct DistillArgs {
    /// The teacher ONNX model (one float input, class scores out).
    pub teacher: PathBuf,
    /// CSV rows to distill on: the teacher's input features, one sample a line.
    #[arg(long)]
    pub data: PathBuf,
    /// The last column of --data is an integer class label.
    #[arg(long)]
    pub labels_last: bool,
    /// The student: mlp:W[,W…] or cnn:C[,C…][:W,…] (for image inputs).
    #[arg(long, conflicts_with = "search", required_unless_present = "search")]
    pub student: Option<String>,
    /// Search depth (1–3) and width (8 … the teacher's) for the smallest
    /// student that meets the limits.
    #[arg(long)]
    pub search: bool,
    /// Target device (device JSON): fit and its best batch.
    #[arg(long, conflicts_with = "device_id")]
    pub device: Option<PathBuf>,
    /// Target device by its id in the registry.
    #[arg(long)]
    pub device_id: Option<String>,
    /// Largest p50 latency at batch 1 (ms) the student may have.
    #[arg(long)]
    pub max_latency_ms: Option<f64>,
    /// Largest student file size (bytes).
    #[arg(long)]
    pub max_size_bytes: Option<u64>,
    /// Smallest held-out top-1 agreement with the teacher (0..1).
    #[arg(long, default_value_t = 0.95)]
    pub min_agreement: f64,
    /// Wall time for training (and, with --search, screening and measuring).
    #[arg(long, default_value_t = 60.0)]
    pub time_budget_s: f64,
    /// Softmax temperature of the soft labels.
    #[arg(long, default_value_t = 4.0)]
    pub temperature: f32,
    /// Most epochs one student trains.
    #[arg(long, default_value_t = 150)]
    pub epochs: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = DistillConfig::default().learning_rate)]
    pub learning_rate: f64,
    /// Fraction of the rows held out to measure the student.
    #[arg(long, default_value_t = 0.2)]
    pub held_out: f64,
    /// Seed of the split, the initial weights and the batch order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Quantize the student to int8 (kept if it still meets --min-agreement).
    #[arg(long)]
    pub int8: bool,
    /// Where to write the student.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Do not add the student (and its teacher) to the library.
    #[arg(long)]
    pub no_library: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Errors from the distiller: the user's input at fault exits 2.
fn classify(e: DistillError) -> anyhow::Error {
    match e {
        DistillError::Cancelled => anyhow::Error::new(Interrupted("cancelled: nothing written".into())),
        e if e.is_bad_input() => anyhow::Error::new(BadInput(e.to_string())),
        e => anyhow::Error::msg(e.to_string()),
    }
}

/// Errors of the console's distillation job: the user's input at fault
/// exits 2, an interruption 130.
fn classify_job(e: DistillJobError) -> anyhow::Error {
    match e {
        DistillJobError::Distill(e) => classify(e),
        e if e.is_bad_input() => anyhow::Error::new(BadInput(e.to_string())),
        e => anyhow::Error::msg(e.to_string()),
    }
}

fn goal_and_config(args: &DistillArgs, device: Option<Device>) -> anyhow::Result<(Goal, DistillConfig)> {
    if !(0.0..=1.0).contains(&args.min_agreement) {
        bad_input!("--min-agreement must be between 0 and 1, got {}", args.min_agreement);
    }
    if !(args.time_budget_s.is_finite() && args.time_budget_s > 0.0) {
        bad_input!("--time-budget-s must be a positive number of seconds, got {}", args.time_budget_s);
    }
    if args.max_latency_ms.is_some_and(|m| !(m.is_finite() && m > 0.0)) {
        bad_input!("--max-latency-ms must be a positive number");
    }
    let goal = Goal {
        device,
        max_latency_ms: args.max_latency_ms,
        max_size_bytes: args.max_size_bytes,
        min_agreement: args.min_agreement,
        int8: args.int8,
    };
    let cfg = DistillConfig {
        temperature: args.temperature,
        held_out_fraction: args.held_out,
        epochs: args.epochs,
        learning_rate: args.learning_rate,
        seed: args.seed,
        time_budget: Some(Duration::from_secs_f64(args.time_budget_s)),
        ..DistillConfig::default()
    };
    cfg.validate().map_err(classify)?;
    Ok((goal, cfg))
}

pub fn run(global: &GlobalArgs, args: DistillArgs) -> anyhow::Result<()> {
    let device = match (&args.device, &args.device_id) {
        (Some(path), _) => Some(load_device(path)?),
        (None, Some(id)) => match open_store(global)?.get_device(id)? {
            Some(rec) => Some(rec.device),
            None => bad_input!("no device `{id}` in the registry (see `edgefleet devices`)"),
        },
        (None, None) => None,
    };
    let (goal, cfg) = goal_and_config(&args, device)?;
    let student = match &args.student {
        Some(spec) => Some(Arch::parse(spec).map_err(classify)?),
        None => None,
    };
    let req = DistillRequest {
        teacher_path: &args.teacher,
        data_path: &args.data,
        labels_last: args.labels_last,
        student,
        goal,
        cfg,
    };
    let bar = progress_bar(args.json);
    let mut on_progress = |p: &Progress| show_progress(&bar, p);
    let cancel = cancel_on_ctrl_c();
    let outcome = run_distill(&req, &cancel, &mut on_progress);
    bar.finish_and_clear();
    let DistillOutcome { distilled, search, .. } = match outcome {
        Ok(o) => o,
        Err(e) => {
            if let (DistillJobError::NoStudent { outcome, .. }, false) = (&e, args.json) {
                print!("{}", search_table(outcome));
            }
            return Err(classify_job(e));
        }
    };
    let bytes = encode_model(&distilled.model);
    write_atomically(&args.output, &bytes).map_err(|e| classify_job(e.into()))?;
    let record = if args.no_library {
        None
    } else {
        let store = open_store(global)?;
        Some(add_student(&store, &args.teacher, &args.output, &bytes, &distilled.report).map_err(classify_job)?)
    };
    let text = if args.json {
        let value = serde_json::json!({
            "output": args.output.display().to_string(),
            "report": distilled.report,
            "library": record,
            "search": search.as_ref().map(|s| serde_json::json!({
                "candidates": s.candidates,
                "chosen": s.chosen,
                "rounds": s.rounds,
                "elapsed_ms": s.elapsed_ms,
                "budget_s": s.budget_s,
            })),
        });
        serde_json::to_string_pretty(&value)? + "\n"
    } else {
        let mut s = search.as_ref().map(search_table).unwrap_or_default();
        s += &report_table(&distilled.report);
        s += &format!("wrote {}\n", args.output.display());
        if let Some(r) = &record {
            s += &format!(
                "library: {} v{} (id {}), child of id {}\n",
                r.name,
                r.version,
                r.id,
                r.parent_id.unwrap_or(0)
            );
        }
        s
    };
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(())
}

fn progress_bar(hidden: bool) -> indicatif::ProgressBar {
    if hidden {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(1000);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {elapsed} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

fn show_progress(bar: &indicatif::ProgressBar, p: &Progress) {
    bar.set_position((p.fraction * 1000.0) as u64);
    let what = match p.stage {
        Stage::Teacher => "running the teacher".to_owned(),
        Stage::Screening => format!("measuring {}", p.arch),
        Stage::Training => format!("training {} epoch {}", p.arch, p.epoch),
        Stage::Measuring => format!("measuring {}", p.arch),
        Stage::Int8 => "int8".to_owned(),
        Stage::Done => "done".to_owned(),
    };
    let candidate = p.candidate.map(|(k, n)| format!("candidate {k}/{n}: ")).unwrap_or_default();
    let best = p.best.as_ref().map(|(a, g)| format!(" (best so far {a}, {:.1}%)", g * 100.0)).unwrap_or_default();
    bar.set_message(format!("{candidate}{what}{best}"));
}

fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{:.2}%", v * 100.0)).unwrap_or_else(|| "-".into())
}

fn search_table(s: &SearchOutcome) -> String {
    let mut out = format!(
        "{:<16} {:>8} {:>9} {:>10} {:>10} {:>6} {:>6} {:>6}  why not\n",
        "candidate", "params", "bytes", "agreement", "p50 ms", "epochs", "front", "meets"
    );
    for (i, c) in s.candidates.iter().enumerate() {
        let mark = if Some(i) == s.chosen { "*" } else { " " };
        out += &format!(
            "{mark}{:<15} {:>8} {:>9} {:>10} {:>10.4} {:>6} {:>6} {:>6}  {}\n",
            c.arch,
            c.figures.params,
            c.figures.size_bytes,
            pct(c.agreement.map(|a| a.value)),
            c.figures.latency_ms_batch1(),
            c.epochs,
            if c.on_pareto_front { "yes" } else { "no" },
            if c.meets_goal { "yes" } else { "no" },
            c.rejected_because.join("; ")
        );
    }
    out += &format!(
        "{} rounds of successive halving in {:.1} s (budget {:.0} s)\n",
        s.rounds,
        s.elapsed_ms / 1e3,
        s.budget_s
    );
    out
}

fn report_table(r: &DistillReport) -> String {
    let (t, s) = (&r.teacher, &r.student);
    let ci = |a: Option<edgefleet_optimize::evaluate::Accuracy>| {
        a.map(|a| format!("{:.2}% [{:.2}, {:.2}]", a.value * 100.0, a.ci95_low * 100.0, a.ci95_high * 100.0))
            .unwrap_or_else(|| "-".into())
    };
    let mut out = format!("{:<22} {:>24} {:>24}\n", "", "teacher", format!("student {}", r.recipe.arch));
    out += &format!("{:<22} {:>24} {:>24}\n", "params", t.params, s.params);
    out += &format!("{:<22} {:>24} {:>24}\n", "size (bytes)", t.size_bytes, s.size_bytes);
    out += &format!("{:<22} {:>24} {:>24}\n", "held-out accuracy", ci(t.accuracy), ci(s.accuracy));
    for (a, b) in t.latency.iter().zip(&s.latency) {
        out += &format!(
            "{:<22} {:>24} {:>24}\n",
            format!("p50 ms, batch {} ({})", a.batch, r.runtime),
            format!("{:.4}", a.p50_ms),
            format!("{:.4}", b.p50_ms)
        );
    }
    if let Some(fits) = s.fits_device {
        out += &format!("{:<22} {:>24} {:>24}\n", "fits the device", fmt_fit(t.fits_device), fmt_fit(Some(fits)));
    }
    out += &format!("agreement with the teacher: {} on {} held-out rows\n", ci(Some(r.agreement)), r.held_out_rows);
    out += &format!(
        "trained {} epochs on {} rows in {:.1} s (stopped by {}), T = {}{}\n",
        r.recipe.epochs,
        r.train_rows,
        r.training_ms / 1e3,
        r.stopped_by,
        r.recipe.temperature,
        if r.recipe.int8 { ", then int8" } else { "" }
    );
    for n in &r.notes {
        out += &format!("note: {n}\n");
    }
    out
}

fn fmt_fit(f: Option<bool>) -> String {
    match f {
        Some(true) => "yes".into(),
        Some(false) => "no".into(),
        None => "-".into(),
    }
}

/// A cancel flag that Ctrl-C sets, so training stops at its next check and
/// nothing is written (the error says "cancelled", exit code 130). The
/// watcher thread lives until the process ends.
fn cancel_on_ctrl_c() -> Arc<AtomicBool> {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let watch = move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_io().build() else { return };
        if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
            flag.store(true, Ordering::Relaxed);
            eprintln!("\nstopping at the next check (Ctrl-C again to quit at once)…");
            // A second Ctrl-C gets the default behaviour back.
            let _ = rt.block_on(tokio::signal::ctrl_c());
            std::process::exit(130);
        }
    };
    // Without the watcher Ctrl-C still ends the process, just not cleanly.
    let _ = std::thread::Builder::new().name("ctrl-c".into()).spawn(watch);
    cancel
}
