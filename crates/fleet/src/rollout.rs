//! Staged rollouts of a model file to a set of devices: canary first, then
//! the rest a few at a time, with health checks, retries and rollback.
//!
//! Each device's step goes Pending → Uploading → Verifying → Activating →
//! HealthCheck → Done, or ends Failed / RolledBack. Every transition is
//! written to the store *before* it is taken, so a console killed at any
//! point picks the rollout up again ([`resume_rollout`], or [`run_rollout`]
//! with the same model and targets) and, because uploads resume from what
//! the agent already holds, never re-sends those bytes.
//!
//! Failure policy:
//! - a canary whose model fails (refused at activation, failed health check)
//!   stops the rollout; the canary is rolled back;
//! - more than `max_failures` model failures stop the rollout and every
//!   device it switched is rolled back;
//! - a device that answered during the rollout and then stops answering (a
//!   board rebooting) is waited for: `wait_for_device_s` with backoff, shown
//!   as "waiting for device", after which its step carries on where it was
//!   (the upload resumes from what the agent holds);
//! - a device that never answered, or not within that window, fails its own
//!   step with the reason; it says nothing about the model, so it neither
//!   counts against `max_failures` nor stops the rollout.

mod drive;
mod model_file;
mod record;
mod step;

use crate::engine::{Directory, JobContext, JobFn};
use crate::error::{FleetError, Result};
use edgefleet_store::Store;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub use model_file::{default_model_name, default_version, sha256_file};

/// Check a model name against the agents' naming rule.
pub fn check_model_name(name: &str) -> Result<()> {
    model_file::check_segment("name", name)
}

/// Called with every step change and upload progress.
pub type ProgressFn = Arc<dyn Fn(StepProgress) + Send + Sync>;

/// How a rollout proceeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RolloutPlan {
    /// Devices that must succeed, one stage ahead of the rest.
    pub canary: usize,
    /// Devices worked on at once after the canary stage.
    pub parallel: usize,
    /// Model failures tolerated; one more stops and rolls back the rollout.
    pub max_failures: usize,
    /// Retries of a network call that failed transiently.
    pub retries: u32,
    /// Offload threshold set on activation (the agent's default when `None`).
    pub confidence_threshold: Option<f64>,
    /// Offload latency SLA (ms) set on activation: an unsure row goes
    /// upstream only when local + upstream time stays within it (no limit
    /// when `None`).
    pub offload_sla_ms: Option<f64>,
    /// How long a device that answered during the rollout and then went
    /// away (rebooting) is waited for before its step fails, in seconds.
    pub wait_for_device_s: u64,
}

/// The default [`RolloutPlan::wait_for_device_s`]: a board's reboot, with room.
pub const DEFAULT_WAIT_FOR_DEVICE_S: u64 = 180;
/// The longest wait a plan may ask for (a day).
const MAX_WAIT_FOR_DEVICE_S: u64 = 24 * 3600;

impl Default for RolloutPlan {
    fn default() -> Self {
        RolloutPlan {
            canary: 1,
            parallel: 4,
            max_failures: 0,
            retries: 3,
            confidence_threshold: None,
            offload_sla_ms: None,
            wait_for_device_s: DEFAULT_WAIT_FOR_DEVICE_S,
        }
    }
}

impl RolloutPlan {
    /// Refuse plans that cannot run.
    pub fn validate(&self) -> Result<()> {
        if self.parallel == 0 {
            return Err(FleetError::BadInput("`parallel` must be at least 1".into()));
        }
        if self.retries > 20 {
            return Err(FleetError::BadInput(format!("{} retries is too many (at most 20)", self.retries)));
        }
        if self.wait_for_device_s > MAX_WAIT_FOR_DEVICE_S {
            return Err(FleetError::BadInput(format!(
                "waiting {} s for a device is too long (at most {MAX_WAIT_FOR_DEVICE_S} s)",
                self.wait_for_device_s
            )));
        }
        if let Some(t) = self.confidence_threshold
            && !(t.is_finite() && (0.0..=1.0).contains(&t))
        {
            return Err(FleetError::BadInput(format!("confidence threshold must be within 0..=1, got {t}")));
        }
        if let Some(ms) = self.offload_sla_ms
            && !(ms.is_finite() && ms > 0.0)
        {
            return Err(FleetError::BadInput(format!("the offload SLA must be a number of ms > 0, got {ms}")));
        }
        Ok(())
    }
}

