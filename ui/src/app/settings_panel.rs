//! Settings (a window from the top bar): theme, telemetry poll interval,
//! mDNS interfaces for the next start, and adding a device by address.

use crate::app::app_state::{AppState, Theme};
use crate::app::command::UiCommand;
use egui::{RichText, Ui};

pub fn settings_ui(ui: &mut Ui, state: &mut AppState, active_interfaces: &[String], commands: &mut Vec<UiCommand>) {
    egui::Grid::new("settings").num_columns(2).spacing([12.0, 8.0]).show(ui, |ui| {
        ui.label("Theme");
        ui.horizontal(|ui| {
            for (t, label) in [(Theme::Dark, "Dark"), (Theme::Light, "Light")] {
                if ui.selectable_label(state.theme == t, label).clicked() && state.theme != t {
                    commands.push(UiCommand::SetTheme(t));
                }
            }
        });
        ui.end_row();

        ui.label("Poll interval");
        ui.horizontal(|ui| {
            let r =
                ui.add(egui::DragValue::new(&mut state.poll_interval_ms).range(200..=60_000).suffix(" ms").speed(50));
            if r.drag_stopped() || r.lost_focus() {
                commands.push(UiCommand::SetPollInterval { ms: state.poll_interval_ms });
            }
        });
        ui.end_row();

        ui.label("mDNS interfaces");
        ui.vertical(|ui| {
            let mut text = state.interfaces.join(", ");
            if ui.add(egui::TextEdit::singleline(&mut text).hint_text("all")).changed() {
                state.interfaces = text.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
            }
            let now = if active_interfaces.is_empty() { "all".to_owned() } else { active_interfaces.join(", ") };
            ui.weak(format!("Now: {now}. Changes apply at the next start."));
        });
        ui.end_row();

        ui.label("Add device");
        ui.horizontal(|ui| {
            ui.add(egui::TextEdit::singleline(&mut state.add_device_addr).hint_text("host:port").desired_width(160.0));
            if ui.button("Add").clicked() && !state.add_device_addr.trim().is_empty() {
                commands.push(UiCommand::AddDevice { addr: state.add_device_addr.trim().to_owned() });
                state.add_device_addr.clear();
            }
        });
        ui.end_row();
    });
    ui.add_space(6.0);
    ui.label(RichText::new("Devices where multicast is blocked can be added by address.").small().weak());
}
