//! `POST /v1/benchmark/{model}`: latency per batch size of the active
//! version, and the memory the model really takes.
//!
//! The version benchmarked is the request's `version` (installed, active or
//! not) or the active one. A real agent loads a fresh copy of it and
//! reads its own resident memory (`VmRSS`) before and after loading, and
//! the peak (`VmHWM`, reset after each batch size's first, plan-building
//! call) while each batch runs; the figures are above the pre-load RSS.
//!
//! Resident memory undercounts in a long-running agent (freed heap is
//! reused, so a small model may not grow it at all). When the process
//! counts its allocations ([`crate::heap_count`], installed by the agent
//! binary) and the runtime allocates through them (tract; ONNX Runtime
//! takes its memory with its own `malloc`), the answer also carries the
//! heap bytes live before and after loading, and each batch's `peak_mb` is
//! counted on the heap: the model's growth on loading (for tract: the
//! decoded model and the batch-1 plan), plus what that batch size's first,
//! untimed call left behind (its own plan, for a batch size other than 1),
//! plus the peak of its timed calls above the heap when they began. Plans
//! tract built for the other batch sizes of this benchmark are left out, so
//! the figure is what serving this one batch size takes, whatever ran
//! before.
//!
//! Both kinds of figure are per process: other requests (predictions,
//! metrics) allocate meanwhile and show in them. The benchmark runs on its
//! own blocking thread and one benchmark runs at a time, so two do not blur
//! each other's peaks; on a busy agent the figures are upper bounds.
//!
//! A simulated agent pads every call to what its synthetic speed implies
//! and reports memory from the model's profile; its answer says
//! `synthetic: true`, so nobody calls it measured.

use crate::api_error::ApiError;
use crate::app_state::{AppState, pad_to};
use crate::heap_count;
use crate::model_routes::active_model;
use crate::model_store::ModelStoreError;
use crate::resident_memory::{peak_mb, reset_peak, rss_mb};
use crate::serving::percentile;
use crate::work_limits::{BENCHMARK_BUDGET, MAX_BENCH_VALUES, acquire, capped_runs};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use edgefleet_core::wire::{BatchLatency, BenchmarkMemory, BenchmarkRequest, BenchmarkResponse};
use edgefleet_core::{ModelProfile, check_segment};
use edgefleet_optimize::{OptimizeError, Runner, RuntimeKind};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MAX_BENCH_BATCH: u32 = 1024;
const MAX_BENCH_ITERATIONS: u32 = 1000;
const BYTES_PER_MB: f64 = 1024.0 * 1024.0;

/// One benchmark at a time per process (memory peaks are per process).
pub(crate) static BENCH_LOCK: Mutex<()> = Mutex::new(());

fn run_error(e: OptimizeError) -> ApiError {
    match e {
        OptimizeError::BadInput(d) => ApiError::bad_request(d),
        other => ApiError::internal(other.to_string()),
    }
}

fn check_request(req: &BenchmarkRequest) -> Result<(), ApiError> {
    if req.batch_sizes.is_empty() || req.batch_sizes.len() > 16 {
        return Err(ApiError::bad_request("`batch_sizes` must list 1 to 16 sizes"));
    }
    if let Some(b) = req.batch_sizes.iter().find(|&&b| b == 0 || b > MAX_BENCH_BATCH) {
        return Err(ApiError::bad_request(format!("batch size {b} is outside 1..={MAX_BENCH_BATCH}")));
    }
    if req.iterations == 0 || req.iterations > MAX_BENCH_ITERATIONS {
        return Err(ApiError::bad_request(format!("`iterations` must be in 1..={MAX_BENCH_ITERATIONS}")));
    }
    Ok(())
}

