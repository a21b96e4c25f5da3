//! The fit panel: opens when a model card is dropped on a device. Shows
//! compatible or not with every reason, the largest batch that fits, and
//! latency / throughput / energy / memory per batch size (ranges), with the
//! Optimize and Deploy buttons and the progress of those jobs.

use crate::app::command::UiCommand;
use crate::app::deployments_tab::{JobView, Jobs};
use crate::app::device_list_panel::MISFIT_COLOR;
use crate::app::library_panel::ModelCard;
use edgefleet_core::fit::Fit;
use egui::{Color32, RichText, Ui};

const OK_COLOR: Color32 = Color32::from_rgb(46, 180, 90);

/// An open fit panel.
#[derive(Debug, Clone)]
pub struct FitView {
    pub card_id: i64,
    pub device_id: String,
    pub fit: Fit,
    /// Titles of the jobs started from this panel.
    pub optimize_job: Option<String>,
    pub deploy_job: Option<String>,
}

pub fn optimize_title(card: &ModelCard, device_id: &str) -> String {
    format!("Optimize {} for {device_id}", card.title())
}

pub fn deploy_title(card: &ModelCard, device_id: &str) -> String {
    format!("Deploy {} to {device_id}", card.title())
}

/// The panel's contents (the app puts them in a window).
pub fn fit_panel_ui(
    ui: &mut Ui,
    view: &FitView,
    card: Option<&ModelCard>,
    device_name: &str,
    jobs: &Jobs,
    commands: &mut Vec<UiCommand>,
) {
    let fit = &view.fit;
    let model_title = card.map_or_else(|| fit.model.clone(), ModelCard::title);
    ui.horizontal(|ui| {
        ui.label(RichText::new(&model_title).strong());
        ui.label("→");
        ui.label(RichText::new(device_name).strong());
    });
    if card.is_some_and(ModelCard::is_profile_only) {
        ui.label(
            RichText::new("Profile-only card: estimated from a stored profile, no file to deploy.").italics().weak(),
        );
    }
    ui.add_space(4.0);
    let (text, color) = if fit.compatible { ("✔ Compatible", OK_COLOR) } else { ("✖ Does not fit", MISFIT_COLOR) };
    ui.label(RichText::new(text).size(18.0).strong().color(color));
    if fit.compatible {
        ui.label(RichText::new(format!("Max batch size: {}", fit.max_batch)).strong());
    }
    ui.add_space(4.0);
    for r in &fit.reasons {
        let (mark, color) = if r.ok { ("✔", OK_COLOR) } else { ("✖", MISFIT_COLOR) };
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(mark).color(color));
            ui.label(&r.message);
        });
    }
    let live = if fit.free_memory_is_live { "live" } else { "from the spec" };
    ui.weak(format!(
        "Free memory {:.0} MB ({live}) · {:.1} GFLOP/s available · model needs {:.1} MB at batch 1",
        fit.free_memory_mb, fit.available_gflops, fit.memory_at_batch1_mb
    ));
    if !fit.per_batch.is_empty() {
        ui.add_space(6.0);
        egui::Grid::new("fit-per-batch").striped(true).num_columns(5).spacing([14.0, 2.0]).show(ui, |ui| {
            for h in ["Batch", "Latency (ms)", "Throughput (/s)", "Energy (mJ/inf)", "Memory (MB)"] {
                ui.label(RichText::new(h).strong());
            }
            ui.end_row();
            for b in &fit.per_batch {
                ui.label(b.batch.to_string());
                ui.label(format!("{:.2} – {:.2}", b.latency_ms.low, b.latency_ms.high));
                ui.label(format!("{:.0} – {:.0}", b.throughput_per_s.low, b.throughput_per_s.high));
                ui.label(format!("{:.2} – {:.2}", b.energy_mj.low, b.energy_mj.high));
                ui.label(format!("{:.1}", b.memory_mb));
                ui.end_row();
            }
        });
    }
    ui.add_space(8.0);
    let has_file = card.is_some_and(|c| !c.is_profile_only());
    ui.horizontal(|ui| {
        let opt = ui.add_enabled(has_file, egui::Button::new("⚙ Optimize for this device"));
        if opt.clicked() {
            commands.push(UiCommand::Optimize { card_id: view.card_id, device_id: view.device_id.clone() });
        }
        let can_deploy = has_file && fit.compatible;
        let dep = ui.add_enabled(can_deploy, egui::Button::new("⬆ Deploy"));
        let dep =
            if can_deploy { dep } else { dep.on_disabled_hover_text("Only a model file that fits can be deployed") };
        if dep.clicked() {
            commands.push(UiCommand::Deploy { card_id: view.card_id, device_id: view.device_id.clone() });
        }
        if ui.button("Close").clicked() {
            commands.push(UiCommand::CloseFit);
        }
    });
    for title in [&view.optimize_job, &view.deploy_job].into_iter().flatten() {
        if let Some(job) = jobs.latest(title) {
            job_progress_ui(ui, job);
        }
    }
}

/// A job's title, progress bar and last message.
pub fn job_progress_ui(ui: &mut Ui, job: &JobView) {
    use edgefleet_fleet::JobState;
    ui.add_space(4.0);
    ui.label(RichText::new(&job.title).small().strong());
    match &job.state {
        JobState::Running => {
            let bar = egui::ProgressBar::new(job.progress.unwrap_or(0.0)).text(job.message.clone()).animate(true);
            ui.add(bar);
        }
        JobState::Done(msg) => {
            ui.add(egui::ProgressBar::new(1.0).text(msg.clone()).fill(OK_COLOR.gamma_multiply(0.7)));
        }
        JobState::Failed(msg) => {
            ui.colored_label(MISFIT_COLOR, format!("Failed: {msg}"));
        }
    }
}
