//! The fit panel's "Optimize for this device" objective, with egui_kittest
//! (no display, no GPU) against the demo's simulated agents on 127.0.0.1:
//! the toggle next to the button switches from "Smallest" to "Fastest",
//! and the optimize job then states the fastest-variant objective (the CLI
//! twin is `edgefleet optimize --objective latency`).

mod support;

use edgefleet_core::DeviceType;
use edgefleet_ui::app::{App, AppConfig, UiCommand};
use egui_kittest::kittest::Queryable;
use std::time::Duration;
use support::wait_until;

#[test]
fn the_objective_toggle_makes_optimize_look_for_the_fastest_variant() {
    let mut h = support::harness(App::new_for_test(AppConfig::demo(6)).expect("the app starts"));
    wait_until(&mut h, Duration::from_secs(30), "the demo fleet with metrics and the demo models", |app| {
        app.state.fleet.len() == 6
            && app.state.fleet.entries().iter().all(|e| e.metrics.is_some())
            && app.state.library.cards.iter().any(|c| c.name == "mlp_digits" && c.path.is_some())
    });
    let (camera, card_id) = {
        let app = &h.state().state;
        let cam = app.fleet.entries().iter().find(|e| e.device.device_type == DeviceType::SmartCamera).expect("camera");
        let card = app.library.cards.iter().find(|c| c.name == "mlp_digits" && c.parent_id.is_none()).expect("card");
        (cam.id().to_owned(), card.id)
    };
    h.state_mut().push_command(UiCommand::OpenFit { card_id, device_id: camera });
    h.run_steps(3);
    assert!(!h.state().state.fit.as_ref().expect("the fit panel").optimize_fastest, "smallest by default");

    // The toggle next to the button: "Smallest" (chosen) | "Fastest".
    h.get_by_label("Smallest");
    h.get_by_label("Fastest").click();
    h.run_steps(3);
    assert!(h.state().state.fit.as_ref().expect("the fit panel").optimize_fastest);

    let message = support::run_optimize(&mut h);
    assert!(message.contains("objective: fastest on the device's runtime"), "{message}");
    assert!(!message.contains("smallest file"), "{message}");
}