pub(crate) async fn benchmark(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Result<Json<BenchmarkRequest>, JsonRejection>,
) -> Result<Json<BenchmarkResponse>, ApiError> {
    let Json(req) = body?;
    let _permit = acquire(&state.benchmark_permits, "benchmark").await?;
    check_request(&req)?;
    let version = match &req.version {
        Some(v) => {
            check_segment("version", v).map_err(ModelStoreError::from)?;
            v.clone()
        }
        None => active_model(&state, &name).await?.version.clone(),
    };
    let (st, n, v) = (state.clone(), name.clone(), version.clone());
    let (results, memory) =
        tokio::task::spawn_blocking(move || run(&st, &n, &v, &req)).await?.map_err(|e| match e {
            Failure::Run(e) => run_error(e),
            Failure::Store(e) => e.into(),
            Failure::Bad(d) => ApiError::bad_request(d),
        })?;
    let synthetic = state.device.simulated;
    Ok(Json(BenchmarkResponse { model: name, version, results, memory, synthetic }))
}

enum Failure {
    Run(OptimizeError),
    Store(ModelStoreError),
    Bad(String),
}

impl From<OptimizeError> for Failure {
    fn from(e: OptimizeError) -> Self {
        Failure::Run(e)
    }
}

type Measured = (Vec<BatchLatency>, Option<BenchmarkMemory>);

/// Batch sizes this model cannot run here, refused before any work.
fn check_batches(runner: &Runner, batches: &[u32]) -> Result<(), Failure> {
    for &b in batches {
        if let Some(fixed) = runner.fixed_batch()
            && fixed != b as usize
        {
            return Err(Failure::Bad(format!("this model's input fixes the batch at {fixed} rows; got {b}")));
        }
        if (b as usize).saturating_mul(runner.features_per_sample()) > MAX_BENCH_VALUES {
            return Err(Failure::Bad(format!("batch {b} of this model is over {MAX_BENCH_VALUES} input values")));
        }
    }
    Ok(())
}

/// One untimed run: the first run of a batch size builds its plan, which
/// is neither its latency nor its activations.
fn warm_up(runner: &Runner, batch: u32, data: &[f32]) -> Result<(), OptimizeError> {
    runner.session().run(&runner.input_shape(batch as usize), data)?;
    Ok(())
}

