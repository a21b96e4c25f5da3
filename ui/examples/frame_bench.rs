//! Frame time with a big selection and a big rollout: one whole app frame
//! (logic, layout of every panel, tessellation; headless egui context, no
//! GPU) at 10,000 synthetic devices, with 5,000 of them selected and a
//! rollout in progress on 1,000 — printed beside the same frame with
//! nothing selected and no rollout, measured in the same run (the
//! reference). Goal: ≤ 8 ms median.
//!
//! `cargo run -p edgefleet --example frame_bench` (the dev profile; say so
//! when quoting figures).

use edgefleet_core::wire::{Metrics, ModelStats};
use edgefleet_core::{Device, DeviceStatus, DeviceType, Location};
use edgefleet_fleet::{EngineConfig, RolloutPlan, StepProgress, StepState};
use edgefleet_ui::app::{App, AppConfig, Phase, RolloutView, SharedSteps, Tab, UiCommand, lock_steps};
use egui::{RawInput, Rect, Vec2, pos2};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

const DEVICES: usize = 10_000;
const SELECTED: usize = 5_000;
const IN_ROLLOUT: usize = 1_000;
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

/// The app with `n` devices and a few metrics each (no network, mDNS off).
fn app_with(n: usize) -> App {
    let engine = EngineConfig { mdns: false, ..EngineConfig::default() };
    let mut config = AppConfig::new(engine, None);
    config.seed_library = false;
    let mut app = App::new_for_test(config).expect("app");
    let mut next = rng(n as u64);
    let statuses = [DeviceStatus::Online, DeviceStatus::Online, DeviceStatus::Stale, DeviceStatus::Offline];
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
    for t in 0..10 {
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
                    qps: next(),
                    ..ModelStats::default()
                }],
            };
            app.state.fleet.set_metrics(id, m, t as f64 - 10.0);
        }
    }
    app.state.selected = ids.get(1).cloned();
    app
}

/// A rollout in progress on the first `n` devices: a third done, a third
/// uploading, a few failed, the rest pending.
fn add_rollout(app: &mut App, n: usize) {
    let targets: Vec<String> = app.state.fleet.entries().iter().take(n).map(|e| e.id().to_owned()).collect();
    let steps = SharedSteps::default();
    {
        let mut table = lock_steps(&steps);
        table.deployment_id = Some(1);
        for (i, dev) in targets.iter().enumerate() {
            let state = match i % 3 {
                _ if i % 50 == 7 => StepState::Failed,
                0 => StepState::Done,
                1 => StepState::Uploading,
                _ => continue,
            };
            let detail = (state == StepState::Failed).then(|| "prior:none; upload refused: too large".to_owned());
            table.steps.insert(
                dev.clone(),
                StepProgress {
                    deployment_id: 1,
                    device_id: dev.clone(),
                    state,
                    bytes_sent: 40_000,
                    total_bytes: 120_000,
                    detail,
                },
            );
        }
    }
    let key = app.rollouts_mut().next_key();
    app.rollouts_mut().list.push(RolloutView {
        key,
        name: "mlp_digits".into(),
        version: "1".into(),
        model_path: PathBuf::from("mlp_digits.onnx"),
        names: targets.iter().map(|id| (id.clone(), format!("name of {id}"))).collect(),
        targets,
        excluded: Vec::new(),
        plan: RolloutPlan::default(),
        steps,
        phase: Phase::Running,
        job: None,
        stop: None,
        ended: None,
    });
}

fn input() -> RawInput {
    RawInput { screen_rect: Some(Rect::from_min_size(pos2(0.0, 0.0), SCREEN)), ..RawInput::default() }
}

/// Median ms of one frame: run_ui + tessellate.
fn median_ms(ctx: &egui::Context, mut frame: impl FnMut(&mut egui::Ui)) -> f64 {
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

fn main() {
    let profile = if cfg!(debug_assertions) { "dev (debug assertions on)" } else { "release" };
    println!("frame_bench: {DEVICES} devices, profile {profile}, median of {TIMED_FRAMES} frames");
    println!(
        "{:>12} {:>26} {:>26} {:>7}",
        "tab", "nothing selected, no rollout (ms)", "5,000 selected + rollout on 1,000 (ms)", "ratio"
    );
    for tab in [Tab::Map, Tab::Deployments, Tab::Charts] {
        let mut plain = app_with(DEVICES);
        plain.state.tab = tab;
        let reference = median_ms(&egui::Context::default(), |ui| plain.frame_ui(ui));
        drop(plain);

        let mut busy = app_with(DEVICES);
        busy.state.tab = tab;
        let ids: Vec<String> =
            busy.state.fleet.entries().iter().step_by(2).take(SELECTED).map(|e| e.id().to_owned()).collect();
        busy.push_command(UiCommand::SelectMany(ids));
        add_rollout(&mut busy, IN_ROLLOUT);
        let loaded = median_ms(&egui::Context::default(), |ui| busy.frame_ui(ui));
        assert_eq!(busy.state.selection.len(), SELECTED);
        println!("{:>12} {reference:>33.3} {loaded:>38.3} {:>7.2}", tab.label(), loaded / reference.max(1e-6));
    }
}
