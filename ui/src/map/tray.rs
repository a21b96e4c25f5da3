//! The tray of devices that have no location, shown next to the map so
//! they are not lost: one chip per device, click to select.

use egui::Ui;

/// Draws one chip per `(id, label)`; returns the id of the chip clicked.
pub fn tray_ui(ui: &mut Ui, items: &[(String, String)], selected: Option<&str>) -> Option<String> {
    let mut clicked = None;
    ui.horizontal_wrapped(|ui| {
        ui.weak(format!("No location ({}):", items.len()));
        if items.is_empty() {
            ui.weak("none");
        }
        for (id, label) in items {
            let response = ui.selectable_label(selected == Some(id.as_str()), label).on_hover_text(id);
            if response.clicked() {
                clicked = Some(id.clone());
            }
        }
    });
    clicked
}
