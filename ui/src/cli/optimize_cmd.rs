//! `edgefleet optimize`: rewrite a model with a recipe, or search recipes
//! for a device, measure the result on a runtime and write it. The runtime
//! is `--runtime` (tract unless told); a search measures on the target
//! device's runtime unless `--runtime` says otherwise.
//!
//! ```text
//! edgefleet optimize MODEL.onnx --recipe int8[,prune:0.5,…] [--eval DATA.csv] [--runtime tract|ort|auto] -o OUT.onnx [--json]
//! edgefleet optimize MODEL.onnx --search --device DEVICE.json --eval DATA.csv [--max-accuracy-loss 0.01] -o OUT.onnx
//! ```

use super::GlobalArgs;
use super::inspect_cmd::classify;
use crate::bad_input;
use edgefleet_core::{Device, parse_recipe};
use edgefleet_fleet::library::write_atomically;
use edgefleet_optimize::runtime::{self, Runtime, RuntimeChoice, TractRuntime};
use edgefleet_optimize::search::{Objective, SearchLimits, SearchTarget, search_on};
use edgefleet_optimize::{EvalConfig, EvalData, OptimizeReport, Runner, encode_model, optimize_model_on};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct OptimizeArgs {
    /// The ONNX model to optimize.
    pub model: PathBuf,
    /// Comma-separated steps: int8, int8-dynamic, int8-static (calibrated on
    /// the first rows of --eval), fp16, prune:R, prune-structured:R, fix-shapes[:B].
    #[arg(long, conflicts_with = "search", required_unless_present = "search")]
    pub recipe: Option<String>,
    /// Try recipe combinations and keep the best that fits --device.
    #[arg(long, requires_all = ["device", "eval"])]
    pub search: bool,
    /// Target device (device JSON) for --search.
    #[arg(long)]
    pub device: Option<PathBuf>,
    /// Evaluation CSV: features, then the integer label, one sample a line.
    #[arg(long)]
    pub eval: Option<PathBuf>,
    /// Where to write the optimized model.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Largest accuracy drop --search may accept (0.01 = one point).
    #[arg(long, default_value_t = 0.01)]
    pub max_accuracy_loss: f64,
    /// Largest p50 latency at batch 1 (ms) --search may accept.
    #[arg(long)]
    pub max_latency_ms: Option<f64>,
    /// Largest file size (bytes) --search may accept.
    #[arg(long)]
    pub max_size_bytes: Option<u64>,
    /// What --search prefers among candidates that qualify.
    #[arg(long, value_enum, default_value_t = ObjectiveArg::Size)]
    pub objective: ObjectiveArg,
    /// Runtime to measure on: tract (built in), ort (ONNX Runtime; fails
    /// when its library is missing) or auto (ONNX Runtime when it loads).
    /// Default: tract for --recipe, the device's own runtime for --search.
    #[arg(long, value_name = "auto|tract|ort")]
    pub runtime: Option<RuntimeChoice>,
    /// The ONNX Runtime shared library (else ORT_DYLIB_PATH, the app's lib
    /// folder, or an installed Python onnxruntime).
    #[arg(long, value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,
    /// Timed runs per batch size (after warm-up).
    #[arg(long, default_value_t = 100)]
    pub runs: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ObjectiveArg {
    Size,
    Latency,
    Accuracy,
}

pub fn run(_global: &GlobalArgs, args: OptimizeArgs) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&args.max_accuracy_loss) {
        bad_input!("--max-accuracy-loss must be between 0 and 1, got {}", args.max_accuracy_loss);
    }
    if args.runs == 0 {
        bad_input!("--runs must be at least 1");
    }
    let bytes = match std::fs::read(&args.model) {
        Ok(b) => b,
        Err(e) => bad_input!("cannot read model {}: {e}", args.model.display()),
    };
    // The user's model must load in tract before anything else: its failure is bad input.
    Runner::from_bytes(&bytes)
        .map_err(|e| anyhow::Error::new(super::BadInput(format!("{}: {e}", args.model.display()))))?;
    let data = match &args.eval {
        Some(path) => Some(EvalData::from_path(path).map_err(classify)?),
        None => None,
    };
    let name = args.model.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    let cfg = EvalConfig { timed_runs: args.runs, ..EvalConfig::default() };
    if args.search {
        return run_search(&args, &bytes, &name, data.as_ref(), &cfg);
    }
    let recipe_text = args.recipe.as_deref().unwrap_or_default();
    let recipe = match parse_recipe(recipe_text) {
        Ok(r) if r.is_empty() => bad_input!("--recipe names no step"),
        Ok(r) => r,
        Err(e) => bad_input!("{e}"),
    };
    let measure_on = chosen_runtime(&args)?.unwrap_or_else(|| Arc::new(TractRuntime));
    let (model, report) =
        optimize_model_on(measure_on.as_ref(), &bytes, &name, &recipe, data.as_ref(), &cfg).map_err(classify)?;
    write_atomically(&args.output, &encode_model(&model))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report_table(&report));
        println!("wrote {}", args.output.display());
    }
    Ok(())
}

