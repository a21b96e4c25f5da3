//! Health, device info and live metrics (JSON and Prometheus).

use crate::api_error::ApiError;
use crate::app_state::AppState;
use crate::prometheus;
use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use edgefleet_core::wire::{API_VERSION, Health, InfoResponse, Metrics};
use std::sync::Arc;

pub(crate) async fn health(State(state): State<Arc<AppState>>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        uptime_s: state.uptime_s(),
        device_id: Some(state.device.device_id.clone()),
        key_fingerprint: state.device.key_fingerprint.clone(),
    })
}

pub(crate) async fn info(State(state): State<Arc<AppState>>) -> Result<Json<InfoResponse>, ApiError> {
    let mut device = state.device.clone();
    if !device.simulated {
        device.call_overhead_ms = state.best_overhead.get().map(|ms| (ms * 1e4).round() / 1e4);
    }
    let m = sample(&state).await?;
    device.current_load = m.cpu_load;
    device.free_memory_mb = Some(m.memory_total_mb.saturating_sub(m.memory_used_mb).min(device.memory_mb));
    device.free_storage_gb = Some(m.storage_free_gb.min(device.storage_gb));
    device.battery_percent = m.battery_percent;
    Ok(Json(InfoResponse {
        device,
        agent_version: env!("CARGO_PKG_VERSION").into(),
        api: API_VERSION.into(),
        runtime_info: Some(state.runtime_info.clone()),
    }))
}

async fn sample(state: &Arc<AppState>) -> Result<Metrics, ApiError> {
    let state = state.clone();
    Ok(tokio::task::spawn_blocking(move || state.metrics()).await?)
}

pub(crate) async fn metrics(State(state): State<Arc<AppState>>) -> Result<Json<Metrics>, ApiError> {
    Ok(Json(sample(&state).await?))
}

pub(crate) async fn prometheus_metrics(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse, ApiError> {
    let m = sample(&state).await?;
    let text = prometheus::render(&state.device.device_id, &m, state.device.gflops);
    Ok(([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text))
}
