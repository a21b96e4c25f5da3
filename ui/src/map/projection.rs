//! Web Mercator view state: where the map looks and how far it is zoomed,
//! conversions between screen points and latitude/longitude, and the
//! pan / zoom-around-pointer / fit operations the widget applies to it.
//!
//! World units: the square Web Mercator world is `0..=1` on both axes, x
//! east from the antimeridian, y south from 85.05°N. At zoom `z` the world
//! is `256 · 2^z` points wide (the slippy-map convention).

use egui::{Pos2, Rect, Vec2};
use serde::{Deserialize, Serialize};

/// Latitude where the square Web Mercator world ends.
pub const MAX_LAT_DEG: f64 = 85.051_128_779_806_59;
/// Closest zoom: the whole world is 256 points wide.
pub const MIN_ZOOM: f64 = 0.0;
/// Furthest zoom. The 1:50m basemap has nothing to show beyond this.
pub const MAX_ZOOM: f64 = 16.0;
/// World width in points at zoom 0.
pub const TILE_PX: f64 = 256.0;

/// Projects latitude/longitude (degrees) to world units.
pub fn mercator(lat: f64, lon: f64) -> [f64; 2] {
    let phi = lat.clamp(-MAX_LAT_DEG, MAX_LAT_DEG).to_radians();
    let x = (lon + 180.0) / 360.0;
    let y = (1.0 - (std::f64::consts::FRAC_PI_4 + phi / 2.0).tan().ln() / std::f64::consts::PI) / 2.0;
    [x, y]
}

/// World units back to (latitude, longitude) in degrees.
pub fn inverse_mercator(p: [f64; 2]) -> (f64, f64) {
    let lon = p[0] * 360.0 - 180.0;
    let lat = (std::f64::consts::PI * (1.0 - 2.0 * p[1])).sinh().atan().to_degrees();
    (lat, lon)
}

/// An axis-aligned box in world units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorldRect {
    pub min: [f64; 2],
    pub max: [f64; 2],
}

impl WorldRect {
    /// Contains nothing; `include` grows it.
    pub const EMPTY: WorldRect = WorldRect { min: [f64::INFINITY; 2], max: [f64::NEG_INFINITY; 2] };

    pub fn include(&mut self, p: [f64; 2]) {
        self.min = [self.min[0].min(p[0]), self.min[1].min(p[1])];
        self.max = [self.max[0].max(p[0]), self.max[1].max(p[1])];
    }

    pub fn union(&mut self, other: &WorldRect) {
        self.include(other.min);
        self.include(other.max);
    }

    pub fn is_empty(&self) -> bool {
        self.min[0] > self.max[0] || self.min[1] > self.max[1]
    }

    pub fn contains(&self, p: [f64; 2]) -> bool {
        (self.min[0]..=self.max[0]).contains(&p[0]) && (self.min[1]..=self.max[1]).contains(&p[1])
    }

    pub fn intersects(&self, other: &WorldRect) -> bool {
        self.min[0] <= other.max[0]
            && other.min[0] <= self.max[0]
            && self.min[1] <= other.max[1]
            && other.min[1] <= self.max[1]
    }
}

/// What part of the world the map shows. Serializable so the app can persist it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MapState {
    pub center_lat: f64,
    pub center_lon: f64,
    /// Slippy-map zoom level: the world is `256 · 2^zoom` points wide.
    pub zoom: f64,
}

impl Default for MapState {
    fn default() -> Self {
        MapState { center_lat: 20.0, center_lon: 0.0, zoom: 2.0 }
    }
}

impl MapState {
    /// World width in points at the current zoom.
    pub fn world_size_px(&self) -> f64 {
        TILE_PX * self.zoom.exp2()
    }

    /// Brings a state read from disk (or produced by arithmetic) back into
    /// range: non-finite values fall back to the default view.
    pub fn sanitize(&mut self) {
        let default = MapState::default();
        if !self.center_lat.is_finite() {
            self.center_lat = default.center_lat;
        }
        if !self.center_lon.is_finite() {
            self.center_lon = default.center_lon;
        }
        if !self.zoom.is_finite() {
            self.zoom = default.zoom;
        }
        self.zoom = self.zoom.clamp(MIN_ZOOM, MAX_ZOOM);
        self.center_lat = self.center_lat.clamp(-MAX_LAT_DEG, MAX_LAT_DEG);
        self.center_lon = self.center_lon.clamp(-180.0, 180.0);
    }

    /// The per-frame transform for a map drawn in `rect`.
    pub fn projection(&self, rect: Rect) -> ScreenProjection {
        let center = mercator(self.center_lat, self.center_lon);
        ScreenProjection {
            center,
            scale: self.world_size_px(),
            origin: [f64::from(rect.center().x), f64::from(rect.center().y)],
        }
    }

