//! The map's selection gestures, toasts and live settings, with egui_kittest
//! against real agents on 127.0.0.1: Shift-drag on the map selects the
//! devices inside the box; a model dropped on a map cluster opens the group
//! fit of the cluster's devices; a failed rollout and a failed job each
//! raise a toast with their one-line reason, which goes away; the theme
//! changes at once; a new mDNS interface restarts the browser, which then
//! finds an agent it could not hear before.

mod support;

use edgefleet_fleet::{EngineConfig, RolloutPlan};
use edgefleet_ui::app::{App, AppConfig, Tab, Theme, UiCommand};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::time::Duration;
use support::{TOKEN, add_all, card, drag_and_drop, harness, own_fleet_app, run_for, start_agents, wait_until};

/// Where latitude/longitude is on the map as last drawn.
fn on_map(h: &Harness<'_, App>, lat: f64, lon: f64) -> egui::Pos2 {
    let s = &h.state().state;
    let rect = s.map_view.rect.expect("the map was drawn");
    s.map.project(rect, lat, lon)
}

/// Six boards 0.01° apart going north from 48.85° N, on the Map tab.
fn six_boards_on_the_map() -> (support::Agents, Harness<'static, App>) {
    let agents = start_agents(6, |_, _| {});
    let mut h = harness(own_fleet_app(Some(TOKEN)));
    h.state_mut().state.library.upsert(card(1, "digits", "1", "mlp_digits.onnx", None));
    add_all(&mut h, &agents);
    h.state_mut().push_command(UiCommand::SetTab(Tab::Map));
    h.run_steps(4);
    (agents, h)
}

#[test]
fn shift_drag_on_the_map_selects_the_devices_inside_the_box() {
    let (_agents, mut h) = six_boards_on_the_map();
    assert_eq!(h.state().state.map_view.markers.len(), 6);
    // A box from between board-00 and board-01 to between board-03 and
    // board-04: boards 01, 02 and 03 are inside.
    let from = on_map(&h, 48.855, 2.345);
    let to = on_map(&h, 48.885, 2.355);
    assert!((from - to).length() > 20.0, "the boards are apart on the fitted map: {from:?} {to:?}");
    h.event(egui::Event::ModifiersChanged(egui::Modifiers::SHIFT));
    h.run_steps(1);
    drag_and_drop(&mut h, from, to);
    h.event(egui::Event::ModifiersChanged(egui::Modifiers::NONE));
    h.run_steps(2);
    let mut chosen: Vec<String> = h.state().state.selection.iter().map(str::to_owned).collect();
    chosen.sort();
    assert_eq!(chosen, ["board-01", "board-02", "board-03"]);
    h.get_by_label("3 selected");
    // A Shift-drag draws a box: the map itself did not move.
    assert!(!h.state().state.map_view.user_moved, "a Shift-drag must not pan the map");
}

#[test]
fn a_model_dropped_on_a_map_cluster_opens_the_group_fit_of_its_devices() {
    let (_agents, mut h) = six_boards_on_the_map();
    // Zoomed out to a continent, the six boards are one cluster.
    {
        let s = &mut h.state_mut().state;
        s.map_view.user_moved = true;
        s.map.zoom = 3.0;
        s.map.center_lat = 48.0;
        s.map.center_lon = 2.0;
    }
    h.run_steps(2);
    let cluster = on_map(&h, 48.875, 2.35);
    let from = h.get_by_label_contains("digits").rect().center();
    drag_and_drop(&mut h, from, cluster);
    let group = h.state().state.group_fit.clone().expect("a drop on a cluster opens the group fit");
    let mut ids: Vec<String> =
        group.fits.iter().cloned().chain(group.misfits.iter().map(|m| m.device_id.clone())).collect();
    ids.sort();
    assert_eq!(ids, (0..6).map(|i| format!("board-{i:02}")).collect::<Vec<_>>());
    assert_eq!(group.card_id, 1);
    h.get_by_label("Fits 6 of 6");
    assert!(h.state().state.fit.is_none(), "a cluster is a group, not one device");
}

