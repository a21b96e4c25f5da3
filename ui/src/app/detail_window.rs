//! The device detail in a window of its own, opened with Enter on the list
//! (the side panel's detail is small once a device has several models and
//! events): the same `device_detail_ui`, larger, following the device under
//! the cursor; Esc or its ✖ closes it. While it is open the side panel says
//! where the detail went, so one device's widgets are never drawn twice.

use crate::app::App;
use crate::app::app_state::AppState;
use crate::app::command::UiCommand;
use crate::app::device_detail_panel::{DetailContext, device_detail_ui};
use crate::app::fleet_model::FleetModel;
use crate::app::selection::Selection;

/// The detail window's title.
pub const DETAIL_WINDOW_TITLE: &str = "Device detail";

impl App {
    /// The side panel's detail (or where it went), in `ui`.
    pub(super) fn detail_panel_ui(&mut self, ui: &mut egui::Ui, commands: &mut Vec<UiCommand>) {
        if self.state.detail_window_open && self.state.selected.is_some() {
            ui.weak(format!("Shown in the “{DETAIL_WINDOW_TITLE}” window (Esc closes it)."));
            return;
        }
        self.detail_ui(ui, commands);
    }

    /// The detail window, when open.
    pub(super) fn detail_window_ui(&mut self, ctx: &egui::Context, commands: &mut Vec<UiCommand>) {
        if !self.state.detail_window_open {
            return;
        }
        if self.state.selected.is_none() {
            self.state.detail_window_open = false;
            return;
        }
        let mut open = true;
        egui::Window::new(DETAIL_WINDOW_TITLE)
            .open(&mut open)
            .collapsible(false)
            .resizable(true)
            .default_size([520.0, 560.0])
            .pivot(egui::Align2::CENTER_CENTER)
            .default_pos(ctx.content_rect().center())
            .show(ctx, |ui| {
                egui::ScrollArea::vertical()
                    .id_salt("detail-window-scroll")
                    .show(ui, |ui| self.detail_ui(ui, commands));
            });
        if !open {
            self.state.detail_window_open = false;
        }
    }

    fn detail_ui(&mut self, ui: &mut egui::Ui, commands: &mut Vec<UiCommand>) {
        let AppState { selected, fleet, log, pair_token, selection, library, .. } = &mut self.state;
        let entry = selected.as_deref().and_then(|id| fleet.get(id));
        let unpaired_selected = unpaired_in_selection(selection, fleet, entry.is_some_and(|e| !e.paired));
        let cx = DetailContext { log, pair_token, unpaired_selected, library };
        device_detail_ui(ui, entry, cx, commands);
    }
}

/// Only an unpaired device's detail offers Pair: only then list the other
/// unpaired devices of the selection (a lab-wide token for all of them).
fn unpaired_in_selection(selection: &Selection, fleet: &FleetModel, shown_unpaired: bool) -> Vec<String> {
    if selection.len() <= 1 || !shown_unpaired {
        return Vec::new();
    }
    let mut ids: Vec<String> =
        selection.iter().filter(|id| fleet.get(id).is_some_and(|e| !e.paired)).map(str::to_owned).collect();
    ids.sort();
    ids
}
