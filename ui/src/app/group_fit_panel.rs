//! The group fit panel: a model dropped on a selection. The summary (how
//! many fit, the smallest max batch, the worst latency, every misfit with
//! its reason), then the plan dialog — canary count, parallel, failure
//! threshold, the misfits listed as excluded — and Roll out.

use crate::app::command::UiCommand;
use crate::app::group_fit_view::GroupFitView;
use crate::app::library::ModelCard;
use crate::app::style::{MISFIT_COLOR, OK_COLOR};
use egui::{RichText, Ui};

/// Misfits listed before "and N more".
const MISFITS_SHOWN: usize = 12;

pub fn group_fit_ui(ui: &mut Ui, view: &mut GroupFitView, card: Option<&ModelCard>, commands: &mut Vec<UiCommand>) {
    let title = card.map_or_else(|| "model".to_owned(), ModelCard::title);
    ui.label(RichText::new(format!("{title} → {} selected device(s)", view.total())).strong());
    let color = if view.misfits.is_empty() { OK_COLOR } else { MISFIT_COLOR };
    ui.label(RichText::new(format!("Fits {} of {}", view.fits.len(), view.total())).size(18.0).strong().color(color));
    if let Some(b) = view.min_max_batch {
        ui.label(format!("Smallest max batch: {b}"));
    }
    if let Some((ms, dev)) = &view.worst_latency_ms {
        let how = if view.worst_is_calibrated { ", calibrated" } else { "" };
        ui.label(format!("Worst latency at batch 1: up to {ms:.2} ms ({dev}{how})"));
    }
    if view.calibrated > 0 {
        ui.weak(format!(
            "Estimates calibrated by the benchmarks kept for {} of {} device(s)",
            view.calibrated,
            view.total()
        ));
    }
    if !view.misfits.is_empty() {
        ui.add_space(4.0);
        ui.label(RichText::new("Does not fit (left out of a rollout)").strong());
        for m in view.misfits.iter().take(MISFITS_SHOWN) {
            ui.horizontal_wrapped(|ui| {
                ui.label(RichText::new("✖").color(MISFIT_COLOR));
                ui.label(RichText::new(&m.name).strong());
                ui.label(&m.reason);
            });
        }
        if view.misfits.len() > MISFITS_SHOWN {
            ui.weak(format!("and {} more", view.misfits.len() - MISFITS_SHOWN));
        }
    }
    ui.add_space(6.0);
    let has_file = card.is_some_and(|c| !c.is_profile_only());
    if view.planning {
        plan_ui(ui, view, commands);
        return;
    }
    ui.horizontal(|ui| {
        let can = has_file && !view.fits.is_empty();
        let r = ui.add_enabled(can, egui::Button::new("⬆ Roll out…"));
        let r = if has_file {
            r.on_disabled_hover_text("The model fits none of them")
        } else {
            r.on_disabled_hover_text("A profile-only card has no file to roll out")
        };
        if r.clicked() {
            view.planning = true;
        }
        if ui.button("Close").clicked() {
            commands.push(UiCommand::CloseGroupFit);
        }
    });
}

/// The plan: canaries first, then `parallel` at a time; more than
/// `max_failures` failed devices stop the rollout and roll it back.
fn plan_ui(ui: &mut Ui, view: &mut GroupFitView, commands: &mut Vec<UiCommand>) {
    ui.label(RichText::new("Rollout plan").strong());
    let n = view.fits.len();
    egui::Grid::new("rollout-plan").num_columns(2).spacing([12.0, 6.0]).show(ui, |ui| {
        ui.label("Canary devices");
        ui.add(egui::DragValue::new(&mut view.plan.canary).range(0..=n))
            .on_hover_text("Rolled out first; a failure stops the rollout");
        ui.end_row();
        ui.label("In parallel");
        ui.add(egui::DragValue::new(&mut view.plan.parallel).range(1..=64));
        ui.end_row();
        ui.label("Failures tolerated");
        ui.add(egui::DragValue::new(&mut view.plan.max_failures).range(0..=n))
            .on_hover_text("One more failed device stops the rollout and rolls back every device it switched");
        ui.end_row();
    });
    ui.weak(format!(
        "{n} device(s): {} canary, then {} at a time.{}",
        view.plan.canary.min(n),
        view.plan.parallel,
        if view.misfits.is_empty() {
            String::new()
        } else {
            format!(" {} excluded (listed above).", view.misfits.len())
        }
    ));
    ui.horizontal(|ui| {
        if ui.button(format!("⬆ Roll out to {n}")).clicked() {
            commands.push(UiCommand::RollOut {
                card_id: view.card_id,
                targets: view.fits.clone(),
                plan: view.plan.clone(),
            });
        }
        if ui.button("Back").clicked() {
            view.planning = false;
        }
    });
}
