//! The map widget: basemap, device markers (clustered when zoomed out,
//! fanned apart when several share a spot), hover tooltip, selection,
//! pan / zoom input, zoom buttons and a scale bar.

use std::collections::HashMap;

use egui::epaint::Mesh;
use egui::{Align2, Color32, CursorIcon, FontId, Painter, Pos2, Rect, Response, Sense, Shape, Stroke, Ui, Vec2};

use super::basemap::Basemap;
use super::basemap_layer::{BasemapColors, paint_basemap};
use super::cluster::{Glyph, LayoutMode, MarkerLayout, layout_markers};
use super::marker::{MapMarker, severity};
use super::marker_sprites::{LOAD_RING_RADIUS, push_disc, push_marker, sprite_texture};
use super::places::{Places, paint_places};
use super::projection::{MAX_ZOOM, MapState, ScreenProjection, mercator};

/// Below this zoom nearby markers merge into clusters; from it on they are
/// drawn one by one and only those on the same spot are fanned apart.
pub const CLUSTER_BELOW_ZOOM: f64 = 13.0;
/// Cluster grid cell, in points.
const CLUSTER_CELL_PX: f64 = 56.0;
/// Markers closer than this (in points) count as "the same spot".
const SAME_SPOT_PX: f64 = 8.0;
/// Above this many markers on screen the map clusters even when zoomed in:
/// more cannot be told apart on one screen, and it bounds the frame's cost.
pub const MAX_SINGLE_MARKERS: usize = 2000;
/// Distance between neighbours in a fan of co-located markers.
pub const SPREAD_GAP_PX: f32 = 2.0 * LOAD_RING_RADIUS + 2.0;
/// Extra reach of the pointer around a glyph, so small markers are easy to hit.
const HIT_SLOP_PX: f32 = 3.0;
/// Zooming to a cluster's members or "fit" stops here; a cluster whose
/// devices share one spot therefore opens straight into the fanned view.
const FIT_MAX_ZOOM: f64 = CLUSTER_BELOW_ZOOM + 1.0;
const FIT_MARGIN_PX: f32 = 40.0;
/// Zoom levels per point of scroll.
const SCROLL_ZOOM_PER_PX: f64 = 1.0 / 200.0;

/// What happened on the map this frame.
#[derive(Debug, Clone)]
pub struct MapResponse {
    /// Id of the marker clicked this frame (clicks on clusters zoom instead).
    pub clicked: Option<String>,
    /// Id of the marker under the pointer, also while something is dragged
    /// over the map (for drop targets).
    pub hovered: Option<String>,
    /// The members of the cluster under the pointer (a drop target for a
    /// whole group), empty when no cluster is hovered.
    pub hovered_cluster: Vec<String>,
    /// The map area's response (drag, click on empty map, drop zone rect).
    pub response: Response,
}

/// The map, filling the available space. See [`map_ui_highlighted`].
pub fn map_ui(
    ui: &mut Ui,
    state: &mut MapState,
    basemap: &Basemap,
    markers: &[MapMarker],
    selected: Option<&str>,
) -> MapResponse {
    map_ui_highlighted(ui, state, basemap, markers, selected, &HashMap::new())
}

