//! One error type for every HTTP handler: it turns into a
//! [`wire::ErrorBody`] JSON response with the right status, so handlers use
//! `?` and no error leaves as plain text (axum's anyhow-error-response
//! pattern).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use edgefleet_core::wire::ErrorBody;

/// Header on a 416 answer: how many bytes of the upload the agent holds.
pub const RECEIVED_BYTES_HEADER: &str = "x-received-bytes";

/// An HTTP error: status, a short machine-readable code, a sentence.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError { status, code, detail: detail.into(), headers: Vec::new() }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::CONFLICT, "conflict", detail)
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
    }

    /// Add a response header (e.g. the held byte count on a 416).
    pub fn with_header(mut self, name: &'static str, value: impl ToString) -> Self {
        if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
            self.headers.push((HeaderName::from_static(name), v));
        }
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Server-side failures are logged here, once; client errors are the
        // client's business and only go back in the body.
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), code = self.code, "{}", self.detail);
        }
        let mut response =
            (self.status, Json(ErrorBody { error: self.code.to_owned(), detail: self.detail })).into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let code = match rejection {
            JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
            _ => "malformed_json",
        };
        ApiError::new(rejection.status(), code, rejection.body_text())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(format!("a worker task failed: {e}"))
    }
}

impl From<crate::model_store::ModelStoreError> for ApiError {
    fn from(e: crate::model_store::ModelStoreError) -> Self {
        use crate::model_store::ModelStoreError as E;
        let (status, code) = match &e {
            E::InvalidName(_) => (StatusCode::BAD_REQUEST, "invalid_name"),
            E::UnknownModel(_) | E::UnknownVersion { .. } | E::NoActiveVersion(_) => {
                (StatusCode::NOT_FOUND, "not_found")
            }
            E::MissingHash | E::BadHash(_) => (StatusCode::BAD_REQUEST, "bad_hash_header"),
            E::BadRange(_) => (StatusCode::BAD_REQUEST, "bad_range"),
            E::BodyLongerThanRange { .. } => (StatusCode::BAD_REQUEST, "body_longer_than_range"),
            E::Truncated { .. } => (StatusCode::BAD_REQUEST, "truncated_body"),
            E::BadThreshold(_) => (StatusCode::BAD_REQUEST, "bad_threshold"),
            E::BadSla(_) => (StatusCode::BAD_REQUEST, "bad_sla"),
            E::RangeMismatch { .. } | E::UnsatisfiableRange { .. } => {
                (StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable")
            }
            E::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            E::HashMismatch { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "hash_mismatch"),
            E::InvalidModel(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_model"),
            E::VersionExists { .. } | E::Busy { .. } | E::NoPrevious(_) | E::ActiveVersion { .. } => {
                (StatusCode::CONFLICT, "conflict")
            }
            E::QuotaExceeded { .. } => (StatusCode::INSUFFICIENT_STORAGE, "upload_quota"),
            E::NoSpace { .. } => (StatusCode::INSUFFICIENT_STORAGE, "no_space"),
            E::Io { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "storage"),
            E::Worker(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let held = match &e {
            E::RangeMismatch { held, .. } | E::Truncated { held } => Some(*held),
            _ => None,
        };
        let err = ApiError::new(status, code, e.to_string());
        match held {
            Some(h) => err.with_header(RECEIVED_BYTES_HEADER, h),
            None => err,
        }
    }
}
