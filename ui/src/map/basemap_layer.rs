//! Paints the basemap for one frame: sea, land as one triangle mesh (from
//! the triangulation computed when the asset was built), coastlines and
//! country borders as thin lines. Everything is culled to the view by
//! bounding box and lines are thinned to about a point per screen point,
//! so the cost follows what is on screen, not the size of the data.

use std::sync::Arc;

use egui::epaint::{Mesh, PathStroke, TessellationOptions, Tessellator};
use egui::{Color32, Id, Painter, Pos2, Rect, Shape, Stroke, Visuals};

use super::basemap::Basemap;
use super::projection::ScreenProjection;

/// Basemap colours for the current theme.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BasemapColors {
    pub sea: Color32,
    pub land: Color32,
    pub coast: Color32,
    pub border: Color32,
}

impl BasemapColors {
    pub fn for_visuals(visuals: &Visuals) -> Self {
        if visuals.dark_mode {
            BasemapColors {
                sea: Color32::from_rgb(27, 38, 52),
                land: Color32::from_rgb(58, 63, 70),
                coast: Color32::from_rgb(92, 102, 114),
                border: Color32::from_rgb(105, 110, 120),
            }
        } else {
            BasemapColors {
                sea: Color32::from_rgb(170, 211, 223),
                land: Color32::from_rgb(242, 239, 233),
                coast: Color32::from_rgb(150, 170, 180),
                border: Color32::from_rgb(185, 165, 190),
            }
        }
    }
}

/// Lines are thinned so consecutive kept points are at least this far apart.
const MIN_SEGMENT_PX: f32 = 1.5;
/// Polygons and rings smaller than this on screen are skipped.
const MIN_FEATURE_PX: f64 = 1.0;
/// Borders are noise below this zoom.
const BORDERS_FROM_ZOOM: f64 = 1.0;

/// Counts of what was drawn, for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BasemapStats {
    pub polygons: usize,
    pub vertices: usize,
    pub line_points: usize,
}

/// What the cached basemap mesh was built for; any change rebuilds it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LayerKey {
    rect: Rect,
    proj: ScreenProjection,
    zoom: f64,
    pixels_per_point: f32,
    colors: BasemapColors,
    /// Identity of the basemap (address and size): a different map rebuilds.
    basemap: (usize, usize),
}

#[derive(Clone)]
struct CachedLayer {
    key: LayerKey,
    mesh: Arc<Mesh>,
    stats: BasemapStats,
}

/// Adds the basemap for `rect` to `painter`. The tessellated result is
/// kept in the context's memory under `id` and reused while the view does
/// not move, so a frame that only changes markers pays a copy, not a rebuild.
pub fn paint_basemap(
    painter: &Painter,
    id: Id,
    rect: Rect,
    proj: &ScreenProjection,
    zoom: f64,
    basemap: &Basemap,
    colors: &BasemapColors,
) -> BasemapStats {
    painter.rect_filled(rect, 0.0, colors.sea);
    let ctx = painter.ctx();
    let key = LayerKey {
        rect,
        proj: *proj,
        zoom,
        pixels_per_point: ctx.pixels_per_point(),
        colors: *colors,
        basemap: (std::ptr::from_ref(basemap) as usize, basemap.land_vertices.len()),
    };
    let cached = ctx.data(|d| d.get_temp::<CachedLayer>(id)).filter(|c| c.key == key);
    let layer = match cached {
        Some(layer) => layer,
        None => {
            let options = ctx.options(|o| o.tessellation_options);
            let (mesh, stats) = basemap_mesh(rect, proj, zoom, basemap, colors, key.pixels_per_point, options);
            let layer = CachedLayer { key, mesh: Arc::new(mesh), stats };
            ctx.data_mut(|d| d.insert_temp(id, layer.clone()));
            layer
        }
    };
    painter.add(Shape::Mesh(layer.mesh));
    layer.stats
}

