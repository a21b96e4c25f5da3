//! Writing a rollout's progress: each step change goes to the store first,
//! then to the caller's progress callback, and — with a broker link — to
//! the fleet's other consoles as a [`RolloutReport`] (at most every
//! [`REPORT_EVERY`], and at every final step and deployment state). Also the small note kept in a
//! step's detail about which version was active before, which a resumed
//! rollout needs to roll a device back correctly.

use super::{ProgressFn, StepProgress, StepState};
use crate::broker_link::BrokerLink;
use crate::error::{FleetError, Result};
use crate::liveness::now_ms;
use edgefleet_core::mqtt_wire::{MAX_REPORTED_STEPS, RolloutReport, RolloutStepReport};
use edgefleet_store::{DeploymentRecord, Store};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a running rollout's progress goes to the other consoles.
const REPORT_EVERY: Duration = Duration::from_millis(500);

/// Deployment states while a rollout runs (the final ones are `done`,
/// `failed`, `rolled_back`).
pub(crate) const STATE_CANARY: &str = "canary";
pub(crate) const STATE_ROLLING: &str = "rolling";
/// Stopped: touched devices are being rolled back.
pub(crate) const STATE_STOPPING: &str = "stopping";
pub(crate) const STATE_DONE: &str = "done";
pub(crate) const STATE_FAILED: &str = "failed";
pub(crate) const STATE_ROLLED_BACK: &str = "rolled_back";

/// Detail prefix of a step that failed because its device could not be
/// reached; such failures do not count against `max_failures`.
pub(crate) const UNREACHABLE_PREFIX: &str = "device unreachable: ";

/// Which version of the model was active on a device before the rollout
/// switched it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Prior {
    /// None: the rollout installs the first version (nothing to return to).
    Absent,
    /// The rolled-out version was active already: nothing to undo.
    Same,
    Version(String),
}

const PRIOR_TAG: &str = "prior:";

impl Prior {
    fn tag(&self) -> String {
        match self {
            Prior::Absent => format!("{PRIOR_TAG}none"),
            Prior::Same => format!("{PRIOR_TAG}same"),
            Prior::Version(v) => format!("{PRIOR_TAG}{v}"),
        }
    }

    /// A step detail that carries this prior: `prior:VERSION; text`.
    pub(crate) fn note(&self, text: &str) -> String {
        if text.is_empty() { self.tag() } else { format!("{}; {text}", self.tag()) }
    }

    /// The prior a detail written by [`Prior::note`] carries. Versions never
    /// contain `;` or spaces (agent naming rule), so the split is exact.
    pub(crate) fn from_detail(detail: Option<&str>) -> Option<Prior> {
        let rest = detail?.strip_prefix(PRIOR_TAG)?;
        let value = rest.split_once("; ").map_or(rest, |(v, _)| v);
        Some(match value {
            "none" => Prior::Absent,
            "same" => Prior::Same,
            "" => return None,
            v => Prior::Version(v.to_owned()),
        })
    }
}

/// Run a store call off the async workers.
pub(crate) async fn with_store<T: Send + 'static>(
    store: &Arc<Mutex<Store>>,
    f: impl FnOnce(&Store) -> std::result::Result<T, edgefleet_store::StoreError> + Send + 'static,
) -> Result<T> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let guard = store.lock().map_err(|_| poisoned())?;
        Ok(f(&guard)?)
    })
    .await
    .map_err(|e| FleetError::task_failed("store", e))?
}

fn poisoned() -> FleetError {
    FleetError::LockPoisoned { what: "fleet store".into() }
}

/// Writes one rollout's transitions and reports them.
#[derive(Clone)]
pub(crate) struct Recorder {
    pub store: Arc<Mutex<Store>>,
    pub deployment_id: i64,
    pub total_bytes: u64,
    progress: ProgressFn,
    /// Where progress is reported for other consoles, and when it last was.
    mirror: Option<(BrokerLink, Arc<Mutex<Option<Instant>>>)>,
}

/// A stored rollout as the fleet's other consoles see it.
pub(crate) fn report_of(console_id: &str, d: &DeploymentRecord) -> RolloutReport {
    let steps = d.steps.iter().take(MAX_REPORTED_STEPS).map(|s| RolloutStepReport {
        device_id: s.device_id.clone(),
        state: s.state.clone(),
        bytes_sent: s.bytes_sent,
        detail: s.detail.clone(),
    });
    RolloutReport {
        console_id: console_id.to_owned(),
        deployment_id: d.id,
        model_name: d.model_name.clone(),
        model_version: d.model_version.clone(),
        sha256: d.sha256.clone(),
        size_bytes: d.size_bytes,
        state: d.state.clone(),
        detail: d.detail.clone(),
        steps: steps.collect(),
        steps_omitted: d.steps.len().saturating_sub(MAX_REPORTED_STEPS),
        created_ms: d.created_ms,
        updated_ms: d.updated_ms,
    }
}

impl Recorder {
    pub fn new(store: Arc<Mutex<Store>>, deployment_id: i64, total_bytes: u64, progress: ProgressFn) -> Self {
        Recorder { store, deployment_id, total_bytes, progress, mirror: None }
    }

    /// Also report progress through `link` to the fleet's other consoles.
    pub fn mirrored(mut self, link: Option<BrokerLink>) -> Self {
        self.mirror = link.map(|l| (l, Arc::new(Mutex::new(None))));
        self
    }

    /// Publish the rollout as stored now (`force`: whatever the throttle says).
    async fn report(&self, force: bool) {
        let Some((link, last)) = &self.mirror else { return };
        {
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            if !force && last.is_some_and(|t| t.elapsed() < REPORT_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        let id = self.deployment_id;
        match with_store(&self.store, move |s| s.get_deployment(id)).await {
            Ok(Some(d)) => link.publish_rollout(&report_of(&link.spec().console_id, &d)),
            Ok(None) => {}
            Err(e) => tracing::debug!("rollout report skipped: {e}"),
        }
    }

    /// Record a step's new state (durably), then report it.
    pub async fn step(&self, device_id: &str, state: StepState, bytes_sent: u64, detail: Option<String>) -> Result<()> {
        let (id, dev, d) = (self.deployment_id, device_id.to_owned(), detail.clone());
        with_store(&self.store, move |s| s.upsert_step(id, &dev, state.as_str(), bytes_sent, d.as_deref(), now_ms()))
            .await?;
        self.emit(device_id, state, bytes_sent, detail);
        self.report(state.is_final()).await;
        Ok(())
    }

    /// Report without recording (upload byte counts between checkpoints).
    pub fn emit(&self, device_id: &str, state: StepState, bytes_sent: u64, detail: Option<String>) {
        (self.progress)(StepProgress {
            deployment_id: self.deployment_id,
            device_id: device_id.to_owned(),
            state,
            bytes_sent,
            total_bytes: self.total_bytes,
            detail,
        });
    }

    pub async fn deployment(&self, state: &'static str, detail: Option<String>) -> Result<()> {
        let id = self.deployment_id;
        with_store(&self.store, move |s| s.set_deployment_state(id, state, detail.as_deref(), now_ms())).await?;
        self.report(true).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prior_survives_the_detail_round_trip() {
        for p in [Prior::Absent, Prior::Same, Prior::Version("1a2b3c4d5e6f".into())] {
            assert_eq!(Prior::from_detail(Some(&p.note("health check failed: x; y"))), Some(p.clone()));
            assert_eq!(Prior::from_detail(Some(&p.note(""))), Some(p));
        }
        assert_eq!(Prior::from_detail(Some("device unreachable: refused")), None);
        assert_eq!(Prior::from_detail(None), None);
    }
}
