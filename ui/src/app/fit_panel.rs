//! The fit panel: opens when a model card is dropped on a device. Shows
//! compatible or not with every reason, the largest batch that fits, and
//! latency / throughput / energy / memory per batch size (ranges) — the
//! plain estimate, the calibrated one and what the device measured (a
//! simulated device's figure is labelled synthetic) — where the calibration
//! came from, the total latency at the device's state and the energy and
//! battery life at a request rate, the evaluation data Optimize checks
//! accuracy on, the Measure, Optimize and Deploy buttons and their jobs.

use crate::app::command::UiCommand;
use crate::app::fit_view::FitView;
use crate::app::jobs::Jobs;
use crate::app::library::ModelCard;
use crate::app::style::{MISFIT_COLOR, OK_COLOR, job_progress_ui};
use edgefleet_fleet::JobState;
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
        // The estimate and any measurement are for the runtime the device
        // serves with (tract when an older agent does not say).
        let runtime = view.device.runtime.as_deref().unwrap_or("tract");
        ui.weak(format!("· runs {runtime}")).on_hover_text(
            "The inference runtime this device serves with: its op set decides compatibility, and Measure and \
             Optimize time the model on it",
        );
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
    ui.label(RichText::new(view.calibration_source()).italics());
    if !fit.per_batch.is_empty() {
        ui.add_space(6.0);
        per_batch_ui(ui, view);
    }
    if fit.compatible {
        ui.add_space(6.0);
        operating_point_ui(ui, view, commands);
    }
    ui.add_space(8.0);
    let has_file = card.is_some_and(|c| !c.is_profile_only());
    if has_file {
        eval_data_ui(ui, eval_data);
    }
    let has_eval_data = !eval_data.trim().is_empty();
    ui.horizontal(|ui| {
        let can_measure = has_file && fit.compatible;
        let measure = ui.add_enabled(can_measure, egui::Button::new("📏 Measure on device"));
        let measure = if can_measure {
            measure.on_hover_text(
                "Upload the model as an inactive version (unless installed), benchmark it at batch 1 up to the \
                 largest that fits, keep the results and calibrate every estimate for this device",
            )
        } else {
            measure.on_disabled_hover_text("Only a model file that fits can be measured")
        };
        if measure.clicked() {
            commands.push(UiCommand::MeasureOnDevice { card_id: view.card_id, device_id: view.device_id.clone() });
        }
        // The objective: smallest that keeps the accuracy limit, or fastest.
        let fastest = view.optimize_fastest;
        if ui
            .selectable_label(!fastest, "Smallest")
            .on_hover_text("Optimize for the smallest variant that keeps the accuracy limit")
            .clicked()
            && fastest
        {
            commands.push(UiCommand::SetOptimizeFastest(false));
        }
        if ui
            .selectable_label(fastest, "Fastest")
            .on_hover_text("Optimize for the fastest variant on this device that keeps the accuracy limit")
            .clicked()
            && !fastest
        {
            commands.push(UiCommand::SetOptimizeFastest(true));
        }
        let opt = ui.add_enabled(has_file && has_eval_data, egui::Button::new("⚙ Optimize for this device"));
        let opt = if has_file {
            opt.on_disabled_hover_text("Give evaluation data first: a variant must keep the model's accuracy")
        } else {
            opt.on_disabled_hover_text("A profile-only card has no file to optimize")
        };
        if opt.clicked() {
            commands.push(UiCommand::Optimize { card_id: view.card_id, device_id: view.device_id.clone() });
        }
        let distill = ui.add_enabled(has_file && has_eval_data, egui::Button::new("🎓 Distill for this device"));
        let distill = if has_file && has_eval_data {
            distill.on_hover_text(
                "Train small students on the teacher's soft labels (depth and width searched under a time \
                 budget) and keep the smallest that fits this device and agrees with the teacher on ≥ 95% of \
                 held-out rows",
            )
        } else {
            distill.on_disabled_hover_text("Give evaluation data first: the student learns on its rows")
        };
        if distill.clicked() {
            commands.push(UiCommand::Distill { card_id: view.card_id, device_id: view.device_id.clone() });
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
    for id in [view.measure_job, view.optimize_job, view.distill_job, view.deploy_job].into_iter().flatten() {
        if let Some(job) = jobs.get(id) {
            job_progress_ui(ui, job);
            if Some(id) == view.distill_job
                && job.state == JobState::Running
                && ui.button("Cancel distillation").clicked()
            {
                commands.push(UiCommand::CancelJob(id));
            }
        }
    }
}

/// Per batch: the plain estimate, the calibrated one (when there is a
/// calibration), the measured p50 ("synthetic" from a simulated device),
/// throughput, energy and memory.
fn per_batch_ui(ui: &mut Ui, view: &FitView) {
    let calibrated = view.calibration.is_some();
    let measured_title = if view.synthetic() { "Synthetic p50 (ms)" } else { "Measured p50 (ms)" };
    let mut headers = vec!["Batch", "Estimated (ms)"];
    if calibrated {
        headers.push("Calibrated (ms)");
    }
    headers.extend([measured_title, "Throughput (/s)", "Energy (mJ/inf)", "Memory (MB)"]);
    let peaks = !view.measured_peak_mb.is_empty();
    if peaks {
        headers.push(match (view.synthetic(), view.measured_memory_source) {
            (true, _) => "Synthetic peak (MB)",
            (false, Some("heap")) => "Measured heap peak (MB)",
            (false, Some(_)) => "Measured RSS peak (MB)",
            (false, None) => "Measured peak (MB)",
        });
    }
    egui::Grid::new("fit-per-batch").striped(true).num_columns(headers.len()).spacing([14.0, 2.0]).show(ui, |ui| {
        for h in &headers {
            ui.label(RichText::new(*h).strong());
        }
        ui.end_row();
        for b in &view.fit.per_batch {
            ui.label(b.batch.to_string());
            match view.estimated_at(b.batch) {
                Some(r) => ui.label(format!("{:.3} – {:.3}", r.low, r.high)),
                None => ui.label("–"),
            };
            if calibrated {
                ui.label(format!("{:.3} – {:.3}", b.latency_ms.low, b.latency_ms.high));
            }
            match b.measured_latency_ms {
                Some(m) => ui.label(RichText::new(format!("{m:.3}")).strong()),
                None => ui.label("–"),
            };
            ui.label(format!("{:.0} – {:.0}", b.throughput_per_s.low, b.throughput_per_s.high));
            ui.label(format!("{:.2} – {:.2}", b.energy_mj.low, b.energy_mj.high));
            ui.label(format!("{:.1}", b.memory_mb));
            if peaks {
                match view.measured_peak_mb.get(&b.batch) {
                    Some(mb) => ui.label(RichText::new(format!("{mb:.1}")).strong()),
                    None => ui.label("–"),
                };
            }
            ui.end_row();
        }
    });
}

/// Total latency at the device's state (network + compute + queue), and
/// energy and battery life at a request rate the user picks.
fn operating_point_ui(ui: &mut Ui, view: &FitView, commands: &mut Vec<UiCommand>) {
    ui.horizontal(|ui| {
        ui.label("Request rate");
        let mut rate = view.request_rate_per_s;
        let edit = ui.add(egui::DragValue::new(&mut rate).range(0.0..=100_000.0).speed(0.5).suffix(" req/s"));
        if edit.changed() && rate != view.request_rate_per_s {
            commands.push(UiCommand::SetFitRequestRate(rate));
        }
    });
    match view.operating_point() {
        Ok(op) => {
            let color = if op.total_ms.is_some() { OK_COLOR } else { MISFIT_COLOR };
            ui.label(RichText::new(op.latency_line()).color(color));
            match op.energy_line() {
                Some(line) => ui.label(line),
                None => ui.weak("Energy per inference: pick a request rate above 0"),
            };
            if view.device.battery_capacity_mah.is_none() {
                ui.weak("No battery: battery life does not apply");
            }
        }
        Err(e) => {
            ui.label(RichText::new(format!("Total latency: {e}")).color(MISFIT_COLOR));
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
