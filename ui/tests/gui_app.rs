//! GUI tests of the whole app with egui_kittest (no display, no GPU),
//! against real simulated agents on 127.0.0.1 with mDNS on `lo` only.

mod support;

use edgefleet_core::DeviceType;
use edgefleet_fleet::{AgentClient, JobState, http_client};
use edgefleet_ui::app::{App, AppConfig, UiCommand};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use sha2::Digest as _;
use std::time::Duration;
use support::{drag_and_drop, harness, wait_until};

/// Six agents: one of each device type.
fn demo_app() -> App {
    App::new_for_test(AppConfig::demo(6)).expect("the app starts")
}

/// The whole demo fleet listed, with metrics, and the two demo models in the library.
fn wait_for_fleet(h: &mut Harness<'_, App>) {
    wait_until(h, Duration::from_secs(30), "6 devices with metrics and the demo models", |app| {
        app.state.fleet.len() == 6
            && app.state.fleet.entries().iter().all(|e| e.metrics.is_some())
            && app.state.library.cards.iter().any(|c| c.name == "mlp_digits")
    });
}

fn device_name(app: &App, t: DeviceType) -> (String, String) {
    let e = app.state.fleet.entries().iter().find(|e| e.device.device_type == t).expect("a device of that type");
    (e.id().to_owned(), e.device.display_name().to_owned())
}

/// Drag the library card whose title label contains `card_label` onto the
/// device row labelled `row_label`.
fn drag_card_to_row(h: &mut Harness<'_, App>, card_label: &str, row_label: &str) {
    let from = h.get_by_label_contains(card_label).rect().center();
    let to = h.get_by_label(row_label).rect().center();
    drag_and_drop(h, from, to);
}

#[test]
fn devices_appear_selecting_shows_details_and_a_drop_opens_the_fit() {
    let mut h = harness(demo_app());
    wait_for_fleet(&mut h);
    let (cam_id, cam_name) = device_name(h.state(), DeviceType::SmartCamera);
    // Every demo device has a row in the list.
    for e in h.state().state.fleet.entries().to_vec() {
        h.get_by_label(e.device.display_name());
    }

    h.get_by_label(&cam_name).click();
    h.run_steps(3);
    assert_eq!(h.state().state.selected.as_deref(), Some(cam_id.as_str()));
    // The detail view shows its id (the row's tooltip may too)…
    assert!(h.query_all_by_label_contains(&cam_id).count() >= 1);
    h.get_by_label("Installed models"); // …and its models section

    drag_card_to_row(&mut h, "mlp_digits", &cam_name);
    let fit = h.state().state.fit.clone().expect("dropping a card on a row opens the fit panel");
    assert_eq!(fit.device_id, cam_id);
    assert!(fit.fit.compatible, "the digits MLP fits a camera: {:?}", fit.fit.reasons);
    assert!(fit.fit.max_batch >= 1);
    h.get_by_label(&format!("Max batch size: {}", fit.fit.max_batch));
}

