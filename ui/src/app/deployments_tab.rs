//! The Deployments tab: every job the console ran (deploys, optimizations)
//! with live progress, newest first, and the deployment history stored in
//! the registry.

use crate::app::fit_panel::job_progress_ui;
use edgefleet_fleet::{JobState, JobUpdate};
use edgefleet_store::DeploymentRecord;
use egui::{RichText, Ui};

/// One job as the UI tracks it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    pub id: u64,
    pub title: String,
    pub progress: Option<f32>,
    pub message: String,
    pub state: JobState,
}

/// Jobs seen this session, in start order.
#[derive(Debug, Clone, Default)]
pub struct Jobs {
    pub list: Vec<JobView>,
}

impl Jobs {
    pub fn apply(&mut self, u: JobUpdate) {
        let view = JobView { id: u.id, title: u.title, progress: u.progress, message: u.message, state: u.state };
        match self.list.iter_mut().find(|j| j.id == view.id) {
            // A late "Running" after the end must not resurrect the job.
            Some(j) if j.state != JobState::Running && view.state == JobState::Running => {}
            Some(j) => *j = view,
            None => self.list.push(view),
        }
    }

    /// The newest job with this title.
    pub fn latest(&self, title: &str) -> Option<&JobView> {
        self.list.iter().rev().find(|j| j.title == title)
    }

    pub fn running(&self) -> usize {
        self.list.iter().filter(|j| j.state == JobState::Running).count()
    }
}

pub fn deployments_tab_ui(ui: &mut Ui, jobs: &Jobs, history: &[DeploymentRecord]) {
    ui.heading("Deployments and jobs");
    ui.weak("Drag a model onto a device and press Deploy or Optimize; progress shows here.");
    ui.add_space(6.0);
    egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
        if jobs.list.is_empty() {
            ui.weak("No jobs this session.");
        }
        for job in jobs.list.iter().rev() {
            egui::Frame::group(ui.style()).inner_margin(8.0).show(ui, |ui| {
                ui.set_width(ui.available_width().min(720.0));
                job_progress_ui(ui, job);
            });
            ui.add_space(4.0);
        }
        if !history.is_empty() {
            ui.add_space(10.0);
            ui.label(RichText::new("History (registry)").strong());
            egui::Grid::new("deploy-history").striped(true).num_columns(4).spacing([16.0, 3.0]).show(ui, |ui| {
                for h in ["#", "Model", "State", "Devices"] {
                    ui.label(RichText::new(h).strong());
                }
                ui.end_row();
                for d in history {
                    ui.label(format!("{}", d.id));
                    ui.label(format!("{} v{}", d.model_name, d.model_version));
                    ui.label(match &d.detail {
                        Some(detail) => format!("{} ({detail})", d.state),
                        None => d.state.clone(),
                    });
                    let steps: Vec<String> = d.steps.iter().map(|s| format!("{}: {}", s.device_id, s.state)).collect();
                    ui.label(steps.join(", "));
                    ui.end_row();
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(id: u64, state: JobState) -> JobUpdate {
        JobUpdate { id, title: format!("job {id}"), progress: Some(0.5), message: "m".into(), state }
    }

    #[test]
    fn a_finished_job_stays_finished() {
        let mut jobs = Jobs::default();
        jobs.apply(update(1, JobState::Running));
        jobs.apply(update(1, JobState::Done("ok".into())));
        jobs.apply(update(1, JobState::Running));
        assert_eq!(jobs.list.len(), 1);
        assert_eq!(jobs.latest("job 1").map(|j| j.state.clone()), Some(JobState::Done("ok".into())));
        assert_eq!(jobs.running(), 0);
    }
}
