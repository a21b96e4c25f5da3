//! Driving a rollout: check the request, create (or find) its deployment
//! record, then run the canary stage and the parallel stage, stopping and
//! rolling back when the failure policy says so.

use super::model_file::{ModelFile, check_segment, default_model_name, default_version, examine};
use super::record::{
    Prior, Recorder, STATE_CANARY, STATE_DONE, STATE_FAILED, STATE_ROLLED_BACK, STATE_ROLLING, STATE_STOPPING,
    UNREACHABLE_PREFIX, with_store,
};
use super::step::{ROLLING_BACK, Resume, StepCtx, StepEnd};
use super::{ProgressFn, RolloutOutcome, RolloutPlan, RolloutRequest, StepState};
use crate::engine::Directory;
use crate::error::{FleetError, Result};
use crate::liveness::now_ms;
use edgefleet_store::{DeploymentRecord, NewDeployment, Store, TERMINAL_DEPLOYMENT_STATES};
use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::task::JoinSet;

async fn examine_file(path: &Path) -> Result<ModelFile> {
    let p = path.to_owned();
    tokio::task::spawn_blocking(move || examine(&p))
        .await
        .map_err(|e| FleetError::task_failed("model file check", e))?
}

fn check_targets(directory: &Directory, targets: &[String]) -> Result<()> {
    if targets.is_empty() {
        return Err(FleetError::BadInput("no target devices given".into()));
    }
    let mut seen = HashSet::new();
    for t in targets {
        if !seen.insert(t.as_str()) {
            return Err(FleetError::BadInput(format!("device `{t}` is listed twice")));
        }
    }
    let unknown: Vec<&str> = targets.iter().filter(|t| directory.link(t).is_none()).map(String::as_str).collect();
    if !unknown.is_empty() {
        return Err(FleetError::BadInput(format!(
            "unknown device{}: {} (known: {})",
            if unknown.len() > 1 { "s" } else { "" },
            unknown.join(", "),
            known_list(directory)
        )));
    }
    Ok(())
}

fn known_list(directory: &Directory) -> String {
    let mut ids = directory.device_ids();
    if ids.is_empty() {
        return "none; add or scan for devices first".into();
    }
    ids.sort();
    ids.join(", ")
}

pub(super) async fn start(
    store: Arc<Mutex<Store>>,
    directory: Directory,
    req: RolloutRequest,
    progress: ProgressFn,
) -> Result<RolloutOutcome> {
    req.plan.validate()?;
    check_targets(&directory, &req.targets)?;
    let path = std::path::absolute(&req.model_path).unwrap_or_else(|_| req.model_path.clone());
    let file = examine_file(&path).await?;
    let name = if req.name.is_empty() { default_model_name(&path)? } else { req.name.clone() };
    check_segment("name", &name)?;
    let version = if req.version.is_empty() { default_version(&file.sha256) } else { req.version.clone() };
    check_segment("version", &version)?;

    let wanted: HashSet<&str> = req.targets.iter().map(String::as_str).collect();
    let unfinished = with_store(&store, |s| s.unfinished_deployments()).await?;
    let same = unfinished.into_iter().find(|d| {
        d.sha256 == file.sha256
            && d.model_name == name
            && d.model_version == version
            && d.steps.len() == wanted.len()
            && d.steps.iter().all(|s| wanted.contains(s.device_id.as_str()))
    });
    let record = match same {
        Some(d) => {
            tracing::info!("resuming unfinished deployment {} of {name} {version}", d.id);
            d
        }
        None => {
            let new = NewDeployment {
                model_name: name.clone(),
                model_version: version.clone(),
                sha256: file.sha256.clone(),
                model_path: path.display().to_string(),
                size_bytes: file.size_bytes,
                plan: serde_json::to_value(&req.plan)
                    .map_err(|e| FleetError::BadInput(format!("cannot encode the plan: {e}")))?,
                targets: req.targets.clone(),
                created_ms: now_ms(),
            };
            let id = with_store(&store, move |s| s.create_deployment(&new)).await?;
            load(&store, id).await?
        }
    };
    let plan: RolloutPlan = serde_json::from_value(record.plan.clone()).unwrap_or_else(|_| req.plan.clone());
    let ctx = step_ctx(store, directory, &record, path, plan, &file, progress);
    drive(Arc::new(ctx), record).await
}

