//! Headless tests of the whole widget with egui_kittest: it renders 10,000
//! markers, reports clicks on markers at their screen positions, zooms into
//! clusters, fans co-located markers, pans on drag, and the tray reports clicks.

use std::sync::OnceLock;

use edgefleet_core::device::DeviceStatus;
use egui::{Event, Modifiers, PointerButton, Pos2, Rect, Vec2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use super::*;

fn basemap() -> &'static Basemap {
    static MAP: OnceLock<Basemap> = OnceLock::new();
    MAP.get_or_init(|| Basemap::embedded().unwrap())
}

struct Scene {
    state: MapState,
    markers: Vec<MapMarker>,
    selected: Option<String>,
    clicked: Vec<String>,
    hovered: Option<String>,
    map_rect: Rect,
}

impl Scene {
    fn new(state: MapState, markers: Vec<MapMarker>) -> Self {
        Scene { state, markers, selected: None, clicked: Vec::new(), hovered: None, map_rect: Rect::NOTHING }
    }
}

fn harness(scene: Scene) -> Harness<'static, Scene> {
    Harness::builder().with_size(Vec2::new(900.0, 600.0)).build_ui_state(
        |ui, scene: &mut Scene| {
            let out = map_ui(ui, &mut scene.state, basemap(), &scene.markers, scene.selected.as_deref());
            scene.map_rect = out.response.rect;
            scene.hovered = out.hovered;
            if let Some(id) = out.clicked {
                scene.selected = Some(id.clone());
                scene.clicked.push(id);
            }
        },
        scene,
    )
}

fn click(harness: &mut Harness<'_, Scene>, pos: Pos2) {
    harness.event(Event::PointerMoved(pos));
    harness.run();
    for pressed in [true, false] {
        harness.event(Event::PointerButton {
            pos,
            button: PointerButton::Primary,
            pressed,
            modifiers: Modifiers::NONE,
        });
        harness.run();
    }
}

/// Deterministic pseudo-random markers in a box around Paris.
fn paris_markers(n: usize) -> Vec<MapMarker> {
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let statuses = [DeviceStatus::Online, DeviceStatus::Online, DeviceStatus::Stale, DeviceStatus::Offline];
    (0..n)
        .map(|i| {
            let lat = 48.0 + 1.6 * next();
            let lon = 1.5 + 2.0 * next();
            MapMarker::new(format!("dev-{i}"), format!("Device {i}"), lat, lon, statuses[i % 4], next() as f32)
        })
        .collect()
}

#[test]
fn renders_ten_thousand_markers_and_reports_a_click_on_one() {
    let mut markers = paris_markers(10_000);
    // One device alone in Lisbon, far from the crowd.
    markers.push(MapMarker::new("lisbon", "Lisbon gateway", 38.72, -9.14, DeviceStatus::Online, 0.4));
    let state = MapState { center_lat: 38.72, center_lon: -9.14, zoom: 14.0 };
    let mut h = harness(Scene::new(state, markers));
    h.run();
    let scene = h.state();
    let target = scene.state.project(scene.map_rect, 38.72, -9.14);
    assert!(scene.map_rect.contains(target));

    // Hovering reports the marker; clicking selects it.
    h.event(Event::PointerMoved(target + Vec2::new(2.0, 1.0)));
    h.run();
    assert_eq!(h.state().hovered.as_deref(), Some("lisbon"));
    click(&mut h, target + Vec2::new(2.0, 1.0));
    assert_eq!(h.state().clicked, vec!["lisbon".to_string()]);
    assert_eq!(h.state().selected.as_deref(), Some("lisbon"));

    // Empty sea: no marker clicked.
    click(&mut h, target + Vec2::new(200.0, 150.0));
    assert_eq!(h.state().clicked.len(), 1);

    // Zoomed out over all 10,000 markers: renders, and a click on Paris hits a cluster, not a marker.
    h.state_mut().state = MapState { center_lat: 47.0, center_lon: 2.0, zoom: 4.0 };
    h.run();
    let paris = h.state().state.project(h.state().map_rect, 48.8, 2.5);
    let zoom_before = h.state().state.zoom;
    click(&mut h, paris);
    assert_eq!(h.state().clicked.len(), 1, "a cluster click selects nothing");
    assert!(h.state().state.zoom >= zoom_before + 1.0, "a cluster click zooms in: {}", h.state().state.zoom);
}

