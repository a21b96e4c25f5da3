//! The broker as a discovery source, against a real Mosquitto and real
//! agents on 127.0.0.1, with mDNS off and no sweep: the engine records
//! agents it saw only through the broker (source `mqtt` in the SQLite
//! registry), their telemetry arrives from the broker (not from polls), and
//! an agent that dies is marked Offline by its last will; `scan_broker`
//! lists them, and commands sent through the broker need the token; two
//! consoles see the same device and both recover when the broker restarts;
//! a deploy by pull's progress reaches a console that only watches.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed setup step should panic

#[path = "../../agent/tests/support/mosquitto.rs"]
mod mosquitto;

use edgefleet_agent::{AgentConfig, AgentHandle, BrokerConfig, spawn};
use edgefleet_core::mqtt_wire::{BrokerCommand, PullRequest};
use edgefleet_core::{Device, DeviceStatus, DeviceType};
use edgefleet_fleet::discovery::mqtt::{BrokerSpec, scan_broker, send_command};
use edgefleet_fleet::model_server::serve_model_file;
use edgefleet_fleet::{Command, EngineConfig, Event, FleetEngine, FleetError, Source};
use edgefleet_store::Store;
use mosquitto::Mosquitto;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const FLEET: &str = "site-b";
const TOKEN: &str = "broker-discovery-token";

async fn agent_on(broker: &Mosquitto, id: &str, dir: &tempfile::TempDir) -> AgentHandle {
    let mut config = AgentConfig::new(Device::new(id, DeviceType::SmartCamera, 2, 1024, 8.0), dir.path());
    config.token = Some(TOKEN.into());
    config.benchmark_duration = Duration::from_millis(10);
    let mut link = BrokerConfig::new(broker.url().parse().unwrap(), FLEET);
    link.telemetry_interval = Duration::from_millis(200);
    config.broker = Some(link);
    spawn(config).await.unwrap()
}

/// Drain events until `pred` holds, failing after `within`.
fn wait_for(engine: &FleetEngine, within: Duration, what: &str, mut pred: impl FnMut(&Event) -> bool) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if engine.recv_timeout(Duration::from_millis(50)).is_some_and(|e| pred(&e)) {
            return;
        }
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn the_engine_finds_agents_through_the_broker_and_their_last_will_marks_them_offline() {
    let Some(broker) = Mosquitto::start() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let a = rt.block_on(agent_on(&broker, "cam-a", &dirs[0]));
    let b = rt.block_on(agent_on(&broker, "cam-b", &dirs[1]));
    let db_dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Mutex::new(Store::open(&db_dir.path().join("registry.db")).unwrap()));
    let config = EngineConfig {
        mdns: false,
        poll_interval_ms: 250,
        default_token: Some(TOKEN.into()),
        store: Some(store.clone()),
        ..EngineConfig::default()
    };
    let engine = FleetEngine::start(config, || {}).unwrap();
    engine.send(Command::SetBroker { broker: Some(BrokerSpec::new(&broker.url(), FLEET).unwrap()) }).unwrap();

    let mut seen = std::collections::HashSet::new();
    wait_for(&engine, Duration::from_secs(10), "both agents through the broker", |e| {
        if let Event::Device(s) = e {
            assert_eq!(s.source, Source::Mqtt, "{s:?}");
            assert_eq!(s.device.status, DeviceStatus::Online);
            seen.insert(s.device.device_id.clone());
        }
        seen.len() == 2
    });
    // Telemetry from the broker: no round trip measured (NaN), unlike a poll.
    wait_for(&engine, Duration::from_secs(10), "telemetry of cam-a", |e| {
        matches!(e, Event::Metrics { device_id, metrics, rtt_ms }
            if device_id == "cam-a" && rtt_ms.is_nan() && metrics.memory_total_mb > 0)
    });

    // Dies without a goodbye (the socket just closes): the last will says offline.
    let killed = Instant::now();
    a.abort();
    wait_for(
        &engine,
        Duration::from_secs(10),
        "cam-a offline by its last will",
        |e| matches!(e, Event::Status { device_id, status: DeviceStatus::Offline } if device_id == "cam-a"),
    );
    eprintln!("cam-a offline {} ms after it died", killed.elapsed().as_millis());

    // The registry records how both were found; nothing was lost.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let recs = store.lock().unwrap().list_devices().unwrap();
        let mqtt: Vec<_> = recs.iter().filter(|r| r.source == "mqtt").collect();
        let a_offline = recs.iter().any(|r| r.device.device_id == "cam-a" && r.device.status == DeviceStatus::Offline);
        if mqtt.len() == 2 && a_offline {
            break;
        }
        assert!(Instant::now() < deadline, "registry: {recs:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let samples = store.lock().unwrap().telemetry("cam-b", 0).unwrap();
    assert!(!samples.is_empty(), "no telemetry stored for cam-b");
    engine.shutdown();
    rt.block_on(b.shutdown());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_lists_broker_devices_and_commands_need_the_token() {
    let Some(broker) = Mosquitto::start() else { return };
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let _a = agent_on(&broker, "scan-a", &dirs[0]).await;
    let _b = agent_on(&broker, "scan-b", &dirs[1]).await;
    let spec = BrokerSpec::new(&broker.url(), FLEET).unwrap();
    let mut found = Vec::new();
    // The agents connect in the background: retry the short scan until both have published.
    for _ in 0..20 {
        found = scan_broker(&spec, Duration::from_secs(2), Some(2), &|id| id == "scan-a").await.unwrap();
        if found.len() == 2 {
            break;
        }
    }
    assert_eq!(found.iter().map(|f| f.device.device_id.as_str()).collect::<Vec<_>>(), ["scan-a", "scan-b"]);
    assert!(found.iter().all(|f| f.source == Source::Mqtt && f.addr.ip().is_loopback()));
    assert_eq!(found.iter().map(|f| f.paired).collect::<Vec<_>>(), [true, false]);

    let rollback = || BrokerCommand::Rollback { model: "absent".into() };
    let wait = Duration::from_secs(10);
    let refused = send_command(&spec, "scan-a", "wrong-token", rollback(), wait).await.unwrap();
    assert_eq!(refused.error.unwrap().error, "unauthorized");
    // With the token the route itself answers: nothing to roll back to.
    let answered = send_command(&spec, "scan-a", TOKEN, rollback(), wait).await.unwrap();
    assert!(!answered.ok);
    assert_ne!(answered.error.unwrap().error, "unauthorized");

    // A broker that is not there: a clear error, quickly.
    let port = broker.port;
    broker.kill();
    let down = BrokerSpec::new(&format!("mqtt://127.0.0.1:{port}"), FLEET).unwrap();
    let err = scan_broker(&down, Duration::from_secs(2), None, &|_| false).await.unwrap_err();
    assert!(matches!(err, FleetError::Broker { .. }), "{err}");
    let err = send_command(&down, "scan-a", TOKEN, rollback(), Duration::from_secs(2)).await.unwrap_err();
    assert!(matches!(err, FleetError::Broker { .. }), "{err}");
}

/// Metrics events for `device_id` from now until `within`.
fn telemetry_arrives(engine: &FleetEngine, device_id: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(Event::Metrics { device_id: id, .. }) = engine.recv_timeout(Duration::from_millis(50))
            && id == device_id
        {
            return true;
        }
    }
    false
}

