//! The Deployments tab: every job the console ran (deploys, optimizations)
//! with live progress, newest first, and the deployment history stored in
//! the registry.

use crate::app::jobs::Jobs;
use crate::app::style::job_progress_ui;
use edgefleet_store::DeploymentRecord;
use egui::{RichText, Ui};

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
