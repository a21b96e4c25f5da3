//! The broker rows of Settings (applied live: the engine drops its broker
//! link and starts a new one) and the broker's status in the top bar
//! ("broker: connected", "connecting", "down: …; retry in N s",
//! "refused: bad credentials …").

use crate::app::app_state::AppState;
use crate::app::broker_settings::BrokerSettings;
use crate::app::command::UiCommand;
use edgefleet_fleet::broker_link::BrokerStatus;
use egui::{Color32, RichText, Ui};

/// The Settings rows for the broker (inside the settings grid).
pub fn broker_settings_ui(ui: &mut Ui, state: &mut AppState, demo: bool, commands: &mut Vec<UiCommand>) {
    ui.label("MQTT broker");
    ui.vertical(|ui| {
        if demo {
            ui.weak("A demo finds its agents on loopback only.");
            return;
        }
        let edit = state.broker_edit.get_or_insert_with(|| state.broker.clone());
        egui::Grid::new("broker-fields").num_columns(2).show(ui, |ui| {
            for (label, text, hint) in [
                ("URL", &mut edit.url, "mqtt://host:1883 (empty: none)"),
                ("Fleet", &mut edit.fleet_name, "fleet name"),
                ("User", &mut edit.user, "optional"),
                ("Password file", &mut edit.password_file, "path to a file"),
                ("CA file", &mut edit.ca_file, "mqtts://: the broker's CA (PEM)"),
                ("Client certificate", &mut edit.cert_file, "optional (PEM)"),
                ("Client key", &mut edit.key_file, "with the certificate (PEM)"),
            ] {
                ui.label(label);
                ui.add(egui::TextEdit::singleline(text).hint_text(hint).desired_width(220.0));
                ui.end_row();
            }
        });
        ui.horizontal(|ui| {
            let changed = *edit != state.broker;
            if ui.add_enabled(changed, egui::Button::new("Apply")).clicked() {
                commands.push(UiCommand::SetBroker(edit.clone()));
            }
            if !state.broker.url.is_empty() && ui.button("Disconnect").clicked() {
                commands.push(UiCommand::SetBroker(BrokerSettings::default()));
            }
            broker_status_ui(ui, state.broker_status.as_ref());
        });
    });
    ui.end_row();
}

/// The broker's status as a short coloured label; nothing without a broker.
pub fn broker_status_ui(ui: &mut Ui, status: Option<&BrokerStatus>) {
    let Some(status) = status else { return };
    let color = match status {
        BrokerStatus::Connected => Color32::from_rgb(80, 170, 90),
        BrokerStatus::Connecting => Color32::from_rgb(200, 170, 60),
        BrokerStatus::Down { .. } | BrokerStatus::Refused { .. } => Color32::from_rgb(210, 80, 70),
    };
    ui.add(egui::Label::new(RichText::new(format!("broker: {status}")).color(color)).truncate());
}
