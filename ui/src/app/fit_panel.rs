//! The fit panel: opens when a model card is dropped on a device. Shows
//! compatible or not with every reason, the largest batch that fits, and
//! latency / throughput / energy / memory per batch size (ranges), the
//! evaluation data Optimize checks accuracy on, the Optimize and Deploy
//! buttons and the progress of those jobs.

use crate::app::command::UiCommand;
use crate::app::fit_view::FitView;
use crate::app::jobs::Jobs;
use crate::app::library::ModelCard;
use crate::app::style::{MISFIT_COLOR, OK_COLOR, job_progress_ui};
use egui::{RichText, Ui};

/// The panel's contents (the app puts them in a window).
pub fn fit_panel_ui(
    ui: &mut Ui,
    view: &FitView,
    card: Option<&ModelCard>,
    device_name: &str,
    jobs: &Jobs,
    eval_data: &mut String,
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
    if has_file {
        eval_data_ui(ui, eval_data);
    }
    let has_eval_data = !eval_data.trim().is_empty();
    ui.horizontal(|ui| {
        let opt = ui.add_enabled(has_file && has_eval_data, egui::Button::new("⚙ Optimize for this device"));
        let opt = if has_file {
            opt.on_disabled_hover_text("Give evaluation data first: a variant must keep the model's accuracy")
        } else {
            opt.on_disabled_hover_text("A profile-only card has no file to optimize")
        };
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
    for id in [view.optimize_job, view.deploy_job].into_iter().flatten() {
        if let Some(job) = jobs.get(id) {
            job_progress_ui(ui, job);
        }
    }
}

/// The evaluation data Optimize checks a variant's accuracy on (remembered
/// per model).
fn eval_data_ui(ui: &mut Ui, eval_data: &mut String) {
    ui.horizontal(|ui| {
        ui.label("Evaluation data");
        ui.add(
            egui::TextEdit::singleline(eval_data)
                .hint_text("/path/to/data.csv")
                .desired_width(ui.available_width().min(360.0)),
        )
        .on_hover_text("CSV, one sample a line: the input features, then the integer label");
    });
    if eval_data.trim().is_empty() {
        ui.label(
            RichText::new(
                "No evaluation data for this model: Optimize needs labelled samples to check that a variant \
                 keeps its accuracy.",
            )
            .small()
            .weak(),
        );
    }
    ui.add_space(4.0);
}
