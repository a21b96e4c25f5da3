//! The fleet-wide commands: a group fit for a selection, rollouts started
//! from the plan dialog with Pause / Resume / Abort / Roll back, and the
//! per-device model actions (activate a version, roll back). Every one runs
//! the fleet crate's own code — `run_rollout`, `resume_rollout`,
//! `rollback_devices`, the agent client — as an engine job, the same code
//! `edgefleet deploy` and `edgefleet rollback` run.

use crate::app::App;
use crate::app::group_fit_view::GroupFitView;
use crate::app::rollouts::{Phase, RolloutView, SharedSteps, lock_steps};
use edgefleet_fleet::rollout::{ProgressFn, rollback_devices};
use edgefleet_fleet::token_rotation::{new_token, rotate_device_token};
use edgefleet_fleet::{
    Command, JobFn, JobId, LogLevel, RolloutOutcome, RolloutPlan, RolloutRequest, StepProgress, lock_store, now_ms,
    resume_rollout, run_rollout,
};
use std::sync::Arc;

/// The store state that makes a resumed rollout roll back what it switched.
const STATE_STOPPING: &str = "stopping";

impl App {
    /// A model dropped on a selection: the group fit panel.
    pub(super) fn open_group_fit(&mut self, card_id: i64, device_ids: Vec<String>) {
        let Some(card) = self.state.library.get(card_id) else {
            return self.state.report(LogLevel::Warn, "that model is no longer in the library");
        };
        let Some(profile) = card.profile.as_ref() else {
            return self.state.report(LogLevel::Warn, format!("{} has no profile to estimate with", card.title()));
        };
        self.state.group_fit = Some(GroupFitView::estimate(card_id, profile, &device_ids, &self.state.fleet));
    }

    /// Start a rollout of a library card to `targets` with `plan`.
    pub(super) fn start_rollout(&mut self, card_id: i64, targets: Vec<String>, plan: RolloutPlan) {
        let Some(card) = self.state.library.get(card_id).cloned() else {
            return self.state.report(LogLevel::Warn, "that model is no longer in the library");
        };
        let Some(path) = card.path.clone() else {
            return self
                .state
                .report(LogLevel::Warn, format!("{} is a profile only: there is no file to roll out", card.title()));
        };
        if targets.is_empty() {
            return self.state.report(LogLevel::Warn, "no device to roll out to");
        }
        if let Err(e) = plan.validate() {
            return self.state.report(LogLevel::Warn, format!("the plan cannot run: {e}"));
        }
        let excluded = self.state.group_fit.take().map(|g| g.misfits).unwrap_or_default();
        let key = self.rollouts.next_key();
        let steps = SharedSteps::default();
        let req = RolloutRequest {
            model_path: path.clone(),
            name: card.name.clone(),
            version: card.version.clone(),
            targets: targets.clone(),
            plan: plan.clone(),
        };
        let title = format!("Roll out {} to {} device(s)", card.title(), targets.len());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let (ended_tx, ended_rx) = tokio::sync::oneshot::channel::<()>();
        let progress = step_progress(&steps);
        let run: JobFn = Box::new(move |ctx| {
            Box::pin(async move {
                let _ended = ended_tx;
                let store = ctx.store.clone().ok_or_else(|| "rollouts need the engine to have a store".to_owned())?;
                let rollout = run_rollout(store, ctx.directory.clone(), req, progress);
                stoppable(rollout, stop_rx).await
            })
        });
        let job = self.engine.start_job(title, run);
        let names = targets
            .iter()
            .filter_map(|id| self.state.fleet.get(id).map(|e| (id.clone(), e.device.display_name().to_owned())))
            .collect();
        self.rollouts.list.push(RolloutView {
            key,
            names,
            name: card.name,
            version: card.version,
            model_path: path,
            targets,
            excluded,
            plan,
            steps,
            phase: Phase::Running,
            job: Some(job),
            stop: Some(stop_tx),
            ended: Some(ended_rx),
        });
        self.state.tab = crate::app::Tab::Deployments;
    }

    /// Drop the running rollout; it stays recorded and can be resumed.
    pub(super) fn pause_rollout(&mut self, key: u64) {
        let Some(r) = self.rollouts.get_mut(key) else { return };
        if r.phase == Phase::Running
            && let Some(stop) = r.stop.take()
        {
            let _ = stop.send(());
            r.phase = Phase::Paused;
        }
    }

    /// Continue a paused rollout where it stopped (the fleet's resume).
    pub(super) fn resume_rollout(&mut self, key: u64) {
        self.continue_rollout(key, false);
    }

