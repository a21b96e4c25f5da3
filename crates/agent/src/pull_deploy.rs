//! Deploy by pull, for agents the console cannot connect to: a `deploy`
//! command over the broker names a model version's URL, size and SHA-256;
//! the agent downloads it itself, resuming with `Range` from the bytes its
//! store already holds (after a dropped connection or a restart), and feeds
//! the bytes to the same upload handler an HTTP upload goes through (same
//! checks, quota, SHA-256 verification and install); then activates it
//! through the activate handler when asked. Progress goes to a callback
//! (the broker link publishes it as intermediate replies).

use crate::api_error::ApiError;
use crate::app_state::AppState;
use crate::model_routes;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_RANGE, RANGE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use edgefleet_core::check_segment;
use edgefleet_core::mqtt_wire::PullRequest;
use edgefleet_core::wire::{ActivateRequest, CONTENT_SHA256_HEADER};
use futures_util::StreamExt;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Download attempts (each resumes where the last one stopped).
const MAX_ATTEMPTS: u32 = 5;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A download with no byte for this long is dropped (and resumed).
const READ_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Wait between attempts.
const RETRY_PAUSE: Duration = Duration::from_millis(500);
/// Download progress is reported on the reply topic at most this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

fn bad(detail: impl Into<String>) -> ApiError {
    ApiError::bad_request(detail)
}

fn check(model: &str, req: &PullRequest) -> Result<(), ApiError> {
    check_segment("name", model).map_err(|e| bad(e.to_string()))?;
    check_segment("version", &req.version).map_err(|e| bad(e.to_string()))?;
    if !req.url.starts_with("http://") {
        return Err(bad("the model URL must be http://… (https comes with TLS support)"));
    }
    if req.size_bytes == 0 {
        return Err(bad("size_bytes must be above 0"));
    }
    Ok(())
}

/// Pull `model`/`req.version` from `req.url` into the store, then activate
/// it when asked. The answer holds the upload's and the activation's.
pub(crate) async fn pull(
    state: Arc<AppState>,
    model: String,
    req: PullRequest,
    progress: impl Fn(u64, u64) + Send + Sync + 'static,
) -> Result<serde_json::Value, ApiError> {
    let progress: Arc<dyn Fn(u64, u64) + Send + Sync> = Arc::new(progress);
    check(&model, &req)?;
    let http = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_IDLE_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut attempts = 0;
    let mut resumed_from = Vec::new();
    let upload = loop {
        let path = Path((model.clone(), req.version.clone()));
        let Json(status) = model_routes::upload_status(State(state.clone()), path).await?;
        if status.complete {
            break json!({ "received_bytes": status.received_bytes, "complete": true, "sha256": status.sha256 });
        }
        if attempts == MAX_ATTEMPTS {
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "download_failed",
                format!(
                    "{} of {} bytes after {MAX_ATTEMPTS} attempts from {}",
                    status.received_bytes, req.size_bytes, req.url
                ),
            ));
        }
        attempts += 1;
        // A part as large as the file was cut off after its last byte,
        // before the store checked and installed it: no Range can resume
        // at the end (the server answers 416), so start over.
        let start = if status.received_bytes < req.size_bytes { status.received_bytes } else { 0 };
        resumed_from.push(start);
        match fetch_into_store(&state, &http, &model, &req, start, progress.clone()).await {
            Ok(()) => {}
            // The store refused the bytes (wrong SHA-256, too large, quota): final.
            Err(Fetch::Refused(e)) => return Err(e),
            Err(Fetch::Transient(why)) => {
                tracing::warn!("deploy {model}/{}: {why}; resuming", req.version);
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    };
    let activated = if req.activate {
        let body = ActivateRequest {
            version: req.version.clone(),
            confidence_threshold: req.confidence_threshold,
            offload_sla_ms: None,
        };
        let Json(a) = model_routes::activate_signed(state, model, Ok(Json(body)), req.signature.clone()).await?;
        Some(a)
    } else {
        None
    };
    Ok(json!({ "upload": upload, "activated": activated, "attempts": attempts, "resumed_from": resumed_from }))
}

enum Fetch {
    Transient(String),
    Refused(ApiError),
}

/// One download from byte `start`, streamed into the upload handler.
async fn fetch_into_store(
    state: &Arc<AppState>,
    http: &reqwest::Client,
    model: &str,
    req: &PullRequest,
    start: u64,
    progress: Arc<dyn Fn(u64, u64) + Send + Sync>,
) -> Result<(), Fetch> {
    let mut get = http.get(&req.url);
    if start > 0 {
        get = get.header(RANGE, format!("bytes={start}-"));
    }
    let resp = get.send().await.map_err(|e| Fetch::Transient(e.to_string()))?;
    // A server that ignores Range sends everything again: start over.
    let start = match resp.status() {
        StatusCode::PARTIAL_CONTENT => start,
        StatusCode::OK => 0,
        s if s.is_server_error() => return Err(Fetch::Transient(format!("{} answered {s}", req.url))),
        s => return Err(Fetch::Refused(bad(format!("{} answered {s}", req.url)))),
    };
    let total = req.size_bytes;
    let header = |v: String| HeaderValue::from_str(&v).map_err(|e| Fetch::Refused(bad(e.to_string())));
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_SHA256_HEADER, header(req.sha256.clone())?);
    // Only a Content-Range resumes the store's part; without one the upload
    // starts over (replacing a part that cannot be resumed).
    if start > 0 {
        headers.insert(CONTENT_RANGE, header(format!("bytes {start}-{}/{total}", total - 1))?);
    }
    headers.insert(CONTENT_LENGTH, header((total - start).to_string())?);
    // Count the bytes as they pass; report the first chunk, then at most
    // once per PROGRESS_EVERY.
    let mut received = start;
    let mut last_report: Option<Instant> = None;
    let counted = resp.bytes_stream().inspect(move |chunk| {
        if let Ok(c) = chunk {
            received += c.len() as u64;
            if last_report.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY) {
                last_report = Some(Instant::now());
                progress(received, total);
            }
        }
    });
    let body = Body::from_stream(counted);
    let path = Path((model.to_owned(), req.version.clone()));
    match model_routes::upload(State(state.clone()), path, headers, body).await {
        Ok(_) => Ok(()),
        // A body that ended early leaves its bytes in the store's part:
        // the next status says where to resume.
        Err(e) if e.status.is_server_error() || e.code == "truncated_body" => Err(Fetch::Transient(e.to_string())),
        Err(e) => Err(Fetch::Refused(e)),
    }
}