pub(super) async fn resume(
    store: Arc<Mutex<Store>>,
    directory: Directory,
    deployment_id: i64,
    progress: ProgressFn,
) -> Result<RolloutOutcome> {
    let record = load(&store, deployment_id).await?;
    if TERMINAL_DEPLOYMENT_STATES.contains(&record.state.as_str()) {
        return Ok(outcome_of(&record));
    }
    let plan: RolloutPlan = serde_json::from_value(record.plan.clone()).map_err(|e| {
        FleetError::BadInput(format!("deployment {deployment_id} has a plan this console cannot read: {e}"))
    })?;
    let path = PathBuf::from(&record.model_path);
    let file = examine_file(&path).await?;
    if file.sha256 != record.sha256 {
        return Err(FleetError::BadInput(format!(
            "{} changed since deployment {deployment_id} began (SHA-256 {} then, {} now); deploy it as a new version",
            path.display(),
            record.sha256,
            file.sha256
        )));
    }
    let ctx = step_ctx(store, directory, &record, path, plan, &file, progress);
    drive(Arc::new(ctx), record).await
}

async fn load(store: &Arc<Mutex<Store>>, id: i64) -> Result<DeploymentRecord> {
    with_store(store, move |s| s.get_deployment(id))
        .await?
        .ok_or_else(|| FleetError::BadInput(format!("there is no deployment {id}")))
}

fn step_ctx(
    store: Arc<Mutex<Store>>,
    directory: Directory,
    record: &DeploymentRecord,
    path: PathBuf,
    plan: RolloutPlan,
    file: &ModelFile,
    progress: ProgressFn,
) -> StepCtx {
    StepCtx {
        rec: Recorder::new(store, record.id, record.size_bytes, progress).mirrored(directory.broker_link()),
        directory,
        name: record.model_name.clone(),
        version: record.model_version.clone(),
        sha256: record.sha256.clone(),
        path,
        plan,
        features: file.features,
        answered: Arc::new(Mutex::new(HashSet::new())),
        served: tokio::sync::OnceCell::new(),
    }
}

/// How long the start-of-rollout look at each target waits for an answer.
const PREFLIGHT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Ask every target for `/v1/health` at once, in the background: a device
/// that answers now and is unreachable when its turn comes (it rebooted
/// while it waited in the queue) is then waited for, not failed.
fn preflight(ctx: &Arc<StepCtx>, devices: Vec<String>) -> tokio::task::JoinHandle<()> {
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let probes = devices.into_iter().filter_map(|dev| {
            let client = ctx.directory.link(&dev)?.with_timeout(PREFLIGHT_TIMEOUT);
            let ctx = ctx.clone();
            Some(async move {
                if client.answers().await {
                    ctx.mark_answered(&dev);
                }
            })
        });
        futures_util::future::join_all(probes).await;
    })
}

/// The text of a detail without its `prior:` tag and rollback marker.
fn reason_of(detail: &str) -> &str {
    let text = detail.strip_prefix("prior:").and_then(|r| r.split_once("; ")).map_or(detail, |(_, t)| t);
    text.split_once(ROLLING_BACK).map_or(text, |(r, _)| r)
}

/// What a stored rollout still has to do.
#[derive(Default)]
struct Work {
    todo: VecDeque<(String, Resume)>,
    done: Vec<(String, Prior)>,
    /// Steps whose rollback was begun but not confirmed.
    unfinished_rollbacks: Vec<(String, Prior, String)>,
    model_failures: usize,
}

