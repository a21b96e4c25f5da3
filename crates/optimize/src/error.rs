//! The one error type of edgefleet-optimize.

/// Everything that can go wrong reading, rewriting or running a model.
#[derive(Debug, thiserror::Error)]
pub enum OptimizeError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("not a valid ONNX model: {0}")]
    Decode(String),
    #[error("unsupported model: {0}")]
    Unsupported(String),
    #[error("tract cannot run this model: {0}")]
    Runtime(String),
    /// The ONNX Runtime library is missing or does not load (the message
    /// says where it looked and how to get it, on one line).
    #[error("{0}")]
    OrtUnavailable(String),
    #[error("ONNX Runtime cannot run this model: {0}")]
    Ort(String),
    /// The model has ops the chosen runtime does not implement.
    #[error("{runtime} cannot run this model: it has no {ops}{hint}")]
    OpsUnsupported { runtime: String, ops: String, hint: String },
    #[error("bad input: {0}")]
    BadInput(String),
    #[error("{source_name} line {line}: {reason}")]
    EvalData { source_name: String, line: usize, reason: String },
}

pub type Result<T, E = OptimizeError> = std::result::Result<T, E>;

impl OptimizeError {
    /// Wrap a tract error with its whole cause chain, which names the
    /// failing node or op.
    pub(crate) fn runtime(e: impl std::fmt::Display) -> Self {
        OptimizeError::Runtime(format!("{e:#}"))
    }
}
