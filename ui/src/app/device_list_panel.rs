//! The device list (left panel): filter box, sortable columns, one row per
//! device (status, type icon, name, load bar, memory, active model). Rows are
//! virtualised with `ScrollArea::show_rows`, in the order cached by
//! `DeviceListView` until the fleet, the filter or the sort changes. Each row is a
//! drop target for model cards; while a card is dragged, devices it does not
//! fit are tinted red.

use crate::app::app_state::AppState;
use crate::app::command::UiCommand;
use crate::app::device_list_view::SortColumn;
use crate::app::fleet_model::DeviceEntry;
use crate::app::library::ModelDrag;
use crate::app::style::{MISFIT_COLOR, type_icon};
use crate::map::status_color;
use egui::{Align2, Color32, FontId, Rect, RichText, Sense, Ui, pos2, vec2};

pub const ROW_HEIGHT: f32 = 24.0;

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

/// The list. While a card is dragged (`state.drag_fits`), devices it does
/// not fit are tinted.
pub fn device_list_ui(ui: &mut Ui, state: &mut AppState, commands: &mut Vec<UiCommand>) {
    let AppState {
        fleet, list_view, filter, sort, sort_ascending, selected, drag_fits, selection, focus_filter, ..
    } = state;
    let (online, stale, offline) = fleet.status_counts();
    ui.horizontal(|ui| {
        ui.heading("Devices");
        ui.weak(format!("{} · {online} online · {stale} stale · {offline} offline", fleet.len()));
        if !selection.is_empty() {
            ui.label(RichText::new(format!("{} selected", selection.len())).strong());
            if ui.small_button("✖").on_hover_text("Clear the selection").clicked() {
                commands.push(UiCommand::ClearSelection);
            }
        }
    });
    let filter_box = ui.add(
        egui::TextEdit::singleline(filter)
            .hint_text("Filter: name, type, status, model… (Ctrl+F)")
            .desired_width(f32::INFINITY),
    );
    if std::mem::take(focus_filter) {
        filter_box.request_focus();
    }
    ui.add_space(2.0);
    header_ui(ui, sort, sort_ascending);
    let rows = list_view.rows(fleet, filter, *sort, *sort_ascending);
    if rows.is_empty() {
        ui.add_space(8.0);
        ui.weak(if fleet.is_empty() { "Looking for devices…" } else { "No device matches the filter." });
        return;
    }
    let fits = drag_fits.as_ref().map(|d| &d.fits);
    let mut dropped = None;
    egui::ScrollArea::vertical().auto_shrink([false, false]).show_rows(ui, ROW_HEIGHT, rows.len(), |ui, range| {
        for &i in &rows[range] {
            let e = &fleet.entries()[i];
            let misfit = fits.and_then(|f| f.get(e.id())).is_some_and(|ok| !ok);
            let is_selected = selection.contains(e.id()) || selected.as_deref() == Some(e.id());
            if let Some(card_id) = row_ui(ui, e, is_selected, misfit, commands) {
                dropped = Some((card_id, e.id().to_owned()));
            }
        }
    });
    // A card dropped on a device of a selection fits the whole selection.
    if let Some((card_id, device_id)) = dropped {
        if selection.len() > 1 && selection.contains(&device_id) {
            let order = rows.iter().map(|&i| fleet.entries()[i].id());
            commands.push(UiCommand::OpenGroupFit { card_id, device_ids: selection.ordered(order) });
        } else {
            commands.push(UiCommand::OpenFit { card_id, device_id });
        }
    }
}

fn header_ui(ui: &mut Ui, sort: &mut SortColumn, ascending: &mut bool) {
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
        let arrow = if *sort == col { if *ascending { " ⏶" } else { " ⏷" } } else { "" };
        let color = if resp.hovered() { ui.visuals().strong_text_color() } else { ui.visuals().weak_text_color() };
        ui.painter().text(
            r.left_center(),
            Align2::LEFT_CENTER,
            format!("{label}{arrow}"),
            FontId::proportional(12.0),
            color,
        );
        if resp.clicked() {
            if *sort == col {
                *ascending = !*ascending;
            } else {
                *sort = col;
                *ascending = true;
            }
        }
    }
}

/// One row; returns the card dropped on it, if any.
fn row_ui(ui: &mut Ui, e: &DeviceEntry, selected: bool, misfit: bool, commands: &mut Vec<UiCommand>) -> Option<i64> {
    let width = ui.available_width();
    let (rect, resp) = ui.allocate_exact_size(vec2(width, ROW_HEIGHT), Sense::click());
    // Screen readers (and the GUI tests) find a row by the device's name.
    resp.widget_info(|| egui::WidgetInfo::selected(egui::Role::ListItem, true, selected, e.device.display_name()));
    // Drop target: a model card released over this row.
    let hovering_drag = resp.dnd_hover_payload::<ModelDrag>().is_some();
    let dropped = resp.dnd_release_payload::<ModelDrag>().map(|d| d.card_id);
    if resp.clicked() {
        let m = ui.input(|i| i.modifiers);
        let id = e.id().to_owned();
        commands.push(if m.command {
            UiCommand::ToggleSelect(id)
        } else if m.shift {
            UiCommand::SelectRange(id)
        } else {
            UiCommand::SelectDevice(id)
        });
    }
    if !ui.is_rect_visible(rect) {
        return dropped;
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
    // Long names end in "…" (the tooltip has the whole name).
    let mut job = egui::text::LayoutJob::simple_singleline(name, FontId::proportional(13.0), text_color);
    job.wrap = egui::text::TextWrapping::truncate_at_width(name_rect.width().max(10.0));
    let galley = ui.ctx().fonts_mut(|f| f.layout_job(job));
    painter.galley(pos2(name_rect.left(), y - galley.size().y / 2.0), galley, text_color);
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
        "{}\n{} · {} · {} · load {:.0}% · mem {used}/{total} MB",
        e.device.display_name(),
        e.device.device_id,
        e.device.device_type.label(),
        e.status(),
        load * 100.0
    ));
    dropped
}
