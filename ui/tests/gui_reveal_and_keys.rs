//! The model library's "Reveal file" and the list's Enter, with
//! egui_kittest: the 🗁 button runs the opener (here a script that records
//! its arguments, set as the app's opener) with the model's folder, off the
//! UI thread, and an opener that fails shows a toast with its reason; Enter
//! on the list opens the device under the cursor in a detail window of its
//! own, which follows the arrows and which Esc closes.

mod support;

use edgefleet_ui::app::{App, AppConfig, UiCommand};
use egui_kittest::kittest::Queryable;
use std::path::Path;
use std::time::Duration;
use support::{TOKEN, add_all, card, harness, own_fleet_app, start_agents, wait_until};

/// The app over the user's own fleet with `opener` as its "Reveal file" program.
fn app_with_opener(opener: &Path) -> App {
    let engine = edgefleet_fleet::EngineConfig { mdns: false, ..edgefleet_fleet::EngineConfig::default() };
    let config =
        AppConfig { seed_library: false, opener: Some(opener.display().to_string()), ..AppConfig::new(engine, None) };
    App::new_for_test(config).expect("the app starts")
}

/// A shell script at `dir/name` with `body`, executable.
fn script(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write the script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[test]
fn reveal_runs_the_opener_with_the_models_folder_and_a_failure_is_a_toast() {
    let dir = tempfile::tempdir().expect("tmp");
    let record = dir.path().join("args.txt");
    let opener = script(dir.path(), "opener.sh", &format!("printf '%s\\n' \"$@\" > '{}'", record.display()));
    let mut h = harness(app_with_opener(&opener));
    let model = card(1, "digits", "1", "mlp_digits.onnx", None);
    let folder = model.path.as_ref().and_then(|p| p.parent()).expect("a folder").to_owned();
    h.state_mut().state.library.upsert(model);
    h.run_steps(2);
    h.get_by_label("📋"); // copying the path stays
    h.get_by_label("🗁").click();
    h.run_steps(2);
    wait_until(&mut h, Duration::from_secs(10), "the opener to run", |app| !app.busy() && record.is_file());
    let args = std::fs::read_to_string(&record).expect("the recorded arguments");
    assert_eq!(args.lines().collect::<Vec<_>>(), [folder.display().to_string()]);
    assert!(h.state().state.toasts.list.is_empty(), "{:?}", h.state().state.toasts.list);
    assert!(h.state().state.log.contains("showed the folder of"));

    // An opener that fails: a toast with what it said.
    let failing = script(dir.path(), "failing.sh", "echo 'no file manager on this system' >&2; exit 4");
    let mut h = harness(app_with_opener(&failing));
    h.state_mut().state.library.upsert(card(1, "digits", "1", "mlp_digits.onnx", None));
    h.run_steps(2);
    h.get_by_label("🗁").click();
    wait_until(&mut h, Duration::from_secs(10), "a toast", |app| !app.state.toasts.list.is_empty());
    let toast = h.state().state.toasts.list[0].message.clone();
    assert!(toast.starts_with("cannot reveal digits v1"), "{toast}");
    assert!(toast.contains("exit status: 4") && toast.contains("no file manager on this system"), "{toast}");
    h.get_by_label(&format!("⚠ {toast}"));

    // An opener that does not exist: the toast says it cannot be run.
    let mut h = harness(app_with_opener(&dir.path().join("missing-opener")));
    h.state_mut().state.library.upsert(card(1, "digits", "1", "mlp_digits.onnx", None));
    h.run_steps(2);
    h.state_mut().push_command(UiCommand::RevealModel { card_id: 1 });
    wait_until(&mut h, Duration::from_secs(10), "a toast", |app| !app.state.toasts.list.is_empty());
    assert!(h.state().state.toasts.list[0].message.contains("cannot run"), "{:?}", h.state().state.toasts.list);
}

#[test]
fn enter_opens_the_device_under_the_cursor_in_a_detail_window_and_esc_closes_it() {
    let agents = start_agents(3, |_, _| {});
    let mut h = harness(own_fleet_app(Some(TOKEN)));
    add_all(&mut h, &agents);
    h.get_by_label("board-00").click();
    h.run_steps(2);
    h.key_press(egui::Key::ArrowDown);
    h.run_steps(2);
    assert_eq!(h.state().state.selected.as_deref(), Some("board-01"));
    assert!(h.query_by_label("Device detail").is_none(), "no window before Enter");
    assert_eq!(h.query_all_by_label("Installed models").count(), 1, "the side panel's detail");

    h.key_press(egui::Key::Enter);
    h.run_steps(3);
    assert!(h.state().state.detail_window_open, "Enter opens the detail window");
    h.get_by_label("Device detail");
    h.get_by_label_contains("Shown in the “Device detail” window");
    // Drawn once, in the window.
    assert_eq!(h.query_all_by_label("Installed models").count(), 1);
    assert!(h.query_all_by_label_contains("board-01").count() >= 1);
    // The window follows the cursor.
    h.key_press(egui::Key::ArrowDown);
    h.run_steps(3);
    assert_eq!(h.state().state.selected.as_deref(), Some("board-02"));
    assert!(h.state().state.detail_window_open);

    h.key_press(egui::Key::Escape);
    h.run_steps(3);
    assert!(!h.state().state.detail_window_open, "Esc closes it");
    assert!(h.query_by_label("Device detail").is_none());
    assert!(h.query_by_label_contains("Shown in the").is_none(), "the side panel shows the detail again");
    assert_eq!(h.query_all_by_label("Installed models").count(), 1);
}