    /// Stop the rollout and put back every device it switched: once the
    /// running rollout is dropped, it is marked stopping in the registry and
    /// resumed, and a stopping rollout rolls back what it switched.
    pub(super) fn abort_rollout(&mut self, key: u64) {
        let Some(r) = self.rollouts.get_mut(key) else { return };
        if let Some(stop) = r.stop.take() {
            let _ = stop.send(());
        }
        if r.deployment_id().is_none() {
            r.phase = Phase::Ended { ok: false, message: "aborted before any device was touched".into() };
            return;
        }
        self.continue_rollout(key, true);
    }

    /// Resume (or abort) rollout `key` in a new job, after the previous job
    /// of it has ended, so two never write the same deployment.
    fn continue_rollout(&mut self, key: u64, abort: bool) {
        let Some(r) = self.rollouts.get_mut(key) else { return };
        let Some(id) = r.deployment_id() else {
            return self.state.report(LogLevel::Warn, "that rollout never started: nothing to continue");
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let (ended_tx, ended_rx) = tokio::sync::oneshot::channel::<()>();
        let previous = r.ended.replace(ended_rx);
        let progress = step_progress(&r.steps);
        let verb = if abort { "Abort" } else { "Resume" };
        let title = format!("{verb} rollout of {} v{}", r.name, r.version);
        let run: JobFn = Box::new(move |ctx| {
            Box::pin(async move {
                let _ended = ended_tx;
                if let Some(previous) = previous {
                    // Resolves when the previous job's future is gone.
                    let _ = previous.await;
                }
                let store = ctx.store.clone().ok_or_else(|| "rollouts need the engine to have a store".to_owned())?;
                if abort {
                    let s = store.clone();
                    tokio::task::spawn_blocking(move || {
                        lock_store(&s)
                            .map_err(|e| e.to_string())?
                            .set_deployment_state(id, STATE_STOPPING, Some("aborted by the user"), now_ms())
                            .map_err(|e| format!("cannot abort deployment {id}: {e}"))
                    })
                    .await
                    .map_err(|e| e.to_string())??;
                }
                stoppable(resume_rollout(store, ctx.directory.clone(), id, progress), stop_rx).await
            })
        });
        let job = self.engine.start_job(title, run);
        let Some(r) = self.rollouts.get_mut(key) else { return };
        r.job = Some(job);
        r.stop = Some(stop_tx);
        r.phase = if abort { Phase::Aborting } else { Phase::Running };
    }

    /// Put the devices a finished rollout switched back on their previous
    /// version (the agents' own rollback, as `edgefleet rollback`).
    pub(super) fn roll_back_rollout(&mut self, key: u64) {
        let Some(r) = self.rollouts.get_mut(key) else { return };
        let devices = r.done_devices();
        if devices.is_empty() {
            return self.state.report(LogLevel::Warn, "no device of that rollout is on the new version");
        }
        let name = r.name.clone();
        let title = format!("Roll back {name} on {} device(s)", devices.len());
        let job = self.engine.start_job(title, rollback_job(name, devices.clone()));
        r.job = Some(job);
        r.phase = Phase::RollingBack;
    }

    /// Roll one device back to the version of `name` it ran before.
    pub(super) fn roll_back_device(&mut self, device_id: String, name: String) {
        let title = format!("Roll back {name} on {device_id}");
        let job = self.engine.start_job(title, rollback_job(name, vec![device_id.clone()]));
        self.refresh_after_job(job, device_id);
    }

    /// Give a paired device a new token, as `edgefleet rotate-token` does:
    /// the job hands it to the device with the old one; once the device has
    /// taken it, [`Self::rotation_ended`] stores it.
    pub(super) fn rotate_token(&mut self, device_id: String) {
        let token = new_token();
        let (dev, new) = (device_id.clone(), token.clone());
        let run: JobFn = Box::new(move |ctx| {
            Box::pin(async move {
                let client = ctx.directory.client(&dev).ok_or_else(|| format!("device {dev} is not known"))?;
                rotate_device_token(&client, &new).await.map_err(|e| e.to_string())?;
                Ok(format!("{dev}: token rotated; the old one no longer works"))
            })
        });
        let job = self.engine.start_job(format!("Rotate the token of {device_id}"), run);
        self.rotations.insert(job, (device_id, token));
    }

    /// A rotation job ended: when the device took the new token, the engine
    /// stores it (its key stays pinned); otherwise the old one still works.
    pub(super) fn rotation_ended(&mut self, job: JobId, device_took_it: bool) {
        if let Some((device_id, token)) = self.rotations.remove(&job)
            && device_took_it
        {
            self.send(Command::Pair { device_id, token, fingerprint: None });
        }
    }

    /// Make an installed version of a model the active one on a device.
    pub(super) fn activate_model(&mut self, device_id: String, name: String, version: String) {
        let title = format!("Activate {name} v{version} on {device_id}");
        let dev = device_id.clone();
        let run: JobFn = Box::new(move |ctx| {
            Box::pin(async move {
                let client = ctx.directory.client(&dev).ok_or_else(|| format!("device {dev} is not known"))?;
                let r = client.activate(&name, &version, None).await.map_err(|e| e.to_string())?;
                Ok(format!("{dev}: {} v{} active", r.name, r.active_version))
            })
        });
        let job = self.engine.start_job(title, run);
        self.refresh_after_job(job, device_id);
    }

    /// Store tokens for devices (the engine's Pair, as `edgefleet pair`).
    pub(super) fn pair_devices(&mut self, device_ids: Vec<String>, token: String) {
        let token = token.trim().to_owned();
        if token.is_empty() {
            return self.state.report(LogLevel::Warn, "give the device's token (the agent prints it when it starts)");
        }
        let n = device_ids.len();
        for device_id in device_ids {
            // The key the device proved over TLS, as the detail showed it
            // (a short mDNS form is not a key to pin).
            let fingerprint = self
                .state
                .fleet
                .get(&device_id)
                .and_then(|e| e.device.key_fingerprint.clone())
                .filter(|fp| fp.contains('-'));
            self.send(Command::Pair { device_id, token: token.clone(), fingerprint });
        }
        self.state.report(LogLevel::Info, format!("token stored for {n} device(s); checking it now"));
    }

    /// When `job` ends, refresh the device's installed models.
    fn refresh_after_job(&mut self, job: JobId, device_id: String) {
        self.refresh_after.insert(job, device_id);
    }

    /// A rollout job ended: record how, and toast a failure.
    pub(super) fn rollout_job_ended(&mut self, job: JobId, ok: bool, message: &str) {
        let Some(r) = self.rollouts.by_job(job) else { return };
        r.stop = None;
        if r.phase != Phase::Paused {
            r.phase = Phase::Ended { ok, message: message.to_owned() };
        }
        r.job = None;
        // Whatever the rollout touched now runs something else.
        let targets = r.targets.clone();
        for device_id in targets {
            self.send(Command::RefreshModels { device_id });
        }
        self.refresh_history();
    }
}

/// Steps reported by the rollout, into the shared table.
fn step_progress(steps: &SharedSteps) -> ProgressFn {
    let steps = steps.clone();
    Arc::new(move |p: StepProgress| {
        let mut table = lock_steps(&steps);
        table.deployment_id = Some(p.deployment_id);
        table.steps.insert(p.device_id.clone(), p);
    })
}

/// Run a rollout until it ends or `stop` fires (Pause, Abort). A dropped
/// sender is not a stop.
async fn stoppable(
    rollout: impl std::future::Future<Output = edgefleet_fleet::Result<RolloutOutcome>>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<String, String> {
    tokio::select! {
        outcome = rollout => {
            let o = outcome.map_err(|e| e.to_string())?;
            let summary = format!(
                "deployment {} of {} v{}: {} ({} done, {} failed, {} rolled back)",
                o.deployment_id, o.name, o.version, o.state, o.done.len(), o.failed.len(), o.rolled_back.len()
            );
            let detail = o.detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default();
            if o.state == "done" { Ok(summary) } else { Err(format!("{summary}{detail}")) }
        }
        Ok(()) = &mut stop => Ok("paused; resume continues where it stopped".to_owned()),
    }
}

/// The fleet's rollback of `name` on `devices`, as a job.
fn rollback_job(name: String, devices: Vec<String>) -> JobFn {
    Box::new(move |ctx| {
        Box::pin(async move {
            let results = rollback_devices(&ctx.directory, &name, &devices).await.map_err(|e| e.to_string())?;
            let mut failed = Vec::new();
            let mut back = Vec::new();
            for (dev, r) in results {
                match r {
                    Ok(v) => back.push(format!("{dev} → {v}")),
                    Err(e) => failed.push(format!("{dev}: {e}")),
                }
            }
            if failed.is_empty() {
                Ok(format!("{name} rolled back: {}", back.join(", ")))
            } else {
                Err(format!("{} of {} not rolled back: {}", failed.len(), failed.len() + back.len(), failed.join("; ")))
            }
        })
    })
}
