//! Why a model store operation was refused or failed. Each variant maps to
//! one HTTP status and code in `api_error`.

use edgefleet_core::{NameError, human_bytes};

/// Why a model store operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ModelStoreError {
    #[error(transparent)]
    InvalidName(#[from] NameError),
    #[error("no model named `{0}` is installed")]
    UnknownModel(String),
    #[error("model `{name}` has no version `{version}` installed")]
    UnknownVersion { name: String, version: String },
    #[error("model `{0}` has no active version")]
    NoActiveVersion(String),
    #[error("the `X-Content-Sha256` header is required (SHA-256 of the whole file, 64 hex digits)")]
    MissingHash,
    #[error("`X-Content-Sha256` must be 64 hex digits, got `{0}`")]
    BadHash(String),
    #[error("malformed Content-Range `{0}`: expected `bytes START-END/TOTAL`")]
    BadRange(String),
    #[error("the upload resumes at byte {start} but the agent holds {held} bytes of it; resume at {held}")]
    RangeMismatch { start: u64, held: u64 },
    #[error("Content-Range {start}-{end}/{total} is not satisfiable")]
    UnsatisfiableRange { start: u64, end: u64, total: u64 },
    #[error("the upload is {size} bytes; this agent accepts at most {limit}")]
    TooLarge { size: u64, limit: u64 },
    #[error("the body carries more than the {expected} bytes its Content-Range announces")]
    BodyLongerThanRange { expected: u64 },
    #[error("the body ended early: the agent holds {held} bytes; resume with Content-Range from there")]
    Truncated { held: u64 },
    #[error("SHA-256 mismatch: header says {expected}, the bytes hash to {actual}; the upload was discarded")]
    HashMismatch { expected: String, actual: String },
    #[error("`{name}` version `{version}` is already installed with a different hash; versions are immutable")]
    VersionExists { name: String, version: String },
    #[error("an upload of `{name}` version `{version}` is already in progress")]
    Busy { name: String, version: String },
    #[error(
        "partial uploads would hold {would_hold} bytes; this agent keeps at most {quota} bytes of them (finish or wait for stalled uploads to expire)"
    )]
    QuotaExceeded { would_hold: u64, quota: u64 },
    #[error(
        "not enough storage: the upload needs {}, {} free of this agent's {} storage budget",
        human_bytes(*.needs_bytes),
        human_bytes(*.free_bytes),
        human_bytes(*.budget_bytes)
    )]
    NoSpace { needs_bytes: u64, free_bytes: u64, budget_bytes: u64 },
    #[error("`{name}` version `{version}` is active; activate another version before deleting it")]
    ActiveVersion { name: String, version: String },
    #[error("model `{0}` has no previous version to roll back to")]
    NoPrevious(String),
    #[error("the model cannot be loaded: {0}")]
    InvalidModel(String),
    #[error("confidence threshold must be between 0 and 1, got {0}")]
    BadThreshold(f64),
    #[error("offload SLA must be a positive number of ms, got {0}")]
    BadSla(f64),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A blocking file task panicked or was cancelled.
    #[error("a storage task failed: {0}")]
    Worker(#[from] tokio::task::JoinError),
}

pub(crate) type Result<T, E = ModelStoreError> = std::result::Result<T, E>;

/// Wrap an IO error with what was being done when it happened.
pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ModelStoreError {
    let context = context.into();
    move |source| ModelStoreError::Io { context, source }
}
