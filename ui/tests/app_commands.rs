//! Commands executed without a window: saved settings reach the engine
//! when the app starts (not after), a `--interface` flag wins for one run,
//! changes in Settings apply to the running engine at once, and Optimize
//! checks accuracy only on evaluation data meant for the model.

use edgefleet_core::{Device, DeviceType, ModelProfile};
use edgefleet_fleet::{EngineConfig, LogLevel};
use edgefleet_ui::app::{App, AppConfig, AppState, ModelCard, Tab, UiCommand};
use std::path::{Path, PathBuf};

/// The user's own fleet (no demo), in memory, without touching the network.
fn config(interfaces: &[&str]) -> AppConfig {
    let engine = EngineConfig {
        mdns: false,
        interfaces: interfaces.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    AppConfig { seed_library: false, ..AppConfig::new(engine, None) }
}

fn saved() -> AppState {
    AppState { poll_interval_ms: 350, interfaces: vec!["lo".into()], tab: Tab::Charts, ..AppState::default() }
}

#[test]
fn the_engine_starts_with_the_saved_settings() {
    let app = App::restore(config(&[]), saved()).expect("the app starts");
    assert_eq!(app.config().engine.poll_interval_ms, 350);
    assert_eq!(app.config().engine.interfaces, ["lo"]);
    assert_eq!(app.state.poll_interval_ms, 350);
    assert_eq!(app.state.tab, Tab::Charts);
}

#[test]
fn an_interface_flag_wins_for_this_run_without_changing_what_is_saved() {
    let app = App::restore(config(&["lo"]), AppState { interfaces: vec!["eth9".into()], ..saved() }).expect("app");
    assert_eq!(app.config().engine.interfaces, ["lo"]);
    assert_eq!(app.state.interfaces, ["eth9"]);
}

#[test]
fn settings_changes_apply_to_the_running_engine() {
    let mut app = App::restore(config(&[]), saved()).expect("the app starts");
    app.push_command(UiCommand::SetPollInterval { ms: 700 });
    app.push_command(UiCommand::SetInterfaces { interfaces: vec![] });
    app.execute_commands();
    assert_eq!(app.config().engine.poll_interval_ms, 700);
    assert!(app.config().engine.interfaces.is_empty());
    let errors: Vec<&str> =
        app.state.log.lines.iter().filter(|l| l.level == LogLevel::Error).map(|l| l.message.as_str()).collect();
    assert!(errors.is_empty(), "{errors:?}");
}

fn asset(path: &str) -> PathBuf {
    std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets").join(path)).expect("asset")
}

/// A card for the digits MLP's profile at `path`, named `name`.
fn card(id: i64, name: &str, path: PathBuf) -> ModelCard {
    let text = std::fs::read_to_string(asset("profiles/mlp_digits.json")).expect("profile");
    let profile: ModelProfile = serde_json::from_str(&text).expect("a profile");
    ModelCard { id, name: name.into(), path: Some(path), ..ModelCard::profile_only(id, profile) }
}

#[test]
fn optimize_uses_evaluation_data_meant_for_the_model_or_refuses() {
    let mut app = App::restore(config(&[]), AppState::default()).expect("the app starts");
    app.state.fleet.upsert_device(Device::new("cam", DeviceType::SmartCamera, 2, 1024, 8.0));
    let dir = tempfile::tempdir().expect("tmp");
    let own = dir.path().join("mine.onnx");
    std::fs::copy(asset("models/mlp_digits.onnx"), &own).expect("copy");
    app.state.library.upsert(card(1, "mlp_digits", asset("models/mlp_digits.onnx")));
    app.state.library.upsert(card(2, "mine", own));

    // The shipped digits model gets the shipped digits data by default.
    app.push_command(UiCommand::OpenFit { card_id: 1, device_id: "cam".into() });
    app.execute_commands();
    assert!(app.state.fit.is_some());
    let data = app.state.eval_data.get("mlp_digits").expect("a default for the shipped model");
    assert!(data.ends_with("digits_eval.csv"), "{data}");

    // Any other model has none, and Optimize says so instead of guessing.
    app.push_command(UiCommand::OpenFit { card_id: 2, device_id: "cam".into() });
    app.push_command(UiCommand::Optimize { card_id: 2, device_id: "cam".into() });
    app.execute_commands();
    assert!(!app.state.eval_data.contains_key("mine"));
    assert!(app.state.log.contains("give evaluation data"), "{:?}", app.state.log.lines);
    assert!(app.state.fit.as_ref().is_some_and(|f| f.optimize_job.is_none()), "no job may start");
}
