//! A load-balancing gateway in front of the devices that serve one model:
//! the agents' predict API (`POST /v1/predict/{model}`, `GET /v1/health`),
//! each request routed to the ready device with the least outstanding
//! requests weighted by its observed latency. Devices are probed in the
//! background (`GET /v1/models`), which also finds devices that gain the
//! model; a request that fails on one device is retried once on another,
//! and the failed device is skipped until a probe finds it healthy again.

mod pool;

pub use pool::BackendStatus;

use crate::client::{MAX_RESULT_RESPONSE_BYTES, http_client};
use crate::engine::Directory;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use edgefleet_agent::{ServeLimits, read_body_limited, serve_bounded};
use edgefleet_core::wire::{self, ErrorBody};
use pool::Pool;
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// Response header naming the device that answered.
pub const SERVED_BY_DEVICE_HEADER: &str = "x-edgefleet-device";
/// Largest predict body accepted (the agents' own limit).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Attempts per request: the first device, then one other.
const ATTEMPTS: usize = 2;

/// What the gateway serves and where it looks for devices.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The model name requests must name.
    pub model: String,
    /// Where devices are and their tokens (the engine's, or one built from
    /// the store); read again at every probe, so new devices join.
    pub directory: Directory,
    /// Only these devices; empty = every device in the directory.
    pub devices: Vec<String>,
    /// How often every device is probed.
    pub probe_interval: Duration,
    /// Longest wait for one device's answer to a predict request.
    pub request_timeout: Duration,
}

