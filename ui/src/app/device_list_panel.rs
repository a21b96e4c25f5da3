//! The device list (left panel): filter box, sortable columns, one row per
//! device (status, type icon, name, load bar, memory, active model). Rows are
//! virtualised with `ScrollArea::show_rows`, and the filtered, sorted order
//! is cached until the fleet, the filter or the sort changes. Each row is a
//! drop target for model cards; while a card is dragged, devices it does not
//! fit are tinted red.

use crate::app::app_state::{AppState, SortColumn};
use crate::app::command::UiCommand;
use crate::app::fleet_model::{DeviceEntry, FleetModel};
use crate::app::library_panel::ModelDrag;
use crate::map::status_color;
use edgefleet_core::{DeviceStatus, DeviceType};
use egui::{Align2, Color32, FontId, Rect, Sense, Ui, pos2, vec2};
use std::collections::HashMap;

pub const ROW_HEIGHT: f32 = 24.0;
/// Red for "does not fit", shared by the list tint and the map halo.
pub const MISFIT_COLOR: Color32 = Color32::from_rgb(220, 60, 60);

/// The cached row order.
#[derive(Debug, Default, Clone)]
pub struct DeviceListView {
    key: Option<(u64, u64, String, SortColumn, bool)>,
    rows: Vec<usize>,
}

impl DeviceListView {
    /// Indices into `fleet.entries()` after filter and sort.
    pub fn rows(&mut self, fleet: &FleetModel, state: &AppState) -> &[usize] {
        // Live numbers only matter when sorting by them.
        let live = match state.sort {
            SortColumn::Load | SortColumn::Memory => fleet.live_version(),
            _ => 0,
        };
        let key = (fleet.version(), live, state.filter.clone(), state.sort, state.sort_ascending);
        if self.key.as_ref() != Some(&key) {
            self.rows = filtered_sorted(fleet, &state.filter, state.sort, state.sort_ascending);
            self.key = Some(key);
        }
        &self.rows
    }
}

/// Filter (case-insensitive, on name, id, type, status, model) and sort.
pub fn filtered_sorted(fleet: &FleetModel, filter: &str, sort: SortColumn, ascending: bool) -> Vec<usize> {
    let needle = filter.trim().to_lowercase();
    let entries = fleet.entries();
    let mut rows: Vec<usize> = (0..entries.len())
        .filter(|&i| {
            if needle.is_empty() {
                return true;
            }
            let e = &entries[i];
            e.device.display_name().to_lowercase().contains(&needle)
                || e.device.device_id.to_lowercase().contains(&needle)
                || e.device.device_type.label().to_lowercase().contains(&needle)
                || e.device.status.as_str().contains(&needle)
                || e.active_model().is_some_and(|m| m.to_lowercase().contains(&needle))
        })
        .collect();
    let status_rank = |s: DeviceStatus| match s {
        DeviceStatus::Online => 0,
        DeviceStatus::Stale => 1,
        DeviceStatus::Offline => 2,
    };
    rows.sort_by(|&a, &b| {
        let (ea, eb) = (&entries[a], &entries[b]);
        let ord = match sort {
            SortColumn::Name => ea.device.display_name().cmp(eb.device.display_name()),
            SortColumn::Status => status_rank(ea.status()).cmp(&status_rank(eb.status())),
            SortColumn::Load => ea.load().total_cmp(&eb.load()),
            SortColumn::Memory => {
                let f = |e: &DeviceEntry| {
                    let (u, t) = e.memory_mb();
                    u as f64 / t as f64
                };
                f(ea).total_cmp(&f(eb))
            }
            SortColumn::Model => ea.active_model().cmp(&eb.active_model()),
        }
        .then_with(|| ea.device.device_id.cmp(&eb.device.device_id));
        if ascending { ord } else { ord.reverse() }
    });
    rows
}

pub fn type_icon(t: DeviceType) -> &'static str {
    match t {
        DeviceType::MobilePhone => "📱",
        DeviceType::IotSensor => "📡",
        DeviceType::EdgeServer => "🖥",
        DeviceType::EmbeddedDevice => "🔌",
        DeviceType::SmartCamera => "📷",
        DeviceType::AutonomousVehicle => "🚗",
    }
}