/// What to roll out where.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutRequest {
    pub model_path: PathBuf,
    /// Model name on the agents; empty = the file stem.
    pub name: String,
    /// Version on the agents; empty = the first 12 hex digits of the file's
    /// SHA-256, so deploying the same bytes again is idempotent.
    pub version: String,
    /// Device ids, in rollout order (canaries first).
    pub targets: Vec<String>,
    pub plan: RolloutPlan,
}

impl RolloutRequest {
    /// A request with the default name and version.
    pub fn for_file(model_path: impl Into<PathBuf>, targets: Vec<String>, plan: RolloutPlan) -> Self {
        RolloutRequest { model_path: model_path.into(), name: String::new(), version: String::new(), targets, plan }
    }
}

/// Where one device's step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Pending,
    Uploading,
    Verifying,
    Activating,
    HealthCheck,
    Done,
    Failed,
    RolledBack,
}

impl StepState {
    pub const ALL: [StepState; 8] = [
        StepState::Pending,
        StepState::Uploading,
        StepState::Verifying,
        StepState::Activating,
        StepState::HealthCheck,
        StepState::Done,
        StepState::Failed,
        StepState::RolledBack,
    ];

    /// The name stored and shown: `pending`, `uploading`, …
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Uploading => "uploading",
            StepState::Verifying => "verifying",
            StepState::Activating => "activating",
            StepState::HealthCheck => "health_check",
            StepState::Done => "done",
            StepState::Failed => "failed",
            StepState::RolledBack => "rolled_back",
        }
    }

    /// The state named `s` (as [`StepState::as_str`] writes it).
    pub fn parse(s: &str) -> Option<StepState> {
        StepState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Nothing more happens to a step in this state.
    pub fn is_final(self) -> bool {
        matches!(self, StepState::Done | StepState::Failed | StepState::RolledBack)
    }
}

impl std::fmt::Display for StepState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One device's progress, as reported to the caller.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepProgress {
    pub deployment_id: i64,
    pub device_id: String,
    pub state: StepState,
    /// Bytes the agent holds (uploads resume from here).
    pub bytes_sent: u64,
    pub total_bytes: u64,
    pub detail: Option<String>,
}

/// How a rollout ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutOutcome {
    pub deployment_id: i64,
    /// `done` (every target), `failed` (some targets failed, the rest are
    /// done) or `rolled_back` (stopped: touched devices are back as before).
    pub state: String,
    pub done: Vec<String>,
    /// Device and reason.
    pub failed: Vec<(String, String)>,
    pub rolled_back: Vec<String>,
    pub name: String,
    pub version: String,
    pub sha256: String,
    /// Why the rollout stopped, when it did.
    pub detail: Option<String>,
}

/// Roll `req.model_path` out to `req.targets`. Refuses bad input (unknown
/// device, missing or non-ONNX file, bad plan) before anything is recorded
/// or sent. When an unfinished rollout of the same bytes to the same targets
/// exists, it is resumed instead of starting a new one.
pub async fn run_rollout(
    store: Arc<Mutex<Store>>,
    directory: Directory,
    req: RolloutRequest,
    progress: ProgressFn,
) -> Result<RolloutOutcome> {
    drive::start(store, directory, req, progress).await
}

/// Continue rollout `deployment_id` where it stopped. A finished one is
/// reported as it ended, without touching any device.
pub async fn resume_rollout(
    store: Arc<Mutex<Store>>,
    directory: Directory,
    deployment_id: i64,
    progress: ProgressFn,
) -> Result<RolloutOutcome> {
    drive::resume(store, directory, deployment_id, progress).await
}

/// Roll every named device back to the version it ran before `name`'s
/// current one (the agent's own rollback). Unknown devices are refused
/// before any device is touched; one device's failure does not stop the
/// others. Returns (device, new active version or error) per device.
pub async fn rollback_devices(
    directory: &Directory,
    name: &str,
    devices: &[String],
) -> Result<Vec<(String, std::result::Result<String, FleetError>)>> {
    drive::rollback_devices(directory, name, devices).await
}

