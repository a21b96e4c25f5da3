//! What the Map tab draws, derived from the fleet: a marker per located
//! device and the tray of devices without a location, rebuilt only when the
//! fleet changes; the halo colours (the selection, or a dragged card's
//! misfits), rebuilt only when those change; whether the user took over the
//! view, and a selection box being drawn.

use crate::app::fleet_model::FleetModel;
use crate::map::MapMarker;
use egui::{Color32, Pos2, Rect};
use std::collections::HashMap;

/// What the halos were built from: ("selection", generation, 0) or
/// ("drag", card id, fleet version).
pub type HighlightKey = (&'static str, u64, u64);

/// Markers and tray items derived from the fleet, rebuilt only when it changes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MapView {
    key: Option<(u64, u64)>,
    pub markers: Vec<MapMarker>,
    pub tray: Vec<(String, String)>,
    /// Marker count when the view was last fitted automatically.
    pub fitted_count: usize,
    /// The user moved the map: stop fitting it for them.
    pub user_moved: bool,
    /// Where a Shift-drag selection box started.
    pub box_start: Option<Pos2>,
    /// Where the map was drawn last frame (to place things on it by
    /// latitude and longitude: tests, screenshots).
    pub rect: Option<Rect>,
    highlight_key: Option<HighlightKey>,
    /// Halo colour per device id.
    pub halos: HashMap<String, Color32>,
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

    /// Rebuild the halos with `build`, only when `key` changed.
    pub fn update_halos(&mut self, key: HighlightKey, build: impl FnOnce() -> HashMap<String, Color32>) {
        if self.highlight_key != Some(key) {
            self.halos = build();
            self.highlight_key = Some(key);
        }
    }
}
