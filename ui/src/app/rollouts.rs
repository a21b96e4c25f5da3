//! Rollouts started from the app, as the Deployments tab shows them: the
//! model, the targets and the devices left out, and every device's step
//! (state, bytes, reason) as the fleet's rollout code reports it. The step
//! table is shared with the running job's progress callback, which writes
//! into it from the engine's runtime; the UI only reads it.
//!
//! Pause drops the running rollout (every transition is stored before it
//! is taken, so nothing is lost); Resume runs the fleet's `resume_rollout`
//! on the same deployment; Abort marks it stopping, and resuming a stopping
//! rollout rolls back every device it switched.

use crate::app::group_fit_view::Misfit;
use edgefleet_fleet::{JobId, RolloutPlan, StepProgress, StepState};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

/// What the fleet's rollout reported so far.
#[derive(Debug, Default)]
pub struct StepTable {
    pub deployment_id: Option<i64>,
    pub steps: HashMap<String, StepProgress>,
}

/// Shared between the job's progress callback and the UI.
pub type SharedSteps = Arc<Mutex<StepTable>>;

/// Lock a step table; a poisoned lock (a panicked callback) still holds
/// the last good figures.
pub fn lock_steps(steps: &SharedSteps) -> MutexGuard<'_, StepTable> {
    steps.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Where a rollout is, as the user controls it.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    Running,
    Paused,
    /// Abort asked: the rollout rolls back what it switched.
    Aborting,
    /// The rollout's job ended with this message (ok or not).
    Ended {
        ok: bool,
        message: String,
    },
    /// Roll back of the finished rollout's devices is running.
    RollingBack,
}

/// One rollout started from the app.
#[derive(Debug)]
pub struct RolloutView {
    pub key: u64,
    pub name: String,
    pub version: String,
    pub model_path: PathBuf,
    pub targets: Vec<String>,
    /// Display names of the targets (ids without one show as themselves).
    pub names: HashMap<String, String>,
    /// Devices the model does not fit, left out of the rollout.
    pub excluded: Vec<Misfit>,
    pub plan: RolloutPlan,
    pub steps: SharedSteps,
    pub phase: Phase,
    /// The job running now (rollout, resume, abort or roll back).
    pub job: Option<JobId>,
    /// Dropping the running rollout (Pause, Abort): send once.
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// Resolves when the running job's future is gone (a resume waits for
    /// it, so two jobs never drive one deployment).
    pub ended: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl RolloutView {
    /// One device's step as reported, if any.
    pub fn step(&self, device_id: &str) -> Option<StepProgress> {
        lock_steps(&self.steps).steps.get(device_id).cloned()
    }

    /// (done, failed or rolled back, still going) over the targets.
    pub fn counts(&self) -> (usize, usize, usize) {
        let table = lock_steps(&self.steps);
        let (mut done, mut bad) = (0, 0);
        for s in table.steps.values() {
            match s.state {
                StepState::Done => done += 1,
                StepState::Failed | StepState::RolledBack => bad += 1,
                _ => {}
            }
        }
        (done, bad, self.targets.len().saturating_sub(done + bad))
    }

    /// Devices whose step is done (what Roll back acts on).
    pub fn done_devices(&self) -> Vec<String> {
        let table = lock_steps(&self.steps);
        self.targets
            .iter()
            .filter(|d| table.steps.get(*d).is_some_and(|s| s.state == StepState::Done))
            .cloned()
            .collect()
    }

    pub fn deployment_id(&self) -> Option<i64> {
        lock_steps(&self.steps).deployment_id
    }
}

/// The app's rollouts, oldest first.
#[derive(Debug, Default)]
pub struct Rollouts {
    pub list: Vec<RolloutView>,
    next_key: u64,
}

impl Rollouts {
    pub fn next_key(&mut self) -> u64 {
        self.next_key += 1;
        self.next_key
    }

    pub fn get_mut(&mut self, key: u64) -> Option<&mut RolloutView> {
        self.list.iter_mut().find(|r| r.key == key)
    }

    /// The rollout a job belongs to.
    pub fn by_job(&mut self, job: JobId) -> Option<&mut RolloutView> {
        self.list.iter_mut().find(|r| r.job == Some(job))
    }
}

/// A step's note as a person reads it: the rollout keeps the version a
/// device ran before in the note (`prior:VERSION; text`) so it can roll
/// back after a restart; that tag is for the machine, not for the table.
pub fn readable_detail(detail: &str) -> String {
    let text = match detail.strip_prefix("prior:") {
        Some(rest) => rest.split_once("; ").map_or("", |(_, t)| t),
        None => detail,
    };
    text.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prior_tag_is_hidden() {
        assert_eq!(readable_detail("prior:3f2a9c01bb7e; waiting for device"), "waiting for device");
        assert_eq!(readable_detail("prior:none"), "");
        assert_eq!(readable_detail("upload refused: too large"), "upload refused: too large");
    }

    #[test]
    fn counts_follow_the_steps() {
        let steps: SharedSteps = Arc::default();
        let view = RolloutView {
            key: 1,
            name: "m".into(),
            version: "1".into(),
            model_path: PathBuf::from("m.onnx"),
            targets: vec!["a".into(), "b".into(), "c".into()],
            names: HashMap::new(),
            excluded: Vec::new(),
            plan: RolloutPlan::default(),
            steps: steps.clone(),
            phase: Phase::Running,
            job: None,
            stop: None,
            ended: None,
        };
        let step = |dev: &str, state| StepProgress {
            deployment_id: 7,
            device_id: dev.into(),
            state,
            bytes_sent: 0,
            total_bytes: 10,
            detail: None,
        };
        lock_steps(&steps).steps.insert("a".into(), step("a", StepState::Done));
        lock_steps(&steps).steps.insert("b".into(), step("b", StepState::Failed));
        assert_eq!(view.counts(), (1, 1, 1));
        assert_eq!(view.done_devices(), ["a"]);
    }
}
