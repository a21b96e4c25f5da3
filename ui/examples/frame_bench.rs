//! Frame time with a big selection and a big rollout: one whole app frame
//! (logic, layout of every panel, tessellation; headless egui context, no
//! GPU) at 10,000 synthetic devices, with 5,000 of them selected and a
//! rollout in progress on 1,000 — printed beside the same frame with
//! nothing selected and no rollout, measured in the same run (the
//! reference). Goal: ≤ 8 ms median.
//!
//! `cargo run -p edgefleet --example frame_bench` (the dev profile; say so
//! when quoting figures).

#[path = "../benches/support/frame_fixture.rs"]
mod frame_fixture;

use edgefleet_fleet::{RolloutPlan, StepProgress, StepState};
use edgefleet_ui::app::{App, Phase, RolloutView, SharedSteps, Tab, UiCommand, lock_steps};
use frame_fixture::{TIMED_FRAMES, app_with, median_ms};
use std::path::PathBuf;

const DEVICES: usize = 10_000;
const SELECTED: usize = 5_000;
const IN_ROLLOUT: usize = 1_000;
/// Seconds of metrics per device.
const HISTORY_S: u64 = 10;

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

fn main() {
    let profile = if cfg!(debug_assertions) { "dev (debug assertions on)" } else { "release" };
    println!("frame_bench: {DEVICES} devices, profile {profile}, median of {TIMED_FRAMES} frames");
    println!(
        "{:>12} {:>26} {:>26} {:>7}",
        "tab", "nothing selected, no rollout (ms)", "5,000 selected + rollout on 1,000 (ms)", "ratio"
    );
    for tab in [Tab::Map, Tab::Deployments, Tab::Charts] {
        let mut plain = app_with(DEVICES, HISTORY_S);
        plain.state.tab = tab;
        let reference = median_ms(&egui::Context::default(), |ui| plain.frame_ui(ui));
        drop(plain);

        let mut busy = app_with(DEVICES, HISTORY_S);
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