    /// Screen position of a latitude/longitude in a map drawn in `rect`.
    pub fn project(&self, rect: Rect, lat: f64, lon: f64) -> Pos2 {
        self.projection(rect).to_screen(mercator(lat, lon))
    }

    /// Latitude/longitude under a screen position of a map drawn in `rect`.
    pub fn unproject(&self, rect: Rect, pos: Pos2) -> (f64, f64) {
        inverse_mercator(self.projection(rect).to_world(pos))
    }

    fn set_center_world(&mut self, world: [f64; 2]) {
        let (lat, lon) = inverse_mercator([world[0].clamp(0.0, 1.0), world[1].clamp(0.0, 1.0)]);
        self.center_lat = lat;
        self.center_lon = lon;
        self.sanitize();
    }

    /// Moves the map with the pointer: content follows a drag of `delta` points.
    pub fn pan_by(&mut self, delta: Vec2) {
        let scale = self.world_size_px();
        let c = mercator(self.center_lat, self.center_lon);
        self.set_center_world([c[0] - f64::from(delta.x) / scale, c[1] - f64::from(delta.y) / scale]);
    }

    /// Zooms by `levels` (positive = in) keeping the point under `anchor` fixed on screen.
    pub fn zoom_around(&mut self, rect: Rect, anchor: Pos2, levels: f64) {
        if !levels.is_finite() {
            return;
        }
        let before = self.projection(rect).to_world(anchor);
        self.zoom = (self.zoom + levels).clamp(MIN_ZOOM, MAX_ZOOM);
        let scale = self.world_size_px();
        let offset = anchor - rect.center();
        self.set_center_world([before[0] - f64::from(offset.x) / scale, before[1] - f64::from(offset.y) / scale]);
    }

    /// Centres and zooms so every (lat, lon) point is visible in a view of
    /// `view_size` points with `margin_px` to spare on each side, zooming no
    /// closer than `max_zoom` (a single point gets exactly `max_zoom`).
    /// Returns false, leaving the state alone, when there are no points.
    pub fn fit_to(
        &mut self,
        view_size: Vec2,
        points: impl IntoIterator<Item = (f64, f64)>,
        margin_px: f32,
        max_zoom: f64,
    ) -> bool {
        let mut bbox = WorldRect::EMPTY;
        for (lat, lon) in points {
            if lat.is_finite() && lon.is_finite() {
                bbox.include(mercator(lat, lon));
            }
        }
        if bbox.is_empty() {
            return false;
        }
        let usable_w = f64::from((view_size.x - 2.0 * margin_px).max(16.0));
        let usable_h = f64::from((view_size.y - 2.0 * margin_px).max(16.0));
        let span_w = bbox.max[0] - bbox.min[0];
        let span_h = bbox.max[1] - bbox.min[1];
        // The zoom at which the box just fills the usable view on each axis.
        let zoom_for =
            |usable: f64, span: f64| if span > 0.0 { (usable / (span * TILE_PX)).log2() } else { f64::INFINITY };
        self.zoom = zoom_for(usable_w, span_w).min(zoom_for(usable_h, span_h)).min(max_zoom).clamp(MIN_ZOOM, MAX_ZOOM);
        self.set_center_world([(bbox.min[0] + bbox.max[0]) / 2.0, (bbox.min[1] + bbox.max[1]) / 2.0]);
        true
    }

    /// Shows the whole world, as large as fits in `view_size`.
    pub fn fit_world(&mut self, view_size: Vec2) {
        let fit = f64::from(view_size.x.min(view_size.y * 1.6).max(1.0)) / TILE_PX;
        self.zoom = fit.log2().clamp(MIN_ZOOM, MAX_ZOOM);
        self.center_lat = 20.0;
        self.center_lon = 0.0;
        self.sanitize();
    }
}

/// World ↔ screen for one frame: `screen = origin + (world − center) · scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScreenProjection {
    pub center: [f64; 2],
    /// World width in points.
    pub scale: f64,
    /// Screen position of `center`.
    pub origin: [f64; 2],
}

impl ScreenProjection {
    #[inline]
    pub fn to_screen(&self, w: [f64; 2]) -> Pos2 {
        Pos2::new(
            (self.origin[0] + (w[0] - self.center[0]) * self.scale) as f32,
            (self.origin[1] + (w[1] - self.center[1]) * self.scale) as f32,
        )
    }

    /// Screen position in f64, for grid keys that must not lose precision at high zoom.
    #[inline]
    pub fn to_screen_f64(&self, w: [f64; 2]) -> [f64; 2] {
        [self.origin[0] + (w[0] - self.center[0]) * self.scale, self.origin[1] + (w[1] - self.center[1]) * self.scale]
    }

    pub fn to_world(&self, p: Pos2) -> [f64; 2] {
        [
            self.center[0] + (f64::from(p.x) - self.origin[0]) / self.scale,
            self.center[1] + (f64::from(p.y) - self.origin[1]) / self.scale,
        ]
    }