/// Land fill, coastlines and borders for `rect`, tessellated into one mesh.
pub fn basemap_mesh(
    rect: Rect,
    proj: &ScreenProjection,
    zoom: f64,
    basemap: &Basemap,
    colors: &BasemapColors,
    pixels_per_point: f32,
    options: TessellationOptions,
) -> (Mesh, BasemapStats) {
    let mut stats = BasemapStats::default();
    let visible = proj.visible(rect);
    let big_enough =
        |min: [f64; 2], max: [f64; 2]| (max[0] - min[0]).max(max[1] - min[1]) * proj.scale >= MIN_FEATURE_PX;

    let mut mesh = Mesh::default();
    let mut lines: Vec<Shape> = Vec::new();
    let coast = Stroke::new(0.8, colors.coast);
    for polygon in &basemap.polygons {
        if !polygon.bbox.intersects(&visible) || !big_enough(polygon.bbox.min, polygon.bbox.max) {
            continue;
        }
        stats.polygons += 1;
        let base = mesh.vertices.len() as u32;
        let verts = &basemap.land_vertices[polygon.vertex_start as usize..polygon.vertex_end as usize];
        mesh.reserve_vertices(verts.len());
        for &w in verts {
            mesh.colored_vertex(proj.to_screen(w), colors.land);
        }
        let indices = &basemap.triangle_indices[polygon.index_start as usize..polygon.index_end as usize];
        mesh.indices.extend(indices.iter().map(|&i| base + i));
        stats.vertices += verts.len();

        for ring in &basemap.rings[polygon.rings.start as usize..polygon.rings.end as usize] {
            if ring.bbox.intersects(&visible) && big_enough(ring.bbox.min, ring.bbox.max) {
                let points = &basemap.land_vertices[ring.start as usize..ring.end as usize];
                stats.line_points += push_thinned_line(points, true, proj, coast, &mut lines);
            }
        }
    }

    if zoom >= BORDERS_FROM_ZOOM {
        let border = Stroke::new(0.7, colors.border);
        for line in &basemap.borders {
            if line.bbox.intersects(&visible) && big_enough(line.bbox.min, line.bbox.max) {
                let points = &basemap.border_vertices[line.start as usize..line.end as usize];
                stats.line_points += push_thinned_line(points, false, proj, border, &mut lines);
            }
        }
    }
    // Lines are tessellated here (not by egui each frame) so the result can be cached.
    let mut tessellator = Tessellator::new(pixels_per_point, options, [1, 1], Vec::new());
    tessellator.set_clip_rect(rect);
    for line in lines {
        tessellator.tessellate_shape(line, &mut mesh);
    }
    (mesh, stats)
}

/// Edges the asset script made by cutting polygons at the antimeridian or
/// closing Antarctica along the pole: part of the fill, not a coastline.
fn is_artificial_edge(a: [f64; 2], b: [f64; 2]) -> bool {
    let on_antimeridian = |p: [f64; 2]| p[0] <= 0.0 || p[0] >= 1.0;
    let on_south_edge = |p: [f64; 2]| p[1] >= 1.0 - 1e-9;
    (on_antimeridian(a) && on_antimeridian(b) && a[0] == b[0]) || (on_south_edge(a) && on_south_edge(b))
}

/// Adds `points` (closed into a ring when `closed`) as polylines, dropping
/// points closer than [`MIN_SEGMENT_PX`] to the last one kept and breaking
/// the line at artificial edges. Returns how many points were kept.
fn push_thinned_line(
    points: &[[f64; 2]],
    closed: bool,
    proj: &ScreenProjection,
    stroke: Stroke,
    out: &mut Vec<Shape>,
) -> usize {
    let mut kept = 0;
    let mut current: Vec<Pos2> = Vec::new();
    let mut flush = |current: &mut Vec<Pos2>, kept: &mut usize| {
        if current.len() >= 2 {
            *kept += current.len();
            out.push(Shape::line(std::mem::take(current), PathStroke::from(stroke)));
        } else {
            current.clear();
        }
    };
    let n = points.len();
    let segments = if closed { n } else { n.saturating_sub(1) };
    for i in 0..segments {
        let a = points[i];
        let b = points[(i + 1) % n];
        if is_artificial_edge(a, b) {
            // Keep the end of the line before the cut, then start afresh.
            let end = proj.to_screen(a);
            if current.last() != Some(&end) {
                current.push(end);
            }
            flush(&mut current, &mut kept);
            continue;
        }
        let pa = proj.to_screen(a);
        if current.is_empty() {
            current.push(pa);
        }
        let pb = proj.to_screen(b);
        let is_last = i + 1 == segments;
        if let Some(&last) = current.last()
            && (last.distance(pb) >= MIN_SEGMENT_PX || is_last)
        {
            current.push(pb);
        }
    }
    flush(&mut current, &mut kept);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proj() -> ScreenProjection {
        ScreenProjection { center: [0.5, 0.5], scale: 1000.0, origin: [500.0, 500.0] }
    }

    #[test]
    fn thinning_drops_sub_pixel_points_but_keeps_the_ends() {
        let points: Vec<[f64; 2]> = (0..=100).map(|i| [0.4 + f64::from(i) * 0.0001, 0.5]).collect();
        let mut out = Vec::new();
        let kept = push_thinned_line(&points, false, &proj(), Stroke::new(1.0, Color32::RED), &mut out);
        // 100 steps of 0.1 px over 10 px: about one point per 1.5 px.
        assert!((6..=9).contains(&kept), "{kept}");
        let Shape::Path(path) = &out[0] else { panic!("a path") };
        assert_eq!(path.points.first(), Some(&Pos2::new(400.0, 500.0)));
        assert_eq!(path.points.last(), Some(&Pos2::new(410.0, 500.0)));
    }

    #[test]
    fn rings_break_at_antimeridian_cuts() {
        // A square whose left edge lies on the antimeridian (x = 0).
        let ring = [[0.0, 0.4], [0.1, 0.4], [0.1, 0.6], [0.0, 0.6]];
        let mut out = Vec::new();
        push_thinned_line(&ring, true, &proj(), Stroke::new(1.0, Color32::RED), &mut out);
        assert_eq!(out.len(), 1, "one open line");
        let Shape::Path(path) = &out[0] else { panic!("a path") };
        assert_eq!(path.points.len(), 4, "three real edges, not the cut edge");
        assert!(!path.closed);
    }
}
