//! The library's error type: what can stop an agent (or a simulated fleet)
//! from starting or serving.

use edgefleet_core::DeviceError;

/// Why an agent could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("mDNS advertisement failed: {0}")]
    Mdns(String),
    #[error("system information unavailable: {0}")]
    System(String),
    #[error("HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error("invalid device description: {0}")]
    Device(#[from] DeviceError),
}

impl AgentError {
    /// An IO error with what was being done when it happened.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        AgentError::Io { context: context.into(), source }
    }
}