    /// The world box a screen rectangle covers.
    pub fn visible(&self, rect: Rect) -> WorldRect {
        let a = self.to_world(rect.min);
        let b = self.to_world(rect.max);
        WorldRect { min: a, max: b }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect() -> Rect {
        Rect::from_min_size(Pos2::new(10.0, 20.0), Vec2::new(800.0, 600.0))
    }

    #[test]
    fn mercator_round_trips_and_has_known_values() {
        assert_eq!(mercator(0.0, -180.0), [0.0, 0.5]);
        let top = mercator(MAX_LAT_DEG, 180.0);
        assert!((top[0] - 1.0).abs() < 1e-12 && top[1].abs() < 1e-9, "{top:?}");
        for (lat, lon) in [(48.8566, 2.3522), (-33.87, 151.21), (0.0, 0.0), (85.0, -179.9), (-85.0, 179.9)] {
            let (lat2, lon2) = inverse_mercator(mercator(lat, lon));
            assert!((lat - lat2).abs() < 1e-9 && (lon - lon2).abs() < 1e-9, "{lat},{lon} -> {lat2},{lon2}");
        }
        // North is up.
        assert!(mercator(60.0, 0.0)[1] < mercator(-60.0, 0.0)[1]);
    }

    #[test]
    fn screen_round_trips_at_every_zoom() {
        for zoom in [0.0, 3.5, 10.0, MAX_ZOOM] {
            let state = MapState { center_lat: 45.0, center_lon: 7.0, zoom };
            let center = state.project(rect(), 45.0, 7.0);
            assert!((center - rect().center()).length() < 1e-3, "centre maps to the rect centre");
            let pos = rect().center() + Vec2::new(123.0, -77.0);
            let (lat, lon) = state.unproject(rect(), pos);
            let back = state.project(rect(), lat, lon);
            assert!((back - pos).length() < 1e-2, "zoom {zoom}: {pos:?} -> {back:?}");
        }
    }

    #[test]
    fn pan_moves_content_with_the_drag() {
        let mut state = MapState { center_lat: 10.0, center_lon: 10.0, zoom: 5.0 };
        let before = state.project(rect(), 12.0, 14.0);
        state.pan_by(Vec2::new(40.0, -25.0));
        let after = state.project(rect(), 12.0, 14.0);
        assert!((after - before - Vec2::new(40.0, -25.0)).length() < 1e-2);
    }

    #[test]
    fn zoom_keeps_the_point_under_the_pointer() {
        let mut state = MapState { center_lat: 48.0, center_lon: 2.0, zoom: 6.0 };
        let anchor = Pos2::new(600.0, 150.0);
        let under = state.unproject(rect(), anchor);
        state.zoom_around(rect(), anchor, 1.5);
        assert_eq!(state.zoom, 7.5);
        let moved = state.project(rect(), under.0, under.1);
        assert!((moved - anchor).length() < 1e-2, "{moved:?} vs {anchor:?}");
        state.zoom_around(rect(), anchor, 100.0);
        assert_eq!(state.zoom, MAX_ZOOM);
        state.zoom_around(rect(), anchor, f64::NAN);
        assert_eq!(state.zoom, MAX_ZOOM);
    }

    #[test]
    fn fit_shows_all_points_inside_the_margin() {
        let points = [(48.85, 2.35), (40.71, -74.0), (35.68, 139.69)];
        let mut state = MapState::default();
        assert!(state.fit_to(rect().size(), points, 30.0, MAX_ZOOM));
        for (lat, lon) in points {
            let p = state.project(rect(), lat, lon);
            assert!(rect().shrink(29.0).contains(p), "{lat},{lon} at {p:?}");
        }
        // One of the axes is filled: zooming in by a level would push a point out.
        let mut closer = state;
        closer.zoom += 1.0;
        assert!(points.iter().any(|&(lat, lon)| !rect().shrink(29.0).contains(closer.project(rect(), lat, lon))));

        let mut single = MapState::default();
        assert!(single.fit_to(rect().size(), [(1.0, 2.0)], 30.0, 12.0));
        assert_eq!(single.zoom, 12.0);
        let mut none = MapState::default();
        assert!(!none.fit_to(rect().size(), [], 30.0, 12.0));
        assert_eq!(none, MapState::default());
    }

    #[test]
    fn sanitize_repairs_garbage_and_serde_round_trips() {
        let mut state = MapState { center_lat: f64::NAN, center_lon: 500.0, zoom: f64::INFINITY };
        state.sanitize();
        assert_eq!(state, MapState { center_lat: 20.0, center_lon: 180.0, zoom: 2.0 });
        let text = serde_json::to_string(&state).unwrap();
        assert_eq!(serde_json::from_str::<MapState>(&text).unwrap(), state);
        let partial: MapState = serde_json::from_str(r#"{"zoom": 4.0}"#).unwrap();
        assert_eq!(partial.zoom, 4.0);
    }
}