/// The demo's agents serve HTTPS, each with its own key: the demo paired
/// every device with the key it started it with (the engine's Pair, as a
/// user's, which also pins the demo console's model-signing key on it),
/// the console reaches it only with that key, the detail shows the
/// fingerprint, and neither plain HTTP nor another key gets an answer.
#[test]
fn demo_devices_are_paired_with_their_keys_pinned() {
    let mut h = harness(demo_app());
    wait_for_fleet(&mut h);
    let demo = h.state().demo().expect("demo fleet");
    let agents: Vec<(String, String)> =
        demo.agents().iter().map(|a| (a.device_id.clone(), a.fingerprint.clone())).collect();
    wait_until(&mut h, Duration::from_secs(10), "every demo device paired with its key pinned", |app| {
        agents.iter().all(|(id, fp)| app.state.log.lines.iter().any(|l| l.message == format!("{id}: key {fp} pinned")))
    });
    // Pairing also pinned the demo console's model-signing key on each.
    wait_until(&mut h, Duration::from_secs(10), "every demo device to pin the console's key", |app| {
        agents.iter().all(|(id, _)| {
            let said = format!("{id}: pinned this console's key; it now runs only models signed by it");
            app.state.log.lines.iter().any(|l| l.message == said)
        })
    });
    for (id, fp) in &agents {
        let e = h.state().state.fleet.get(id).expect("listed");
        assert!(e.paired, "{id} is paired");
        assert_eq!(e.device.key_fingerprint.as_deref(), Some(fp.as_str()), "{id}: the key it proved over TLS");
        assert_eq!(h.state().engine().directory().pinned(id).as_deref(), Some(fp.as_str()), "{id}: pinned");
    }
    // Each device has a key of its own.
    let mut keys: Vec<&String> = agents.iter().map(|(_, fp)| fp).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), agents.len(), "one key per device");

    // The detail shows the fingerprint.
    let (cam_id, cam_name) = device_name(h.state(), DeviceType::SmartCamera);
    let cam_fp = agents.iter().find(|(id, _)| id == &cam_id).map(|(_, fp)| fp.clone()).expect("the camera's key");
    h.get_by_label(&cam_name).click();
    h.run_steps(3);
    assert!(h.query_all_by_label(&cam_fp).count() >= 1, "the detail shows key {cam_fp}");

    // Only the pinned key over TLS gets an answer, even with the token.
    let demo = h.state().demo().expect("demo fleet");
    let cam = demo.agents().iter().find(|a| a.device_id == cam_id).expect("the camera's agent");
    let other = demo.agents().iter().find(|a| a.device_id != cam_id).expect("another agent");
    let token = Some(demo.token().to_owned());
    let http = http_client().expect("http");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(AgentClient::pinned(http.clone(), cam.addr, &cam.fingerprint, token.clone()).info())
        .expect("the camera answers over TLS with its pinned key");
    let plain = rt.block_on(AgentClient::new(http.clone(), cam.addr, token.clone()).info());
    assert!(plain.is_err(), "plain HTTP got an answer: {plain:?}");
    let wrong = rt.block_on(AgentClient::pinned(http.clone(), cam.addr, &other.fingerprint, token.clone()).info());
    assert!(wrong.is_err(), "another key was trusted: {wrong:?}");

    // It runs only models this demo signed: an unsigned upload (the right
    // key and token, no signature) is refused at activation; the demo
    // console's own client (it signs) gets the same file activated.
    let model = support::asset("models/mlp_digits.onnx");
    let sha = hex::encode(sha2::Sha256::digest(std::fs::read(&model).expect("the demo model")));
    let unsigned = AgentClient::pinned(http, cam.addr, &cam.fingerprint, token);
    rt.block_on(unsigned.upload_model("digits", "unsigned", &model, &sha, |_, _| {})).expect("upload");
    let refused = rt.block_on(unsigned.activate("digits", "unsigned", None));
    let refused = refused.expect_err("an unsigned model went live").to_string();
    assert!(refused.contains("unsigned_model"), "refused for another reason: {refused}");
    let console = h.state().engine().directory().client(&cam_id).expect("the camera in the directory");
    rt.block_on(console.upload_model("digits", "signed", &model, &sha, |_, _| {})).expect("signed upload");
    rt.block_on(console.activate("digits", "signed", None)).expect("the signed model goes live");
}

#[test]
fn a_too_big_model_shows_why_it_does_not_fit() {
    let mut h = harness(demo_app());
    wait_for_fleet(&mut h);
    let (sensor_id, sensor_name) = device_name(h.state(), DeviceType::IotSensor);
    drag_card_to_row(&mut h, "big_detector", &sensor_name);
    let fit = h.state().state.fit.clone().expect("the fit panel opens");
    assert_eq!(fit.device_id, sensor_id);
    assert!(!fit.fit.compatible, "a 300 MB detector must not fit a sensor");
    h.get_by_label("✖ Does not fit");
    let failed = fit.fit.reasons.iter().find(|r| !r.ok).expect("a failing reason");
    h.get_by_label(&failed.message);
    // Deploy is disabled for it: clicking starts nothing.
    h.get_by_label("⬆ Deploy").click();
    h.run_steps(3);
    assert!(h.state().state.jobs.list.is_empty(), "no deploy may start for a model that does not fit");
}

