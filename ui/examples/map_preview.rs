//! A window showing the map widget with ~500 pseudo-random devices around
//! Paris (and a few elsewhere), in three views side by side: the world
//! (clusters), the Paris region (clusters) and central Paris zoomed in
//! (single markers, a rack of co-located devices fanned apart). Devices
//! without a location sit in the tray at the bottom.
//!
//! `cargo run -p edgefleet --example map_preview`

use edgefleet_core::device::DeviceStatus;
use edgefleet_ui::map::{Basemap, MapMarker, MapState, map_ui, tray_ui};

/// Deterministic xorshift, so every run shows the same fleet.
fn rng(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Roughly normal, for a fleet dense in the centre and thinning outwards.
fn gaussian(next: &mut impl FnMut() -> f64) -> f64 {
    (0..6).map(|_| next()).sum::<f64>() - 3.0
}

fn fleet() -> Vec<MapMarker> {
    let mut next = rng(0x5EED_CAFE_F00D_1234);
    let status = |r: f64| match r {
        r if r < 0.8 => DeviceStatus::Online,
        r if r < 0.92 => DeviceStatus::Stale,
        _ => DeviceStatus::Offline,
    };
    let mut markers: Vec<MapMarker> = (0..480)
        .map(|i| {
            let lat = 48.8566 + 0.35 * gaussian(&mut next);
            let lon = 2.3522 + 0.5 * gaussian(&mut next);
            let s = status(next());
            MapMarker::new(format!("paris-{i:03}"), format!("edge-{i:03}"), lat, lon, s, next() as f32)
        })
        .collect();
    // A rack of eight devices at one address: co-located.
    for k in 0..8 {
        let s = if k == 5 { DeviceStatus::Offline } else { DeviceStatus::Online };
        markers.push(MapMarker::new(
            format!("rack-{k}"),
            format!("rack A / slot {k}"),
            48.8606,
            2.3376,
            s,
            0.1 * k as f32 + 0.1,
        ));
    }
    for (id, lat, lon) in
        [("nyc-1", 40.71, -74.0), ("tokyo-1", 35.68, 139.69), ("nairobi-1", -1.29, 36.82), ("sydney-1", -33.87, 151.21)]
    {
        markers.push(MapMarker::new(id, id, lat, lon, DeviceStatus::Online, 0.5));
    }
    markers
}

struct Preview {
    basemap: Basemap,
    markers: Vec<MapMarker>,
    unlocated: Vec<(String, String)>,
    views: [(&'static str, MapState); 3],
    selected: Option<String>,
}

impl eframe::App for Preview {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::Panel::bottom("tray").show(ui, |ui| {
            if let Some(id) = tray_ui(ui, &self.unlocated, self.selected.as_deref()) {
                self.selected = Some(id);
            }
        });
        ui.columns(3, |columns| {
            for (column, (title, state)) in columns.iter_mut().zip(self.views.iter_mut()) {
                column.strong(*title);
                let out = map_ui(column, state, &self.basemap, &self.markers, self.selected.as_deref());
                if let Some(id) = out.clicked {
                    self.selected = Some(id);
                }
            }
        });
    }
}

fn main() -> anyhow::Result<()> {
    let basemap = Basemap::embedded()?;
    let preview = Preview {
        basemap,
        markers: fleet(),
        unlocated: (1..=3).map(|i| (format!("lab-{i}"), format!("lab bench {i}"))).collect(),
        views: [
            ("World", MapState { center_lat: 25.0, center_lon: 10.0, zoom: 0.9 }),
            ("Paris region", MapState { center_lat: 48.86, center_lon: 2.35, zoom: 8.3 }),
            ("Central Paris", MapState { center_lat: 48.8606, center_lon: 2.3376, zoom: 14.0 }),
        ],
        selected: Some("paris-007".to_string()),
    };
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default().with_inner_size([1440.0, 900.0]).with_title("edgefleet map preview"),
        ..Default::default()
    };
    eframe::run_native("edgefleet map preview", options, Box::new(|_cc| Ok(Box::new(preview))))
        .map_err(|e| anyhow::anyhow!("eframe failed: {e}"))
}
