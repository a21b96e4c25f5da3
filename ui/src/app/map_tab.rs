//! The Map tab: the offline map with a marker per located device (from
//! `MapView`, cached until the fleet changes), the tray of devices without
//! a location, and drops of model cards onto markers.

use crate::app::app_state::AppState;
use crate::app::command::UiCommand;
use crate::app::library::ModelDrag;
use crate::app::style::MISFIT_COLOR;
use crate::map::{Basemap, fit_markers, map_ui_highlighted, tray_ui};
use egui::{Color32, Ui};
use std::collections::HashMap;

/// The tab. `basemap` is `None` when it could not be loaded.
pub fn map_tab_ui(ui: &mut Ui, state: &mut AppState, basemap: Option<&Basemap>, commands: &mut Vec<UiCommand>) {
    let AppState { map, selected, map_view: view, fleet, drag_fits, .. } = state;
    let selected = selected.as_deref();
    view.refresh(fleet);
    let Some(basemap) = basemap else {
        ui.colored_label(MISFIT_COLOR, "The basemap could not be loaded; the device list still works.");
        return;
    };
    if !view.tray.is_empty()
        && let Some(id) = tray_ui(ui, &view.tray, selected)
    {
        commands.push(UiCommand::SelectDevice(id));
    }
    // Fit the map to the fleet while it grows, until the user takes over.
    if !view.user_moved && view.markers.len() != view.fitted_count && !view.markers.is_empty() {
        fit_markers(map, ui.available_size(), &view.markers);
        view.fitted_count = view.markers.len();
    }
    let highlight: HashMap<String, Color32> = drag_fits
        .as_ref()
        .map(|d| d.fits.iter().filter(|(_, ok)| !**ok).map(|(id, _)| (id.clone(), MISFIT_COLOR)).collect())
        .unwrap_or_default();
    let out = map_ui_highlighted(ui, map, basemap, &view.markers, selected, &highlight);
    if out.response.dragged() || (out.response.hovered() && ui.input(|i| i.smooth_scroll_delta.y != 0.0)) {
        view.user_moved = true;
    }
    if let Some(id) = out.clicked {
        commands.push(UiCommand::SelectDevice(id));
    }
    // Dropped on empty map or a cluster: there is no one device to fit against.
    if let Some(drag) = out.response.dnd_release_payload::<ModelDrag>()
        && let Some(device_id) = out.hovered
    {
        commands.push(UiCommand::OpenFit { card_id: drag.card_id, device_id });
    }
}
