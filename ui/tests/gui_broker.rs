//! The broker in the GUI, with egui_kittest (no display), a real Mosquitto
//! with logins and real agents that share only the broker with the app:
//! the broker typed into Settings and applied makes the agents appear, with "broker: connected" in the top bar; a Roll out to them
//! goes through the broker and the Deployments tab shows their steps and
//! bytes; a wrong password then reads "refused: bad credentials" in the top
//! bar and the devices stay listed.

#![allow(clippy::unwrap_used)] // test code: a failure should panic

#[path = "../../crates/agent/tests/support/mosquitto.rs"]
mod mosquitto;

use edgefleet_agent::{AgentConfig, AgentHandle, BrokerConfig, spawn};
use edgefleet_core::{Device, DeviceType, ModelProfile, human_bytes};
use edgefleet_fleet::broker_link::BrokerStatus;
use edgefleet_fleet::{AgentClient, EngineConfig, RolloutPlan, StepState, http_client};
use edgefleet_ui::app::{App, AppConfig, BrokerSettings, ModelCard, Phase, Tab, UiCommand};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use mosquitto::Mosquitto;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const TOKEN: &str = "gui-broker-token-0123456789";
const FLEET: &str = "gui-fleet";

fn harness(app: App) -> Harness<'static, App> {
    Harness::builder().with_size([1440.0, 900.0]).build_ui_state(|ui, app: &mut App| app.frame_ui(ui), app)
}

fn wait_until(h: &mut Harness<'_, App>, timeout: Duration, what: &str, cond: impl Fn(&App) -> bool) {
    let start = Instant::now();
    while !cond(h.state()) {
        if start.elapsed() > timeout {
            let log: Vec<&str> = h.state().state.log.lines.iter().rev().take(12).map(|l| l.message.as_str()).collect();
            panic!("timed out after {timeout:?} waiting for {what}; recent log: {log:#?}");
        }
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    h.run_steps(2);
}

/// A broker whose only login is `user`/`password`.
fn broker_with_login(dir: &Path, user: &str, password: &str) -> Option<Mosquitto> {
    let passwd = dir.join("passwd");
    match Command::new("mosquitto_passwd").arg("-c").arg("-b").arg(&passwd).args([user, password]).status() {
        Ok(s) => assert!(s.success(), "mosquitto_passwd failed"),
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "CI is set but mosquitto_passwd is missing: {e}");
            eprintln!("skipped: no mosquitto_passwd ({e})");
            return None;
        }
    }
    Mosquitto::start_with(&format!("allow_anonymous false\npassword_file {}\n", passwd.display()))
}

fn model() -> PathBuf {
    std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/models/mlp_digits.onnx")).unwrap()
}

fn card() -> ModelCard {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets");
    let text = std::fs::read_to_string(root.join("profiles/mlp_digits.json")).unwrap();
    let profile: ModelProfile = serde_json::from_str(&text).unwrap();
    let size_bytes = std::fs::metadata(model()).unwrap().len();
    ModelCard {
        name: "mlp_digits".into(),
        version: "1".into(),
        path: Some(model()),
        size_bytes,
        ..ModelCard::profile_only(1, profile)
    }
}