/// Column x offsets (from the row's left edge) and widths.
struct Columns {
    name: f32,
    load: f32,
    mem: f32,
    model: f32,
}

fn columns(width: f32) -> Columns {
    let load = (width * 0.42).max(150.0).min(width - 150.0);
    Columns { name: 22.0, load, mem: load + 66.0, model: load + 128.0 }
}

/// The list. `fits` (device id → compatible) is set while a model is dragged.
pub fn device_list_ui(
    ui: &mut Ui,
    fleet: &FleetModel,
    view: &mut DeviceListView,
    state: &mut AppState,
    fits: Option<&HashMap<String, bool>>,
    commands: &mut Vec<UiCommand>,
) {
    let (online, stale, offline) = fleet.status_counts();
    ui.horizontal(|ui| {
        ui.heading("Devices");
        ui.weak(format!("{} · {online} online · {stale} stale · {offline} offline", fleet.len()));
    });
    ui.add(
        egui::TextEdit::singleline(&mut state.filter)
            .hint_text("Filter: name, type, status, model…")
            .desired_width(f32::INFINITY),
    );
    ui.add_space(2.0);
    header_ui(ui, state);
    let rows = view.rows(fleet, state);
    if rows.is_empty() {
        ui.add_space(8.0);
        ui.weak(if fleet.is_empty() { "Looking for devices…" } else { "No device matches the filter." });
        return;
    }
    let rows = rows.to_vec();
    egui::ScrollArea::vertical().auto_shrink([false, false]).show_rows(ui, ROW_HEIGHT, rows.len(), |ui, range| {
        for &i in &rows[range] {
            let e = &fleet.entries()[i];
            let misfit = fits.and_then(|f| f.get(e.id())).is_some_and(|ok| !ok);
            row_ui(ui, e, state.selected.as_deref() == Some(e.id()), misfit, commands);
        }
    });
}

fn header_ui(ui: &mut Ui, state: &mut AppState) {
    let width = ui.available_width();
    let (rect, _) = ui.allocate_exact_size(vec2(width, 18.0), Sense::hover());
    let cols = columns(width);
    let spots = [
        (SortColumn::Status, rect.left(), 20.0, "S"),
        (SortColumn::Name, rect.left() + cols.name, cols.load - cols.name, "Name"),
        (SortColumn::Load, rect.left() + cols.load, 62.0, "Load"),
        (SortColumn::Memory, rect.left() + cols.mem, 60.0, "Mem"),
        (SortColumn::Model, rect.left() + cols.model, width - cols.model, "Model"),
    ];
    for (col, x, w, label) in spots {
        let r = Rect::from_min_size(pos2(x, rect.top()), vec2(w.max(8.0), rect.height()));
        let id = ui.scope_id().with(("sort", label));
        let resp = ui
            .interact(r, id, Sense::click())
            .on_hover_text(format!("Sort by {}", if label == "S" { "status" } else { label }));
        let arrow = if state.sort == col { if state.sort_ascending { " ⏶" } else { " ⏷" } } else { "" };
        let color = if resp.hovered() { ui.visuals().strong_text_color() } else { ui.visuals().weak_text_color() };
        ui.painter().text(
            r.left_center(),
            Align2::LEFT_CENTER,
            format!("{label}{arrow}"),
            FontId::proportional(12.0),
            color,
        );
        if resp.clicked() {
            if state.sort == col {
                state.sort_ascending = !state.sort_ascending;
            } else {
                state.sort = col;
                state.sort_ascending = true;
            }
        }
    }
}

