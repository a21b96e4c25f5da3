//! The layout: top bar, event log, device list with the detail below it
//! (`detail_window.rs`), library, the central tab, and the fit and settings
//! windows. Each panel
//! draws from the models in `AppState` and pushes [`UiCommand`]s, executed
//! at the end of the frame.

use crate::app::App;
use crate::app::app_state::{AppState, Tab};
use crate::app::charts_tab::{MAX_DEVICE_LINES, charts_tab_ui};
use crate::app::command::UiCommand;
use crate::app::deployments_tab::deployments_tab_ui;
use crate::app::device_list_panel::device_list_ui;
use crate::app::event_log_panel::event_log_ui;
use crate::app::fit_panel::fit_panel_ui;
use crate::app::library_panel::library_ui;
use crate::app::map_tab::map_tab_ui;
use crate::app::settings_panel::settings_ui;
use crate::app::style::level_color;
use edgefleet_fleet::LogLevel;
use egui::{RichText, Ui};

impl App {
    /// Logic, then drawing, then commands: one whole frame (tests, bench).
    pub fn frame_ui(&mut self, ui: &mut Ui) {
        self.logic_step(&ui.ctx().clone());
        self.draw_ui(ui);
    }

    /// Draw every panel, then execute what they asked for.
    pub fn draw_ui(&mut self, ui: &mut Ui) {
        let mut commands = std::mem::take(&mut self.commands);
        egui::Panel::top("top-bar").show(ui, |ui| self.top_bar_ui(ui, &mut commands));
        egui::Panel::bottom("event-log")
            .resizable(true)
            .default_size(130.0)
            .show(ui, |ui| event_log_ui(ui, &self.state.log, &mut commands));
        egui::Panel::left("devices").resizable(true).default_size(430.0).min_size(300.0).show(ui, |ui| {
            // At least this tall once a device is shown: the panel would
            // otherwise keep the height of "Select a device…" and clip it.
            let detail_min = if self.state.selected.is_some() { 260.0 } else { 40.0 };
            if self.state.detail_window_open && self.state.selected.is_some() {
                // The detail is in its window: one line here, the list gets the
                // room (a panel of its own, so the detail's height is kept).
                egui::Panel::bottom("device-detail-elsewhere")
                    .resizable(false)
                    .exact_size(30.0)
                    .show(ui, |ui| self.detail_panel_ui(ui, &mut commands));
            } else {
                egui::Panel::bottom("device-detail").resizable(true).default_size(320.0).min_size(detail_min).show(
                    ui,
                    |ui| {
                        egui::ScrollArea::vertical()
                            .id_salt("detail-scroll")
                            .auto_shrink([false, false])
                            .show(ui, |ui| self.detail_panel_ui(ui, &mut commands));
                    },
                );
            }
            device_list_ui(ui, &mut self.state, &mut commands);
        });
        let busy = self.bg.busy();
        egui::Panel::right("library").resizable(true).default_size(280.0).min_size(220.0).show(ui, |ui| {
            library_ui(ui, &self.state.library, &mut self.state.import_path, busy, &mut commands);
        });
        let now_s = self.now_s();
        let basemap = self.basemap.as_ref();
        egui::CentralPanel::default().show(ui, |ui| match self.state.tab {
            Tab::Map => map_tab_ui(ui, &mut self.state, basemap, &mut commands),
            Tab::Charts => {
                let state = &mut self.state;
                // The focused device first, then the rest of the selection.
                let mut shown: Vec<&str> = state.selected.as_deref().into_iter().collect();
                let mut rest: Vec<&str> = state.selection.iter().filter(|id| !shown.contains(id)).collect();
                rest.sort_unstable();
                shown.extend(rest.into_iter().take(MAX_DEVICE_LINES));
                let selected = state.selection.len().max(usize::from(state.selected.is_some()));
                charts_tab_ui(ui, &state.fleet, &shown, selected, &mut state.chart_window, now_s)
            }
            Tab::Deployments => {
                deployments_tab_ui(ui, &self.rollouts, &self.state.jobs, &self.state.history, &mut commands)
            }
        });
        self.fit_window_ui(ui.ctx(), &mut commands);
        self.settings_window_ui(ui.ctx(), &mut commands);
        self.group_windows_ui(ui.ctx(), &mut commands);
        self.placement_window_ui(ui.ctx(), &mut commands);
        self.detail_window_ui(ui.ctx(), &mut commands);
        self.commands = commands;
        self.execute_commands();
    }

