//! The group fit and the comparison use the device's calibration, with
//! egui_kittest (no display, no GPU), against the demo's simulated agents on
//! 127.0.0.1: after "Measure on device" on one device, dropping the model on
//! a group holding it shows its estimate calibrated ("calibrated by the
//! benchmarks kept for 1 of 2 device(s)"), and "Compare variants" with that
//! device selected labels its estimate "(calibrated)" — the same calibration
//! the single-device fit panel uses.

mod support;

use edgefleet_core::DeviceType;
use edgefleet_fleet::JobState;
use edgefleet_ui::app::{App, AppConfig, UiCommand};
use egui_kittest::kittest::Queryable;
use std::time::Duration;
use support::wait_until;

#[test]
fn a_measured_device_is_calibrated_in_the_group_fit_and_the_comparison() {
    let mut h = support::harness(App::new_for_test(AppConfig::demo(6)).expect("the app starts"));
    wait_until(&mut h, Duration::from_secs(30), "the demo fleet with metrics and the demo models", |app| {
        app.state.fleet.len() == 6
            && app.state.fleet.entries().iter().all(|e| e.metrics.is_some())
            && app.state.library.cards.iter().any(|c| c.name == "mlp_digits" && c.path.is_some())
    });
    let (camera, other, card_id) = {
        let app = &h.state().state;
        let of = |t: DeviceType| {
            app.fleet.entries().iter().find(|e| e.device.device_type == t).expect("device").id().to_owned()
        };
        let card = app.library.cards.iter().find(|c| c.name == "mlp_digits" && c.parent_id.is_none()).expect("card");
        (of(DeviceType::SmartCamera), of(DeviceType::EdgeServer), card.id)
    };
    // Before any measurement: nothing is calibrated.
    h.state_mut().push_command(UiCommand::OpenGroupFit { card_id, device_ids: vec![camera.clone(), other.clone()] });
    h.run_steps(3);
    assert_eq!(h.state().state.group_fit.as_ref().map(|g| g.calibrated), Some(0));
    assert!(h.query_by_label_contains("Estimates calibrated by").is_none());
    h.state_mut().push_command(UiCommand::CloseGroupFit);

    // Measure the model on the camera (the fit panel's button, as a command).
    h.state_mut().push_command(UiCommand::OpenFit { card_id, device_id: camera.clone() });
    h.run_steps(3);
    h.state_mut().push_command(UiCommand::MeasureOnDevice { card_id, device_id: camera.clone() });
    h.run_steps(2);
    let job = h.state().state.fit.as_ref().and_then(|f| f.measure_job).expect("the measurement starts a job");
    wait_until(&mut h, Duration::from_secs(60), "the measurement to end and the runs to be read", |app| {
        app.state.jobs.get(job).is_some_and(|j| j.state != JobState::Running)
            && app.state.fleet.get(&camera).is_some_and(|e| !e.benchmark_runs.is_empty())
    });
    h.state_mut().push_command(UiCommand::CloseFit);

    h.state_mut().push_command(UiCommand::OpenGroupFit { card_id, device_ids: vec![camera.clone(), other.clone()] });
    h.run_steps(3);
    let view = h.state().state.group_fit.clone().expect("the group fit is open");
    assert_eq!(view.calibrated, 1, "the camera's kept benchmark calibrates it");
    h.get_by_label_contains("Estimates calibrated by the benchmarks kept for 1 of 2 device(s)");
    // The camera's batch-1 estimate is the calibrated one the fit panel shows.
    let entry = h.state().state.fleet.get(&camera).expect("camera").clone();
    let profile = h.state().state.library.get(card_id).and_then(|c| c.profile.clone()).expect("profile");
    let (fit, calibrated) = entry.fit(&profile, &edgefleet_core::FitConfig::default());
    assert!(calibrated && fit.calibration.is_some());
    h.state_mut().push_command(UiCommand::CloseGroupFit);

    // Compare variants with the camera selected: "(calibrated)".
    h.state_mut().state.selected = Some(camera.clone());
    h.state_mut().push_command(UiCommand::OpenCompare { card_id });
    h.run_steps(3);
    h.get_by_label_contains("ms (calibrated)");
    // The other device is not calibrated: no such label when it is selected.
    h.state_mut().state.selected = Some(other);
    h.run_steps(3);
    assert!(h.query_by_label_contains("ms (calibrated)").is_none());
}
