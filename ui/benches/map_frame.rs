//! One map frame — egui layout of the widget (`Context::run_ui`) plus
//! tessellation (`Context::tessellate`) — at 100, 1,000 and 10,000
//! markers, zoomed out over the world and zoomed in over Paris, against the
//! same frame with the basemap only (no markers), measured in the same run.
//!
//! Prints the median ms per frame and the ratio to the basemap-only frame,
//! for a still view and for a view panning 1 pt a frame, then runs the
//! panning frames under criterion.
//!
//! `cargo bench -p edgefleet --bench map_frame`

use std::hint::black_box;
use std::time::Instant;

use criterion::Criterion;
use edgefleet_core::device::DeviceStatus;
use edgefleet_ui::map::{Basemap, MapMarker, MapState, map_ui};
use egui::{Pos2, RawInput, Rect, Vec2};

const SCREEN: Vec2 = Vec2::new(1440.0, 900.0);
const WARMUP_FRAMES: usize = 10;
const TIMED_FRAMES: usize = 60;

/// Deterministic xorshift, so every run draws the same markers.
fn rng(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn markers(n: usize, lat: (f64, f64), lon: (f64, f64)) -> Vec<MapMarker> {
    let mut next = rng(0x9E37_79B9_7F4A_7C15 ^ n as u64);
    let statuses =
        [DeviceStatus::Online, DeviceStatus::Online, DeviceStatus::Online, DeviceStatus::Stale, DeviceStatus::Offline];
    (0..n)
        .map(|i| {
            let la = lat.0 + (lat.1 - lat.0) * next();
            let lo = lon.0 + (lon.1 - lon.0) * next();
            MapMarker::new(
                format!("dev-{i}"),
                format!("device {i}"),
                la,
                lo,
                statuses[i % statuses.len()],
                next() as f32,
            )
        })
        .collect()
}

struct View {
    name: &'static str,
    state: MapState,
    /// Where the markers are scattered: (lat range, lon range).
    area: ((f64, f64), (f64, f64)),
}

fn views() -> Vec<View> {
    vec![
        View {
            name: "zoomed out (world, clustered)",
            state: MapState { center_lat: 20.0, center_lon: 0.0, zoom: 2.4 },
            area: ((-50.0, 70.0), (-170.0, 170.0)),
        },
        View {
            name: "zoomed in (Paris region, clustered)",
            state: MapState { center_lat: 48.8, center_lon: 2.5, zoom: 8.5 },
            area: ((47.5, 50.0), (0.0, 5.0)),
        },
        View {
            name: "zoomed in (Paris, street level)",
            state: MapState { center_lat: 48.85, center_lon: 2.35, zoom: 13.0 },
            area: ((48.82, 48.88), (2.28, 2.42)),
        },
    ]
}

/// One full frame: layout + paint commands, then tessellation into meshes.
fn frame(ctx: &egui::Context, basemap: &Basemap, state: &mut MapState, markers: &[MapMarker]) -> usize {
    let input = RawInput { screen_rect: Some(Rect::from_min_size(Pos2::ZERO, SCREEN)), ..Default::default() };
    let output = ctx.run_ui(input, |ui| {
        let out = map_ui(ui, state, basemap, markers, None);
        black_box(out.clicked);
    });
    let primitives = ctx.tessellate(output.shapes, output.pixels_per_point);
    primitives.len()
}

/// Median frame time. `panning` moves the view 1 pt each frame (the basemap
/// is rebuilt every frame); otherwise the view stays put, like a live
/// dashboard between user inputs (the basemap comes from the cache).
fn median_ms(ctx: &egui::Context, basemap: &Basemap, start: &MapState, markers: &[MapMarker], panning: bool) -> f64 {
    let mut state = *start;
    let one = |state: &mut MapState| {
        if panning {
            state.pan_by(Vec2::new(1.0, 0.0));
        } else {
            *state = *start;
        }
        frame(ctx, basemap, state, markers)
    };
    for _ in 0..WARMUP_FRAMES {
        black_box(one(&mut state));
    }
    let mut times: Vec<f64> = (0..TIMED_FRAMES)
        .map(|_| {
            let start = Instant::now();
            black_box(one(&mut state));
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let basemap = match Basemap::embedded() {
        Ok(map) => map,
        Err(err) => {
            eprintln!("cannot load the embedded basemap: {err}");
            std::process::exit(1);
        }
    };
    let ctx = egui::Context::default();

    println!("map frame (run_ui + tessellate), {}x{} points, median of {TIMED_FRAMES} frames", SCREEN.x, SCREEN.y);
    println!("{:<40} {:>8} {:>8} {:>11} {:>8}", "view", "motion", "markers", "median ms", "ratio");
    for view in views() {
        for (motion, panning) in [("still", false), ("panning", true)] {
            let reference = median_ms(&ctx, &basemap, &view.state, &[], panning);
            println!("{:<40} {:>8} {:>8} {:>11.3} {:>8}", view.name, motion, "0 (ref)", reference, "1.00");
            for n in [100, 1_000, 10_000] {
                let markers = markers(n, view.area.0, view.area.1);
                let ms = median_ms(&ctx, &basemap, &view.state, &markers, panning);
                println!("{:<40} {:>8} {:>8} {:>11.3} {:>8.2}", view.name, motion, n, ms, ms / reference);
            }
        }
    }

    let mut criterion = Criterion::default().sample_size(20).configure_from_args();
    for view in views() {
        let mut group = criterion.benchmark_group(format!("map_frame/{} panning", view.name));
        for n in [0, 10_000] {
            let markers = markers(n, view.area.0, view.area.1);
            group.bench_function(format!("{n} markers"), |b| {
                let mut state = view.state;
                b.iter(|| {
                    state.pan_by(Vec2::new(1.0, 0.0));
                    frame(&ctx, &basemap, &mut state, &markers)
                });
            });
        }
        group.finish();
    }
    criterion.final_summary();
}
