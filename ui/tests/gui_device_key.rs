//! Pairing pins the device key, in the GUI (egui_kittest, no display)
//! against a real agent serving HTTPS on 127.0.0.1 and found over mDNS on
//! loopback: the detail of the unpaired device shows the fingerprint the
//! agent printed before the token is given, Pair pins exactly that key, and
//! the paired device's detail shows it as its key.

use edgefleet_agent::{AgentConfig, AgentHandle, spawn};
use edgefleet_core::{Device, DeviceType};
use edgefleet_fleet::EngineConfig;
use edgefleet_ui::app::{App, AppConfig};
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
    let mut config = AgentConfig::new(Device::new(&name, DeviceType::SmartCamera, 2, 2048, 16.0), dir.path());
    config.token = Some(TOKEN.into());
    config.tls = true;
    config.advertise = true;
    config.interfaces = vec!["lo".into()];
    config.benchmark_duration = Duration::from_millis(10);
    let agent: AgentHandle = rt.block_on(spawn(config)).expect("agent");

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

    h.state_mut().state.pair_token = TOKEN.into();
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
    rt.block_on(agent.shutdown());
}
