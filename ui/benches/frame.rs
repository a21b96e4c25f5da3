//! One whole app frame — logic (event drain, fleet sample), layout of every
//! panel (`Context::run_ui`) and tessellation — with 0 (the app's own
//! overhead), 100, 1,000 and 10,000 synthetic devices, on the list + Map tab and the list + Charts tab.
//! No network: the fleet model is filled directly and the engine runs with
//! mDNS off. The reference is an empty frame measured in the same run.
//!
//! `cargo bench -p edgefleet --bench frame` (goal: ≤ 8 ms median at 10,000).

use edgefleet_core::wire::{Metrics, ModelStats};
use edgefleet_core::{Device, DeviceStatus, DeviceType, Location};
use edgefleet_fleet::EngineConfig;
use edgefleet_ui::app::{App, AppConfig, Tab};
use egui::{RawInput, Rect, Vec2, pos2};
use std::hint::black_box;
use std::time::Instant;

const SCREEN: Vec2 = Vec2::new(1440.0, 900.0);
const WARMUP_FRAMES: usize = 5;
const TIMED_FRAMES: usize = 40;

fn rng(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed | 1;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn app_with(n: usize) -> App {
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
        // Every 20th device has no location: it goes to the tray.
        if i % 20 != 0 {
            d.location = Some(Location { latitude: 48.0 + 2.0 * next(), longitude: 1.0 + 3.0 * next() });
        }
        app.state.fleet.upsert_device(d);
    }
    let ids: Vec<String> = app.state.fleet.entries().iter().map(|e| e.id().to_owned()).collect();
    for t in 0..60 {
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
                    offloaded: 0,
                    upstream_failures: 0,
                    ..ModelStats::default()
                }],
            };
            app.state.fleet.set_metrics(id, m, t as f64 - 60.0);
        }
        app.state.fleet.sample_fleet(t as f64 - 60.0);
    }
    app.state.selected = ids.get(1).cloned();
    app
}

fn input() -> RawInput {
    RawInput { screen_rect: Some(Rect::from_min_size(pos2(0.0, 0.0), SCREEN)), ..RawInput::default() }
}

/// Median ms of one frame: run_ui + tessellate.
fn median_ms(ctx: &egui::Context, mut frame: impl FnMut(&mut egui::Ui)) -> f64 {
    let mut times = Vec::with_capacity(TIMED_FRAMES);
    for i in 0..WARMUP_FRAMES + TIMED_FRAMES {
        let start = Instant::now();
        let out = ctx.run_ui(input(), &mut frame);
        let prims = ctx.tessellate(out.shapes, out.pixels_per_point);
        black_box(prims);
        if i >= WARMUP_FRAMES {
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let ctx = egui::Context::default();
    let empty = median_ms(&ctx, |ui| {
        black_box(ui);
    });
    println!("reference: empty frame {empty:.3} ms median");
    println!("{:>7} {:>8} {:>10} {:>9}", "devices", "tab", "median ms", "× empty");
    for n in [0, 100, 1_000, 10_000] {
        let mut app = app_with(n);
        for tab in [Tab::Map, Tab::Charts] {
            app.state.tab = tab;
            // A fresh context per case: no layout cache carried between cases.
            let ctx = egui::Context::default();
            let ms = median_ms(&ctx, |ui| app.frame_ui(ui));
            println!("{n:>7} {:>8} {ms:>10.3} {:>9.1}", tab.label(), ms / empty.max(1e-6));
        }
    }
}