fn row_ui(ui: &mut Ui, e: &DeviceEntry, selected: bool, misfit: bool, commands: &mut Vec<UiCommand>) {
    let width = ui.available_width();
    let (rect, resp) = ui.allocate_exact_size(vec2(width, ROW_HEIGHT), Sense::click());
    // Screen readers (and the GUI tests) find a row by the device's name.
    resp.widget_info(|| egui::WidgetInfo::selected(egui::Role::ListItem, true, selected, e.device.display_name()));
    // Drop target: a model card released over this row.
    let hovering_drag = resp.dnd_hover_payload::<ModelDrag>().is_some();
    if let Some(drag) = resp.dnd_release_payload::<ModelDrag>() {
        commands.push(UiCommand::OpenFit { card_id: drag.card_id, device_id: e.id().to_owned() });
    }
    if resp.clicked() {
        commands.push(UiCommand::SelectDevice(e.id().to_owned()));
    }
    if !ui.is_rect_visible(rect) {
        return;
    }
    let visuals = ui.visuals();
    let painter = ui.painter();
    let bg = if misfit {
        MISFIT_COLOR.gamma_multiply(if hovering_drag { 0.45 } else { 0.22 })
    } else if hovering_drag {
        visuals.selection.bg_fill.gamma_multiply(0.7)
    } else if selected {
        visuals.selection.bg_fill
    } else if resp.hovered() {
        visuals.widgets.hovered.weak_bg_fill
    } else {
        Color32::TRANSPARENT
    };
    painter.rect_filled(rect, 3.0, bg);
    let cols = columns(width);
    let text_color = if selected { visuals.selection.stroke.color } else { visuals.text_color() };
    let weak = visuals.weak_text_color();
    let y = rect.center().y;
    painter.circle_filled(pos2(rect.left() + 8.0, y), 4.5, status_color(e.status()));
    let name = format!("{} {}", type_icon(e.device.device_type), e.device.display_name());
    let name_rect = Rect::from_min_max(
        pos2(rect.left() + cols.name, rect.top()),
        pos2(rect.left() + cols.load - 6.0, rect.bottom()),
    );
    painter.with_clip_rect(name_rect).text(
        name_rect.left_center(),
        Align2::LEFT_CENTER,
        name,
        FontId::proportional(13.0),
        text_color,
    );
    // Load bar.
    let load = e.load();
    let bar = Rect::from_min_size(pos2(rect.left() + cols.load, y - 4.0), vec2(56.0, 8.0));
    painter.rect_filled(bar, 2.0, visuals.extreme_bg_color);
    let fill = if load > 0.85 { Color32::from_rgb(235, 120, 50) } else { Color32::from_rgb(70, 150, 220) };
    painter.rect_filled(Rect::from_min_size(bar.min, vec2(56.0 * load, 8.0)), 2.0, fill);
    let (used, total) = e.memory_mb();
    painter.text(
        pos2(rect.left() + cols.mem, y),
        Align2::LEFT_CENTER,
        format!("{:.0}%", 100.0 * used as f64 / total as f64),
        FontId::proportional(12.0),
        weak,
    );
    let model_rect = Rect::from_min_max(pos2(rect.left() + cols.model, rect.top()), rect.max);
    let model = e.active_model().unwrap_or_else(|| "—".into());
    painter.with_clip_rect(model_rect).text(
        model_rect.left_center(),
        Align2::LEFT_CENTER,
        model,
        FontId::proportional(12.0),
        weak,
    );
    resp.on_hover_text(format!(
        "{} · {} · {} · load {:.0}% · mem {used}/{total} MB",
        e.device.device_id,
        e.device.device_type.label(),
        e.status(),
        load * 100.0
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgefleet_core::Device;

    #[test]
    fn filter_and_sort() {
        let mut f = FleetModel::default();
        for (id, t, load) in [
            ("cam-b", DeviceType::SmartCamera, 0.9),
            ("cam-a", DeviceType::SmartCamera, 0.1),
            ("srv", DeviceType::EdgeServer, 0.5),
        ] {
            let mut d = Device::new(id, t, 2, 1024, 8.0);
            d.current_load = load;
            f.upsert_device(d);
        }
        let ids = |rows: Vec<usize>| rows.into_iter().map(|i| f.entries()[i].id().to_owned()).collect::<Vec<_>>();
        assert_eq!(ids(filtered_sorted(&f, "", SortColumn::Name, true)), ["cam-a", "cam-b", "srv"]);
        assert_eq!(ids(filtered_sorted(&f, "CAMERA", SortColumn::Load, false)), ["cam-b", "cam-a"]);
        assert!(filtered_sorted(&f, "toaster", SortColumn::Name, true).is_empty());
    }
}