/// The map, with a halo of the given colour around each marker in
/// `highlight` (by id) — e.g. which devices a dragged model fits.
pub fn map_ui_highlighted(
    ui: &mut Ui,
    state: &mut MapState,
    basemap: &Basemap,
    markers: &[MapMarker],
    selected: Option<&str>,
    highlight: &HashMap<String, Color32>,
) -> MapResponse {
    let size = ui.available_size().max(Vec2::splat(64.0));
    let (response, painter) = ui.allocate_painter(size, Sense::click_and_drag());
    let rect = response.rect;
    state.sanitize();
    handle_navigation(ui, state, &response);

    let proj = state.projection(rect);
    let colors = BasemapColors::for_visuals(ui.visuals());
    paint_basemap(&painter, response.id.with("basemap"), rect, &proj, state.zoom, basemap, &colors);
    paint_places(&painter, &proj, rect, state.zoom, Places::embedded(), ui.visuals().weak_text_color());

    let layout = layout_visible(state, &proj, rect, markers);
    let pointer = ui.input(|i| i.pointer.hover_pos()).filter(|p| response.contains_pointer() && rect.contains(*p));
    let hovered_glyph = pointer.and_then(|p| hit_test(&layout, p));
    paint_markers(&painter, &layout, markers, selected, highlight, hovered_glyph, ui.visuals().dark_mode);

    let mut clicked = None;
    if response.clicked()
        && let Some(glyph) = response.interact_pointer_pos().and_then(|p| hit_test(&layout, p))
    {
        match &layout.glyphs[glyph] {
            Glyph::Marker { marker, .. } => clicked = Some(markers[*marker].id.clone()),
            cluster @ Glyph::Cluster { .. } => {
                let members = layout.cluster_members(cluster).iter().map(|&m| (markers[m].lat, markers[m].lon));
                let before = state.zoom;
                state.fit_to(rect.size(), members, FIT_MARGIN_PX, FIT_MAX_ZOOM);
                // Always go in at least one level, so a click never does nothing.
                if state.zoom < before + 1.0 {
                    state.zoom = (before + 1.0).min(MAX_ZOOM);
                }
                ui.ctx().request_repaint();
            }
        }
    }

    let hovered = hovered_glyph.and_then(|g| match &layout.glyphs[g] {
        Glyph::Marker { marker, .. } => Some(markers[*marker].id.clone()),
        Glyph::Cluster { .. } => None,
    });
    let hovered_cluster = match hovered_glyph.map(|g| &layout.glyphs[g]) {
        Some(cluster @ Glyph::Cluster { .. }) => {
            layout.cluster_members(cluster).iter().map(|&m| markers[m].id.clone()).collect()
        }
        _ => Vec::new(),
    };
    let response = match hovered_glyph {
        Some(g) => {
            let response = response.on_hover_cursor(CursorIcon::PointingHand);
            let glyph = &layout.glyphs[g];
            response.on_hover_ui_at_pointer(|ui| tooltip_ui(ui, &layout, glyph, markers))
        }
        None if response.dragged() => response.on_hover_cursor(CursorIcon::Grabbing),
        None => response,
    };

    paint_scale_bar(&painter, rect, state, ui.visuals().text_color());
    painter.text(
        rect.right_bottom() - Vec2::new(6.0, 4.0),
        Align2::RIGHT_BOTTOM,
        "Natural Earth · GeoNames",
        FontId::proportional(10.0),
        ui.visuals().weak_text_color(),
    );
    zoom_buttons_ui(ui, state, rect, markers);

    MapResponse { clicked, hovered, hovered_cluster, response }
}

/// Drag pans; wheel, pinch and ctrl+wheel zoom around the pointer; double-click zooms in.
fn handle_navigation(ui: &Ui, state: &mut MapState, response: &Response) {
    let rect = response.rect;
    // Shift-drag draws a selection box (the caller's), it does not pan.
    if response.dragged() && !ui.input(|i| i.modifiers.shift) {
        state.pan_by(response.drag_delta());
    }
    if response.contains_pointer()
        && let Some(pointer) = ui.input(|i| i.pointer.hover_pos())
    {
        let (scroll, pinch) = ui.input(|i| (i.smooth_scroll_delta, i.zoom_delta()));
        let levels = f64::from(scroll.y) * SCROLL_ZOOM_PER_PX + f64::from(pinch).log2();
        if levels != 0.0 && levels.is_finite() {
            state.zoom_around(rect, pointer, levels);
            // The map used the scroll; an enclosing scroll area must not scroll too.
            ui.ctx().input_mut(|i| i.smooth_scroll_delta = Vec2::ZERO);
        }
        if response.double_clicked() {
            state.zoom_around(rect, pointer, 1.0);
        }
    }
}

/// Clusters or spreads the markers that are on (or just off) screen.
fn layout_visible(state: &MapState, proj: &ScreenProjection, rect: Rect, markers: &[MapMarker]) -> MarkerLayout {
    // Markers just outside still count, so clusters at the edge do not flicker.
    let area = rect.expand(CLUSTER_CELL_PX as f32);
    let (min, max) = ([f64::from(area.min.x), f64::from(area.min.y)], [f64::from(area.max.x), f64::from(area.max.y)]);
    let mut points = Vec::with_capacity(markers.len());
    for (i, m) in markers.iter().enumerate() {
        if !(m.lat.is_finite() && m.lon.is_finite()) {
            continue;
        }
        let p = proj.to_screen_f64(mercator(m.lat, m.lon));
        if p[0] >= min[0] && p[0] <= max[0] && p[1] >= min[1] && p[1] <= max[1] {
            points.push((i, p));
        }
    }
    let visible = points.iter().filter(|(_, p)| rect.contains(Pos2::new(p[0] as f32, p[1] as f32))).count();
    let mode = if state.zoom < CLUSTER_BELOW_ZOOM || visible > MAX_SINGLE_MARKERS {
        LayoutMode::Cluster { cell_px: CLUSTER_CELL_PX }
    } else {
        LayoutMode::Spread { same_spot_px: SAME_SPOT_PX, gap_px: SPREAD_GAP_PX }
    };
    layout_markers(&points, proj.to_screen_f64([0.0, 0.0]), mode, |m| severity(markers[m].color))
}

