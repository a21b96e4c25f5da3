//! Pairing pins the device key, in the GUI (egui_kittest, no display)
//! against a real agent serving HTTPS on 127.0.0.1 and found over mDNS on
//! loopback: the detail of the unpaired device shows the fingerprint the
//! agent printed before the token is given, Pair pins exactly that key, and
//! the paired device's detail shows it as its key; Rotate token gives it a
//! new token the console keeps using. Another agent claiming
//! the same id with its own key is a warning in the log and in the device's
//! recent events, and the device keeps its address.

use edgefleet_agent::{AgentConfig, AgentHandle, spawn};
use edgefleet_core::{Device, DeviceType};
use edgefleet_fleet::EngineConfig;
use edgefleet_ui::app::{App, AppConfig, UiCommand};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::time::{Duration, Instant};

const TOKEN: &str = "gui-device-key-token-0123";

fn harness(app: App) -> Harness<'static, App> {
    Harness::builder().with_size([1440.0, 900.0]).build_ui_state(|ui, app: &mut App| app.frame_ui(ui), app)
}

/// Run frames until `cond` holds; fail with `what` after `timeout`.
fn wait_until(h: &mut Harness<'_, App>, timeout: Duration, what: &str, cond: impl Fn(&App) -> bool) {
    let start = Instant::now();
    while !cond(h.state()) {
        let log: Vec<String> = h.state().state.log.lines.iter().rev().take(8).map(|l| l.message.clone()).collect();
        assert!(start.elapsed() < timeout, "timed out waiting for {what}; recent log: {log:#?}");
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    h.run_steps(2);
}

#[test]
fn pairing_shows_the_device_key_and_pins_it() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tmp");
    let name = format!("keyed-{}", std::process::id());
    // Its own token, generated on first start (a token given on the command
    // line cannot be rotated).
    let mut config = AgentConfig::new(Device::new(&name, DeviceType::SmartCamera, 2, 2048, 16.0), dir.path());
    config.tls = true;
    config.advertise = true;
    config.interfaces = vec!["lo".into()];
    config.benchmark_duration = Duration::from_millis(10);
    let agent: AgentHandle = rt.block_on(spawn(config)).expect("agent");
    let token = agent.token.clone();

    let engine =
        EngineConfig { mdns: true, interfaces: vec!["lo".into()], poll_interval_ms: 250, ..EngineConfig::default() };
    let app = App::new_for_test(AppConfig { seed_library: false, ..AppConfig::new(engine, None) }).expect("app");
    let mut h = harness(app);
    // Unpaired, with the key it proved over TLS (not just the mDNS short form).
    wait_until(&mut h, Duration::from_secs(20), "the device, unpaired, with its key", |app| {
        app.state
            .fleet
            .get(&name)
            .is_some_and(|e| !e.paired && e.device.key_fingerprint.as_deref() == Some(&agent.fingerprint))
    });
    h.state_mut().state.filter = name.clone();
    h.run_steps(2);
    // Listed (and on the map): the list row selects it.
    h.query_all_by_label(&name).next().expect("the device's row").click();
    h.run_steps(2);
    h.get_by_label("Not paired: the console has no valid token for it");
    h.get_by_label(&format!("Device key: {}", agent.fingerprint));

    h.state_mut().state.pair_token = token.clone();
    h.run_steps(1);
    h.get_by_label("Pair").click();
    h.run_steps(2);
    wait_until(&mut h, Duration::from_secs(20), "the device paired, with metrics", |app| {
        app.state.fleet.get(&name).is_some_and(|e| e.paired && e.metrics.is_some())
    });
    let log = &h.state().state.log;
    assert!(log.contains(&format!("{name}: key {} pinned", agent.fingerprint)), "{:?}", log.lines);
    // The detail's Key row shows the pinned key.
    assert!(h.query_all_by_label(&agent.fingerprint).next().is_some(), "the Key row shows the pinned key");

    // Rotate its token from the detail: the device takes a new one, the
    // console keeps talking to it, the old token stops working.
    h.get_by_label("Rotate token").click();
    h.run_steps(2);
    wait_until(&mut h, Duration::from_secs(20), "the rotation", |app| app.state.log.contains("token rotated"));
    let polls_before = h.state().state.fleet.get(&name).and_then(|e| e.metrics.as_ref().map(|m| m.uptime_s));
    wait_until(&mut h, Duration::from_secs(20), "metrics with the new token", |app| {
        app.state.fleet.get(&name).is_some_and(|e| e.paired && e.metrics.as_ref().map(|m| m.uptime_s) != polls_before)
    });
    let http = edgefleet_fleet::http_client().expect("http");
    let old = edgefleet_fleet::AgentClient::pinned(http, agent.addr, &agent.fingerprint, Some(token));
    assert_eq!(rt.block_on(old.info()).expect_err("the old token").status(), Some(401));

    // Another agent claiming the same id with its own key, added by address
    // (as a sweep would find it): a warning in the log and in the device's
    // recent events; the device keeps its address.
    let other = tempfile::tempdir().expect("tmp");
    let mut config = AgentConfig::new(Device::new(&name, DeviceType::SmartCamera, 2, 2048, 16.0), other.path());
    config.token = Some(TOKEN.into());
    config.tls = true;
    config.benchmark_duration = Duration::from_millis(10);
    let impostor: AgentHandle = rt.block_on(spawn(config)).expect("impostor");
    h.state_mut().push_command(UiCommand::AddDevice { addr: impostor.addr.to_string() });
    let warning = format!("device {name} now presents a different key");
    wait_until(&mut h, Duration::from_secs(20), "the key warning", |app| app.state.log.contains(&warning));
    // Once in the event log, once in the selected device's Recent events.
    let shown = h.query_all_by_label_contains(&warning).count();
    assert!(shown >= 2, "the warning is on screen {shown} time(s), not in the log and on the device");
    assert_eq!(h.state().state.fleet.get(&name).and_then(|e| e.addr), Some(agent.addr), "the entry was re-pointed");
    rt.block_on(impostor.shutdown());
    rt.block_on(agent.shutdown());
}
