//! The "Plan placement" window: choose library models (with priorities and
//! request rates), the devices (all, or the selection), the energy price
//! and each device's cost per hour, ask for a plan, read each
//! choice with its reason and cost and each model left out with why, and
//! "Deploy this plan" — the rollouts `edgefleet deploy` runs.

use crate::app::App;
use crate::app::app_state::AppState;
use crate::app::command::UiCommand;
use crate::app::jobs::Jobs;
use crate::app::library::Library;
use crate::app::placement_view::{DeviceScope, PlacementView};
use crate::app::style::{MISFIT_COLOR, OK_COLOR, job_progress_ui};
use egui::{RichText, Ui};

impl App {
    /// The "Plan placement" window, when open.
    pub(super) fn placement_window_ui(&mut self, ctx: &egui::Context, commands: &mut Vec<UiCommand>) {
        let AppState { placement: Some(view), library, selection, jobs, fleet, .. } = &mut self.state else { return };
        let device_ids: Vec<String> = fleet.entries().iter().map(|e| e.id().to_owned()).collect();
        let mut open = true;
        egui::Window::new("Plan placement").open(&mut open).collapsible(false).default_width(640.0).show(ctx, |ui| {
            egui::ScrollArea::vertical().max_height(560.0).show(ui, |ui| {
                placement_window_contents_ui(ui, view, library, selection.len(), &device_ids, jobs, commands)
            })
        });
        if !open {
            commands.push(UiCommand::ClosePlacement);
        }
    }
}

/// The window's contents. `selected` is how many devices are selected;
/// `device_ids` the fleet's devices (for their costs).
pub fn placement_window_contents_ui(
    ui: &mut Ui,
    view: &mut PlacementView,
    library: &Library,
    selected: usize,
    device_ids: &[String],
    jobs: &Jobs,
    commands: &mut Vec<UiCommand>,
) {
    ui.label(RichText::new("Models").strong());
    // A plan is deployed, so only models with a file (and a profile to
    // estimate with) can be placed.
    let cards: Vec<_> =
        library.ordered().into_iter().filter(|(_, c)| c.profile.is_some() && !c.is_profile_only()).collect();
    if cards.is_empty() {
        ui.weak("The library has no model file yet: import one first.");
    }
    egui::Grid::new("placement-models").num_columns(3).spacing([12.0, 2.0]).show(ui, |ui| {
        for (depth, card) in cards {
            let choice = view.choice_mut(card.id);
            ui.horizontal(|ui| {
                ui.add_space(depth as f32 * 12.0);
                ui.checkbox(&mut choice.chosen, card.title());
            });
            ui.add_enabled(
                choice.chosen,
                egui::DragValue::new(&mut choice.priority).range(0.0..=1000.0).speed(0.1).prefix("priority "),
            );
            ui.add_enabled(
                choice.chosen,
                egui::DragValue::new(&mut choice.rate_per_s).range(0.0..=100_000.0).speed(0.5).suffix(" req/s"),
            )
            .on_hover_text("Requests per second it will serve: its device must stay below 100% busy");
            ui.end_row();
        }
    });
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        ui.label("Devices");
        ui.radio_value(&mut view.scope, DeviceScope::All, "all");
        let sel = ui.add_enabled(
            selected > 0,
            egui::RadioButton::new(view.scope == DeviceScope::Selection, format!("the {selected} selected")),
        );
        if sel.clicked() {
            view.scope = DeviceScope::Selection;
        }
        if selected == 0 && view.scope == DeviceScope::Selection {
            view.scope = DeviceScope::All;
        }
    });
    ui.horizontal(|ui| {
        ui.label("Energy price");
        ui.add(egui::DragValue::new(&mut view.energy_price_per_kwh).range(0.0..=1000.0).speed(0.01).suffix(" per kWh"));
    });
    ui.collapsing("Device costs per hour", |ui| {
        ui.weak("A device's own cost per hour of hosting a model (1 unit counts as 1 ms of latency at priority 1).");
        egui::Grid::new("placement-device-costs").num_columns(2).show(ui, |ui| {
            for id in device_ids {
                ui.label(id);
                let cost = view.device_cost_per_hour.entry(id.clone()).or_insert(0.0);
                ui.add(egui::DragValue::new(cost).range(0.0..=1_000_000.0).speed(0.1).suffix(" /h"));
                ui.end_row();
            }
        });
    });
    let chosen = view.chosen();
    ui.horizontal(|ui| {
        let plan = ui.add_enabled(!chosen.is_empty(), egui::Button::new("Plan"));
        if plan.clicked() {
            commands.push(UiCommand::PlanPlacement {
                models: chosen.clone(),
                selection_only: view.scope == DeviceScope::Selection,
            });
        }
        let can_deploy = view.plan.as_ref().is_some_and(|p| !p.choices.is_empty());
        if ui.add_enabled(can_deploy, egui::Button::new("⬆ Deploy this plan")).clicked() {
            commands.push(UiCommand::DeployPlacement);
        }
        if ui.button("Close").clicked() {
            commands.push(UiCommand::ClosePlacement);
        }
    });
    if let Some(e) = &view.error {
        ui.label(RichText::new(e).color(MISFIT_COLOR));
    }
    if let Some(plan) = &view.plan {
        ui.separator();
        plan_ui(ui, plan);
    }
    if let Some(job) = view.deploy_job.and_then(|id| jobs.get(id)) {
        job_progress_ui(ui, job);
    }
}

/// The plan: cost and how it was found, each choice, the unplaced, memory.
fn plan_ui(ui: &mut Ui, plan: &edgefleet_fleet::PlacementPlan) {
    ui.label(
        RichText::new(format!(
            "Total cost {:.3} (Σ queued latency ms × priority + energy and device cost per hour)",
            plan.total_cost
        ))
        .strong(),
    );
    let check = match (plan.exact_cost, plan.heuristic_matches_exact) {
        (Some(_), Some(true)) => "The heuristic found the optimum (checked by exact search).".to_owned(),
        (Some(exact), _) => format!(
            "The heuristic found {:.3}; the exact search {exact:.3}: the exact plan is shown.",
            plan.heuristic_cost
        ),
        (None, _) => "Too large for the exact search: the heuristic's plan.".to_owned(),
    };
    ui.weak(check);
    egui::Grid::new("placement-plan").striped(true).num_columns(4).spacing([12.0, 2.0]).show(ui, |ui| {
        for h in ["Model", "Device", "Cost", "Why"] {
            ui.label(RichText::new(h).strong());
        }
        ui.end_row();
        for c in &plan.choices {
            ui.label(format!("{} v{}", c.model, c.version));
            ui.label(&c.device_id);
            let cal = if c.calibrated { "calibrated" } else { "estimated" };
            ui.label(format!(
                "{:.3} ({:.3} ms {cal}, {:.3} ms queued at {:.1} req/s, {:.4}/h)",
                c.cost, c.latency_ms, c.queued_latency_ms, c.rate_per_s, c.cost_per_hour
            ));
            ui.label(RichText::new(&c.reason).color(OK_COLOR));
            ui.end_row();
        }
        for u in &plan.unplaced {
            ui.label(&u.model);
            ui.label("—");
            ui.label("not placed");
            ui.label(RichText::new(&u.reason).color(MISFIT_COLOR));
            ui.end_row();
        }
    });
    for d in plan.devices.iter().filter(|d| d.used_mb > 0.0) {
        ui.weak(format!(
            "{}: {:.1} of {:.1} MB used, {:.0}% busy",
            d.device_id,
            d.used_mb,
            d.capacity_mb,
            d.utilisation * 100.0
        ));
    }
}
