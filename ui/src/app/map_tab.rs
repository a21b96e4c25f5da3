//! The Map tab: the offline map with a marker per located device (cached
//! until the fleet changes), the tray of devices without a location, and
//! drops of model cards onto markers.

use crate::app::app_state::AppState;
use crate::app::command::UiCommand;
use crate::app::device_list_panel::MISFIT_COLOR;
use crate::app::fleet_model::FleetModel;
use crate::app::library_panel::ModelDrag;
use crate::map::{Basemap, MapMarker, fit_markers, map_ui_highlighted, tray_ui};
use egui::{Color32, Ui};
use std::collections::HashMap;

/// Markers and tray items derived from the fleet, rebuilt only when it changes.
#[derive(Debug, Default)]
pub struct MapView {
    key: Option<(u64, u64)>,
    pub markers: Vec<MapMarker>,
    pub tray: Vec<(String, String)>,
    /// Marker count when the view was last fitted automatically.
    fitted_count: usize,
    /// The user moved the map: stop fitting it for them.
    pub user_moved: bool,
}

impl MapView {
    pub fn refresh(&mut self, fleet: &FleetModel) {
        let key = (fleet.version(), fleet.live_version());
        if self.key == Some(key) {
            return;
        }
        self.key = Some(key);
        self.markers.clear();
        self.tray.clear();
        for e in fleet.entries() {
            match e.device.location {
                Some(loc) => self.markers.push(MapMarker::new(
                    e.id(),
                    e.device.display_name(),
                    loc.latitude,
                    loc.longitude,
                    e.status(),
                    e.load(),
                )),
                None => self.tray.push((e.id().to_owned(), e.device.display_name().to_owned())),
            }
        }
    }
}

pub fn map_tab_ui(
    ui: &mut Ui,
    state: &mut AppState,
    view: &mut MapView,
    basemap: Option<&Basemap>,
    fleet: &FleetModel,
    fits: Option<&HashMap<String, bool>>,
    commands: &mut Vec<UiCommand>,
) {
    let (map, selected) = (&mut state.map, state.selected.as_deref());
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
    let highlight: HashMap<String, Color32> = fits
        .map(|f| f.iter().filter(|(_, ok)| !**ok).map(|(id, _)| (id.clone(), MISFIT_COLOR)).collect())
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