#[test]
fn optimize_keeps_a_roomy_original_and_deploy_activates_it_on_the_agent() {
    let mut h = harness(demo_app());
    wait_for_fleet(&mut h);
    let (cam_id, cam_name) = device_name(h.state(), DeviceType::SmartCamera);
    drag_card_to_row(&mut h, "mlp_digits", &cam_name);
    assert!(h.state().state.fit.is_some(), "the fit panel opens");
    let parent = h.state().state.library.cards.iter().find(|c| c.name == "mlp_digits").map(|c| c.id).expect("card");

    // The 70 KB MLP fits a camera with room: the original is the answer,
    // with the objective and the reason, and no transform is applied.
    let message = support::run_optimize(&mut h);
    assert!(message.contains("kept the original") && message.contains("with room"), "{message}");
    assert!(message.contains("objective: smallest file"), "{message}");
    assert!(!h.state().state.library.cards.iter().any(|c| c.parent_id == Some(parent)), "no variant is made");
    let variant = h.state().state.library.get(parent).cloned().expect("the original");

    // Deploy the model to the camera through the fleet engine's rollout.
    h.state_mut().push_command(UiCommand::OpenFit { card_id: variant.id, device_id: cam_id.clone() });
    h.run_steps(6);
    let fit = h.state().state.fit.clone().expect("the fit panel for the variant");
    assert_eq!(fit.card_id, variant.id);
    assert!(fit.fit.compatible, "the model fits the camera: {:?}", fit.fit.reasons);
    h.get_by_label("⬆ Deploy").click();
    h.run_steps(2);
    assert!(
        !h.state().state.jobs.list.iter().all(|j| !j.title.starts_with("Deploy"))
            || h.state().state.fit.as_ref().is_some_and(|f| f.deploy_job.is_some()),
        "Deploy click started nothing"
    );
    wait_until(&mut h, Duration::from_secs(60), "the deploy job to end", |app| {
        app.state.jobs.list.iter().any(|j| j.title.starts_with("Deploy") && j.state != JobState::Running)
    });
    let job = h.state().state.jobs.list.iter().find(|j| j.title.starts_with("Deploy")).cloned().expect("job");
    assert!(matches!(job.state, JobState::Done(_)), "deploy failed: {job:?}");

    // Ask the agent itself.
    let demo = h.state().demo().expect("demo fleet");
    let agent = demo.agents().iter().find(|a| a.device_id == cam_id).expect("the camera's agent");
    let client = AgentClient::pinned(
        http_client().expect("http"),
        agent.addr,
        &agent.fingerprint,
        Some(demo.token().to_owned()),
    );
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let models = rt.block_on(client.models()).expect("GET /v1/models");
    let active = models.models.iter().find(|m| m.active).expect("an active model");
    assert_eq!((active.name.as_str(), active.version.as_str()), ("mlp_digits", variant.version.as_str()));

    // The list shows it once the engine has refreshed the device's models.
    wait_until(&mut h, Duration::from_secs(10), "the list to show the active model", |app| {
        app.state.fleet.get(&cam_id).and_then(|e| e.active_model()).is_some_and(|m| m.contains(&variant.version))
    });
}

#[test]
fn importing_a_bad_path_reports_it_and_changes_nothing() {
    let mut h = harness(App::new_for_test(AppConfig::demo(1)).expect("app"));
    wait_until(&mut h, Duration::from_secs(30), "the demo models", |app| app.state.library.cards.len() >= 3);
    let before = h.state().state.library.cards.len();
    let dir = tempfile::tempdir().expect("tmp");
    let not_onnx = dir.path().join("notes.txt");
    std::fs::write(&not_onnx, "hello").expect("write");
    let garbage = dir.path().join("broken.onnx");
    std::fs::write(&garbage, b"\x08\x07 definitely not protobuf").expect("write");
    for p in [dir.path().join("missing.onnx"), not_onnx, garbage] {
        h.state_mut().push_command(UiCommand::ImportModel(p));
    }
    wait_until(&mut h, Duration::from_secs(20), "three import errors", |app| {
        app.state.log.lines.iter().filter(|l| l.level == edgefleet_fleet::LogLevel::Error).count() >= 3
    });
    assert!(h.state().state.log.contains("not an .onnx file"));
    assert!(h.state().state.log.contains("cannot read"));
    assert!(h.state().state.log.contains("is not a usable ONNX model"));
    assert_eq!(h.state().state.library.cards.len(), before, "a bad import adds no card");
}