#[test]
fn a_failed_rollout_and_a_failed_job_each_show_a_toast_with_the_reason() {
    // The canary accepts uploads of at most 1 KB: the rollout stops.
    let agents = start_agents(2, |i, c| {
        if i == 0 {
            c.max_upload_bytes = 1024;
        }
    });
    let mut h = harness(own_fleet_app(Some(TOKEN)));
    h.state_mut().state.library.upsert(card(1, "digits", "1", "mlp_digits.onnx", None));
    add_all(&mut h, &agents);
    assert!(h.state().state.toasts.list.is_empty());
    let targets = vec!["board-00".to_owned(), "board-01".to_owned()];
    h.state_mut().push_command(UiCommand::RollOut { card_id: 1, targets, plan: RolloutPlan::default() });
    wait_until(&mut h, Duration::from_secs(60), "a toast", |app| !app.state.toasts.list.is_empty());
    let toast = h.state().state.toasts.list[0].message.clone();
    assert!(toast.starts_with("Roll out digits v1"), "{toast}");
    assert!(toast.contains("canary board-00 failed"), "the reason is in the toast: {toast}");
    assert!(!toast.contains('\n'));
    assert!(h.query_all_by_label(&format!("⚠ {toast}")).count() >= 1, "the toast is drawn");

    // A job of another kind: activating a version the device does not have.
    let activate =
        UiCommand::ActivateModel { device_id: "board-01".into(), name: "digits".into(), version: "9".into() };
    h.state_mut().push_command(activate);
    wait_until(&mut h, Duration::from_secs(20), "a second toast", |app| app.state.toasts.list.len() == 2);
    let toast = h.state().state.toasts.list[1].message.clone();
    assert!(toast.starts_with("Activate digits v9 on board-01"), "{toast}");
    assert!(toast.contains("no model named") || toast.contains("has no version"), "{toast}");
    assert!(h.query_all_by_label(&format!("⚠ {toast}")).count() >= 1, "the toast is drawn");

    // Toasts leave by themselves.
    wait_until(&mut h, Duration::from_secs(20), "the toasts to go", |app| app.state.toasts.list.is_empty());
    assert!(h.query_by_label_contains("⚠ Roll out").is_none());
}

#[test]
fn the_theme_changes_at_once_from_the_settings() {
    let mut h = harness(own_fleet_app(None));
    h.run_steps(2);
    assert!(h.ctx.global_style().visuals.dark_mode, "dark by default");
    let dark_panel = h.ctx.global_style().visuals.panel_fill;
    h.get_by_label("⚙ Settings").click();
    h.run_steps(2);
    h.get_by_label("Light").click();
    h.run_steps(2);
    assert_eq!(h.state().state.theme, Theme::Light);
    assert!(!h.ctx.global_style().visuals.dark_mode, "the light theme is applied without a restart");
    assert_ne!(h.ctx.global_style().visuals.panel_fill, dark_panel);
    h.get_by_label("Dark").click();
    h.run_steps(2);
    assert!(h.ctx.global_style().visuals.dark_mode);
    assert_eq!(h.ctx.global_style().visuals.panel_fill, dark_panel);
}

#[test]
fn a_new_mdns_interface_restarts_the_browser_which_then_finds_the_agent() {
    // An agent advertising on loopback only.
    let name = format!("iface-{}", std::process::id());
    let _agents = start_agents(1, |_, c| {
        c.device.device_id = name.clone();
        c.advertise = true;
        c.interfaces = vec!["lo".into()];
    });
    // The app browses on an interface that does not exist: it hears nothing.
    let engine = EngineConfig {
        mdns: true,
        interfaces: vec!["nosuch0".into()],
        poll_interval_ms: 250,
        default_token: Some(TOKEN.into()),
        ..EngineConfig::default()
    };
    let app = App::new_for_test(AppConfig { seed_library: false, ..AppConfig::new(engine, None) }).expect("app");
    let mut h = harness(app);
    run_for(&mut h, Duration::from_secs(3));
    assert!(h.state().state.fleet.get(&name).is_none(), "nothing is heard on an interface that does not exist");

    // Settings: type `lo` into the interfaces field and press Enter.
    h.get_by_label("⚙ Settings").click();
    h.run_steps(2);
    h.get_by_label("Browsing now: nosuch0.");
    let field = h.get_by(|n| n.placeholder() == Some("all"));
    field.click();
    h.run_steps(1);
    h.get_by(|n| n.placeholder() == Some("all")).type_text("lo");
    h.run_steps(1);
    h.key_press(egui::Key::Enter);
    h.run_steps(3);
    assert_eq!(h.state().state.interfaces, ["lo"]);
    assert_eq!(h.state().config().engine.interfaces, ["lo"]);
    wait_until(&mut h, Duration::from_secs(10), "the engine to restart its browser", |app| {
        app.state.log.contains("mDNS browser restarted on lo")
    });
    wait_until(&mut h, Duration::from_secs(20), "the agent found on lo", |app| {
        app.state.fleet.get(&name).is_some_and(|e| e.paired)
    });
    h.get_by_label("Browsing now: lo.");
}