impl GatewayConfig {
    pub fn new(model: impl Into<String>, directory: Directory) -> Self {
        GatewayConfig {
            model: model.into(),
            directory,
            devices: Vec::new(),
            probe_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("bad gateway configuration: {0}")]
    BadConfig(String),
    #[error("the gateway's HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// `GET /v1/health` of the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct GatewayHealth {
    /// `ok` when at least one device can serve, else `no_backend`.
    pub status: String,
    pub version: String,
    pub uptime_s: u64,
    pub model: String,
    pub ready_devices: usize,
}

struct Gateway {
    config: GatewayConfig,
    pool: Arc<Pool>,
    http: reqwest::Client,
    started: Instant,
}

/// Serve the gateway on `listener` until `shutdown` completes.
pub async fn run_gateway(
    listener: TcpListener,
    config: GatewayConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GatewayError> {
    if crate::rollout::check_model_name(&config.model).is_err() {
        return Err(GatewayError::BadConfig(format!("`{}` is not a valid model name", config.model)));
    }
    if config.probe_interval.is_zero() || config.request_timeout.is_zero() {
        return Err(GatewayError::BadConfig("probe interval and request timeout must be above zero".into()));
    }
    let unknown: Vec<&str> =
        config.devices.iter().filter(|d| config.directory.client(d).is_none()).map(String::as_str).collect();
    if !unknown.is_empty() {
        return Err(GatewayError::BadConfig(format!("unknown device(s): {}", unknown.join(", "))));
    }
    let http = http_client().map_err(|e| GatewayError::BadConfig(e.to_string()))?;
    let gw = Arc::new(Gateway { config, pool: Arc::new(Pool::default()), http, started: Instant::now() });
    // One probe round before serving, so the first request finds devices.
    probe_all(&gw).await;
    let prober = tokio::spawn(probe_loop(gw.clone()));
    let app = Router::new()
        .route("/v1/health", get(health))
        .route("/v1/gateway/backends", get(backends))
        .route("/v1/predict/{model}", post(predict))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such endpoint".into()) })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(gw);
    // Connection cap, header-read and idle timeouts, as on the agents.
    serve_bounded(listener, app, ServeLimits::default(), shutdown).await;
    prober.abort();
    Ok(())
}

fn device_ids(gw: &Gateway) -> Vec<String> {
    if gw.config.devices.is_empty() { gw.config.directory.device_ids() } else { gw.config.devices.clone() }
}

async fn probe_all(gw: &Arc<Gateway>) {
    let ids = device_ids(gw);
    gw.pool.retain(&ids);
    let timeout = gw.config.probe_interval.clamp(Duration::from_millis(200), Duration::from_secs(2));
    let probes = ids.into_iter().filter_map(|id| {
        let client = gw.config.directory.client(&id)?.timeout(timeout);
        let (pool, model) = (gw.pool.clone(), gw.config.model.clone());
        Some(async move {
            let result = client.models().await.ok().map(|m| m.models.iter().any(|e| e.name == model && e.active));
            pool.probed(&id, client.base(), client.token().map(str::to_owned), result);
        })
    });
    futures_util::future::join_all(probes).await;
}

async fn probe_loop(gw: Arc<Gateway>) {
    let mut tick = tokio::time::interval(gw.config.probe_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        probe_all(&gw).await;
    }
}

fn error(status: StatusCode, code: &str, detail: String) -> Response {
    (status, axum::Json(ErrorBody { error: code.to_owned(), detail })).into_response()
}

async fn health(State(gw): State<Arc<Gateway>>) -> axum::Json<GatewayHealth> {
    let ready = gw.pool.ready();
    axum::Json(GatewayHealth {
        status: if ready > 0 { "ok" } else { "no_backend" }.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_s: gw.started.elapsed().as_secs(),
        model: gw.config.model.clone(),
        ready_devices: ready,
    })
}

async fn backends(State(gw): State<Arc<Gateway>>) -> axum::Json<Vec<BackendStatus>> {
    axum::Json(gw.pool.snapshot())
}

/// The device's fault (try another), as opposed to the request's.
fn device_fault(status: StatusCode) -> bool {
    status.is_server_error() || matches!(status.as_u16(), 401 | 403 | 404 | 429)
}

async fn predict(State(gw): State<Arc<Gateway>>, Path(model): Path<String>, body: Bytes) -> Response {
    if model != gw.config.model {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("this gateway serves `{}`, not `{model}`", gw.config.model),
        );
    }
    let mut tried: Vec<String> = Vec::new();
    let mut last_problem = None;
    for _ in 0..ATTEMPTS {
        let Some(lease) = gw.pool.pick(&tried) else { break };
        tried.push(lease.device_id.clone());
        let started = Instant::now();
        let url = format!("{}/{}/predict/{model}", lease.base_url, wire::API_VERSION);
        let mut req = gw
            .http
            .post(url)
            .timeout(gw.config.request_timeout)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.clone());
        if let Some(t) = &lease.token {
            req = req.bearer_auth(t);
        }
        let outcome = match req.send().await {
            Ok(resp) => {
                let status = resp.status();
                // A device's answer is read up to the result limit, never whole.
                match read_body_limited(resp, MAX_RESULT_RESPONSE_BYTES).await {
                    Ok(bytes) => Ok((status, Bytes::from(bytes))),
                    Err(e) => Err(e.to_string()),
                }
            }
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok((status, bytes)) if !device_fault(status) => {
                if status.is_success() {
                    lease.succeeded(started.elapsed().as_secs_f64() * 1e3);
                }
                // Success, or the request's own fault (bad rows): the answer
                // goes back as the device gave it.
                let mut resp = (status, bytes).into_response();
                let headers = resp.headers_mut();
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                if let Ok(v) = HeaderValue::from_str(&lease.device_id) {
                    headers.insert(SERVED_BY_DEVICE_HEADER, v);
                }
                return resp;
            }
            Ok((status, bytes)) => {
                lease.failed(status == StatusCode::NOT_FOUND);
                let text: String = String::from_utf8_lossy(&bytes).chars().take(200).collect();
                tracing::warn!("gateway: {} answered {status}: {text}", lease.device_id);
                last_problem = Some(format!("{} answered {status}: {text}", lease.device_id));
            }
            Err(e) => {
                lease.failed(false);
                tracing::warn!("gateway: {} failed: {e}", lease.device_id);
                last_problem = Some(format!("{} failed: {e}", lease.device_id));
            }
        }
    }
    match last_problem {
        Some(p) => error(StatusCode::BAD_GATEWAY, "bad_gateway", format!("no device could answer; last: {p}")),
        None => error(StatusCode::SERVICE_UNAVAILABLE, "no_backend", format!("no healthy device has `{model}` active")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_faults_are_retried_request_faults_are_not() {
        for s in [500, 502, 503, 401, 404, 429] {
            assert!(device_fault(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [200, 400, 413, 415, 422] {
            assert!(!device_fault(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }
}
