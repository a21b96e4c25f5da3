//! Model store endpoints: list, upload (resumable), upload status,
//! activate, rollback, delete.

use crate::api_error::ApiError;
use crate::app_state::AppState;
use crate::model_store::{ContentRange, ModelState, ModelStoreError, parse_sha256};
use crate::serving::LoadedModel;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_RANGE};
use axum::http::{HeaderMap, StatusCode};
use edgefleet_core::check_segment;
use edgefleet_core::wire::{
    ActivateRequest, ActivateResponse, CONTENT_SHA256_HEADER, ModelsResponse, UploadResponse, UploadStatus,
};
use edgefleet_optimize::Runner;
use std::sync::Arc;

fn check(name: &str, version: Option<&str>) -> Result<(), ModelStoreError> {
    check_segment("name", name)?;
    if let Some(v) = version {
        check_segment("version", v)?;
    }
    Ok(())
}

/// Run blocking store work off the async workers.
async fn blocking<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce(&AppState) -> Result<T, ModelStoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let state = state.clone();
    Ok(tokio::task::spawn_blocking(move || f(&state)).await??)
}

pub(crate) async fn list(State(state): State<Arc<AppState>>) -> Result<Json<ModelsResponse>, ApiError> {
    let models = blocking(&state, |s| s.store.list()).await?;
    Ok(Json(ModelsResponse { models }))
}