fn cluster_radius(count: usize) -> f32 {
    (10.0 + 3.0 * (count as f32).log2()).min(26.0)
}

fn glyph_radius(glyph: &Glyph) -> f32 {
    match glyph {
        Glyph::Marker { .. } => LOAD_RING_RADIUS,
        Glyph::Cluster { members, .. } => cluster_radius(members.len()),
    }
}

/// The topmost glyph under `pos` (glyphs drawn later are on top).
fn hit_test(layout: &MarkerLayout, pos: Pos2) -> Option<usize> {
    layout.glyphs.iter().enumerate().rev().find_map(|(i, g)| {
        let reach = glyph_radius(g) + HIT_SLOP_PX;
        (g.pos().distance_sq(pos) <= reach * reach).then_some(i)
    })
}

fn paint_markers(
    painter: &Painter,
    layout: &MarkerLayout,
    markers: &[MapMarker],
    selected: Option<&str>,
    highlight: &HashMap<String, Color32>,
    hovered: Option<usize>,
    dark_mode: bool,
) {
    let outline = if dark_mode { Color32::from_black_alpha(200) } else { Color32::from_gray(40) };
    // Below the markers: legs of fanned markers, highlight halos.
    let mut below = Vec::new();
    let mut sprites = Mesh::with_texture(sprite_texture(painter.ctx()));
    let mut cluster_discs = Mesh::with_texture(sprites.texture_id);
    let mut above = Vec::new();
    let mut selected_at = None;
    for (i, glyph) in layout.glyphs.iter().enumerate() {
        let emphasis = if hovered == Some(i) { 1.5 } else { 0.0 };
        match glyph {
            Glyph::Marker { marker, pos, anchor } => {
                let m = &markers[*marker];
                if let Some(anchor) = anchor {
                    below.push(Shape::line_segment([*anchor, *pos], Stroke::new(1.0, outline)));
                    below.push(Shape::circle_filled(*anchor, 2.0, outline));
                }
                if let Some(&halo) = highlight.get(&m.id) {
                    below.push(Shape::circle_filled(*pos, LOAD_RING_RADIUS + 5.0, halo.gamma_multiply(0.45)));
                }
                push_marker(&mut sprites, *pos, m.color, m.load, emphasis);
                if selected == Some(m.id.as_str()) {
                    selected_at = Some((*pos, LOAD_RING_RADIUS + 3.0));
                }
            }
            Glyph::Cluster { pos, members, worst } => {
                let count = members.len();
                let radius = cluster_radius(count) + emphasis;
                let color = markers[*worst].color;
                let members = &layout.members[members.clone()];
                if let Some(halo) = members.iter().find_map(|&m| highlight.get(&markers[m].id)) {
                    above.push(Shape::circle_stroke(*pos, radius + 6.0, Stroke::new(3.0, *halo)));
                }
                // Sprites too: tessellating ~400 large circles took ~25 µs each.
                push_disc(&mut cluster_discs, *pos, radius + 4.0, color.gamma_multiply(0.35));
                push_disc(&mut cluster_discs, *pos, radius, color);
                let galley = painter.layout_no_wrap(count_text(count), FontId::proportional(11.5), Color32::WHITE);
                let text_pos = *pos - galley.size() / 2.0;
                above.push(Shape::galley(text_pos, galley, Color32::WHITE));
                if let Some(sel) = selected
                    && members.iter().any(|&m| markers[m].id == sel)
                {
                    selected_at = Some((*pos, radius + 6.0));
                }
            }
        }
    }
    painter.extend(below);
    painter.add(Shape::mesh(sprites));
    painter.add(Shape::mesh(cluster_discs));
    painter.extend(above);
    if let Some((pos, radius)) = selected_at {
        painter.circle_stroke(pos, radius + 1.0, Stroke::new(3.5, Color32::BLACK));
        painter.circle_stroke(pos, radius + 1.0, Stroke::new(2.0, Color32::WHITE));
    }
}

