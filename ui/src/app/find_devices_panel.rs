//! The Find devices dialog: a unicast sweep of a CIDR and port range (for
//! networks that block multicast) and adding one device by address. Both
//! feed the engine's registry like mDNS does; the dialog lists the devices
//! that arrived since the sweep started.

use crate::app::command::UiCommand;
use crate::app::find_devices::FindDevices;
use crate::app::fleet_model::FleetModel;
use crate::app::style::MISFIT_COLOR;
use egui::{RichText, Ui};

/// New devices listed at most.
const FOUND_SHOWN: usize = 20;

pub fn find_devices_ui(ui: &mut Ui, find: &mut FindDevices, fleet: &FleetModel, commands: &mut Vec<UiCommand>) {
    ui.label(RichText::new("Unicast sweep").strong());
    ui.weak("Probe every address and port for an agent: CIDR:PORTS, e.g. 192.168.1.0/24:8470.");
    ui.horizontal(|ui| {
        let edit = egui::TextEdit::singleline(&mut find.sweep_spec).hint_text("CIDR:PORTS").desired_width(240.0);
        let r = ui.add(edit);
        let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if ui.button("Sweep").clicked() || enter {
            commands.push(UiCommand::Sweep { spec: find.sweep_spec.trim().to_owned() });
        }
    });
    if let Some(e) = &find.last_error {
        ui.label(RichText::new(e).color(MISFIT_COLOR));
    }
    if let Some((p, finished)) = find.progress {
        let fraction = p.probed as f32 / p.total.max(1) as f32;
        let text = if finished {
            format!("swept {} address(es): {} agent(s) answered", p.total, p.answered)
        } else {
            format!("{} of {} probed · {} answered", p.probed, p.total, p.answered)
        };
        ui.add(egui::ProgressBar::new(fraction).text(text));
    }
    if let Some(before) = find.fleet_before {
        let found = fleet.len().saturating_sub(before);
        ui.label(format!("{found} new device(s) so far (answers keep arriving for a few seconds)."));
        // Entries are kept in arrival order: the new ones are at the end.
        for e in fleet.entries().iter().skip(before).take(FOUND_SHOWN) {
            let addr = e.addr.map(|a| a.to_string()).unwrap_or_default();
            ui.label(format!("+ {} · {addr}", e.device.display_name()));
        }
    }
    ui.separator();
    ui.label(RichText::new("Add by address").strong());
    ui.horizontal(|ui| {
        ui.add(egui::TextEdit::singleline(&mut find.addr).hint_text("host:port").desired_width(200.0));
        if ui.button("Add").clicked() && !find.addr.trim().is_empty() {
            commands.push(UiCommand::AddDevice { addr: find.addr.trim().to_owned() });
            find.addr.clear();
        }
    });
}