fn run_search(
    args: &OptimizeArgs,
    bytes: &[u8],
    name: &str,
    data: Option<&EvalData>,
    cfg: &EvalConfig,
) -> anyhow::Result<()> {
    let (Some(device_path), Some(data)) = (&args.device, data) else {
        bad_input!("--search needs --device and --eval");
    };
    let device = match std::fs::read_to_string(device_path) {
        Ok(text) => match Device::from_json(&text) {
            Ok(d) => d,
            Err(e) => bad_input!("{}: {e}", device_path.display()),
        },
        Err(e) => bad_input!("cannot read device {}: {e}", device_path.display()),
    };
    let measure_on = match chosen_runtime(args)? {
        Some(runtime) => runtime,
        None => {
            let (runtime, note) = runtime::for_device(&device);
            if let Some(note) = note {
                eprintln!("note: {note}");
            }
            runtime
        }
    };
    let target = SearchTarget {
        device,
        limits: SearchLimits {
            max_accuracy_loss: args.max_accuracy_loss,
            max_latency_ms: args.max_latency_ms,
            max_size_bytes: args.max_size_bytes,
        },
        objective: match args.objective {
            ObjectiveArg::Size => Objective::Size,
            ObjectiveArg::Latency => Objective::Latency,
            ObjectiveArg::Accuracy => Objective::Accuracy,
        },
    };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut progress = |done: usize, total: usize, what: &str| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        bar.set_message(what.to_owned());
    };
    let outcome = search_on(measure_on.as_ref(), bytes, name, &target, data, cfg, &mut progress);
    bar.finish_and_clear();
    let (result, model) = outcome.map_err(classify)?;
    if let Some(model) = &model {
        write_atomically(&args.output, &encode_model(model))?;
    }
    if args.json {
        let chosen = result.chosen.map(|i| &result.candidates[i].report);
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "chosen": chosen, "candidates": result.candidates }))?
        );
    } else {
        println!(
            "{:<42} {:>9} {:>9} {:>10} {:>6} {:>5}  why not",
            "recipe", "bytes", "accuracy", "p50 ms", "pareto", "fits"
        );
        for (i, c) in result.candidates.iter().enumerate() {
            let r = &c.report;
            let recipe = if r.recipe.is_empty() { "(original)".to_string() } else { r.recipe.join(",") };
            let mark = if Some(i) == result.chosen { "*" } else { " " };
            println!(
                "{mark}{recipe:<41} {:>9} {:>9.4} {:>10.4} {:>6} {:>5}  {}",
                r.size_after_bytes,
                r.accuracy_after.unwrap_or(f64::NAN),
                r.latency_ms_after,
                if c.on_pareto_front { "yes" } else { "no" },
                if c.fits_device { "yes" } else { "no" },
                c.rejected_because.join("; ")
            );
        }
    }
    match result.chosen {
        Some(i) => {
            if !args.json {
                let why = edgefleet_fleet::library::chosen_words(
                    target.objective,
                    &target.limits,
                    &result.candidates[i].report,
                );
                println!("{why}\nwrote {}", args.output.display());
            }
            Ok(())
        }
        None => {
            anyhow::bail!("no candidate meets the limits and fits {}; nothing written", target.device.display_name())
        }
    }
}

/// The runtime `--runtime` asks for (`None` when the flag is absent). A
/// runtime asked for that does not load is a setup error, said in one line.
fn chosen_runtime(args: &OptimizeArgs) -> anyhow::Result<Option<Arc<dyn Runtime>>> {
    let Some(choice) = args.runtime else { return Ok(None) };
    let selected = runtime::select(choice, args.ort_lib.as_deref(), 1)?;
    if !args.json {
        eprintln!("{}", selected.why);
    }
    Ok(Some(selected.runtime))
}

fn report_table(r: &OptimizeReport) -> String {
    let pct = |v: Option<f64>| v.map(|v| format!("{:.2}%", v * 100.0)).unwrap_or_else(|| "-".into());
    let ci = |v: Option<[f64; 2]>| v.map(|[a, b]| format!(" [{:.2}, {:.2}]", a * 100.0, b * 100.0)).unwrap_or_default();
    let mut s = format!("recipe            {}\n", r.recipe.join(","));
    s += &format!("measured on       {}\n", r.runtime);
    s += &format!(
        "size              {} -> {} bytes ({:.2}×)\n",
        r.size_before_bytes,
        r.size_after_bytes,
        r.size_before_bytes as f64 / r.size_after_bytes.max(1) as f64
    );
    s += &format!("size (zstd)       {} -> {} bytes\n", r.zstd_size_before_bytes, r.zstd_size_after_bytes);
    s += &format!("params            {} -> {}\n", r.params_before, r.params_after);
    s += &format!("FLOPs / sample    {} -> {}\n", r.flops_per_sample_before, r.flops_per_sample_after);
    s += &format!("weight sparsity   {:.1}%\n", r.weight_sparsity_after * 100.0);
    s += &format!(
        "accuracy          {}{} -> {}{}\n",
        pct(r.accuracy_before),
        ci(r.accuracy_before_ci95),
        pct(r.accuracy_after),
        ci(r.accuracy_after_ci95)
    );
    s += &format!("top-1 agreement   {}\n", pct(r.agreement));
    if let Some(d) = r.max_abs_output_diff {
        s += &format!("max |Δ output|    {d:.6}\n");
    }
    for (b, a) in r.latency_before.iter().zip(&r.latency_after) {
        s += &format!(
            "latency batch {:<3} p50 {:.4} -> {:.4} ms, p90 {:.4} -> {:.4} ms\n",
            a.batch, b.p50_ms, a.p50_ms, b.p90_ms, a.p90_ms
        );
    }
    for n in &r.notes {
        s += &format!("note: {n}\n");
    }
    s
}