fn count_text(count: usize) -> String {
    if count >= 10_000 {
        format!("{}k", count / 1000)
    } else if count >= 1000 {
        format!("{:.1}k", count as f32 / 1000.0)
    } else {
        count.to_string()
    }
}

fn tooltip_ui(ui: &mut Ui, layout: &MarkerLayout, glyph: &Glyph, markers: &[MapMarker]) {
    match glyph {
        Glyph::Marker { marker, .. } => {
            let m = &markers[*marker];
            ui.strong(&m.label);
            ui.label(format!("load {:.0}%", (m.load.clamp(0.0, 1.0) * 100.0)));
            ui.weak(format!("{}  ({:.4}, {:.4})", m.id, m.lat, m.lon));
        }
        cluster @ Glyph::Cluster { .. } => {
            let members = layout.cluster_members(cluster);
            ui.strong(format!("{} devices", members.len()));
            const LISTED: usize = 6;
            for &m in members.iter().take(LISTED) {
                ui.label(format!("{} — load {:.0}%", markers[m].label, markers[m].load.clamp(0.0, 1.0) * 100.0));
            }
            if members.len() > LISTED {
                ui.weak(format!("… and {} more; click to zoom in", members.len() - LISTED));
            }
        }
    }
}

/// A bar of a round length (1, 2 or 5 × 10^k metres) about 100 points long,
/// measured at the latitude of the view's centre.
fn paint_scale_bar(painter: &Painter, rect: Rect, state: &MapState, color: Color32) {
    const EARTH_CIRCUMFERENCE_M: f64 = 40_075_016.686;
    let metres_per_px = EARTH_CIRCUMFERENCE_M * state.center_lat.to_radians().cos() / state.world_size_px();
    if !(metres_per_px.is_finite() && metres_per_px > 0.0) {
        return;
    }
    let target_m = metres_per_px * 100.0;
    let magnitude = 10f64.powf(target_m.log10().floor());
    let step = [5.0, 2.0, 1.0].into_iter().map(|f| f * magnitude).find(|&m| m <= target_m).unwrap_or(magnitude);
    let length_px = (step / metres_per_px) as f32;
    let left = rect.left_bottom() + Vec2::new(10.0, -12.0);
    let right = left + Vec2::new(length_px, 0.0);
    let stroke = Stroke::new(1.5, color);
    painter.line_segment([left, right], stroke);
    painter.line_segment([left, left - Vec2::new(0.0, 5.0)], stroke);
    painter.line_segment([right, right - Vec2::new(0.0, 5.0)], stroke);
    let text = if step >= 1000.0 { format!("{} km", step / 1000.0) } else { format!("{step} m") };
    painter.text(
        left + Vec2::new(length_px / 2.0, -4.0),
        Align2::CENTER_BOTTOM,
        text,
        FontId::proportional(11.0),
        color,
    );
}

/// +, − and "fit all devices" buttons in the top-right corner.
fn zoom_buttons_ui(ui: &mut Ui, state: &mut MapState, rect: Rect, markers: &[MapMarker]) {
    let size = Vec2::new(30.0, 26.0);
    let at =
        |row: f32| Rect::from_min_size(rect.right_top() + Vec2::new(-size.x - 8.0, 8.0 + row * (size.y + 4.0)), size);
    let mut changed = false;
    if ui.put(at(0.0), egui::Button::new("+")).on_hover_text("Zoom in").clicked() {
        state.zoom_around(rect, rect.center(), 1.0);
        changed = true;
    }
    if ui.put(at(1.0), egui::Button::new("−")).on_hover_text("Zoom out").clicked() {
        state.zoom_around(rect, rect.center(), -1.0);
        changed = true;
    }
    if ui.put(at(2.0), egui::Button::new("Fit")).on_hover_text("Show all devices").clicked() {
        fit_markers(state, rect.size(), markers);
        changed = true;
    }
    if changed {
        ui.ctx().request_repaint();
    }
}

/// Shows every marker (or the whole world when there are none).
pub fn fit_markers(state: &mut MapState, view_size: Vec2, markers: &[MapMarker]) {
    if !state.fit_to(view_size, markers.iter().map(|m| (m.lat, m.lon)), FIT_MARGIN_PX, FIT_MAX_ZOOM) {
        state.fit_world(view_size);
    }
}
