//! Markers drawn as textured quads: a small atlas holds one anti-aliased
//! disc and the load ring at 33 fill levels, rendered once per context.
//! Each marker is then two quads (8 vertices) tinted by vertex colour,
//! instead of four tessellated egui shapes — about 16 µs a marker before,
//! which made a screen of 1,000 markers cost 20 ms.

use egui::epaint::Mesh;
use egui::{Color32, ColorImage, Context, Id, Pos2, Rect, TextureHandle, TextureId, TextureOptions, Vec2};

/// Radius of the status disc, in points.
pub const MARKER_RADIUS: f32 = 6.0;
/// Radius of the centre line of the load ring, in points.
pub const LOAD_RING_RADIUS: f32 = 9.5;
const LOAD_RING_WIDTH: f32 = 2.5;
/// Side of one sprite in points (covers the ring plus hover growth).
const SPRITE_PT: f32 = 26.0;
/// Atlas pixels per point: crisp on 2× displays, fine minified on 1×.
const PX_PER_PT: usize = 2;
const SPRITE_PX: usize = SPRITE_PT as usize * PX_PER_PT;
/// Load is shown in this many steps (plus the empty ring).
pub const LOAD_STEPS: usize = 32;
const COLUMNS: usize = 6;
/// Sprite 0: marker disc; 1..=LOAD_STEPS+1: load rings; last: cluster disc.
const SPRITES: usize = 1 + LOAD_STEPS + 1 + 1;
const CLUSTER_SPRITE: usize = SPRITES - 1;
/// Radius of the cluster disc in the atlas; drawn scaled to the cluster's size.
const CLUSTER_SPRITE_RADIUS: f32 = 12.0;
const ROWS: usize = SPRITES.div_ceil(COLUMNS);

/// The atlas texture, created on first use and kept in the context's memory.
pub fn sprite_texture(ctx: &Context) -> TextureId {
    let id = Id::unique("edgefleet-map-marker-sprites");
    if let Some(handle) = ctx.data(|d| d.get_temp::<TextureHandle>(id)) {
        return handle.id();
    }
    let handle = ctx.load_texture("edgefleet-map-markers", render_atlas(), TextureOptions::LINEAR);
    let texture = handle.id();
    ctx.data_mut(|d| d.insert_temp(id, handle));
    texture
}

fn render_atlas() -> ColorImage {
    let width = COLUMNS * SPRITE_PX;
    let height = ROWS * SPRITE_PX;
    let mut pixels = vec![Color32::TRANSPARENT; width * height];
    for sprite in 0..SPRITES {
        let (ox, oy) = ((sprite % COLUMNS) * SPRITE_PX, (sprite / COLUMNS) * SPRITE_PX);
        for py in 0..SPRITE_PX {
            for px in 0..SPRITE_PX {
                // Pixel centre relative to the sprite centre, in points.
                let dx = (px as f32 + 0.5) / PX_PER_PT as f32 - SPRITE_PT / 2.0;
                let dy = (py as f32 + 0.5) / PX_PER_PT as f32 - SPRITE_PT / 2.0;
                let color = match sprite {
                    0 => disc_pixel(dx, dy, MARKER_RADIUS),
                    CLUSTER_SPRITE => disc_pixel(dx, dy, CLUSTER_SPRITE_RADIUS),
                    _ => ring_pixel(dx, dy, (sprite - 1) as f32 / LOAD_STEPS as f32),
                };
                pixels[(oy + py) * width + ox + px] = color;
            }
        }
    }
    ColorImage::new([width, height], pixels)
}

/// Coverage of a band `inner..outer` (points) at distance `d`, 1-pixel soft edges.
fn band(d: f32, inner: f32, outer: f32) -> f32 {
    let s = PX_PER_PT as f32;
    ((0.5 + (d - inner) * s).clamp(0.0, 1.0)) * ((0.5 + (outer - d) * s).clamp(0.0, 1.0))
}

/// White fill with a dark 1-point outline: tinting by the status colour
/// gives a status-coloured disc with a darker rim.
fn disc_pixel(dx: f32, dy: f32, radius: f32) -> Color32 {
    let d = (dx * dx + dy * dy).sqrt();
    let fill = band(d, -1.0, radius - 0.5);
    let rim = band(d, radius - 0.5, radius + 0.6);
    let alpha = (fill + rim).min(1.0);
    let grey = (255.0 * fill + 45.0 * rim) / (fill + rim).max(1e-6);
    Color32::from_rgba_unmultiplied(grey as u8, grey as u8, grey as u8, (alpha * 255.0) as u8)
}

