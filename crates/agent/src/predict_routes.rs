//! Inference: `POST /v1/predict/{model}` with edge/cloud offload (the rule
//! of `edgefleet_core::offload::decide`, per row). The benchmark route is
//! in `bench_routes`.

use crate::api_error::ApiError;
use crate::app_state::{AppState, pad_to};
use crate::model_routes::active_model;
use crate::predict_body::{body_limit, read_rows};
use crate::serving::{LoadedModel, Outcome};
use crate::work_limits::acquire;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use edgefleet_core::offload::{Decision, OffloadInputs, decide};
use edgefleet_core::wire::{PredictOutput, PredictResponse, SERVED_BY_LOCAL};
use edgefleet_optimize::{OptimizeError, Runner, top_class};
use std::sync::Arc;
use std::time::Instant;

/// Rows in one predict request, at most.
const MAX_ROWS: usize = 4096;
/// Predict bodies are never read past this, whatever the model's width.
const MAX_PREDICT_BODY_BYTES: usize = 64 * 1024 * 1024;

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
    body: Body,
) -> Result<Json<PredictResponse>, ApiError> {
    let started = Instant::now();
    // The permit is taken before the body is read: it bounds the bodies and
    // rows held in memory at once, not only the inference runs.
    let _permit = acquire(&state.predict_permits, "predict").await?;
    let model = active_model(&state, &name).await?;
    let runner = model.runner.clone();
    let features = runner.features_per_sample();
    let rows = read_rows(body, features, MAX_ROWS, body_limit(features, MAX_ROWS, MAX_PREDICT_BODY_BYTES)).await?;
    check_batch(&runner, rows.len())?;
    // A simulated agent takes as long as its synthetic hardware would.
    let paced_ms =
        model.profile.as_ref().and_then(|p| state.simulated_call_ms(p.flops_per_sample as f64 * rows.len() as f64));
    let (rows, values) = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let values = runner.run_rows(&rows);
        if let Some(ms) = paced_ms {
            pad_to(start, ms);
        }
        (rows, values)
    })
    .await?;
    let mut outs = outputs(values.map_err(run_error)?);
    let edge_ms = started.elapsed().as_secs_f64() * 1e3;

    let mut served_by = SERVED_BY_LOCAL.to_owned();
    let mut note = None;
    let mut outcome = Outcome { rows_local: outs.len() as u64, ..Outcome::default() };
    let cloud_ms = state.serving.upstream_latency_ms().unwrap_or(0.0);
    let low = offload_rows(&outs, &model, edge_ms, cloud_ms, state.upstream.is_some());
    if let (Some(up), false) = (&state.upstream, low.is_empty()) {
        let forwarded: Vec<Vec<f32>> = low.iter().map(|&i| rows[i].clone()).collect();
        let asked = Instant::now();
        match up.predict(&name, forwarded).await {
            Ok(answer) if answer.outputs.len() == low.len() => {
                state.serving.record_upstream_ms(asked.elapsed().as_secs_f64() * 1e3);
                outcome.offloaded = true;
                outcome.rows_upstream = low.len() as u64;
                outcome.rows_local -= low.len() as u64;
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

/// Rows the offload rule sends upstream: below the model's threshold, with
/// an upstream configured, and — when the model has an SLA — local time
/// plus the upstream's recent time within it. A confidence that is not a
/// number stays local.
fn offload_rows(
    outs: &[PredictOutput],
    model: &LoadedModel,
    edge_ms: f64,
    cloud_ms: f64,
    upstream_available: bool,
) -> Vec<usize> {
    outs.iter()
        .enumerate()
        .filter(|(_, o)| {
            let inputs = OffloadInputs {
                confidence: f64::from(o.confidence),
                threshold: model.threshold,
                edge_latency_ms: edge_ms,
                cloud_latency_ms: cloud_ms,
                sla_ms: model.sla_ms,
                upstream_available,
            };
            matches!(decide(&inputs), Ok(d) if d.decision == Decision::Offload)
        })
        .map(|(i, _)| i)
        .collect()
}