#[test]
fn the_broker_set_in_settings_finds_devices_a_rollout_reaches_them_and_a_refused_login_is_shown() {
    let dir = tempfile::tempdir().unwrap();
    let Some(broker) = broker_with_login(dir.path(), "site", "right-pw") else { return };
    std::fs::write(dir.path().join("pw"), "right-pw\n").unwrap();
    std::fs::write(dir.path().join("bad-pw"), "wrong\n").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let agents: Vec<AgentHandle> = (0..2)
        .map(|i| {
            let device = Device::new(format!("mqtt-cam-{i}"), DeviceType::SmartCamera, 4, 2048, 16.0);
            let mut config = AgentConfig::new(device, dir.path().join(format!("agent-{i}")));
            config.token = Some(TOKEN.into());
            let mut link = BrokerConfig::new(broker.url().parse().unwrap(), FLEET);
            link.username = Some("site".into());
            link.password = Some("right-pw".into());
            config.broker = Some(link);
            rt.block_on(spawn(config)).unwrap()
        })
        .collect();

    let engine = EngineConfig { mdns: false, default_token: Some(TOKEN.into()), ..EngineConfig::default() };
    let app = App::new_for_test(AppConfig { seed_library: false, ..AppConfig::new(engine, None) }).unwrap();
    let mut h = harness(app);
    h.state_mut().state.library.upsert(card());
    h.run_steps(2);
    assert_eq!(h.state().state.fleet.len(), 0, "mDNS is off and no broker yet: nothing is found");

    // Settings: the broker's fields, then Apply.
    h.get_by_label("⚙ Settings").click();
    h.run_steps(2);
    let settings = BrokerSettings {
        url: broker.url(),
        fleet_name: FLEET.into(),
        user: "site".into(),
        password_file: dir.path().join("pw").display().to_string(),
        ..BrokerSettings::default()
    };
    h.state_mut().state.broker_edit = Some(settings.clone());
    h.run_steps(1);
    h.get_by_label("Apply").click();
    h.run_steps(2);
    assert_eq!(h.state().state.broker, settings, "applied settings are the saved ones");
    wait_until(&mut h, Duration::from_secs(15), "both agents through the broker", |app| app.state.fleet.len() == 2);
    wait_until(&mut h, Duration::from_secs(5), "the broker connected", |app| {
        app.state.broker_status == Some(BrokerStatus::Connected)
    });
    // The top bar says it (Settings closed: the window says it too).
    h.get_by_label("⚙ Settings").click();
    h.run_steps(2);
    h.get_by_label("broker: connected");

    // Roll out to both: through the broker (the app never calls them).
    let targets = vec!["mqtt-cam-0".to_owned(), "mqtt-cam-1".to_owned()];
    let plan = RolloutPlan { canary: 1, ..RolloutPlan::default() };
    h.state_mut().push_command(UiCommand::RollOut { card_id: 1, targets, plan });
    h.state_mut().push_command(UiCommand::SetTab(Tab::Deployments));
    wait_until(&mut h, Duration::from_secs(60), "the rollout to end", |app| {
        app.rollouts().list.first().is_some_and(|r| matches!(r.phase, Phase::Ended { .. }))
    });
    let r = &h.state().rollouts().list[0];
    assert!(matches!(r.phase, Phase::Ended { ok: true, .. }), "{:?}", r.phase);
    let size = std::fs::metadata(model()).unwrap().len();
    for id in ["mqtt-cam-0", "mqtt-cam-1"] {
        let s = r.step(id).unwrap();
        assert_eq!((s.state, s.total_bytes), (StepState::Done, size), "{s:?}");
    }
    let bytes = format!("{} / {}", human_bytes(size), human_bytes(size));
    assert_eq!(h.query_all_by_label(&bytes).count(), 2, "each step shows its bytes");
    for a in &agents {
        let client = AgentClient::new(http_client().unwrap(), a.addr, Some(TOKEN.into()));
        let models = rt.block_on(client.models()).unwrap().models;
        assert!(models.iter().any(|m| m.name == "mlp_digits" && m.active), "{} runs the model", a.device_id);
    }

    // A wrong password: the top bar says so; the devices stay listed.
    let wrong = BrokerSettings { password_file: dir.path().join("bad-pw").display().to_string(), ..settings };
    h.get_by_label("⚙ Settings").click();
    h.run_steps(2);
    h.state_mut().state.broker_edit = Some(wrong);
    h.run_steps(1);
    h.get_by_label("Apply").click();
    h.run_steps(1);
    h.get_by_label("⚙ Settings").click();
    wait_until(&mut h, Duration::from_secs(10), "the refusal", |app| {
        matches!(app.state.broker_status, Some(BrokerStatus::Refused { .. }))
    });
    h.get_by_label_contains("broker: refused: bad credentials");
    assert_eq!(h.state().state.fleet.len(), 2, "nothing lost");
    drop(h);
    for a in agents {
        rt.block_on(a.shutdown());
    }
}

