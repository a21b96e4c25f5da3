//! One device's part of a rollout: upload (resumable), verify, activate,
//! health-check, and roll back when the health check fails. Network calls
//! are retried with backoff when the failure is transient, and a device
//! that answered during the rollout and then stops answering (rebooting) is
//! waited for, up to the plan's `wait_for_device_s`, before its step fails.

use super::RolloutPlan;
use super::StepState;
use super::record::{Prior, Recorder, UNREACHABLE_PREFIX};
use crate::device_link::{DeviceLink, InstallRequest};
use crate::engine::Directory;
use crate::error::{FleetError, Result};
use crate::model_server::{ModelFileServer, serve_model_file_as};
use edgefleet_core::wire::{BenchmarkRequest, ModelEntry};
use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often upload progress is written to the store.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// First retry delay; doubles each retry up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How a step that waits for its device says so (progress and store).
pub(crate) const WAITING_FOR_DEVICE: &str = "waiting for device";
/// Marks a step whose rollback was begun (so a resumed rollout finishes it).
pub(crate) const ROLLING_BACK: &str = "; rolling back to ";

/// Everything a step needs, shared by all steps of a rollout.
pub(crate) struct StepCtx {
    pub rec: Recorder,
    pub directory: Directory,
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub path: PathBuf,
    pub plan: RolloutPlan,
    /// Floats in one sample, for the health-check inference.
    pub features: Option<usize>,
    /// Devices that answered during this rollout: only those are waited
    /// for when they stop answering (a device down from the start fails
    /// after the ordinary retries).
    pub answered: Arc<Mutex<HashSet<String>>>,
    /// The model file served over HTTP for devices on the broker to pull;
    /// started by the first such step, stopped with the rollout.
    pub served: tokio::sync::OnceCell<ModelFileServer>,
}

/// Where a step is while it calls its device: what a wait is recorded as.
#[derive(Clone, Copy)]
pub(crate) struct At<'a> {
    pub state: StepState,
    /// Bytes the agent holds (the upload's running count).
    pub bytes: &'a AtomicU64,
    /// The step detail's `prior:` note, kept while waiting (resume needs it).
    pub prior: Option<&'a Prior>,
    /// Detail text kept in front of the waiting note (a rollback's intent).
    pub keep: &'a str,
}

/// Where a step starts (fresh, or resumed after a restart).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Resume {
    Upload,
    Activate(Prior),
    Health(Prior),
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StepEnd {
    /// The new version is active and healthy; `Prior` is what it replaced.
    Done(Prior),
    /// The model failed on this device (refused, unhealthy); counted.
    ModelFailed(String),
    /// The device could not be reached; not counted against the model.
    Unreachable(String),
}

/// True when an error says nothing about the model: the device is down,
/// overloaded or does not accept our token.
fn is_device_problem(e: &FleetError) -> bool {
    e.is_transient() || matches!(e.status(), Some(401 | 403))
}

/// Worth retrying: transient trouble, or the agent still busy with an
/// upload our previous (dropped) connection started.
fn is_retryable(e: &FleetError) -> bool {
    match e {
        FleetError::Agent { status: 409, detail, .. } => detail.contains("in progress"),
        FleetError::Agent { status: 416, .. } => true,
        other => other.is_transient(),
    }
}

fn backoff(attempt: u32) -> Duration {
    FIRST_BACKOFF.saturating_mul(1u32 << attempt.min(16)).min(MAX_BACKOFF)
}

/// The device did not answer at all: down, rebooting, or off the network.
fn is_unreachable(e: &FleetError) -> bool {
    matches!(e, FleetError::Unreachable { .. })
}

/// `e` with how long the device was waited for added to its reason.
fn after_waiting(e: FleetError, waited: Duration) -> FleetError {
    match e {
        FleetError::Unreachable { addr, reason } => {
            FleetError::Unreachable { addr, reason: format!("{reason} (waited {} s for it)", waited.as_secs()) }
        }
        other => other,
    }
}

