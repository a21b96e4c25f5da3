//! The Deployments tab: each rollout started from the app with its
//! per-device steps (state, bytes, reason; a failed row in red), the
//! devices left out, and Pause / Resume / Abort / Roll back; then every job
//! of the session and the deployment history stored in the registry.

use crate::app::command::UiCommand;
use crate::app::jobs::Jobs;
use crate::app::rollouts::{Phase, RolloutView, Rollouts, readable_detail};
use crate::app::style::{MISFIT_COLOR, OK_COLOR, job_progress_ui};
use edgefleet_core::human_bytes;
use edgefleet_fleet::StepState;
use edgefleet_store::DeploymentRecord;
use egui::{RichText, Ui};

/// Step rows shown per rollout before scrolling inside it.
const STEP_ROWS_SHOWN: usize = 12;
const STEP_ROW_HEIGHT: f32 = 20.0;

pub fn deployments_tab_ui(
    ui: &mut Ui,
    rollouts: &Rollouts,
    jobs: &Jobs,
    history: &[DeploymentRecord],
    commands: &mut Vec<UiCommand>,
) {
    ui.heading("Deployments and jobs");
    ui.weak("Select devices, drag a model onto the selection and press Roll out; progress shows here.");
    ui.add_space(6.0);
    egui::ScrollArea::vertical().id_salt("deployments").auto_shrink([false, false]).show(ui, |ui| {
        for r in rollouts.list.iter().rev() {
            egui::Frame::group(ui.style()).inner_margin(8.0).show(ui, |ui| {
                ui.set_width(ui.available_width().min(900.0));
                rollout_ui(ui, r, commands);
            });
            ui.add_space(6.0);
        }
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
            history_ui(ui, history);
        }
    });
}

fn rollout_ui(ui: &mut Ui, r: &RolloutView, commands: &mut Vec<UiCommand>) {
    let (done, bad, going) = r.counts();
    ui.horizontal(|ui| {
        ui.label(RichText::new(format!("{} v{}", r.name, r.version)).strong());
        ui.label(format!("→ {} device(s): {done} done · {bad} failed · {going} to go", r.targets.len()));
        if let Some(id) = r.deployment_id() {
            ui.weak(format!("deployment {id}"));
        }
    });
    ui.horizontal(|ui| {
        let (text, color) = match &r.phase {
            Phase::Running => ("running".to_owned(), ui.visuals().text_color()),
            Phase::Paused => ("paused".to_owned(), ui.visuals().warn_fg_color),
            Phase::Aborting => ("aborting: rolling back what it switched".to_owned(), ui.visuals().warn_fg_color),
            Phase::RollingBack => ("rolling back".to_owned(), ui.visuals().warn_fg_color),
            Phase::Ended { ok: true, message } => (message.clone(), OK_COLOR),
            Phase::Ended { ok: false, message } => (message.clone(), MISFIT_COLOR),
        };
        ui.label(RichText::new(text).color(color));
    });
    ui.horizontal(|ui| match r.phase {
        Phase::Running => {
            if ui.button("⏸ Pause").clicked() {
                commands.push(UiCommand::PauseRollout(r.key));
            }
            if ui.button("⏹ Abort").on_hover_text("Stop and put every switched device back").clicked() {
                commands.push(UiCommand::AbortRollout(r.key));
            }
        }
        Phase::Paused => {
            if ui.button("▶ Resume").clicked() {
                commands.push(UiCommand::ResumeRollout(r.key));
            }
            if ui.button("⏹ Abort").clicked() {
                commands.push(UiCommand::AbortRollout(r.key));
            }
        }
        Phase::Ended { .. } => {
            let can = done > 0;
            let b = ui.add_enabled(can, egui::Button::new("↩ Roll back"));
            if b.on_hover_text("Put the devices on the version they ran before").clicked() {
                commands.push(UiCommand::RollBackRollout(r.key));
            }
        }
        Phase::Aborting | Phase::RollingBack => {
            ui.spinner();
        }
    });
    if !r.excluded.is_empty() {
        ui.collapsing(format!("{} device(s) excluded: the model does not fit", r.excluded.len()), |ui| {
            for m in &r.excluded {
                ui.label(RichText::new(format!("{}: {}", m.name, m.reason)).color(MISFIT_COLOR));
            }
        });
    }
    steps_ui(ui, r);
}

