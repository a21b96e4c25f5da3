//! The engine's vocabulary in one place: the [`Command`]s callers send, and
//! (re-exported from the files that define them) the [`Event`]s they drain
//! and the job types. Events live below jobs and jobs below commands, so the
//! files import each other in one direction only.

use crate::sweep::SweepSpec;

pub use super::events::{DeviceSnapshot, Event, JobId, JobState, JobUpdate, LogEntry, LogLevel};
pub use super::jobs::{JobContext, JobFn};

/// What callers ask of the engine.
pub enum Command {
    /// Register a device by `host:port` (where mDNS cannot see it).
    AddManual {
        addr: String,
        token: Option<String>,
    },
    /// Unicast sweep (see [`SweepSpec`]).
    Sweep {
        spec: SweepSpec,
    },
    /// Store a device's token and use it from now on.
    Pair {
        device_id: String,
        token: String,
        /// The device key's fingerprint the user saw and accepted; pinned
        /// with the token (`None`: a plain-HTTP agent, nothing to pin).
        fingerprint: Option<String>,
    },
    /// Forget a device's token: it shows as unpaired and gets no token
    /// until it is paired again.
    Unpair {
        device_id: String,
    },
    /// Poll every device this often from now on (at least every 100 ms).
    SetPollInterval {
        ms: u64,
    },
    /// Browse mDNS on these interfaces from now on (all when empty): the
    /// browser restarts, the engine and its known devices stay.
    SetInterfaces {
        interfaces: Vec<String>,
    },
    /// Turn mDNS browsing on or off without restarting the engine.
    SetMdns {
        enabled: bool,
    },
    /// Watch this fleet on an MQTT broker from now on (`None`: stop), a
    /// discovery source beside mDNS and the sweep.
    SetBroker {
        broker: Option<crate::discovery::mqtt::BrokerSpec>,
    },
    /// Fetch a device's installed models now.
    RefreshModels {
        device_id: String,
    },
    /// Run a job on the engine's runtime; progress arrives as [`Event::Job`]
    /// under `id`. [`crate::FleetEngine::start_job`] picks a fresh id for you.
    Job {
        id: JobId,
        title: String,
        run: JobFn,
    },
    Shutdown,
}