/// The load ring: white (tinted later) for the first `load` of a clockwise
/// turn from 12 o'clock, a faint dark track for the rest.
fn ring_pixel(dx: f32, dy: f32, load: f32) -> Color32 {
    let d = (dx * dx + dy * dy).sqrt();
    let cover = band(d, LOAD_RING_RADIUS - LOAD_RING_WIDTH / 2.0, LOAD_RING_RADIUS + LOAD_RING_WIDTH / 2.0);
    if cover <= 0.0 {
        return Color32::TRANSPARENT;
    }
    let mut angle = dx.atan2(-dy);
    if angle < 0.0 {
        angle += std::f32::consts::TAU;
    }
    let end = load * std::f32::consts::TAU;
    // Soft ends: distance along the ring to either end of the arc, in pixels.
    let s = PX_PER_PT as f32 * d;
    let on_arc = if load >= 1.0 {
        1.0
    } else if load <= 0.0 {
        0.0
    } else {
        ((end - angle) * s + 0.5).clamp(0.0, 1.0).min((angle * s + 0.5).clamp(0.0, 1.0))
    };
    let track_alpha = 0.3;
    let alpha = cover * (on_arc + (1.0 - on_arc) * track_alpha);
    let grey = 255.0 * on_arc / (on_arc + (1.0 - on_arc) * track_alpha).max(1e-6);
    Color32::from_rgba_unmultiplied(grey as u8, grey as u8, grey as u8, (alpha * 255.0) as u8)
}

fn uv(sprite: usize) -> Rect {
    let (w, h) = ((COLUMNS * SPRITE_PX) as f32, (ROWS * SPRITE_PX) as f32);
    let min = Pos2::new(((sprite % COLUMNS) * SPRITE_PX) as f32 / w, ((sprite / COLUMNS) * SPRITE_PX) as f32 / h);
    Rect::from_min_size(min, Vec2::new(SPRITE_PX as f32 / w, SPRITE_PX as f32 / h))
}

/// Colour of the load arc: blue, orange when the device is nearly saturated.
pub fn load_color(load: f32) -> Color32 {
    if load >= 0.85 { Color32::from_rgb(255, 110, 60) } else { Color32::from_rgb(90, 170, 255) }
}

/// Appends one marker (load ring, then status disc) to `mesh`, which must
/// use the [`sprite_texture`]. `grow` enlarges the disc (hover).
pub fn push_marker(mesh: &mut Mesh, center: Pos2, color: Color32, load: f32, grow: f32) {
    let load = if load.is_finite() { load.clamp(0.0, 1.0) } else { 0.0 };
    let step = (load * LOAD_STEPS as f32).round() as usize;
    let half = Vec2::splat(SPRITE_PT / 2.0);
    mesh.add_rect_with_uv(Rect::from_center_size(center, 2.0 * half), uv(1 + step), load_color(load));
    let scale = (MARKER_RADIUS + grow) / MARKER_RADIUS;
    mesh.add_rect_with_uv(Rect::from_center_size(center, 2.0 * half * scale), uv(0), color);
}

/// Appends a filled disc of `radius` points (cluster body or halo), tinted `color`.
pub fn push_disc(mesh: &mut Mesh, center: Pos2, radius: f32, color: Color32) {
    let side = SPRITE_PT * radius / CLUSTER_SPRITE_RADIUS;
    mesh.add_rect_with_uv(Rect::from_center_size(center, Vec2::splat(side)), uv(CLUSTER_SPRITE), color);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atlas_has_a_disc_and_rings_that_fill_with_load() {
        let atlas = render_atlas();
        assert_eq!(atlas.size, [COLUMNS * SPRITE_PX, ROWS * SPRITE_PX]);
        // Disc: opaque white centre, transparent corner.
        assert_eq!(disc_pixel(0.0, 0.0, MARKER_RADIUS), Color32::WHITE);
        assert_eq!(disc_pixel(12.0, 12.0, MARKER_RADIUS).a(), 0);
        assert_eq!(disc_pixel(0.0, 11.0, CLUSTER_SPRITE_RADIUS), Color32::WHITE);
        // Ring at 3 o'clock: lit at 50% load, track only at 10%.
        let three = (LOAD_RING_RADIUS, 0.0);
        assert_eq!(ring_pixel(three.0, three.1, 0.5).r(), 255);
        assert!(ring_pixel(three.0, three.1, 0.1).a() < 100);
        // Full load lights the whole ring, including just left of 12 o'clock.
        assert!(ring_pixel(-0.5, -LOAD_RING_RADIUS, 1.0).a() > 240);
        // Off the ring: nothing.
        assert_eq!(ring_pixel(0.0, 0.0, 1.0), Color32::TRANSPARENT);
    }

    #[test]
    fn a_marker_is_two_quads() {
        let mut mesh = Mesh::default();
        push_marker(&mut mesh, Pos2::new(10.0, 10.0), Color32::RED, 0.5, 0.0);
        assert_eq!(mesh.vertices.len(), 8);
        assert_eq!(mesh.indices.len(), 12);
    }
}