#[test]
fn distill_for_this_device_shows_progress_and_cancel_stops_it_adding_nothing() {
    let mut h = harness(demo_app());
    wait_for_fleet(&mut h);
    let (_, cam_name) = device_name(h.state(), DeviceType::SmartCamera);
    drag_card_to_row(&mut h, "mlp_digits", &cam_name);
    assert!(h.state().state.fit.is_some(), "the fit panel opens");
    // The panel says which runtime its figures are for.
    let runtime = h.state().state.fit.as_ref().and_then(|f| f.device.runtime.clone()).unwrap_or("tract".into());
    h.get_by_label(&format!("· runs {runtime}"));
    let cards_before = h.state().state.library.cards.len();

    h.get_by_label("🎓 Distill for this device").click();
    h.run_steps(2);
    wait_until(&mut h, Duration::from_secs(60), "the distillation to start training", |app| {
        app.state
            .jobs
            .list
            .iter()
            .any(|j| j.title.starts_with("Distill") && j.state == JobState::Running && j.message.contains("training"))
    });
    h.get_by_label("Cancel distillation").click();
    h.run_steps(2);
    wait_until(&mut h, Duration::from_secs(60), "the cancelled job to end", |app| {
        app.state.jobs.list.iter().any(|j| j.title.starts_with("Distill") && j.state != JobState::Running)
    });
    let job = h.state().state.jobs.list.iter().find(|j| j.title.starts_with("Distill")).cloned().expect("job");
    assert_eq!(job.state, JobState::Failed("cancelled: nothing written".into()));
    assert_eq!(h.state().state.library.cards.len(), cards_before, "no student was added");
}

#[test]
fn removing_a_model_from_the_library_drops_its_card_and_keeps_its_file() {
    let mut h = harness(App::new_for_test(AppConfig::demo(1)).expect("app"));
    wait_until(&mut h, Duration::from_secs(30), "the demo models in the library", |app| {
        app.state.library.cards.iter().any(|c| c.name == "cnn_digits")
    });
    let card = h.state().state.library.cards.iter().find(|c| c.name == "cnn_digits").cloned().expect("card");
    // One 🗑 per stored card, in the library's order.
    let nth = h.state().state.library.ordered().iter().filter(|(_, c)| c.id >= 0).position(|(_, c)| c.id == card.id);
    h.get_all_by_label("🗑").nth(nth.expect("listed")).expect("its remove button").click();
    h.run_steps(2);
    wait_until(&mut h, Duration::from_secs(10), "the card to go", |app| app.state.library.get(card.id).is_none());
    assert!(card.path.as_ref().is_some_and(|p| p.is_file()), "the file stays on disk");
    assert!(h.state().state.log.contains("removed cnn_digits"), "{:?}", h.state().state.log.lines);
}

#[test]
fn the_charts_draw_the_selected_devices_against_the_fleet() {
    let mut h = harness(demo_app());
    wait_for_fleet(&mut h);
    let ids: Vec<String> = h.state().state.fleet.entries().iter().take(3).map(|e| e.id().to_owned()).collect();
    h.state_mut().push_command(UiCommand::SelectMany(ids.clone()));
    h.state_mut().push_command(UiCommand::SetTab(edgefleet_ui::app::Tab::Charts));
    h.run_steps(3);
    h.get_by_label("3 selected devices vs fleet average");
    // One device: its name against the fleet.
    h.state_mut().push_command(UiCommand::SelectMany(ids[..1].to_vec()));
    h.state_mut().state.selected = Some(ids[0].clone());
    h.run_steps(3);
    let name = h.state().state.fleet.get(&ids[0]).map(|e| e.device.display_name().to_owned()).expect("device");
    h.get_by_label(&format!("{name} vs fleet average"));
}