/// Run `f` until it succeeds, fails for good, or `retries` retries are spent.
pub(crate) async fn retry<T, F, Fut>(retries: u32, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut attempt = 0;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt < retries && is_retryable(&e) => {
                tracing::debug!("retrying after: {e}");
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

impl StepCtx {
    fn has_answered(&self, device_id: &str) -> bool {
        self.answered.lock().is_ok_and(|a| a.contains(device_id))
    }

    pub(crate) fn mark_answered(&self, device_id: &str) {
        if let Ok(mut a) = self.answered.lock() {
            a.insert(device_id.to_owned());
        }
    }

    /// Say (progress, and best effort in the store) that the step waits for
    /// its device, or that the device is back.
    async fn note_wait(&self, device_id: &str, at: At<'_>, text: String) {
        let bytes = at.bytes.load(Ordering::Relaxed);
        let body = if at.keep.is_empty() { text.clone() } else { format!("{}; {text}", at.keep) };
        let stored = at.prior.map_or_else(|| body.clone(), |p| p.note(&body));
        let (id, dev, state) = (self.rec.deployment_id, device_id.to_owned(), at.state);
        let written = super::record::with_store(&self.rec.store, move |s| {
            s.upsert_step(id, &dev, state.as_str(), bytes, Some(&stored), crate::now_ms())
        })
        .await;
        if let Err(e) = written {
            tracing::warn!("cannot record that {device_id} is awaited: {e}");
        }
        self.rec.emit(device_id, at.state, bytes, Some(text));
    }

    /// Call the device until `f` succeeds or fails for good. Transient
    /// failures get `plan.retries` quick retries; a device that answered
    /// earlier in this rollout and now does not answer at all is then
    /// waited for, with backoff, up to `plan.wait_for_device_s`.
    pub(crate) async fn call<T, F, Fut>(&self, device_id: &str, at: At<'_>, mut f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let wait = Duration::from_secs(self.plan.wait_for_device_s);
        let mut waiting: Option<(Instant, u32)> = None;
        loop {
            match retry(self.plan.retries, &mut f).await {
                Ok(v) => {
                    self.mark_answered(device_id);
                    if let Some((since, _)) = waiting {
                        let text = format!("the device is back after {} s; carrying on", since.elapsed().as_secs());
                        self.note_wait(device_id, at, text).await;
                    }
                    return Ok(v);
                }
                Err(e) if is_unreachable(&e) && !wait.is_zero() && self.has_answered(device_id) => {
                    let (since, tries) = waiting.get_or_insert((Instant::now(), 0));
                    let left = wait.saturating_sub(since.elapsed());
                    if left.is_zero() {
                        return Err(after_waiting(e, since.elapsed()));
                    }
                    if *tries == 0 {
                        let text = format!("{WAITING_FOR_DEVICE} (up to {} s): {e}", wait.as_secs());
                        tracing::info!("{device_id}: {text}");
                        self.note_wait(device_id, at, text).await;
                    }
                    tokio::time::sleep(backoff(*tries).min(left)).await;
                    *tries += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The URL devices on the broker pull this rollout's file from (the
    /// file server starts on the first call, on the broker's
    /// `serve_models_on` address).
    async fn model_url(&self, client: &DeviceLink) -> Result<String> {
        let DeviceLink::Broker(b) = client else {
            return Err(FleetError::BadInput("only devices on the broker pull the model".into()));
        };
        let bind = b.serve_models_on();
        let file_name = format!("{}-{}.onnx", self.name, self.version);
        let server = self.served.get_or_try_init(|| serve_model_file_as(self.path.clone(), &file_name, bind)).await?;
        Ok(server.url.clone())
    }

    /// Run `device_id`'s step from `from` to its end. `Err` only when the
    /// store cannot record progress (the rollout must then stop: it could
    /// no longer be resumed faithfully).
    pub async fn run(&self, device_id: &str, from: Resume) -> Result<StepEnd> {
        let Some(client) = self.directory.link(device_id) else {
            let reason = format!("{UNREACHABLE_PREFIX}{device_id} is not in the device directory");
            self.rec.step(device_id, StepState::Failed, 0, Some(reason.clone())).await?;
            return Ok(StepEnd::Unreachable(reason));
        };
        let skip_activation = matches!(from, Resume::Health(_));
        let prior = match from {
            Resume::Upload => match self.upload_and_verify(&client, device_id).await? {
                Ok(prior) => prior,
                Err(end) => return Ok(end),
            },
            Resume::Activate(prior) | Resume::Health(prior) => prior,
        };
        if !skip_activation && let Err(end) = self.activate(&client, device_id, &prior).await? {
            return Ok(end);
        }
        self.rec.step(device_id, StepState::HealthCheck, self.rec.total_bytes, Some(prior.note(""))).await?;
        if let Err(reason) = self.health_check(&client, device_id, &prior).await {
            let reason = format!("health check failed: {reason}");
            self.roll_back(&client, device_id, &prior, &reason).await?;
            return Ok(StepEnd::ModelFailed(reason));
        }
        self.rec.step(device_id, StepState::Done, self.rec.total_bytes, Some(prior.note("active and healthy"))).await?;
        Ok(StepEnd::Done(prior))
    }

    /// Record a failure that happened before the device was switched.
    async fn fail(&self, device_id: &str, what: &str, e: &FleetError) -> Result<StepEnd> {
        let (detail, end) = if is_device_problem(e) {
            let d = format!("{UNREACHABLE_PREFIX}{what}: {e}");
            (d.clone(), StepEnd::Unreachable(d))
        } else {
            let d = format!("{what}: {e}");
            (d.clone(), StepEnd::ModelFailed(d))
        };
        self.rec.step(device_id, StepState::Failed, 0, Some(detail)).await?;
        Ok(end)
    }

    /// Upload (resuming) and check the agent holds the right bytes. Returns
    /// the version that was active before, or how the step ended.
    async fn upload_and_verify(
        &self,
        client: &DeviceLink,
        device_id: &str,
    ) -> Result<std::result::Result<Prior, StepEnd>> {
        self.rec.step(device_id, StepState::Uploading, 0, None).await?;
        let url = match client {
            DeviceLink::Broker(_) => Some(self.model_url(client).await?),
            DeviceLink::Http(_) => None,
        };
        let install = InstallRequest {
            name: &self.name,
            version: &self.version,
            path: &self.path,
            sha256: &self.sha256,
            size_bytes: self.rec.total_bytes,
            url: url.as_deref(),
        };
        let held = Arc::new(AtomicU64::new(0));
        let at = At { state: StepState::Uploading, bytes: &held, prior: None, keep: "" };
        let upload = self.call(device_id, at, || {
            let rec = self.rec.clone();
            let dev = device_id.to_owned();
            let held = held.clone();
            let answered = self.answered.clone();
            let first = AtomicBool::new(true);
            client.install(&install, move |bytes, total| {
                held.store(bytes, Ordering::Relaxed);
                // The first call tells where the upload starts — and that
                // the agent answered, so it is waited for if it goes away.
                let first = first.swap(false, Ordering::Relaxed);
                if first && let Ok(mut a) = answered.lock() {
                    a.insert(dev.clone());
                }
                let detail =
                    (first && bytes > 0 && bytes < total).then(|| format!("resuming at {bytes} of {total} bytes"));
                rec.emit(&dev, StepState::Uploading, bytes, detail);
            })
        });
        tokio::pin!(upload);
        let mut checkpoint = tokio::time::interval(CHECKPOINT_EVERY);
        checkpoint.tick().await;
        let mut saved = 0;
        let result = loop {
            tokio::select! {
                r = &mut upload => break r,
                _ = checkpoint.tick() => {
                    let now = held.load(Ordering::Relaxed);
                    if now != saved {
                        saved = now;
                        let (id, dev) = (self.rec.deployment_id, device_id.to_owned());
                        super::record::with_store(&self.rec.store, move |s| {
                            s.upsert_step(id, &dev, StepState::Uploading.as_str(), now, None, crate::now_ms())
                        })
                        .await?;
                    }
                }
            }
        };
        let uploaded = match result {
            Ok(u) => u,
            Err(e) => return Ok(Err(self.fail(device_id, "upload failed", &e).await?)),
        };
        if !uploaded.complete || uploaded.sha256 != self.sha256 {
            let e = FleetError::Protocol {
                addr: client.addr(),
                reason: format!(
                    "upload ended incomplete ({} of {} bytes, sha256 {})",
                    uploaded.received_bytes, self.rec.total_bytes, uploaded.sha256
                ),
            };
            return Ok(Err(self.fail(device_id, "upload failed", &e).await?));
        }

        self.rec.step(device_id, StepState::Verifying, self.rec.total_bytes, None).await?;
        let total = AtomicU64::new(self.rec.total_bytes);
        let at = At { state: StepState::Verifying, bytes: &total, prior: None, keep: "" };
        let models = match self.call(device_id, at, || client.models()).await {
            Ok(m) => m.models,
            Err(e) => return Ok(Err(self.fail(device_id, "cannot list models", &e).await?)),
        };
        let installed = models.iter().find(|m| m.name == self.name && m.version == self.version);
        let problem = match installed {
            None => Some("the agent accepted the upload but does not list the version".to_owned()),
            Some(m) if m.sha256 != self.sha256 => {
                Some(format!("the agent holds SHA-256 {}, the file has {}", m.sha256, self.sha256))
            }
            Some(m) if m.size_bytes != self.rec.total_bytes => {
                Some(format!("the agent holds {} bytes, the file has {}", m.size_bytes, self.rec.total_bytes))
            }
            Some(_) => None,
        };
        if let Some(p) = problem {
            let detail = format!("verification failed: {p}");
            self.rec.step(device_id, StepState::Failed, 0, Some(detail.clone())).await?;
            return Ok(Err(StepEnd::ModelFailed(detail)));
        }
        Ok(Ok(prior_of(&models, &self.name, &self.version)))
    }

    async fn activate(
        &self,
        client: &DeviceLink,
        device_id: &str,
        prior: &Prior,
    ) -> Result<std::result::Result<(), StepEnd>> {
        self.rec.step(device_id, StepState::Activating, self.rec.total_bytes, Some(prior.note(""))).await?;
        if *prior == Prior::Same && self.plan.confidence_threshold.is_none() && self.plan.offload_sla_ms.is_none() {
            return Ok(Ok(()));
        }
        let (threshold, sla) = (self.plan.confidence_threshold, self.plan.offload_sla_ms);
        let total = AtomicU64::new(self.rec.total_bytes);
        let at = At { state: StepState::Activating, bytes: &total, prior: Some(prior), keep: "" };
        match self.call(device_id, at, || client.activate_with_offload(&self.name, &self.version, threshold, sla)).await
        {
            Ok(_) => Ok(Ok(())),
            // The agent loads the model before switching: a refusal leaves
            // the old version active, so there is nothing to roll back.
            Err(e) => Ok(Err(self.fail(device_id, "activation refused", &e).await?)),
        }
    }

    /// One inference on a zero sample (or a one-run benchmark when the
    /// sample size is unknown), served by the new version.
    async fn health_check(
        &self,
        client: &DeviceLink,
        device_id: &str,
        prior: &Prior,
    ) -> std::result::Result<(), String> {
        let total = AtomicU64::new(self.rec.total_bytes);
        let at = At { state: StepState::HealthCheck, bytes: &total, prior: Some(prior), keep: "" };
        // Over the broker there is no predict command: a one-run benchmark
        // is the inference there.
        let served_version = match (self.features, client) {
            (Some(n), DeviceLink::Http(client)) => {
                let resp = self
                    .call(device_id, at, || client.predict(&self.name, vec![vec![0.0; n]]))
                    .await
                    .map_err(|e| e.to_string())?;
                let [out] = resp.outputs.as_slice() else {
                    return Err(format!("{} outputs for one input row", resp.outputs.len()));
                };
                if out.values.is_empty() || out.values.iter().any(|v| !v.is_finite()) {
                    return Err(format!("the output is empty or not finite: {:?}", out.values));
                }
                resp.model_version
            }
            _ => {
                let req = BenchmarkRequest { batch_sizes: vec![1], iterations: 1, version: None };
                self.call(device_id, at, || client.benchmark(&self.name, &req))
                    .await
                    .map_err(|e| e.to_string())?
                    .version
            }
        };
        if served_version != self.version {
            return Err(format!("the agent serves version {served_version}, not {}", self.version));
        }
        Ok(())
    }

    /// Put `device_id` back on the version it ran before the rollout. The
    /// intent is recorded first, and the agent's state is checked before
    /// acting, so this is safe to repeat after a restart.
    pub async fn roll_back(&self, client: &DeviceLink, device_id: &str, prior: &Prior, reason: &str) -> Result<()> {
        let total = self.rec.total_bytes;
        let version = match prior {
            Prior::Same => {
                let d = format!("{reason}; {} was active before the rollout, left as it was", self.version);
                return self.rec.step(device_id, StepState::RolledBack, total, Some(prior.note(&d))).await;
            }
            Prior::Absent => {
                let d = format!("{reason}; no earlier version to roll back to, {} stays active", self.version);
                return self.rec.step(device_id, StepState::Failed, total, Some(prior.note(&d))).await;
            }
            Prior::Version(v) => v,
        };
        let intent_text = format!("{reason}{ROLLING_BACK}{version}");
        self.rec.step(device_id, StepState::Failed, total, Some(prior.note(&intent_text))).await?;
        let held = AtomicU64::new(total);
        let at = At { state: StepState::Failed, bytes: &held, prior: Some(prior), keep: &intent_text };
        match self.call(device_id, at, || self.restore(client, version)).await {
            Ok(()) => {
                let d = prior.note(&format!("{reason}; back on {version}"));
                self.rec.step(device_id, StepState::RolledBack, total, Some(d)).await
            }
            Err(e) => {
                let d = prior.note(&format!("{reason}; rollback to {version} failed: {e}"));
                self.rec.step(device_id, StepState::Failed, total, Some(d)).await
            }
        }
    }

    /// Make `version` active again if our version is the active one.
    async fn restore(&self, client: &DeviceLink, version: &str) -> Result<()> {
        let models = client.models().await?.models;
        let active = models.iter().find(|m| m.name == self.name && m.active).map(|m| m.version.as_str());
        match active {
            Some(v) if v == version => Ok(()),
            Some(v) if v == self.version => {
                let r = client.rollback(&self.name).await?;
                if r.active_version == version {
                    Ok(())
                } else {
                    Err(FleetError::Protocol {
                        addr: client.addr(),
                        reason: format!("rollback made {} active, expected {version}", r.active_version),
                    })
                }
            }
            other => Err(FleetError::Protocol {
                addr: client.addr(),
                reason: format!(
                    "{} is active there, neither the rolled-out {} nor the earlier {version}",
                    other.unwrap_or("no version"),
                    self.version
                ),
            }),
        }
    }
}

/// Which version of `name` is active, relative to the one being rolled out.
pub(crate) fn prior_of(models: &[ModelEntry], name: &str, version: &str) -> Prior {
    match models.iter().find(|m| m.name == name && m.active) {
        None => Prior::Absent,
        Some(m) if m.version == version => Prior::Same,
        Some(m) => Prior::Version(m.version.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent_err(status: u16, detail: &str) -> FleetError {
        FleetError::Agent { addr: "a".into(), status, error: "x".into(), detail: detail.into() }
    }

    #[test]
    fn only_transient_or_busy_errors_are_retried() {
        assert!(is_retryable(&FleetError::Unreachable { addr: "a".into(), reason: "refused".into() }));
        assert!(is_retryable(&agent_err(503, "")));
        assert!(is_retryable(&agent_err(409, "an upload of `m` version `1` is already in progress")));
        assert!(!is_retryable(&agent_err(409, "already installed with a different hash")));
        assert!(!is_retryable(&agent_err(422, "the model cannot be loaded")));
        assert!(is_device_problem(&agent_err(401, "bad token")));
        assert!(!is_device_problem(&agent_err(422, "")));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_millis(200));
        assert_eq!(backoff(2), Duration::from_millis(800));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }

    #[tokio::test]
    async fn retry_stops_on_permanent_errors_and_after_the_budget() {
        let calls = std::sync::atomic::AtomicU32::new(0);
        let r: Result<()> = retry(5, || {
            calls.fetch_add(1, Ordering::Relaxed);
            async { Err(agent_err(422, "bad model")) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::Relaxed), 1);

        let calls = std::sync::atomic::AtomicU32::new(0);
        let r: Result<u32> = retry(2, || {
            let n = calls.fetch_add(1, Ordering::Relaxed);
            async move { if n < 2 { Err(agent_err(503, "")) } else { Ok(n) } }
        })
        .await;
        assert_eq!(r.unwrap(), 2);
    }

    #[test]
    fn prior_is_read_from_the_model_list() {
        let entry = |v: &str, active| ModelEntry {
            name: "m".into(),
            version: v.into(),
            sha256: "0".repeat(64),
            size_bytes: 1,
            active,
            previous: false,
            offload_threshold: None,
            offload_sla_ms: None,
        };
        assert_eq!(prior_of(&[], "m", "2"), Prior::Absent);
        assert_eq!(prior_of(&[entry("1", true), entry("2", false)], "m", "2"), Prior::Version("1".into()));
        assert_eq!(prior_of(&[entry("1", false), entry("2", true)], "m", "2"), Prior::Same);
    }
}