#[test]
fn co_located_markers_are_each_clickable() {
    let ids = ["rack-a", "rack-b", "rack-c", "rack-d"];
    let markers: Vec<_> =
        ids.iter().map(|id| MapMarker::new(*id, *id, 52.52, 13.405, DeviceStatus::Online, 0.3)).collect();

    // Zoomed out they form one cluster; clicking it zooms far enough to fan them.
    let mut h = harness(Scene::new(MapState { center_lat: 52.52, center_lon: 13.405, zoom: 5.0 }, markers.clone()));
    h.run();
    let spot = h.state().state.project(h.state().map_rect, 52.52, 13.405);
    click(&mut h, spot);
    assert!(h.state().clicked.is_empty());
    assert!(h.state().state.zoom >= CLUSTER_BELOW_ZOOM, "zoomed to {}", h.state().state.zoom);

    // Now each fanned marker is at its own place, and clicking it gives its id.
    let rect = h.state().map_rect;
    let center = h.state().state.project(rect, 52.52, 13.405);
    for (k, id) in ids.iter().enumerate() {
        let pos = spread_position(center, k, ids.len(), SPREAD_GAP_PX);
        click(&mut h, pos);
        assert_eq!(h.state().clicked.last().map(String::as_str), Some(*id), "fanned marker {k}");
    }
}

#[test]
fn drag_pans_and_buttons_zoom() {
    let mut h = harness(Scene::new(MapState { center_lat: 0.0, center_lon: 0.0, zoom: 3.0 }, Vec::new()));
    h.run();
    let start = h.state().map_rect.center();
    h.event(Event::PointerMoved(start));
    h.drag_at(start);
    h.run();
    for step in 1..=5 {
        h.event(Event::PointerMoved(start + Vec2::new(-20.0 * step as f32, 0.0)));
        h.run();
    }
    h.drop_at(start + Vec2::new(-100.0, 0.0));
    h.run();
    // Content moved left by ~100 pt, so the centre moved east.
    let lon = h.state().state.center_lon;
    let expected = 100.0 / h.state().state.world_size_px() * 360.0;
    assert!((lon - expected).abs() < expected * 0.25, "center_lon {lon}, expected about {expected}");

    h.get_by_label("+").click();
    h.run();
    assert_eq!(h.state().state.zoom, 4.0);
    h.get_by_label("−").click();
    h.run();
    assert_eq!(h.state().state.zoom, 3.0);
}

#[test]
fn fit_button_shows_every_marker() {
    let markers = vec![
        MapMarker::new("a", "A", 60.17, 24.94, DeviceStatus::Online, 0.1),
        MapMarker::new("b", "B", -33.92, 18.42, DeviceStatus::Offline, 0.9),
    ];
    let mut h = harness(Scene::new(MapState { center_lat: 0.0, center_lon: -120.0, zoom: 8.0 }, markers));
    h.run();
    h.get_by_label("Fit").click();
    h.run();
    let scene = h.state();
    for m in &scene.markers {
        assert!(scene.map_rect.contains(scene.state.project(scene.map_rect, m.lat, m.lon)), "{} visible", m.id);
    }
}

#[test]
fn tray_reports_the_clicked_device() {
    let items = vec![("dev-7".to_string(), "sensor-7".to_string()), ("dev-9".to_string(), "camera-9".to_string())];
    let mut h = Harness::new_ui_state(
        |ui, clicked: &mut Option<String>| {
            if let Some(id) = tray_ui(ui, &items, Some("dev-9")) {
                *clicked = Some(id);
            }
        },
        None,
    );
    h.run();
    h.get_by_label("sensor-7").click();
    h.run();
    assert_eq!(h.state().as_deref(), Some("dev-7"));
}

#[test]
fn bad_marker_coordinates_are_skipped_not_fatal() {
    let markers = vec![
        MapMarker::new("nan", "NaN", f64::NAN, 0.0, DeviceStatus::Online, f32::NAN),
        MapMarker::new("inf", "Inf", 0.0, f64::INFINITY, DeviceStatus::Online, 7.0),
        MapMarker::new("ok", "OK", 0.0, 0.0, DeviceStatus::Online, -3.0),
    ];
    let mut h = harness(Scene::new(MapState { center_lat: 0.0, center_lon: 0.0, zoom: 14.0 }, markers));
    h.run();
    let pos = h.state().state.project(h.state().map_rect, 0.0, 0.0);
    click(&mut h, pos);
    assert_eq!(h.state().clicked, vec!["ok".to_string()]);
}