/// Saved settings with a broker: the app restored from them watches it from
/// its first frame (the engine starts with it), no Settings touched.
#[test]
fn a_saved_broker_is_watched_from_the_start() {
    let Some(broker) = Mosquitto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut config = AgentConfig::new(Device::new("saved-cam", DeviceType::SmartCamera, 4, 2048, 16.0), dir.path());
    config.token = Some(TOKEN.into());
    config.broker = Some(BrokerConfig::new(broker.url().parse().unwrap(), FLEET));
    let agent = rt.block_on(spawn(config)).unwrap();
    let saved = edgefleet_ui::app::AppState {
        broker: BrokerSettings { url: broker.url(), fleet_name: FLEET.into(), ..BrokerSettings::default() },
        ..Default::default()
    };
    let engine = EngineConfig { mdns: false, default_token: Some(TOKEN.into()), ..EngineConfig::default() };
    let app = App::restore(AppConfig { seed_library: false, ..AppConfig::new(engine, None) }, saved).unwrap();
    let mut h = harness(app);
    wait_until(&mut h, Duration::from_secs(15), "the agent through the saved broker", |app| {
        app.state.fleet.get("saved-cam").is_some()
    });
    h.get_by_label("broker: connected");
    drop(h);
    rt.block_on(agent.shutdown());
}

/// Another console on the same fleet rolls a model out: this app records
/// it and its Deployments history shows it as "… · by console console-b".
#[test]
fn another_consoles_rollout_shows_in_the_deployments_history() {
    let Some(broker) = Mosquitto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut config = AgentConfig::new(Device::new("shared-cam", DeviceType::SmartCamera, 4, 2048, 16.0), dir.path());
    config.token = Some(TOKEN.into());
    config.broker = Some(BrokerConfig::new(broker.url().parse().unwrap(), FLEET));
    let agent = rt.block_on(spawn(config)).unwrap();

    let saved = edgefleet_ui::app::AppState {
        broker: BrokerSettings { url: broker.url(), fleet_name: FLEET.into(), ..BrokerSettings::default() },
        tab: Tab::Deployments,
        ..Default::default()
    };
    let engine = EngineConfig { mdns: false, default_token: Some(TOKEN.into()), ..EngineConfig::default() };
    let app = App::restore(AppConfig { seed_library: false, ..AppConfig::new(engine, None) }, saved).unwrap();
    let mut h = harness(app);
    wait_until(&mut h, Duration::from_secs(15), "the shared agent", |app| app.state.fleet.get("shared-cam").is_some());

    // Console B: its own engine and registry, the same broker fleet.
    let db = tempfile::tempdir().unwrap();
    let store =
        std::sync::Arc::new(std::sync::Mutex::new(edgefleet_store::Store::open(&db.path().join("b.db")).unwrap()));
    let b_config =
        EngineConfig { mdns: false, default_token: Some(TOKEN.into()), store: Some(store), ..EngineConfig::default() };
    let b = edgefleet_fleet::FleetEngine::start(b_config, || {}).unwrap();
    let mut spec = edgefleet_fleet::discovery::mqtt::BrokerSpec::new(&broker.url(), FLEET).unwrap();
    spec.console_id = "console-b".into();
    b.send(edgefleet_fleet::Command::SetBroker { broker: Some(spec) }).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Some(edgefleet_fleet::Event::Device(_)) = b.recv_timeout(Duration::from_millis(50)) {
            break;
        }
    }
    let req = edgefleet_fleet::RolloutRequest::for_file(model(), vec!["shared-cam".into()], RolloutPlan::default());
    let run = edgefleet_fleet::rollout_job(req);
    b.send(edgefleet_fleet::Command::Job { id: edgefleet_fleet::JobId(1), title: "b rolls out".into(), run }).unwrap();
    wait_until(&mut h, Duration::from_secs(60), "console b's finished rollout in the history", |app| {
        app.state.history.iter().any(|d| d.origin.as_deref() == Some("console-b") && d.state == "done")
    });
    h.get_by_label_contains("mlp_digits v");
    h.get_by_label_contains("· by console console-b");
    assert!(h.state().rollouts().list.is_empty(), "nothing to resume or control here");
    drop(h);
    drop(b);
    rt.block_on(agent.shutdown());
}
