//! "Plan placement" with request rates and costs, with egui_kittest (no
//! display, no GPU) against the demo's simulated agents on 127.0.0.1: the
//! window's req/s field and device-cost grid feed the plan (the same
//! `fleet::plan_placement` as `edgefleet place --rate --device-cost`); a
//! rate no device can serve leaves the model out with "the queue would
//! never drain", and a dear device is avoided.

mod support;

use edgefleet_ui::app::{App, AppConfig, UiCommand};
use egui_kittest::kittest::Queryable;
use std::time::Duration;
use support::wait_until;

fn plan(h: &mut egui_kittest::Harness<'_, App>, models: Vec<(i64, f64)>) -> edgefleet_fleet::PlacementPlan {
    if let Some(v) = h.state_mut().state.placement.as_mut() {
        v.plan = None;
        v.error = None;
    }
    h.state_mut().push_command(UiCommand::PlanPlacement { models, selection_only: false });
    wait_until(h, Duration::from_secs(30), "a plan", |app| {
        app.state.placement.as_ref().is_some_and(|p| p.plan.is_some() || p.error.is_some())
    });
    let view = h.state().state.placement.clone().expect("window");
    view.plan.unwrap_or_else(|| panic!("no plan: {:?}", view.error))
}

#[test]
fn rates_and_device_costs_from_the_window_shape_the_plan() {
    let mut h = support::harness(App::new_for_test(AppConfig::demo(6)).expect("the app starts"));
    wait_until(&mut h, Duration::from_secs(30), "the demo fleet with metrics and the demo models", |app| {
        app.state.fleet.len() == 6
            && app.state.fleet.entries().iter().all(|e| e.metrics.is_some())
            && app.state.library.cards.iter().any(|c| c.name == "mlp_digits" && c.path.is_some())
    });
    h.get_by_label("📐 Plan placement").click();
    h.run_steps(3);
    let card =
        h.state().state.library.cards.iter().find(|c| c.name == "mlp_digits" && c.parent_id.is_none()).map(|c| c.id);
    let card = card.expect("the MLP card");
    h.get_by_label("Device costs per hour").click();
    h.run_steps(2);
    // The grid lists every device with its cost field.
    let first_device = h.state().state.fleet.entries()[0].id().to_owned();
    h.get_by_label(&first_device);

    // At 10 req/s it is placed and its queue counts.
    h.state_mut().state.placement.as_mut().expect("window").choice_mut(card).rate_per_s = 10.0;
    let first = plan(&mut h, vec![(card, 1.0)]);
    let c = first.choices.first().unwrap_or_else(|| panic!("placed: {first:?}"));
    assert_eq!(c.rate_per_s, 10.0);
    assert!(c.queued_latency_ms > c.latency_ms, "{c:?}");
    assert!(first.devices.iter().all(|d| d.utilisation < 1.0));
    h.get_by_label_contains("queued at 10.0 req/s");

    // Its device made dear: the plan moves it elsewhere.
    let dear = c.device_id.clone();
    h.state_mut().state.placement.as_mut().expect("window").device_cost_per_hour.insert(dear.clone(), 1e6);
    let second = plan(&mut h, vec![(card, 1.0)]);
    let moved = second.choices.first().unwrap_or_else(|| panic!("placed: {second:?}"));
    assert_ne!(moved.device_id, dear, "{second:?}");

    // A million requests a second: no device's queue would drain.
    h.state_mut().state.placement.as_mut().expect("window").choice_mut(card).rate_per_s = 1e5;
    let third = plan(&mut h, vec![(card, 1.0)]);
    assert!(third.choices.is_empty(), "{third:?}");
    assert!(third.unplaced[0].reason.contains("the queue would never drain"), "{:?}", third.unplaced);
}