    fn top_bar_ui(&mut self, ui: &mut Ui, commands: &mut Vec<UiCommand>) {
        ui.horizontal(|ui| {
            ui.label(RichText::new("edgefleet").strong().size(16.0));
            if self.demo.is_some() {
                ui.label(
                    RichText::new(" DEMO ")
                        .small()
                        .strong()
                        .background_color(egui::Color32::from_rgb(60, 90, 140))
                        .color(egui::Color32::WHITE),
                );
            }
            ui.separator();
            for tab in Tab::ALL {
                if ui.selectable_label(self.state.tab == tab, tab.label()).clicked() {
                    commands.push(UiCommand::SetTab(tab));
                }
            }
            ui.separator();
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui.button("⚙ Settings").clicked() {
                    self.state.show_settings = !self.state.show_settings;
                }
                if ui.button("🔍 Find devices").clicked() {
                    self.state.find.open = !self.state.find.open;
                }
                if ui.button("📐 Plan placement").clicked() {
                    commands.push(UiCommand::OpenPlacement);
                }
                crate::app::broker_settings_panel::broker_status_ui(ui, self.state.broker_status.as_ref());
                let running = self.state.jobs.running();
                if running > 0 {
                    ui.spinner();
                    ui.label(format!("{running} job(s) running"));
                }
                if let Some((level, msg)) = &self.state.status_line {
                    let mut dismiss = false;
                    if ui.small_button("✖").on_hover_text("Dismiss").clicked() {
                        dismiss = true;
                    }
                    let icon = if *level == LogLevel::Error { "⚠" } else { "ℹ" };
                    ui.add(
                        egui::Label::new(RichText::new(format!("{icon} {msg}")).color(level_color(*level))).truncate(),
                    );
                    if dismiss {
                        self.state.status_line = None;
                    }
                }
            });
        });
    }

    /// The fit panel in a window, with the evaluation data of its model.
    fn fit_window_ui(&mut self, ctx: &egui::Context, commands: &mut Vec<UiCommand>) {
        let AppState { fit: Some(view), library, fleet, jobs, eval_data, .. } = &mut self.state else { return };
        let card = library.get(view.card_id);
        let device_name = fleet.get(&view.device_id).map_or(view.device_id.as_str(), |e| e.device.display_name());
        let saved_eval = card.and_then(|c| eval_data.get(&c.name));
        let mut eval_text = saved_eval.cloned().unwrap_or_default();
        let mut open = true;
        egui::Window::new("Model fit")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .default_width(560.0)
            .pivot(egui::Align2::CENTER_CENTER)
            .default_pos(ctx.content_rect().center())
            .show(ctx, |ui| fit_panel_ui(ui, view, card, device_name, jobs, &mut eval_text, commands));
        if let Some(card) = card
            && saved_eval.map_or("", String::as_str) != eval_text
        {
            if eval_text.trim().is_empty() {
                eval_data.remove(&card.name);
            } else {
                eval_data.insert(card.name.clone(), eval_text);
            }
        }
        if !open {
            commands.push(UiCommand::CloseFit);
        }
    }

    fn settings_window_ui(&mut self, ctx: &egui::Context, commands: &mut Vec<UiCommand>) {
        if !self.state.show_settings {
            return;
        }
        let mut open = true;
        let demo = self.demo.is_some();
        let active = &self.config.engine.interfaces;
        egui::Window::new("Settings")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| settings_ui(ui, &mut self.state, active, demo, commands));
        self.state.show_settings = open;
    }
}