/// A [`crate::Command::Job`] that runs the rollout with the engine's store
/// and directory and reports overall progress.
pub fn rollout_job(req: RolloutRequest) -> JobFn {
    Box::new(move |ctx: JobContext| {
        Box::pin(async move {
            let store = ctx.store.clone().ok_or_else(|| "rollouts need the engine to have a store".to_owned())?;
            let directory = ctx.directory.clone();
            let outcome = run_rollout(store, directory, req, job_progress(ctx)).await.map_err(|e| e.to_string())?;
            job_result(&outcome)
        })
    })
}

/// A [`crate::Command::Job`] that resumes rollout `deployment_id` (the GUI
/// runs one per unfinished deployment at start).
pub fn resume_rollout_job(deployment_id: i64) -> JobFn {
    Box::new(move |ctx: JobContext| {
        Box::pin(async move {
            let store = ctx.store.clone().ok_or_else(|| "rollouts need the engine to have a store".to_owned())?;
            let directory = ctx.directory.clone();
            let outcome =
                resume_rollout(store, directory, deployment_id, job_progress(ctx)).await.map_err(|e| e.to_string())?;
            job_result(&outcome)
        })
    })
}

/// Fold per-device progress into one fraction and a short message.
fn job_progress(ctx: JobContext) -> ProgressFn {
    let fractions: Mutex<HashMap<String, f32>> = Mutex::new(HashMap::new());
    Arc::new(move |p: StepProgress| {
        let f = match p.state {
            StepState::Pending => 0.0,
            StepState::Uploading if p.total_bytes > 0 => 0.8 * p.bytes_sent as f32 / p.total_bytes as f32,
            StepState::Uploading => 0.0,
            StepState::Verifying => 0.85,
            StepState::Activating => 0.9,
            StepState::HealthCheck => 0.95,
            StepState::Done | StepState::Failed | StepState::RolledBack => 1.0,
        };
        let overall = match fractions.lock() {
            Ok(mut m) => {
                m.insert(p.device_id.clone(), f);
                m.values().sum::<f32>() / m.len().max(1) as f32
            }
            Err(_) => f,
        };
        let mut message = format!("{}: {}", p.device_id, p.state);
        if let Some(d) = &p.detail {
            message.push_str(" — ");
            message.push_str(d);
        }
        ctx.progress(Some(overall), message);
    })
}

fn job_result(o: &RolloutOutcome) -> std::result::Result<String, String> {
    let summary = format!(
        "deployment {} of {} {}: {} ({} done, {} failed, {} rolled back)",
        o.deployment_id,
        o.name,
        o.version,
        o.state,
        o.done.len(),
        o.failed.len(),
        o.rolled_back.len()
    );
    if o.state == "done" { Ok(summary) } else { Err(format!("{summary}{}", detail_suffix(o))) }
}

fn detail_suffix(o: &RolloutOutcome) -> String {
    o.detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_states_round_trip_their_names() {
        for s in StepState::ALL {
            assert_eq!(StepState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::Value::String(s.as_str().into()));
        }
        assert_eq!(StepState::parse("uploaded"), None);
        assert!(StepState::Done.is_final() && !StepState::HealthCheck.is_final());
    }

    #[test]
    fn plan_defaults_and_validation() {
        let p = RolloutPlan::default();
        assert_eq!((p.canary, p.parallel, p.max_failures, p.retries), (1, 4, 0, 3));
        p.validate().unwrap();
        assert!(RolloutPlan { parallel: 0, ..p.clone() }.validate().is_err());
        assert!(RolloutPlan { confidence_threshold: Some(1.5), ..p.clone() }.validate().is_err());
        assert!(RolloutPlan { confidence_threshold: Some(f64::NAN), ..p.clone() }.validate().is_err());
        assert!(RolloutPlan { wait_for_device_s: 10 * 24 * 3600, ..p.clone() }.validate().is_err());
        assert_eq!(p.wait_for_device_s, DEFAULT_WAIT_FOR_DEVICE_S);
        // A stored plan missing newer fields still reads.
        let old: RolloutPlan = serde_json::from_value(serde_json::json!({"canary": 2})).unwrap();
        assert_eq!((old.canary, old.parallel), (2, 4));
        assert_eq!(old.wait_for_device_s, DEFAULT_WAIT_FOR_DEVICE_S);
    }
}
