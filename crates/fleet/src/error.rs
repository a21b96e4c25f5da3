//! The one error type of edgefleet-fleet.

/// What can go wrong talking to devices or running fleet jobs.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The device could not be reached (connection refused, timeout, DNS).
    #[error("{addr} is unreachable: {reason}")]
    Unreachable { addr: String, reason: String },
    /// The agent answered with an error body.
    #[error("{addr} refused the request ({status}): {error}: {detail}")]
    Agent { addr: String, status: u16, error: String, detail: String },
    /// The agent answered something that is not the v1 API.
    #[error("{addr} sent an unexpected answer: {reason}")]
    Protocol { addr: String, reason: String },
    #[error("bad input: {0}")]
    BadInput(String),
    /// Something claims a paired device's id with another key (or without
    /// TLS): it got no token and the device's entry was left as it was.
    #[error(
        "device {device_id} now presents a different key at {addr}: pinned {pinned}, presented {}; its token was not sent and its entry is unchanged",
        presented.as_deref().unwrap_or("none (plain HTTP)")
    )]
    KeyMismatch { device_id: String, addr: String, pinned: String, presented: Option<String> },
    #[error("mDNS: {0}")]
    Mdns(String),
    /// The MQTT broker could not be reached, refused us, or did not answer.
    #[error("broker {broker}: {reason}")]
    Broker { broker: String, reason: String },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The engine's tokio runtime could not be built.
    #[error("cannot start the fleet engine's async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The OS would not start a thread.
    #[error("cannot start the {name} thread: {source}")]
    Thread {
        name: String,
        #[source]
        source: std::io::Error,
    },
    /// A background task panicked or was cancelled before it finished.
    #[error("the {task} task did not finish: {reason}")]
    TaskFailed { task: String, reason: String },
    /// A lock is poisoned: a thread panicked while holding it.
    #[error("the {what} is unusable: a thread panicked while holding its lock")]
    LockPoisoned { what: String },
    #[error(transparent)]
    Store(#[from] edgefleet_store::StoreError),
    #[error("the fleet engine has stopped")]
    EngineStopped,
}

impl FleetError {
    /// A background task named `task` panicked or was cancelled.
    pub fn task_failed(task: &str, e: tokio::task::JoinError) -> FleetError {
        FleetError::TaskFailed { task: task.to_owned(), reason: e.to_string() }
    }

    /// True when retrying later may succeed (network trouble, 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            FleetError::Unreachable { .. } => true,
            FleetError::Agent { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

    /// The HTTP status the agent answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            FleetError::Agent { status, .. } => Some(*status),
            _ => None,
        }
    }
}

pub type Result<T, E = FleetError> = std::result::Result<T, E>;
