//! The Map tab: the offline map with a marker per located device (from
//! `MapView`, cached until the fleet changes), the tray of devices without
//! a location, drops of model cards onto markers (one device) or clusters
//! (the group), and Shift-drag to select the devices inside a box.

use crate::app::app_state::AppState;
use crate::app::command::UiCommand;
use crate::app::library::ModelDrag;
use crate::app::style::MISFIT_COLOR;
use crate::map::{Basemap, fit_markers, map_ui_highlighted, tray_ui};
use egui::{Color32, Rect, Stroke, StrokeKind, Ui};

/// The halo of a selected device on the map.
const SELECTED_HALO: Color32 = Color32::from_rgb(90, 170, 255);

/// The tab. `basemap` is `None` when it could not be loaded.
pub fn map_tab_ui(ui: &mut Ui, state: &mut AppState, basemap: Option<&Basemap>, commands: &mut Vec<UiCommand>) {
    let AppState { map, selected, map_view: view, fleet, drag_fits, selection, .. } = state;
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
    // While a card is dragged, the misfits; else the selection.
    match drag_fits {
        Some(d) => view.update_halos(("drag", d.key.0 as u64, d.key.1), || {
            d.fits.iter().filter(|(_, ok)| !**ok).map(|(id, _)| (id.clone(), MISFIT_COLOR)).collect()
        }),
        None => view.update_halos(("selection", selection.generation(), 0), || {
            selection.iter().map(|id| (id.to_owned(), SELECTED_HALO)).collect()
        }),
    }
    let out = map_ui_highlighted(ui, map, basemap, &view.markers, selected, &view.halos);
    view.rect = Some(out.response.rect);
    let shift = ui.input(|i| i.modifiers.shift);
    if !shift && (out.response.dragged() || (out.response.hovered() && ui.input(|i| i.smooth_scroll_delta.y != 0.0))) {
        view.user_moved = true;
    }
    if let Some(id) = out.clicked {
        commands.push(UiCommand::SelectDevice(id));
    }
    // Shift-drag: a box; the devices inside it become the selection.
    if out.response.drag_started() && shift {
        view.box_start = out.response.interact_pointer_pos();
    }
    if let (Some(start), Some(now)) = (view.box_start, ui.input(|i| i.pointer.latest_pos())) {
        let r = Rect::from_two_pos(start, now);
        ui.painter().rect(
            r,
            2.0,
            SELECTED_HALO.gamma_multiply(0.15),
            Stroke::new(1.0, SELECTED_HALO),
            StrokeKind::Inside,
        );
        if out.response.drag_stopped() || !ui.input(|i| i.pointer.primary_down()) {
            let area = out.response.rect;
            let inside = view
                .markers
                .iter()
                .filter(|m| r.contains(map.project(area, m.lat, m.lon)))
                .map(|m| m.id.clone())
                .collect();
            commands.push(UiCommand::SelectMany(inside));
            view.box_start = None;
        }
    }
    if let Some(drag) = out.response.dnd_release_payload::<ModelDrag>() {
        if let Some(device_id) = out.hovered {
            commands.push(UiCommand::OpenFit { card_id: drag.card_id, device_id });
        } else if !out.hovered_cluster.is_empty() {
            // A cluster: the group fit of its devices.
            commands.push(UiCommand::OpenGroupFit { card_id: drag.card_id, device_ids: out.hovered_cluster });
        }
    }
}