pub(crate) async fn upload_status(
    State(state): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<UploadStatus>, ApiError> {
    check(&name, Some(&version))?;
    Ok(Json(blocking(&state, move |s| s.store.upload_status(&name, &version)).await?))
}

pub(crate) async fn upload(
    State(state): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<UploadResponse>), ApiError> {
    check(&name, Some(&version))?;
    let text = |h| headers.get(h).and_then(|v: &axum::http::HeaderValue| v.to_str().ok());
    let sha = parse_sha256(text(CONTENT_SHA256_HEADER))?;
    let range = text(CONTENT_RANGE.as_str()).map(ContentRange::parse).transpose()?;
    let content_length = text(CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<u64>().ok());
    let resp = state.store.upload(&name, &version, &sha, range, content_length, body).await?;
    let status = if resp.complete { StatusCode::CREATED } else { StatusCode::ACCEPTED };
    if resp.complete {
        tracing::info!("installed model {name} version {version} ({} bytes)", resp.received_bytes);
        let _lock = state.store.state_lock.lock().await;
        blocking(&state, move |s| s.store.apply_retention(&name)).await?;
    }
    Ok((status, Json(resp)))
}

/// `DELETE /v1/models/{name}/{version}`: remove an installed version that
/// is not active (409 for the active one).
pub(crate) async fn delete(
    State(state): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    check(&name, Some(&version))?;
    let _lock = state.store.state_lock.lock().await;
    let (n, v) = (name.clone(), version.clone());
    blocking(&state, move |s| s.store.delete_version(&n, &v)).await?;
    tracing::info!("deleted model {name} version {version}");
    Ok(StatusCode::NO_CONTENT)
}

/// Load `version` of `name` with the agent's runtime and run one batch of
/// zeros through it, proving it runs before anything switches to it. A
/// model with ops this runtime lacks (say, one only ONNX Runtime runs, on
/// a tract agent) is refused here with the ops named.
async fn load(state: &Arc<AppState>, name: &str, version: &str, st: &ModelState) -> Result<Arc<LoadedModel>, ApiError> {
    let (n, v) = (name.to_owned(), version.to_owned());
    let (runner, profile) = blocking(state, move |s| {
        let bytes = s.store.read_model(&n, &v)?;
        let invalid = |e: edgefleet_optimize::OptimizeError| ModelStoreError::InvalidModel(e.to_string());
        let runner = Runner::load_bytes(s.runtime.as_ref(), &bytes).map_err(invalid)?;
        let batch = runner.fixed_batch().unwrap_or(1);
        runner.run_flat(batch, &vec![0.0; batch * runner.features_per_sample()]).map_err(invalid)?;
        // A simulated agent paces calls by the model's FLOPs.
        let profile = if s.device.simulated {
            Some(edgefleet_optimize::inspect_model(runner.proto(), &n).map_err(invalid)?)
        } else {
            None
        };
        Ok((runner, profile))
    })
    .await?;
    Ok(Arc::new(LoadedModel {
        version: version.to_owned(),
        runner: Arc::new(runner),
        threshold: st.confidence_threshold.unwrap_or(state.default_threshold),
        sla_ms: st.offload_sla_ms,
        profile,
    }))
}

/// Switch `name` to `new_state` (already checked): write the state file
/// atomically, then swap the cached runner.
async fn switch(
    state: &Arc<AppState>,
    name: &str,
    new_state: ModelState,
    model: Arc<LoadedModel>,
) -> Result<(), ApiError> {
    let n = name.to_owned();
    blocking(state, move |s| s.store.write_state(&n, &new_state)).await?;
    state.serving.swap(name, model);
    Ok(())
}

/// Refuse a version the pinned console did not sign (see `model_trust`);
/// `signature` is the one sent with this request, if any.
async fn check_signed(
    state: &Arc<AppState>,
    name: &str,
    version: &str,
    signature: Option<String>,
) -> Result<(), ApiError> {
    if !state.trust.required() && signature.is_none() {
        return Ok(());
    }
    let (n, v) = (name.to_owned(), version.to_owned());
    let s = state.clone();
    tokio::task::spawn_blocking(move || {
        let sha256 = match s.store.installed(&n, &v)? {
            Some((sha, _)) => sha,
            None => return Err(ModelStoreError::UnknownVersion { name: n, version: v }.into()),
        };
        s.trust.check(&n, &v, &sha256, signature.as_deref())
    })
    .await?
}

/// `POST /v1/models/{name}/activate` over HTTP: the console's signature
/// comes in `x-model-signature`.
pub(crate) async fn activate_http(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Json<ActivateRequest>, JsonRejection>,
) -> Result<Json<ActivateResponse>, ApiError> {
    let signature =
        headers.get(crate::model_trust::MODEL_SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    activate_signed(state, name, body, signature).await
}

/// Activate with `signature` (the HTTP header's value, or the one a broker
/// command or pull carries); without one a version is accepted only when a
/// signature kept from before verifies.
/// Activate with `signature` (hex) when the caller has one (HTTP header,
/// or a broker command carrying it): see `model_trust`.
pub(crate) async fn activate_signed(
    state: Arc<AppState>,
    name: String,
    body: Result<Json<ActivateRequest>, JsonRejection>,
    signature: Option<String>,
) -> Result<Json<ActivateResponse>, ApiError> {
    let Json(req) = body?;
    check(&name, Some(&req.version))?;
    if let Some(t) = req.confidence_threshold
        && !(t.is_finite() && (0.0..=1.0).contains(&t))
    {
        return Err(ModelStoreError::BadThreshold(t).into());
    }
    if let Some(ms) = req.offload_sla_ms
        && !(ms.is_finite() && ms > 0.0)
    {
        return Err(ModelStoreError::BadSla(ms).into());
    }
    let _lock = state.store.state_lock.lock().await;
    check_signed(&state, &name, &req.version, signature).await?;
    let n = name.clone();
    let old = blocking(&state, move |s| s.store.state(&n)).await?;
    let mut new_state = old.clone();
    if old.active.as_deref() != Some(req.version.as_str()) {
        new_state.previous = old.active.clone();
        new_state.active = Some(req.version.clone());
    }
    if req.confidence_threshold.is_some() {
        new_state.confidence_threshold = req.confidence_threshold;
    }
    if req.offload_sla_ms.is_some() {
        new_state.offload_sla_ms = req.offload_sla_ms;
    }
    let model = load(&state, &name, &req.version, &new_state).await?;
    switch(&state, &name, new_state.clone(), model).await?;
    tracing::info!("model {name}: version {} active", req.version);
    Ok(Json(ActivateResponse { name, active_version: req.version, previous_version: new_state.previous }))
}

pub(crate) async fn rollback(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<ActivateResponse>, ApiError> {
    check(&name, None)?;
    let _lock = state.store.state_lock.lock().await;
    let n = name.clone();
    let old = blocking(&state, move |s| s.store.state(&n)).await?;
    let Some(previous) = old.previous.clone() else {
        return Err(ModelStoreError::NoPrevious(name).into());
    };
    check_signed(&state, &name, &previous, None).await?;
    let new_state = ModelState { active: Some(previous.clone()), previous: old.active.clone(), ..old.clone() };
    let model = load(&state, &name, &previous, &new_state).await?;
    switch(&state, &name, new_state.clone(), model).await?;
    tracing::info!("model {name}: rolled back to version {previous}");
    Ok(Json(ActivateResponse { name, active_version: previous, previous_version: new_state.previous }))
}

/// The served model for `name`: the cached one, or the active version
/// loaded from disk (after a restart).
pub(crate) async fn active_model(state: &Arc<AppState>, name: &str) -> Result<Arc<LoadedModel>, ApiError> {
    check(name, None)?;
    if let Some(m) = state.serving.get(name) {
        return Ok(m);
    }
    let _lock = state.store.state_lock.lock().await;
    if let Some(m) = state.serving.get(name) {
        return Ok(m);
    }
    let n = name.to_owned();
    let st = blocking(state, move |s| s.store.state(&n)).await?;
    let version = st.active.clone().ok_or_else(|| ModelStoreError::NoActiveVersion(name.to_owned()))?;
    let model = load(state, name, &version, &st).await?;
    state.serving.swap(name, model.clone());
    Ok(model)
}
