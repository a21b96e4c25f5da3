//! The fit panel's "Measure on device" with egui_kittest (no display, no
//! GPU), against the demo's simulated agents on 127.0.0.1: the button runs
//! the fleet's measurement as a job, the panel then shows the calibrated
//! range next to the estimate, labels a simulated device's figures
//! "synthetic" (never "measured"), says where the calibration came from,
//! and shows the total latency and, for a battery device only, battery life.

mod support;

use edgefleet_core::DeviceType;
use edgefleet_fleet::JobState;
use edgefleet_ui::app::{App, AppConfig, UiCommand};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::time::Duration;
use support::wait_until;

/// The demo fleets of two tests would share device ids on `lo`: one at a time.
static ONE_DEMO_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn harness() -> Harness<'static, App> {
    support::harness(App::new_for_test(AppConfig::demo(6)).expect("the app starts"))
}

/// Open the fit panel of the demo MLP on the first device of type `t`.
fn open_fit(h: &mut Harness<'_, App>, t: DeviceType) -> String {
    wait_until(h, Duration::from_secs(30), "the demo fleet with metrics and the demo models", |app| {
        app.state.fleet.len() == 6
            && app.state.fleet.entries().iter().all(|e| e.metrics.is_some())
            && app.state.library.cards.iter().any(|c| c.name == "mlp_digits" && c.path.is_some())
    });
    let app = h.state();
    let device_id =
        app.state.fleet.entries().iter().find(|e| e.device.device_type == t).expect("device").id().to_owned();
    let card_id = app.state.library.cards.iter().find(|c| c.name == "mlp_digits").expect("card").id;
    h.state_mut().push_command(UiCommand::OpenFit { card_id, device_id: device_id.clone() });
    h.run_steps(3);
    device_id
}

#[test]
fn measure_on_device_calibrates_and_labels_synthetic_figures() {
    let _one = ONE_DEMO_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut h = harness();
    let camera = open_fit(&mut h, DeviceType::SmartCamera);
    h.get_by_label_contains("Not calibrated");
    assert!(h.query_by_label("Synthetic p50 (ms)").is_some(), "a simulated device's column is synthetic");
    assert!(h.query_by_label("Measured p50 (ms)").is_none());
    // A camera has no battery.
    h.get_by_label("No battery: battery life does not apply");

    h.get_by_label("📏 Measure on device").click();
    h.run_steps(2);
    let job = h.state().state.fit.as_ref().and_then(|f| f.measure_job).expect("the button starts a job");
    wait_until(&mut h, Duration::from_secs(60), "the measurement to end", |app| {
        app.state.jobs.get(job).is_some_and(|j| j.state != JobState::Running)
            && app.state.fit.as_ref().is_some_and(|f| f.calibration.is_some())
    });
    let state = h.state().state.jobs.get(job).map(|j| j.state.clone());
    assert!(matches!(state, Some(JobState::Done(_))), "{state:?}");
    let fit = h.state().state.fit.clone().expect("the panel is still open");
    assert_eq!(fit.device_id, camera);
    let cal = fit.calibration.as_ref().expect("calibrated");
    assert!(cal.models.iter().any(|m| m == "mlp_digits"), "{cal:?}");
    // The calibrated column appears next to the estimate; the device's own
    // figures are there, labelled synthetic.
    h.get_by_label("Calibrated (ms)");
    h.get_by_label("Synthetic p50 (ms)");
    assert!(h.query_by_label("Measured p50 (ms)").is_none(), "a simulated device's figure is never 'measured'");
    assert!(fit.fit.per_batch.iter().any(|b| b.measured_latency_ms.is_some()), "{:?}", fit.fit.per_batch);
    // The memory the simulated device reports is synthetic too.
    assert!(!fit.measured_peak_mb.is_empty(), "the benchmark reports peak memory per batch");
    h.get_by_label("Synthetic peak (MB)");
    assert!(h.query_by_label("Measured peak (MB)").is_none());
    h.get_by_label_contains("Calibrated from 1");
    h.get_by_label_contains("total ");

    // A phone has a battery: battery life shows at a request rate.
    h.state_mut().push_command(UiCommand::CloseFit);
    h.run_steps(2);
    open_fit(&mut h, DeviceType::MobilePhone);
    h.state_mut().push_command(UiCommand::SetFitRequestRate(5.0));
    h.run_steps(3);
    h.get_by_label_contains("battery life");
    assert!(h.query_by_label("No battery: battery life does not apply").is_none());
}

#[test]
fn plan_placement_shows_each_choice_with_its_reason_and_deploys_the_plan() {
    let _one = ONE_DEMO_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut h = harness();
    wait_until(&mut h, Duration::from_secs(30), "the demo fleet with metrics and the demo models", |app| {
        app.state.fleet.len() == 6
            && app.state.fleet.entries().iter().all(|e| e.metrics.is_some())
            && app.state.library.cards.iter().filter(|c| c.path.is_some()).count() >= 2
    });
    h.get_by_label("📐 Plan placement").click();
    h.run_steps(3);
    assert!(h.state().state.placement.is_some(), "the window opens");
    // Choose the two shipped models with files; the MLP matters twice as much.
    let cards: Vec<(i64, String)> = h
        .state()
        .state
        .library
        .cards
        .iter()
        .filter(|c| c.path.is_some() && c.parent_id.is_none())
        .map(|c| (c.id, c.name.clone()))
        .collect();
    let chosen: Vec<(i64, f64)> =
        cards.iter().map(|(id, name)| (*id, if name == "mlp_digits" { 2.0 } else { 1.0 })).collect();
    h.state_mut().push_command(UiCommand::PlanPlacement { models: chosen, selection_only: false });
    wait_until(&mut h, Duration::from_secs(30), "a plan", |app| {
        app.state.placement.as_ref().is_some_and(|p| p.plan.is_some() || p.error.is_some())
    });
    let view = h.state().state.placement.clone().expect("window");
    let plan = view.plan.clone().unwrap_or_else(|| panic!("no plan: {:?}", view.error));
    assert_eq!(plan.choices.len() + plan.unplaced.len(), cards.len());
    assert_eq!(plan.choices.len(), cards.len(), "6 devices have room for two tiny models: {plan:?}");
    for d in &plan.devices {
        assert!(d.used_mb <= d.capacity_mb + 1e-6, "{d:?}");
    }
    // 2 models × 6 devices: too many devices for the exact search, said so.
    h.get_by_label_contains("Total cost");
    for c in &plan.choices {
        h.get_by_label(&c.reason);
    }

    h.get_by_label("⬆ Deploy this plan").click();
    h.run_steps(2);
    let job = h.state().state.placement.as_ref().and_then(|p| p.deploy_job).expect("a deploy job");
    wait_until(&mut h, Duration::from_secs(90), "the plan's rollouts", |app| {
        app.state.jobs.get(job).is_some_and(|j| j.state != JobState::Running)
    });
    let state = h.state().state.jobs.get(job).map(|j| j.state.clone());
    assert!(matches!(state, Some(JobState::Done(_))), "{state:?}");
    // Each placed model is active on its device.
    for c in &plan.choices {
        wait_until(&mut h, Duration::from_secs(10), "the device to list the model", |app| {
            app.state
                .fleet
                .get(&c.device_id)
                .is_some_and(|e| e.models.iter().any(|m| m.active && m.name == c.model && m.version == c.version))
        });
    }
}
