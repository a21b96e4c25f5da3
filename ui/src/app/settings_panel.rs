//! Settings (a window from the top bar): theme, telemetry poll interval,
//! mDNS interfaces and the MQTT broker — applied to the running engine at
//! once — and adding a device by address.

use crate::app::app_state::{AppState, Theme};
use crate::app::command::UiCommand;
use egui::{RichText, Ui};

/// `active_interfaces` are the ones the engine browses now; a demo keeps
/// to loopback, so its interfaces cannot be changed.
pub fn settings_ui(
    ui: &mut Ui,
    state: &mut AppState,
    active_interfaces: &[String],
    demo: bool,
    commands: &mut Vec<UiCommand>,
) {
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
            if demo {
                ui.weak("lo: a demo never leaves loopback.");
            } else {
                interfaces_ui(ui, state, commands);
            }
            let now = if active_interfaces.is_empty() { "all".to_owned() } else { active_interfaces.join(", ") };
            ui.weak(format!("Browsing now: {now}."));
        });
        ui.end_row();

        crate::app::broker_settings_panel::broker_settings_ui(ui, state, demo, commands);

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

/// The interfaces, comma-separated; applied when the field loses focus (or
/// on Enter), not on every keystroke, so discovery restarts once.
fn interfaces_ui(ui: &mut Ui, state: &mut AppState, commands: &mut Vec<UiCommand>) {
    let AppState { interfaces, interfaces_edit, .. } = state;
    let text = interfaces_edit.get_or_insert_with(|| interfaces.join(", "));
    let r = ui.add(egui::TextEdit::singleline(text).hint_text("all"));
    if r.lost_focus() {
        let chosen = parse_interfaces(text);
        if chosen != *interfaces {
            *interfaces = chosen.clone();
            commands.push(UiCommand::SetInterfaces { interfaces: chosen });
        }
        *interfaces_edit = None;
    } else if !r.has_focus() {
        *interfaces_edit = None;
    }
}

/// `"eth0, wlan0 ,"` → `["eth0", "wlan0"]`.
fn parse_interfaces(text: &str) -> Vec<String> {
    text.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_parse_from_a_comma_list() {
        assert_eq!(parse_interfaces("eth0, wlan0 ,"), ["eth0", "wlan0"]);
        assert!(parse_interfaces(" , ").is_empty());
    }
}