/// Timed calls of one batch size (after [`warm_up`]): the first sizes how
/// many more fit in `budget`; each call is padded to `paced_ms` on a
/// simulated agent and counted as the larger of its run and that.
fn time_calls(
    runner: &Runner,
    batch: u32,
    data: &[f32],
    iterations: u32,
    budget: Duration,
    paced_ms: Option<f64>,
) -> Result<Vec<f64>, OptimizeError> {
    let shape = runner.input_shape(batch as usize);
    let mut times = Vec::new();
    let mut runs = 1;
    while times.len() < runs {
        let start = Instant::now();
        runner.session().run(&shape, data)?;
        let run_ms = start.elapsed().as_secs_f64() * 1e3;
        // A simulated call takes its hardware's time, or the host's when the
        // host is slower; the wait is real (the agent is busy meanwhile),
        // but a late wake-up on a busy host is not the hardware's time.
        times.push(match paced_ms {
            Some(ms) => {
                pad_to(start, ms);
                run_ms.max(ms)
            }
            None => run_ms,
        });
        if times.len() == 1 {
            runs = capped_runs(times[0], iterations as usize, budget);
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

fn heap_mb(bytes: usize) -> f64 {
    bytes as f64 / BYTES_PER_MB
}

fn run(state: &AppState, name: &str, version: &str, req: &BenchmarkRequest) -> Result<Measured, Failure> {
    let _one_at_a_time = BENCH_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // The heap says what the model takes only if its runtime allocates there.
    let heap_counted = heap_count::installed() && state.runtime.kind() == RuntimeKind::Tract;
    // A fresh copy of the version, so loading it shows in the memory figures.
    let rss_before = rss_mb();
    let heap_before = heap_counted.then(heap_count::live_bytes);
    let bytes = state.store.read_model(name, version).map_err(Failure::Store)?;
    let runner = Runner::load_bytes(state.runtime.as_ref(), &bytes)?;
    drop(bytes);
    let rss_after = rss_mb();
    let heap_after = heap_counted.then(heap_count::live_bytes);
    // Another thread may free more than the load took: never below zero.
    let heap_load_mb = heap_before.zip(heap_after).map(|(b, a)| (heap_mb(a) - heap_mb(b)).max(0.0));
    check_batches(&runner, &req.batch_sizes)?;
    let budget = BENCHMARK_BUDGET / req.batch_sizes.len().max(1) as u32;
    if state.device.simulated {
        let profile = edgefleet_optimize::inspect_model(runner.proto(), name)?;
        return Ok(simulated(state, &runner, &profile, req, budget)?);
    }
    let features = runner.features_per_sample();
    let mut rng = fastrand::Rng::with_seed(0x00BE_7C4A);
    let mut results = Vec::new();
    for &batch in &req.batch_sizes {
        let data: Vec<f32> = (0..batch as usize * features).map(|_| rng.f32()).collect();
        let before_plan = heap_count::live_bytes();
        warm_up(&runner, batch, &data)?;
        let peak_known = reset_peak();
        let heap_mark = heap_count::reset_peak();
        let times = time_calls(&runner, batch, &data, req.iterations, budget, None)?;
        let heap_peak = heap_count::peak_bytes();
        let rss_peak = peak_mb().filter(|_| peak_known).zip(rss_before).map(|(p, b)| (p - b).max(0.0));
        // The plan this batch size's first call built stays (serving this
        // batch size keeps it): it counts; the transient of building it
        // does not.
        let plan_mb = heap_mb(heap_mark.saturating_sub(before_plan));
        let peak = match heap_load_mb {
            Some(load) => Some(load + plan_mb + heap_mb(heap_peak.saturating_sub(heap_mark))),
            None => rss_peak,
        };
        results.push(BatchLatency {
            batch,
            latency_ms_p50: percentile(&times, 0.5),
            latency_ms_p90: percentile(&times, 0.9),
            peak_mb: peak.map(round3),
        });
    }
    let memory = rss_before.zip(rss_after).map(|(b, a)| BenchmarkMemory {
        rss_before_load_mb: round3(b),
        rss_after_load_mb: round3(a),
        load_mb: round3((a - b).max(0.0)),
        heap_before_load_mb: heap_before.map(|b| round3(heap_mb(b))),
        heap_after_load_mb: heap_after.map(|a| round3(heap_mb(a))),
    });
    Ok((results, memory))
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The benchmark of a simulated agent: each call padded to its synthetic
/// speed, memory from the model's profile.
fn simulated(
    state: &AppState,
    runner: &Runner,
    profile: &ModelProfile,
    req: &BenchmarkRequest,
    budget: Duration,
) -> Result<Measured, OptimizeError> {
    let features = runner.features_per_sample();
    // Synthetic memory as the estimator's defaults model a real agent (the
    // weights' copies, the runtime's overhead, another plan beyond batch 1),
    // so a simulated fleet calibrates coherently.
    let cfg = edgefleet_core::FitConfig::default();
    let weights_mb = profile.weights_bytes as f64 / BYTES_PER_MB;
    let load_mb = weights_mb * cfg.weights_copies_loaded + cfg.runtime_overhead_bytes as f64 / BYTES_PER_MB;
    let mut results = Vec::new();
    for &batch in &req.batch_sizes {
        let data = vec![0.5f32; batch as usize * features];
        let paced = state.simulated_call_ms(profile.flops_per_sample as f64 * f64::from(batch));
        warm_up(runner, batch, &data)?;
        let times = time_calls(runner, batch, &data, req.iterations, budget, paced)?;
        let act_mb = profile.peak_activation_bytes_per_sample as f64 * f64::from(batch) / BYTES_PER_MB;
        let plan_mb = if batch > 1 { weights_mb * cfg.weights_copies_per_batch_size } else { 0.0 };
        results.push(BatchLatency {
            batch,
            latency_ms_p50: percentile(&times, 0.5),
            latency_ms_p90: percentile(&times, 0.9),
            peak_mb: Some(round3(load_mb + plan_mb + act_mb)),
        });
    }
    let used_mb = state.metrics().memory_used_mb as f64;
    let memory = BenchmarkMemory {
        rss_before_load_mb: used_mb,
        rss_after_load_mb: round3(used_mb + load_mb),
        load_mb: round3(load_mb),
        heap_before_load_mb: None,
        heap_after_load_mb: None,
    };
    Ok((results, Some(memory)))
}