fn plan_work(record: &DeploymentRecord) -> Work {
    let mut w = Work::default();
    for s in &record.steps {
        let prior = Prior::from_detail(s.detail.as_deref());
        let dev = s.device_id.clone();
        match (StepState::parse(&s.state), prior) {
            (Some(StepState::Done), p) => w.done.push((dev, p.unwrap_or(Prior::Same))),
            (Some(StepState::Activating), Some(p)) => w.todo.push_back((dev, Resume::Activate(p))),
            (Some(StepState::HealthCheck), Some(p)) => w.todo.push_back((dev, Resume::Health(p))),
            (Some(StepState::Failed), p) => {
                let detail = s.detail.as_deref().unwrap_or("");
                if !detail.starts_with(UNREACHABLE_PREFIX) {
                    w.model_failures += 1;
                }
                if let Some(p @ Prior::Version(_)) = p
                    && detail.contains(ROLLING_BACK)
                {
                    w.unfinished_rollbacks.push((dev, p, reason_of(detail).to_owned()));
                }
            }
            (Some(StepState::RolledBack), _) => w.model_failures += 1,
            // Pending, uploading, verifying (or an activation recorded
            // without its prior): start over; the upload resumes.
            _ => w.todo.push_back((dev, Resume::Upload)),
        }
    }
    w
}

async fn run_batch(ctx: &Arc<StepCtx>, set: &mut JoinSet<Result<(String, StepEnd)>>, dev: String, from: Resume) {
    let ctx = ctx.clone();
    set.spawn(async move {
        let end = ctx.run(&dev, from).await?;
        Ok((dev, end))
    });
}

fn joined(r: std::result::Result<Result<(String, StepEnd)>, tokio::task::JoinError>) -> Result<(String, StepEnd)> {
    r.map_err(|e| FleetError::task_failed("rollout step", e))?
}

async fn drive(ctx: Arc<StepCtx>, record: DeploymentRecord) -> Result<RolloutOutcome> {
    let mut w = plan_work(&record);
    let probing = preflight(&ctx, w.todo.iter().map(|(dev, _)| dev.clone()).collect());
    let outcome = drive_work(&ctx, &record, &mut w).await;
    probing.abort();
    outcome
}

async fn drive_work(ctx: &Arc<StepCtx>, record: &DeploymentRecord, w: &mut Work) -> Result<RolloutOutcome> {
    let mut stop: Option<String> = (record.state == STATE_STOPPING)
        .then(|| record.detail.clone().unwrap_or_else(|| "stopped before a restart".into()));

    for (dev, prior, reason) in std::mem::take(&mut w.unfinished_rollbacks) {
        roll_back(ctx, &dev, &prior, &reason).await?;
    }

    let canary = ctx.plan.canary.min(record.steps.len());
    if stop.is_none() && record.state != STATE_ROLLING && w.done.len() < canary {
        ctx.rec.deployment(STATE_CANARY, Some(format!("{canary} canary device(s) first"))).await?;
        while stop.is_none() && w.done.len() < canary && !w.todo.is_empty() {
            let mut set = JoinSet::new();
            for _ in 0..canary - w.done.len() {
                let Some((dev, from)) = w.todo.pop_front() else { break };
                run_batch(ctx, &mut set, dev, from).await;
            }
            while let Some(r) = set.join_next().await {
                match joined(r)? {
                    (dev, StepEnd::Done(p)) => w.done.push((dev, p)),
                    (dev, StepEnd::ModelFailed(reason)) => {
                        w.model_failures += 1;
                        stop.get_or_insert(format!("canary {dev} failed: {reason}"));
                    }
                    (_, StepEnd::Unreachable(_)) => {}
                }
            }
        }
    }

    if stop.is_none() && !w.todo.is_empty() {
        ctx.rec.deployment(STATE_ROLLING, None).await?;
        let mut set = JoinSet::new();
        loop {
            while stop.is_none() && set.len() < ctx.plan.parallel {
                let Some((dev, from)) = w.todo.pop_front() else { break };
                run_batch(ctx, &mut set, dev, from).await;
            }
            let Some(r) = set.join_next().await else { break };
            match joined(r)? {
                (dev, StepEnd::Done(p)) => w.done.push((dev, p)),
                (dev, StepEnd::ModelFailed(reason)) => {
                    w.model_failures += 1;
                    if w.model_failures > ctx.plan.max_failures && stop.is_none() {
                        stop = Some(format!(
                            "{} device(s) failed, more than the {} allowed; last: {dev}: {reason}",
                            w.model_failures, ctx.plan.max_failures
                        ));
                    }
                }
                (_, StepEnd::Unreachable(_)) => {}
            }
        }
    }

    if let Some(reason) = stop {
        ctx.rec.deployment(STATE_STOPPING, Some(reason.clone())).await?;
        let why = format!("rollout stopped ({reason})");
        for (dev, prior) in std::mem::take(&mut w.done) {
            roll_back(ctx, &dev, &prior, &why).await?;
        }
        for (dev, from) in std::mem::take(&mut w.todo) {
            match from {
                Resume::Activate(prior) | Resume::Health(prior) => roll_back(ctx, &dev, &prior, &why).await?,
                Resume::Upload => {
                    ctx.rec.step(&dev, StepState::Pending, 0, Some("not started: the rollout stopped".into())).await?
                }
            }
        }
        ctx.rec.deployment(STATE_ROLLED_BACK, Some(reason)).await?;
    } else {
        let record = load(&ctx.rec.store, ctx.rec.deployment_id).await?;
        let failed = record.steps.iter().filter(|s| s.state != StepState::Done.as_str()).count();
        if failed == 0 {
            ctx.rec.deployment(STATE_DONE, None).await?;
        } else {
            let detail = format!("{failed} of {} device(s) failed", record.steps.len());
            ctx.rec.deployment(STATE_FAILED, Some(detail)).await?;
        }
    }
    Ok(outcome_of(&load(&ctx.rec.store, ctx.rec.deployment_id).await?))
}