/// One row per target, virtualised (a rollout may have thousands).
fn steps_ui(ui: &mut Ui, r: &RolloutView) {
    let height = STEP_ROW_HEIGHT * r.targets.len().min(STEP_ROWS_SHOWN) as f32;
    egui::ScrollArea::vertical().id_salt(("steps", r.key)).max_height(height).show_rows(
        ui,
        STEP_ROW_HEIGHT,
        r.targets.len(),
        |ui, range| {
            for dev in &r.targets[range] {
                let step = r.step(dev);
                ui.horizontal(|ui| {
                    ui.set_height(STEP_ROW_HEIGHT);
                    let (state, color) = match &step {
                        None => ("pending".to_owned(), ui.visuals().weak_text_color()),
                        Some(s) => (s.state.to_string(), step_color(ui, s.state)),
                    };
                    let name = r.names.get(dev).map_or(dev.as_str(), String::as_str);
                    cell_ui(ui, 190.0, name, color, Some(dev));
                    cell_ui(ui, 90.0, &state, color, None);
                    let bytes = step
                        .as_ref()
                        .filter(|s| s.total_bytes > 0)
                        .map(|s| format!("{} / {}", human_bytes(s.bytes_sent), human_bytes(s.total_bytes)))
                        .unwrap_or_default();
                    cell_ui(ui, 110.0, &bytes, ui.visuals().weak_text_color(), None);
                    let note = step.as_ref().and_then(|s| s.detail.as_deref()).map(readable_detail).unwrap_or_default();
                    if !note.is_empty() {
                        let width = ui.available_width();
                        cell_ui(ui, width, &note, color, Some(&note));
                    }
                });
            }
        },
    );
}

/// Text in a fixed-width cell, left-aligned, cut with "…"; `hover` shows
/// in full on hover.
fn cell_ui(ui: &mut Ui, width: f32, text: &str, color: egui::Color32, hover: Option<&str>) {
    let (rect, resp) = ui.allocate_exact_size(egui::vec2(width, STEP_ROW_HEIGHT), egui::Sense::hover());
    // Screen readers (and the GUI tests) read the cell's text.
    resp.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, text));
    let mut job = egui::text::LayoutJob::simple_singleline(text.to_owned(), egui::FontId::proportional(13.0), color);
    job.wrap = egui::text::TextWrapping::truncate_at_width(width - 6.0);
    let galley = ui.ctx().fonts_mut(|f| f.layout_job(job));
    let pos = egui::pos2(rect.left(), rect.center().y - galley.size().y / 2.0);
    ui.painter().galley(pos, galley, color);
    if let Some(h) = hover {
        resp.on_hover_text(h);
    }
}

fn step_color(ui: &Ui, state: StepState) -> egui::Color32 {
    match state {
        StepState::Done => OK_COLOR,
        StepState::Failed | StepState::RolledBack => MISFIT_COLOR,
        _ => ui.visuals().text_color(),
    }
}

fn history_ui(ui: &mut Ui, history: &[DeploymentRecord]) {
    ui.label(RichText::new("History (registry)").strong());
    egui::Grid::new("deploy-history").striped(true).num_columns(4).spacing([16.0, 3.0]).show(ui, |ui| {
        for h in ["#", "Model", "State", "Devices"] {
            ui.label(RichText::new(h).strong());
        }
        ui.end_row();
        for d in history {
            ui.label(format!("{}", d.id));
            match &d.origin {
                Some(console) => ui.label(format!("{} v{} · by console {console}", d.model_name, d.model_version)),
                None => ui.label(format!("{} v{}", d.model_name, d.model_version)),
            };
            ui.label(match &d.detail {
                Some(detail) => format!("{} ({})", d.state, readable_detail(detail)),
                None => d.state.clone(),
            });
            let shown = 6;
            let mut steps: Vec<String> = d
                .steps
                .iter()
                .take(shown)
                .map(|s| match s.detail.as_deref().map(readable_detail).filter(|n| !n.is_empty()) {
                    Some(note) => format!("{}: {} ({note})", s.device_id, s.state),
                    None => format!("{}: {}", s.device_id, s.state),
                })
                .collect();
            if d.steps.len() > shown {
                steps.push(format!("and {} more", d.steps.len() - shown));
            }
            ui.label(steps.join(", "));
            ui.end_row();
        }
    });
}
