//! The offline map of the fleet: a Natural Earth basemap compiled into the
//! binary, Web Mercator pan/zoom, device markers coloured by status with a
//! load ring, clustering when zoomed out, co-located devices fanned apart,
//! and a tray for devices without a location.
//!
//! ```no_run
//! # use edgefleet_ui::map::{Basemap, MapMarker, MapState, map_ui};
//! # fn show(ui: &mut egui::Ui, state: &mut MapState, basemap: &Basemap, markers: &[MapMarker]) {
//! let out = map_ui(ui, state, basemap, markers, None);
//! if let Some(id) = out.clicked { /* select device `id` */ }
//! # }
//! ```

mod basemap;
mod basemap_layer;
mod cluster;
mod marker;
mod marker_sprites;
mod places;
mod projection;
mod tray;
mod widget;

pub use basemap::{Basemap, BasemapError, LandPolygon, Ring};
pub use basemap_layer::{BasemapColors, BasemapStats, paint_basemap};
pub use cluster::{Glyph, LayoutMode, MarkerLayout, layout_markers, spread_position};
pub use marker::{MapMarker, severity, status_color};
pub use places::{Place, Places, PlacesError, choose_labels, min_population_at, paint_places};
pub use projection::{
    MAX_LAT_DEG, MAX_ZOOM, MIN_ZOOM, MapState, ScreenProjection, WorldRect, inverse_mercator, mercator,
};
pub use tray::tray_ui;
pub use widget::{
    CLUSTER_BELOW_ZOOM, MAX_SINGLE_MARKERS, MapResponse, SPREAD_GAP_PX, fit_markers, map_ui, map_ui_highlighted,
};

#[cfg(test)]
mod widget_tests;
