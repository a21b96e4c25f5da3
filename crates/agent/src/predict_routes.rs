//! Inference: `POST /v1/predict/{model}` with edge/cloud offload, and
//! `POST /v1/benchmark/{model}`.

use crate::api_error::ApiError;
use crate::app_state::AppState;
use crate::model_routes::active_model;
use crate::serving::{Outcome, percentile};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use edgefleet_core::wire::{
    BatchLatency, BenchmarkRequest, BenchmarkResponse, PredictOutput, PredictRequest, PredictResponse, SERVED_BY_LOCAL,
};
use edgefleet_optimize::{OptimizeError, Runner, top_class};
use std::sync::Arc;
use std::time::Instant;

/// Rows in one predict request, at most.
const MAX_ROWS: usize = 4096;
const MAX_BENCH_BATCH: u32 = 1024;
const MAX_BENCH_ITERATIONS: u32 = 1000;

fn run_error(e: OptimizeError) -> ApiError {
    match e {
        OptimizeError::BadInput(d) => ApiError::bad_request(d),
        other => ApiError::internal(other.to_string()),
    }
}

/// A model whose input fixes the batch size runs only that batch; say so
/// instead of letting tract fail on the shape.
fn check_batch(runner: &Runner, rows: usize) -> Result<(), ApiError> {
    match runner.fixed_batch() {
        Some(fixed) if fixed != rows => {
            Err(ApiError::bad_request(format!("this model's input fixes the batch at {fixed} rows; got {rows}")))
        }
        _ => Ok(()),
    }
}

fn outputs(rows: Vec<Vec<f32>>) -> Vec<PredictOutput> {
    rows.into_iter()
        .map(|values| {
            let (top, confidence) = top_class(&values).unwrap_or((0, 0.0));
            PredictOutput { values, top_class: top, confidence }
        })
        .collect()
}

pub(crate) async fn predict(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Result<Json<PredictRequest>, JsonRejection>,
) -> Result<Json<PredictResponse>, ApiError> {
    let started = Instant::now();
    let Json(req) = body?;
    if req.inputs.is_empty() {
        return Err(ApiError::bad_request("`inputs` is empty: send at least one row"));
    }
    if req.inputs.len() > MAX_ROWS {
        return Err(ApiError::bad_request(format!("{} rows; at most {MAX_ROWS} a request", req.inputs.len())));
    }
    let model = active_model(&state, &name).await?;
    let runner = model.runner.clone();
    check_batch(&runner, req.inputs.len())?;
    let rows = req.inputs;
    let (rows, values) = tokio::task::spawn_blocking(move || {
        let values = runner.run_rows(&rows);
        (rows, values)
    })
    .await?;
    let mut outs = outputs(values.map_err(run_error)?);

    let mut served_by = SERVED_BY_LOCAL.to_owned();
    let mut note = None;
    let mut outcome = Outcome::default();
    let low: Vec<usize> =
        outs.iter().enumerate().filter(|(_, o)| f64::from(o.confidence) < model.threshold).map(|(i, _)| i).collect();
    if let (Some(up), false) = (&state.upstream, low.is_empty()) {
        let forwarded: Vec<Vec<f32>> = low.iter().map(|&i| rows[i].clone()).collect();
        match up.predict(&name, forwarded).await {
            Ok(answer) if answer.outputs.len() == low.len() => {
                outcome.offloaded = true;
                served_by = if answer.served_by == SERVED_BY_LOCAL { up.id().await } else { answer.served_by.clone() };
                for (&i, o) in low.iter().zip(answer.outputs) {
                    outs[i] = o;
                }
                if low.len() < outs.len() {
                    note = Some(format!(
                        "{} of {} rows were below confidence {} and answered by {served_by}; the rest locally",
                        low.len(),
                        outs.len(),
                        model.threshold
                    ));
                }
            }
            Ok(answer) => {
                outcome.upstream_failed = true;
                note = Some(format!(
                    "upstream {} returned {} outputs for {} rows; answered locally",
                    up.base_url(),
                    answer.outputs.len(),
                    low.len()
                ));
            }
            Err(e) => {
                outcome.upstream_failed = true;
                note = Some(format!("upstream {} {e}; answered locally", up.base_url()));
            }
        }
        if let Some(n) = note.as_ref().filter(|_| outcome.upstream_failed) {
            tracing::warn!("predict {name}: {n}");
        }
    }
    let latency_ms = started.elapsed().as_secs_f64() * 1e3;
    outcome.latency_ms = latency_ms;
    state.serving.record(&name, &model.version, outcome);
    Ok(Json(PredictResponse { outputs: outs, latency_ms, served_by, model_version: model.version.clone(), note }))
}

pub(crate) async fn benchmark(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Result<Json<BenchmarkRequest>, JsonRejection>,
) -> Result<Json<BenchmarkResponse>, ApiError> {
    let Json(req) = body?;
    if req.batch_sizes.is_empty() || req.batch_sizes.len() > 16 {
        return Err(ApiError::bad_request("`batch_sizes` must list 1 to 16 sizes"));
    }
    if let Some(b) = req.batch_sizes.iter().find(|&&b| b == 0 || b > MAX_BENCH_BATCH) {
        return Err(ApiError::bad_request(format!("batch size {b} is outside 1..={MAX_BENCH_BATCH}")));
    }
    if req.iterations == 0 || req.iterations > MAX_BENCH_ITERATIONS {
        return Err(ApiError::bad_request(format!("`iterations` must be in 1..={MAX_BENCH_ITERATIONS}")));
    }
    let model = active_model(&state, &name).await?;
    let runner = model.runner.clone();
    for &b in &req.batch_sizes {
        check_batch(&runner, b as usize)?;
    }
    let results = tokio::task::spawn_blocking(move || -> Result<Vec<BatchLatency>, OptimizeError> {
        let features = runner.features_per_sample();
        let mut rng = fastrand::Rng::with_seed(0x00BE_7C4A);
        let mut results = Vec::new();
        for &batch in &req.batch_sizes {
            let data: Vec<f32> = (0..batch as usize * features).map(|_| rng.f32()).collect();
            // One untimed run: the first run of a batch size compiles its plan.
            let shape = runner.input_shape(batch as usize);
            let mut times = runner.session().benchmark(&shape, &data, 1, req.iterations as usize)?;
            times.sort_by(f64::total_cmp);
            results.push(BatchLatency {
                batch,
                latency_ms_p50: percentile(&times, 0.5),
                latency_ms_p90: percentile(&times, 0.9),
            });
        }
        Ok(results)
    })
    .await?
    .map_err(run_error)?;
    Ok(Json(BenchmarkResponse { model: name, version: model.version.clone(), results }))
}