#[test]
fn two_consoles_see_the_same_fleet_and_both_recover_from_a_broker_restart() {
    let Some(broker) = Mosquitto::start() else { return };
    let port = broker.port;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let agent = rt.block_on(agent_on(&broker, "cam-r", &dir));
    let spec = BrokerSpec::new(&broker.url(), FLEET).unwrap();
    // One console given the broker at start (EngineConfig, as `edgefleet
    // --broker` does), the other told later (Command::SetBroker).
    let consoles: Vec<FleetEngine> = (0..2)
        .map(|i| {
            let broker = (i == 0).then(|| spec.clone());
            let config = EngineConfig { mdns: false, poll_interval_ms: 250, broker, ..EngineConfig::default() };
            let engine = FleetEngine::start(config, || {}).unwrap();
            if i == 1 {
                engine.send(Command::SetBroker { broker: Some(spec.clone()) }).unwrap();
            }
            engine
        })
        .collect();
    for engine in &consoles {
        wait_for(
            engine,
            Duration::from_secs(10),
            "cam-r through the broker",
            |e| matches!(e, Event::Device(s) if s.device.device_id == "cam-r" && s.source == Source::Mqtt),
        );
    }
    // The broker dies and comes back on the same port (nothing persisted):
    // the agent and both consoles reconnect by themselves; telemetry resumes.
    broker.kill();
    std::thread::sleep(Duration::from_millis(500));
    let restarted = Mosquitto::start_on(port).unwrap();
    let restarted_at = Instant::now();
    for engine in &consoles {
        while engine.try_recv().is_some() {}
        assert!(telemetry_arrives(engine, "cam-r", Duration::from_secs(20)), "no telemetry after the restart");
    }
    eprintln!("telemetry back {} ms after the broker restarted", restarted_at.elapsed().as_millis());
    for engine in consoles {
        engine.shutdown();
    }
    rt.block_on(agent.shutdown());
    drop(restarted);
}

#[test]
fn a_deploy_by_pull_reports_progress_to_every_console_watching() {
    let Some(broker) = Mosquitto::start() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let agent = rt.block_on(agent_on(&broker, "cam-p", &dir));
    let spec = BrokerSpec::new(&broker.url(), FLEET).unwrap();
    let config = EngineConfig { mdns: false, broker: Some(spec.clone()), ..EngineConfig::default() };
    let watcher = FleetEngine::start(config, || {}).unwrap();
    wait_for(
        &watcher,
        Duration::from_secs(10),
        "cam-p",
        |e| matches!(e, Event::Device(s) if s.device.device_id == "cam-p"),
    );

    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/models/mlp_digits.onnx");
    let bytes = std::fs::read(&model).unwrap();
    let sha256 = edgefleet_core::sha256_hex(&bytes);
    let reply = rt.block_on(async {
        let server = serve_model_file(model.clone(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let request = PullRequest {
            version: "p1".into(),
            url: server.url.clone(),
            size_bytes: bytes.len() as u64,
            sha256,
            activate: true,
            confidence_threshold: None,
            signature: None,
        };
        let command = BrokerCommand::Deploy { model: "digits".into(), request };
        let reply = send_command(&spec, "cam-p", TOKEN, command, Duration::from_secs(30)).await.unwrap();
        server.stop().await;
        reply
    });
    assert!(reply.ok && reply.is_final(), "{reply:?}");
    assert_eq!(reply.result.as_ref().unwrap()["activated"]["active_version"], "p1");
    // The console that only watches saw the progress and the end in its log.
    let (mut progress, mut done) = (false, false);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(progress && done) && Instant::now() < deadline {
        if let Some(Event::Log(entry)) = watcher.recv_timeout(Duration::from_millis(50)) {
            let about_it = entry.message.starts_with("cam-p: broker command") && entry.message.contains(&reply.id);
            progress |= about_it && entry.message.contains(&format!("of {} bytes", bytes.len()));
            done |= about_it && entry.message.ends_with("done");
        }
    }
    assert!(progress && done, "progress {progress}, done {done}");
    watcher.shutdown();
    rt.block_on(agent.shutdown());
}
