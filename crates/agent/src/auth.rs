//! Bearer-token check for every route but `/v1/health`.
//!
//! The agent keeps only the SHA-256 of its token (in memory and in the data
//! dir), and compares the hash of what a client presents in constant time,
//! so neither a copy of the data dir nor response timing reveals the token.
//! Different wrong tokens are counted per peer address ([`crate::token_gate`]):
//! past the limit the peer gets 429 without its guesses being checked.
//! `POST /v1/token` replaces the token (rotation); `POST /v1/trust` pins
//! the console's model-signing key (see `model_trust`).

use crate::api_error::ApiError;
use crate::app_state::AppState;
use crate::identity::{store_token_hash, token_sha256};
use crate::token_gate::FAILURE_WINDOW;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use edgefleet_core::wire::{TrustRequest, TrustResponse};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Shortest token `POST /v1/token` accepts.
pub const MIN_TOKEN_LEN: usize = 32;

fn unauthorized(detail: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
}

/// Middleware: refuse requests without `Authorization: Bearer <token>`.
pub(crate) async fn require_token(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    // Requests from `serve_bounded` carry their peer; in-process routers
    // used without it (unit tests) are counted as one unknown peer.
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |ConnectInfo(addr)| addr.ip());
    let gate = &state.token;
    if gate.blocked(peer) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!(
                "{} different wrong tokens from {peer} in {} s; wait and retry",
                gate.max_failures(),
                FAILURE_WINDOW.as_secs()
            ),
        )
        .with_header("retry-after", FAILURE_WINDOW.as_secs()));
    }
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        // Not a guess: nothing to count.
        None => Err(unauthorized("missing `Authorization: Bearer <token>` header")),
        Some(token) => match gate.check(token) {
            (true, _) => Ok(next.run(req).await),
            (false, hash) => {
                gate.record_wrong_token(peer, &hash);
                Err(unauthorized("wrong token"))
            }
        },
    }
}

/// `POST /v1/token`: the new token (the caller made it; it is never sent back).
#[derive(Debug, Deserialize)]
pub(crate) struct RotateTokenRequest {
    token: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct RotateTokenResponse {
    rotated: bool,
}

/// `POST /v1/token`: replace the token. The new token's hash is stored
/// (temp file + rename) before the old token stops working.
pub(crate) async fn rotate(
    State(state): State<Arc<AppState>>,
    body: Result<Json<RotateTokenRequest>, JsonRejection>,
) -> Result<Json<RotateTokenResponse>, ApiError> {
    let Json(req) = body?;
    let token = req.token.trim();
    if token.len() < MIN_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(format!(
            "a token is at least {MIN_TOKEN_LEN} printable characters without spaces"
        )));
    }
    let Some(dir) = state.token.rotate_into().map(std::path::Path::to_path_buf) else {
        return Err(ApiError::conflict(
            "this agent's token was given with --token or --token-file; change it there and restart",
        ));
    };
    let hash = token_sha256(token);
    tokio::task::spawn_blocking(move || store_token_hash(&dir, &hash))
        .await?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    state.token.replace(hash);
    tracing::info!("bearer token rotated");
    Ok(Json(RotateTokenResponse { rotated: true }))
}

/// `POST /v1/trust`: pin the console's model-signing key.
pub(crate) async fn trust(
    State(state): State<Arc<AppState>>,
    body: Result<Json<TrustRequest>, JsonRejection>,
) -> Result<Json<TrustResponse>, ApiError> {
    let Json(req) = body?;
    let key = crate::model_trust::parse_key(&req.console_key)
        .ok_or_else(|| ApiError::bad_request("console_key must be 32 bytes of hex (an ed25519 public key)"))?;
    let s = state.clone();
    tokio::task::spawn_blocking(move || s.trust.pin(key, req.replace)).await??;
    tracing::info!("console key {} pinned: models must be signed by it", &hex::encode(key)[..16]);
    Ok(Json(TrustResponse { console_key: hex::encode(key), require_signed: state.trust.required() }))
}