async fn roll_back(ctx: &StepCtx, dev: &str, prior: &Prior, reason: &str) -> Result<()> {
    match ctx.directory.link(dev) {
        Some(client) => ctx.roll_back(&client, dev, prior, reason).await,
        None => {
            let d = prior.note(&format!("{reason}; cannot roll back: {dev} is not in the device directory"));
            ctx.rec.step(dev, StepState::Failed, ctx.rec.total_bytes, Some(d)).await
        }
    }
}

/// The outcome a stored rollout shows.
pub(super) fn outcome_of(d: &DeploymentRecord) -> RolloutOutcome {
    let with = |st: StepState| d.steps.iter().filter(move |s| s.state == st.as_str());
    RolloutOutcome {
        deployment_id: d.id,
        state: d.state.clone(),
        done: with(StepState::Done).map(|s| s.device_id.clone()).collect(),
        failed: with(StepState::Failed)
            .map(|s| (s.device_id.clone(), reason_of(s.detail.as_deref().unwrap_or("failed")).to_owned()))
            .collect(),
        rolled_back: with(StepState::RolledBack).map(|s| s.device_id.clone()).collect(),
        name: d.model_name.clone(),
        version: d.model_version.clone(),
        sha256: d.sha256.clone(),
        detail: d.detail.clone(),
    }
}

pub(super) async fn rollback_devices(
    directory: &Directory,
    name: &str,
    devices: &[String],
) -> Result<Vec<(String, std::result::Result<String, FleetError>)>> {
    check_segment("name", name)?;
    check_targets(directory, devices)?;
    let mut set = JoinSet::new();
    for dev in devices {
        let (dev, name) = (dev.clone(), name.to_owned());
        let client = directory.link(&dev);
        set.spawn(async move {
            let r = match client {
                Some(c) => c.rollback(&name).await.map(|r| r.active_version),
                None => Err(FleetError::BadInput(format!("unknown device {dev}"))),
            };
            (dev, r)
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.map_err(|e| FleetError::task_failed("rollback", e))?);
    }
    out.sort_by_key(|(dev, _)| devices.iter().position(|d| d == dev));
    Ok(out)
}
