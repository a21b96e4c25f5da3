//! The windows of the fleet-wide features: the group fit with its plan
//! dialog, Find devices, the variant comparison — and the toasts in the
//! corner. Drawn after the panels, like the fit and settings windows.

use crate::app::App;
use crate::app::app_state::AppState;
use crate::app::command::UiCommand;
use crate::app::compare_panel::{compare_rows, compare_ui};
use crate::app::find_devices_panel::find_devices_ui;
use crate::app::group_fit_panel::group_fit_ui;
use crate::app::style::MISFIT_COLOR;
use egui::RichText;

impl App {
    pub(super) fn group_windows_ui(&mut self, ctx: &egui::Context, commands: &mut Vec<UiCommand>) {
        let center = ctx.content_rect().center();
        let AppState { group_fit, library, find, fleet, compare, selected, toasts, .. } = &mut self.state;
        if let Some(view) = group_fit.as_mut() {
            let mut open = true;
            let card = library.get(view.card_id);
            egui::Window::new("Group fit")
                .open(&mut open)
                .collapsible(false)
                .resizable(false)
                .default_width(560.0)
                .pivot(egui::Align2::CENTER_CENTER)
                .default_pos(center)
                .show(ctx, |ui| group_fit_ui(ui, view, card, commands));
            if !open {
                commands.push(UiCommand::CloseGroupFit);
            }
        }
        if find.open {
            let mut open = true;
            egui::Window::new("Find devices")
                .open(&mut open)
                .collapsible(false)
                .resizable(false)
                .default_width(420.0)
                .pivot(egui::Align2::CENTER_CENTER)
                .default_pos(center)
                .show(ctx, |ui| find_devices_ui(ui, find, fleet, commands));
            find.open = open;
        }
        if let Some(card_id) = *compare {
            let device = selected.as_deref().and_then(|id| fleet.get(id));
            let rows = compare_rows(library, card_id, device);
            let mut open = true;
            egui::Window::new("Compare variants")
                .open(&mut open)
                .collapsible(false)
                .resizable(true)
                .default_width(820.0)
                .pivot(egui::Align2::CENTER_CENTER)
                .default_pos(center)
                .show(ctx, |ui| compare_ui(ui, &rows, device.map(|d| d.device.display_name()), commands));
            if !open {
                commands.push(UiCommand::CloseCompare);
            }
        }
        toasts.expire(self.started.elapsed().as_secs_f64());
        if !toasts.list.is_empty() {
            egui::Area::new(egui::Id::unique("toasts"))
                .anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-12.0, -150.0))
                .order(egui::Order::Foreground)
                .show(ctx, |ui| {
                    for t in &toasts.list {
                        egui::Frame::popup(ui.style()).show(ui, |ui| {
                            ui.set_max_width(420.0);
                            ui.label(RichText::new(format!("⚠ {}", t.message)).color(MISFIT_COLOR));
                        });
                    }
                });
            ctx.request_repaint_after(std::time::Duration::from_secs(1));
        }
    }
}
