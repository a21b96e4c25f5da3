//! The fixture of the frame benchmarks (`benches/frame.rs` and
//! `examples/frame_bench.rs`, which include this file): the app over `n`
//! synthetic devices filled in directly (no network, mDNS off) with some
//! seconds of metrics, a 1440×900 screen, and the median time of one whole
//! frame (logic, layout of every panel, tessellation) in a headless egui
//! context.
#![allow(dead_code)]

use edgefleet_core::wire::{Metrics, ModelStats};
use edgefleet_core::{Device, DeviceStatus, DeviceType, Location};
use edgefleet_fleet::EngineConfig;
use edgefleet_ui::app::{App, AppConfig};
use egui::{RawInput, Rect, Vec2, pos2};
use std::hint::black_box;
use std::time::Instant;

pub const SCREEN: Vec2 = Vec2::new(1440.0, 900.0);
pub const WARMUP_FRAMES: usize = 5;
pub const TIMED_FRAMES: usize = 40;

/// A small xorshift: the same fleet on every run.
pub fn rng(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed | 1;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The app with `n` devices (3 in 5 online, one stale, one offline; every
/// 20th without a location, so in the map's tray) and `history_s` seconds
/// of metrics each, sampled into the fleet series; the second device shown
/// in the detail.
pub fn app_with(n: usize, history_s: u64) -> App {
    let engine = EngineConfig { mdns: false, ..EngineConfig::default() };
    let mut config = AppConfig::new(engine, None);
    config.seed_library = false;
    let mut app = App::new_for_test(config).expect("app");
    let mut next = rng(n as u64);
    let statuses =
        [DeviceStatus::Online, DeviceStatus::Online, DeviceStatus::Online, DeviceStatus::Stale, DeviceStatus::Offline];
    for i in 0..n {
        let t = DeviceType::ALL[i % DeviceType::ALL.len()];
        let mut d = Device::new(format!("dev-{i:05}"), t, 4, 2048, 16.0);
        d.name = Some(format!("{} {i}", t.label()));
        d.status = statuses[i % statuses.len()];
        if i % 20 != 0 {
            d.location = Some(Location { latitude: 48.0 + 2.0 * next(), longitude: 1.0 + 3.0 * next() });
        }
        app.state.fleet.upsert_device(d);
    }
    let ids: Vec<String> = app.state.fleet.entries().iter().map(|e| e.id().to_owned()).collect();
    let start_s = -(history_s as f64);
    for t in 0..history_s {
        for id in &ids {
            let m = Metrics {
                timestamp_ms: t * 1000,
                cpu_load: next(),
                memory_used_mb: (2048.0 * next()) as u64,
                memory_total_mb: 2048,
                storage_free_gb: 8.0,
                temperature_c: None,
                battery_percent: None,
                uptime_s: t,
                models: vec![ModelStats {
                    name: "m".into(),
                    version: "1".into(),
                    requests: 10,
                    qps: 10.0 * next(),
                    p50_ms: 2.0 + next(),
                    p99_ms: 5.0,
                    ..ModelStats::default()
                }],
            };
            app.state.fleet.set_metrics(id, m, start_s + t as f64);
        }
        app.state.fleet.sample_fleet(start_s + t as f64);
    }
    app.state.selected = ids.get(1).cloned();
    app
}

/// One frame's input: the screen, nothing else.
pub fn input() -> RawInput {
    RawInput { screen_rect: Some(Rect::from_min_size(pos2(0.0, 0.0), SCREEN)), ..RawInput::default() }
}

/// Median ms of one frame (`run_ui` + tessellation) over [`TIMED_FRAMES`],
/// after [`WARMUP_FRAMES`].
pub fn median_ms(ctx: &egui::Context, mut frame: impl FnMut(&mut egui::Ui)) -> f64 {
    let mut times = Vec::with_capacity(TIMED_FRAMES);
    for i in 0..WARMUP_FRAMES + TIMED_FRAMES {
        let start = Instant::now();
        let mut out = ctx.run_ui(input(), &mut frame);
        // No renderer here to upload font atlas changes to.
        out.textures_delta.clear();
        black_box(ctx.tessellate(out.shapes, out.pixels_per_point));
        if i >= WARMUP_FRAMES {
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}
