//! edgefleet-fleet: the console's engine. Finds agents (mDNS, sweep, manual
//! add), talks to them over their v1 HTTP API, keeps their liveness and
//! telemetry, and runs long jobs — on a tokio runtime of its own, so the GUI
//! thread never waits on the network.

pub mod broker_link;
pub mod client;
pub mod device_link;
pub mod directory;
pub mod discovery;
pub mod distill;
pub mod engine;
pub mod error;
pub mod liveness;
pub mod model_server;
pub mod model_signing;
pub mod pinned_tls;
pub mod scan;
pub mod store_writer;
pub mod sweep;
pub mod token_rotation;

pub use client::{AgentClient, http_client};
pub use directory::Directory;
pub use discovery::{BrowseEvent, Browser, Discovered};
pub use engine::{
    Command, DeviceSnapshot, EngineConfig, Event, FleetEngine, JobContext, JobFn, JobId, JobState, JobUpdate, LogEntry,
    LogLevel,
};
pub use error::{FleetError, Result};
pub use liveness::{LivenessPolicy, now_ms};
pub use scan::{Found, ScanOptions, Source, scan};
pub use sweep::{SweepProgress, SweepSpec};
pub mod rollout;
pub use rollout::{
    RolloutOutcome, RolloutPlan, RolloutRequest, StepProgress, StepState, resume_rollout, rollout_job, run_rollout,
};
pub mod gateway;
pub use gateway::{BackendStatus, GatewayConfig, GatewayError, GatewayHealth, run_gateway};
pub use measure::{
    BatchComparison, LiveDevice, MeasureOutcome, MeasureRequest, calibrated_fit, calibrated_fit_from_runs,
    measure_on_device, poll_device,
};
pub use operating_point::{OperatingPoint, Queue, operating_point};
pub use placement_plan::{
    PlacementPlan, PlanChoice, PlanModel, PlanSettings, PlanUnplaced, base_utilisation, deploy_plan, plan_placement,
};
pub mod library;
pub mod live_load;
pub use live_load::{LIVE_POLL_CONCURRENCY, LIVE_POLL_TIMEOUT, LiveLoad, poll_live_loads, with_live_metrics};
pub mod measure;
pub mod operating_point;
pub mod placement_plan;
pub use library::{
    LibraryError, LineageNode, ModelFile, OptimizeChoice, VariantRequest, add_model, import_model, lineage, lock_store,
    measured_accuracy, optimize_for_device, remove_model,
};
