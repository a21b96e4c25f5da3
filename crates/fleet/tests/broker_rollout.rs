//! Staged rollouts to agents the console reaches only through a broker, on
//! a real Mosquitto: the rollout code path is the HTTP one with a broker
//! transport per device (a `deploy` command: the agent pulls the file from
//! the console's model file server with Range resume, verifies and installs
//! it; then activation, health check and rollback as broker commands). The
//! directory gives every agent an HTTP address nobody listens on, so any
//! HTTP call from the console to an agent would fail the test.
//!
//! - a canary of 1 out of 3 goes first, every step and its bytes are in
//!   SQLite, and a rollback through the broker puts the devices back;
//! - the broker killed and restarted mid-rollout leaves no device
//!   half-installed and the rollout completes (bounded waits);
//! - the engine (the GUI's path) routes devices it found on the broker
//!   through it, pins its model-signing key on one at pairing through the
//!   broker, and its rollout job completes;
//! - pairing a broker-only device pins the console's key with the `trust`
//!   command (a wrong token is refused); unsigned activations are then
//!   refused and the console's signed rollout goes live.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed setup step should panic

mod common;
#[path = "../../agent/tests/support/mosquitto.rs"]
mod mosquitto;

use common::{mlp_path, padded_model, sha256_of};
use edgefleet_agent::{AgentConfig, AgentHandle, BrokerConfig, spawn};
use edgefleet_core::{Device, DeviceType};
use edgefleet_fleet::discovery::mqtt::{BrokerSpec, BrokerWatch};
use edgefleet_fleet::engine::Route;
use edgefleet_fleet::model_signing::ModelSigner;
use edgefleet_fleet::{
    AgentClient, Command, Directory, EngineConfig, Event, FleetEngine, FleetError, JobState, RolloutPlan,
    RolloutRequest, StepProgress, StepState, http_client, rollout, rollout_job, run_rollout,
};
use edgefleet_store::Store;
use mosquitto::Mosquitto;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const FLEET: &str = "plant-9";
const TOKEN: &str = "broker-rollout-token";

async fn agent_on(url: &str, id: &str, dir: &tempfile::TempDir) -> AgentHandle {
    let mut config = AgentConfig::new(Device::new(id, DeviceType::EdgeServer, 2, 2048, 16.0), dir.path());
    config.token = Some(TOKEN.into());
    config.benchmark_duration = Duration::from_millis(10);
    let mut link = BrokerConfig::new(url.parse().unwrap(), FLEET);
    link.telemetry_interval = Duration::from_millis(500);
    config.broker = Some(link);
    spawn(config).await.unwrap()
}

/// An address nothing listens on: HTTP to it fails at once.
fn dead_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Every agent on [`Route::Broker`], with an address nobody answers on.
fn broker_directory(agents: &[AgentHandle], watch: &BrokerWatch) -> Directory {
    let dir = Directory::new(http_client().unwrap());
    for a in agents {
        dir.insert_route(&a.device_id, dead_addr(), Some(TOKEN.into()), Route::Broker);
    }
    dir.set_broker_link(Some(watch.link()));
    dir
}

async fn connected(watch: &BrokerWatch) {
    let mut status = watch.link().subscribe_status();
    tokio::time::timeout(Duration::from_secs(10), status.wait_for(|s| s.is_connected())).await.unwrap().unwrap();
}

/// (active version, its SHA-256) of `name`, asked over the agent's own HTTP
/// API by the test (not by the console).
async fn active(agent: &AgentHandle, name: &str) -> Option<(String, String)> {
    let client = AgentClient::new(http_client().unwrap(), agent.addr, Some(TOKEN.into()));
    let models = client.models().await.unwrap().models;
    models.into_iter().find(|m| m.name == name && m.active).map(|m| (m.version, m.sha256))
}

/// Upload parts the agent's store still holds (a half-installed model).
fn parts_left(dir: &tempfile::TempDir) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().contains(".part") {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

fn recorder() -> (Arc<Mutex<Vec<StepProgress>>>, rollout::ProgressFn) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    (seen, Arc::new(move |p: StepProgress| s.lock().unwrap().push(p)))
}

#[test]
fn a_staged_rollout_with_a_canary_reaches_three_agents_that_share_only_a_broker() {
    let Some(broker) = Mosquitto::start() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let ids = ["cam-0", "cam-1", "cam-2"];
    let agents: Vec<AgentHandle> =
        ids.iter().zip(&dirs).map(|(id, d)| rt.block_on(agent_on(&broker.url(), id, d))).collect();
    let store = common::memory_store();
    let files = tempfile::tempdir().unwrap();
    let v1 = padded_model(files.path(), "digits_v1.onnx", 300_000, 1);
    let v2 = padded_model(files.path(), "digits_v2.onnx", 300_000, 2);

    rt.block_on(async {
        let watch = BrokerWatch::start(&BrokerSpec::new(&broker.url(), FLEET).unwrap(), |_| {});
        connected(&watch).await;
        let directory = broker_directory(&agents, &watch);
        let targets: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        let plan = RolloutPlan { canary: 1, parallel: 2, wait_for_device_s: 30, ..RolloutPlan::default() };

        let started = Instant::now();
        let (seen, progress) = recorder();
        let req = RolloutRequest {
            name: "digits".into(),
            version: "1".into(),
            ..RolloutRequest::for_file(&v1, targets.clone(), plan.clone())
        };
        let outcome = run_rollout(store.clone(), directory.clone(), req, progress).await.unwrap();
        eprintln!("3 devices through the broker in {} ms", started.elapsed().as_millis());
        assert_eq!(outcome.state, "done", "{outcome:?}");
        assert_eq!(outcome.done.len(), 3);

        // The canary was done before any other device started.
        let seen = seen.lock().unwrap().clone();
        let canary_done = seen.iter().position(|p| p.device_id == "cam-0" && p.state == StepState::Done).unwrap();
        let others_start = seen.iter().position(|p| p.device_id != "cam-0" && p.state == StepState::Uploading).unwrap();
        assert!(canary_done < others_start, "the canary finished first");
        // Download progress came back through the broker as bytes held.
        let size = std::fs::metadata(&v1).unwrap().len();
        assert!(
            seen.iter().any(|p| p.state == StepState::Uploading && p.bytes_sent > 0 && p.total_bytes == size),
            "download progress reported"
        );

        // SQLite holds the deployment and its steps, with their bytes.
        let record = store.lock().unwrap().get_deployment(outcome.deployment_id).unwrap().unwrap();
        assert_eq!(record.state, "done");
        assert_eq!(record.steps.len(), 3);
        for s in &record.steps {
            assert_eq!((s.state.as_str(), s.bytes_sent), ("done", size), "{s:?}");
        }
        let sha1 = sha256_of(&v1);
        for a in &agents {
            assert_eq!(active(a, "digits").await, Some(("1".into(), sha1.clone())));
        }

        // A second version, then a rollback through the broker.
        let req = RolloutRequest {
            name: "digits".into(),
            version: "2".into(),
            ..RolloutRequest::for_file(&v2, targets.clone(), plan)
        };
        let (_, progress) = recorder();
        let outcome = run_rollout(store.clone(), directory.clone(), req, progress).await.unwrap();
        assert_eq!(outcome.state, "done", "{outcome:?}");
        let back = rollout::rollback_devices(&directory, "digits", &targets).await.unwrap();
        for (dev, r) in back {
            assert_eq!(r.unwrap(), "1", "{dev} back on version 1");
        }
        for a in &agents {
            assert_eq!(active(a, "digits").await.unwrap().0, "1");
        }
        watch.stop();
    });
    for a in agents {
        rt.block_on(a.shutdown());
    }
    broker.kill();
}

#[test]
fn the_broker_restarting_mid_rollout_leaves_no_device_half_installed() {
    let Some(broker) = Mosquitto::start() else { return };
    let port = broker.port;
    let url = broker.url();
    let broker = Arc::new(Mutex::new(Some(broker)));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let ids = ["dev-a", "dev-b", "dev-c"];
    let agents: Vec<AgentHandle> = ids.iter().zip(&dirs).map(|(id, d)| rt.block_on(agent_on(&url, id, d))).collect();
    let store = common::memory_store();
    let files = tempfile::tempdir().unwrap();
    // Large enough that the second device is mid-download when the broker goes.
    let model = padded_model(files.path(), "big.onnx", 8_000_000, 3);
    let size = std::fs::metadata(&model).unwrap().len();

    // When the second device starts its download: kill the broker, and
    // start a new one on the same port 2 s later.
    let restarted = Arc::new(Mutex::new(None::<Instant>));
    let (b, r) = (broker.clone(), restarted.clone());
    let once = std::sync::Once::new();
    let progress: rollout::ProgressFn = Arc::new(move |p: StepProgress| {
        if p.device_id == "dev-b" && p.state == StepState::Uploading && p.bytes_sent > 0 {
            once.call_once(|| {
                let (b, r) = (b.clone(), r.clone());
                std::thread::spawn(move || {
                    if let Some(old) = b.lock().unwrap().take() {
                        old.kill();
                    }
                    std::thread::sleep(Duration::from_secs(2));
                    *b.lock().unwrap() = Mosquitto::start_on(port);
                    *r.lock().unwrap() = Some(Instant::now());
                });
            });
        }
    });

    rt.block_on(async {
        let watch = BrokerWatch::start(&BrokerSpec::new(&url, FLEET).unwrap(), |_| {});
        connected(&watch).await;
        let directory = broker_directory(&agents, &watch);
        let targets: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        let plan = RolloutPlan { canary: 1, parallel: 1, wait_for_device_s: 60, ..RolloutPlan::default() };
        let req = RolloutRequest {
            name: "big".into(),
            version: "1".into(),
            ..RolloutRequest::for_file(&model, targets, plan)
        };
        let started = Instant::now();
        let outcome =
            tokio::time::timeout(Duration::from_secs(120), run_rollout(store.clone(), directory, req, progress))
                .await
                .expect("the rollout finished within 120 s")
                .unwrap();
        let restart = restarted.lock().unwrap().expect("the broker was restarted mid-rollout");
        eprintln!(
            "rollout done {} ms after its start, {} ms after the broker came back",
            started.elapsed().as_millis(),
            restart.elapsed().as_millis()
        );
        assert_eq!(outcome.state, "done", "{outcome:?}");
        let record = store.lock().unwrap().get_deployment(outcome.deployment_id).unwrap().unwrap();
        for s in &record.steps {
            assert_eq!((s.state.as_str(), s.bytes_sent), ("done", size), "{s:?}");
        }
        let sha = sha256_of(&model);
        for (a, d) in agents.iter().zip(&dirs) {
            assert_eq!(active(a, "big").await, Some(("1".into(), sha.clone())), "{}", a.device_id);
            assert_eq!(parts_left(d), Vec::<String>::new(), "{} holds no partial file", a.device_id);
        }
        watch.stop();
    });
    for a in agents {
        rt.block_on(a.shutdown());
    }
    if let Some(b) = broker.lock().unwrap().take() {
        b.kill();
    }
}

#[test]
fn the_engine_rolls_out_to_devices_it_found_on_the_broker() {
    let Some(broker) = Mosquitto::start() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let agents: Vec<AgentHandle> =
        ["eng-0", "eng-1"].iter().zip(&dirs).map(|(id, d)| rt.block_on(agent_on(&broker.url(), id, d))).collect();
    let db = tempfile::tempdir().unwrap();
    let store = Arc::new(Mutex::new(Store::open(&db.path().join("registry.db")).unwrap()));
    let keys = tempfile::tempdir().unwrap();
    let signer = ModelSigner::load_or_create(&keys.path().join("console.key")).unwrap();
    let config = EngineConfig {
        mdns: false,
        default_token: Some(TOKEN.into()),
        store: Some(store.clone()),
        signer: Some(signer.clone()),
        ..EngineConfig::default()
    };
    let engine = FleetEngine::start(config, || {}).unwrap();
    engine.send(Command::SetBroker { broker: Some(BrokerSpec::new(&broker.url(), FLEET).unwrap()) }).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let (mut found, mut connected) = (0, false);
    while (found < 2 || !connected) && Instant::now() < deadline {
        match engine.recv_timeout(Duration::from_millis(50)) {
            Some(Event::Device(_)) => found += 1,
            Some(Event::Broker(Some(s))) if s.is_connected() => connected = true,
            _ => {}
        }
    }
    assert!(found >= 2 && connected, "both agents found and the broker connected");
    for a in &agents {
        assert_eq!(engine.directory().route(&a.device_id), Some(Route::Broker));
    }
    // Pairing (the GUI's Pair) pins this console's key on eng-0 through the
    // broker (its HTTP address made dead first, so HTTP would fail); the
    // signed rollout below still reaches it.
    engine.directory().insert("eng-0", dead_addr(), Some(TOKEN.into()));
    engine.send(Command::Pair { device_id: "eng-0".into(), token: TOKEN.into(), fingerprint: None }).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut pinned = None;
    while pinned.is_none() && Instant::now() < deadline {
        if let Some(Event::Log(e)) = engine.recv_timeout(Duration::from_millis(50))
            && e.message.starts_with("eng-0:")
            && e.message.contains("console's")
        {
            pinned = Some(e.message);
        }
    }
    let pinned = pinned.expect("a log line on pinning the console key on eng-0");
    assert!(pinned.contains("runs only models signed by it"), "{pinned}");
    let kept = std::fs::read_to_string(dirs[0].path().join("console_key.ed25519")).unwrap();
    assert_eq!(kept.trim(), signer.public_key_hex());
    let req = RolloutRequest::for_file(mlp_path(), vec!["eng-0".into(), "eng-1".into()], RolloutPlan::default());
    engine
        .send(Command::Job { id: edgefleet_fleet::JobId(1), title: "roll out".into(), run: rollout_job(req) })
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut ended = None;
    while ended.is_none() && Instant::now() < deadline {
        if let Some(Event::Job(u)) = engine.recv_timeout(Duration::from_millis(50))
            && u.state != JobState::Running
        {
            ended = Some(u.state);
        }
    }
    assert!(matches!(ended, Some(JobState::Done(_))), "{ended:?}");
    // The installed models of a broker device are listed through the broker too.
    engine.send(Command::RefreshModels { device_id: "eng-0".into() }).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut listed = None;
    while listed.is_none() && Instant::now() < deadline {
        if let Some(Event::Models { device_id, models }) = engine.recv_timeout(Duration::from_millis(50))
            && device_id == "eng-0"
        {
            listed = Some(models);
        }
    }
    let listed = listed.expect("eng-0's models through the broker");
    assert!(listed.iter().any(|m| m.name == "mlp_digits" && m.active), "{listed:?}");
    let sha = sha256_of(&mlp_path());
    for a in &agents {
        assert_eq!(rt.block_on(active(a, "mlp_digits")).map(|x| x.1), Some(sha.clone()));
    }
    drop(engine);
    for a in agents {
        rt.block_on(a.shutdown());
    }
    broker.kill();
}

/// Two consoles (two engines, two registries) on one broker fleet: the
/// rollout one runs shows in the other's deployments table, read-only, as
/// "by console X", with its steps and bytes, and is never resumed there.
#[test]
fn a_second_console_records_the_first_ones_rollout_progress() {
    let Some(broker) = Mosquitto::start() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let agents: Vec<AgentHandle> =
        ["two-0", "two-1"].iter().zip(&dirs).map(|(id, d)| rt.block_on(agent_on(&broker.url(), id, d))).collect();
    let db = tempfile::tempdir().unwrap();
    let console = |name: &str| {
        let store = Arc::new(Mutex::new(Store::open(&db.path().join(name)).unwrap()));
        let config = EngineConfig {
            mdns: false,
            default_token: Some(TOKEN.into()),
            store: Some(store.clone()),
            ..EngineConfig::default()
        };
        let engine = FleetEngine::start(config, || {}).unwrap();
        let mut spec = BrokerSpec::new(&broker.url(), FLEET).unwrap();
        spec.console_id = name.replace(".db", "");
        engine.send(Command::SetBroker { broker: Some(spec) }).unwrap();
        (engine, store)
    };
    let (a, _store_a) = console("console-a.db");
    let (b, store_b) = console("console-b.db");
    for engine in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut found = 0;
        while found < 2 && Instant::now() < deadline {
            if let Some(Event::Device(_)) = engine.recv_timeout(Duration::from_millis(50)) {
                found += 1;
            }
        }
        assert!(found >= 2, "each console finds both agents");
    }
    let req = RolloutRequest::for_file(mlp_path(), vec!["two-0".into(), "two-1".into()], RolloutPlan::default());
    a.send(Command::Job { id: edgefleet_fleet::JobId(1), title: "roll out".into(), run: rollout_job(req) }).unwrap();
    let size = std::fs::metadata(mlp_path()).unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(60);
    let recorded = loop {
        assert!(Instant::now() < deadline, "console b recorded console a's finished rollout within 60 s");
        // Keep both event queues drained.
        let _ = a.recv_timeout(Duration::from_millis(20));
        let _ = b.recv_timeout(Duration::from_millis(20));
        let list = store_b.lock().unwrap().list_deployments().unwrap();
        if let Some(d) = list.into_iter().find(|d| d.state == "done") {
            break d;
        }
    };
    assert_eq!(recorded.origin.as_deref(), Some("console-a"), "{recorded:?}");
    assert_eq!(recorded.model_name, "mlp_digits");
    assert_eq!(recorded.steps.len(), 2);
    assert!(recorded.steps.iter().all(|s| s.state == "done" && s.bytes_sent == size), "{:?}", recorded.steps);
    assert!(store_b.lock().unwrap().unfinished_deployments().unwrap().is_empty(), "never resumed by console b");
    drop((a, b));
    for agent in agents {
        rt.block_on(agent.shutdown());
    }
    broker.kill();
}

/// Pairing a device reached only through the broker pins this console's
/// model-signing key through it (the `trust` command; the directory's HTTP
/// address for the device is dead): a wrong token's `trust` is refused and
/// pins nothing (an unsigned version still goes live), the right one pins,
/// the same key again is accepted and another console's key needs the
/// deliberate replace. From then on an unsigned rollout through the broker
/// is refused at activation (the version before keeps serving) and this
/// console's signed one goes live.
#[test]
fn broker_pairing_pins_the_console_key_and_activations_carry_its_signature() {
    let Some(broker) = Mosquitto::start() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let agent = rt.block_on(agent_on(&broker.url(), "signed-cam", &dir));
    let keys = tempfile::tempdir().unwrap();
    let signer = ModelSigner::load_or_create(&keys.path().join("console.key")).unwrap();
    let files = tempfile::tempdir().unwrap();
    let v0 = padded_model(files.path(), "digits_v0.onnx", 2048, 0);
    let v2 = padded_model(files.path(), "digits_v2.onnx", 4096, 2);
    rt.block_on(async {
        let watch = BrokerWatch::start(&BrokerSpec::new(&broker.url(), FLEET).unwrap(), |_| {});
        connected(&watch).await;
        let directory = broker_directory(std::slice::from_ref(&agent), &watch);
        let plan = RolloutPlan { wait_for_device_s: 0, ..RolloutPlan::default() };
        let rollout = |directory: Directory, path: std::path::PathBuf, version: &str| {
            let req = RolloutRequest {
                name: "digits".into(),
                version: version.into(),
                ..RolloutRequest::for_file(path, vec!["signed-cam".into()], plan.clone())
            };
            run_rollout(common::memory_store(), directory, req, Arc::new(|_| {}))
        };

        directory.set_signer(Some(signer.clone()));
        let link = directory.link("signed-cam").unwrap();
        assert!(link.is_broker());
        match link.clone().with_token(Some("not-the-token".into())).trust(false).await {
            Err(FleetError::Agent { status: 401, .. }) => {}
            other => panic!("a wrong token's trust command was not refused: {other:?}"),
        }
        directory.set_signer(None);
        let before = rollout(directory.clone(), v0.clone(), "0").await.unwrap();
        assert_eq!(before.state, "done", "nothing pinned yet: an unsigned version goes live: {before:?}");

        let pinned = link.trust(false).await.unwrap();
        assert!(pinned.require_signed);
        assert_eq!(pinned.console_key, signer.public_key_hex());
        assert!(link.trust(false).await.unwrap().require_signed, "the same key again is accepted");
        directory.set_signer(Some(ModelSigner::load_or_create(&keys.path().join("other.key")).unwrap()));
        match directory.link("signed-cam").unwrap().trust(false).await {
            Err(FleetError::Agent { status: 409, .. }) => {}
            other => panic!("another console's key replaced the pinned one without replace: {other:?}"),
        }

        directory.set_signer(None);
        let unsigned = rollout(directory.clone(), v2.clone(), "2").await.unwrap();
        assert_ne!(unsigned.state, "done", "an unsigned activation is refused: {unsigned:?}");
        assert!(format!("{unsigned:?}").contains("not signed by the console"), "{unsigned:?}");
        assert_eq!(active(&agent, "digits").await.map(|a| a.0).as_deref(), Some("0"), "the old version serves");
        directory.set_signer(Some(signer.clone()));
        let signed = rollout(directory.clone(), mlp_path(), "1").await.unwrap();
        assert_eq!(signed.state, "done", "{signed:?}");
        assert_eq!(active(&agent, "digits").await.map(|a| a.0).as_deref(), Some("1"));
        watch.stop();
    });
    rt.block_on(agent.shutdown());
    broker.kill();
}

/// A console that stops mid-rollout (its rollout task dropped, its broker
/// connection gone) and starts again resumes the rollout from the store
/// through a new broker connection: every device ends done, none
/// half-installed, the download resumed where the agent's part ended.
#[test]
fn a_rollout_to_broker_devices_resumes_after_a_console_restart() {
    let Some(broker) = Mosquitto::start() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let ids = ["re-0", "re-1"];
    let agents: Vec<AgentHandle> =
        ids.iter().zip(&dirs).map(|(id, d)| rt.block_on(agent_on(&broker.url(), id, d))).collect();
    let db = tempfile::tempdir().unwrap();
    let store = Arc::new(Mutex::new(Store::open(&db.path().join("registry.db")).unwrap()));
    let files = tempfile::tempdir().unwrap();
    let model = padded_model(files.path(), "resumed.onnx", 8_000_000, 4);
    let size = std::fs::metadata(&model).unwrap().len();
    let targets: Vec<String> = ids.iter().map(|s| s.to_string()).collect();

    let deployment_id = rt.block_on(async {
        let watch = BrokerWatch::start(&BrokerSpec::new(&broker.url(), FLEET).unwrap(), |_| {});
        connected(&watch).await;
        let directory = broker_directory(&agents, &watch);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let progress: rollout::ProgressFn = Arc::new(move |p: StepProgress| {
            if p.device_id == "re-1" && p.state == StepState::Uploading && p.bytes_sent > 0 {
                let _ = tx.send(p.deployment_id);
            }
        });
        let plan = RolloutPlan { canary: 1, parallel: 1, ..RolloutPlan::default() };
        let req = RolloutRequest::for_file(&model, targets.clone(), plan);
        let task = tokio::spawn(run_rollout(store.clone(), directory, req, progress));
        let id = tokio::time::timeout(Duration::from_secs(60), rx.recv()).await.unwrap().unwrap();
        // The console goes away mid-download: its rollout and its connection.
        task.abort();
        let _ = task.await;
        watch.stop();
        id
    });
    let stopped = store.lock().unwrap().get_deployment(deployment_id).unwrap().unwrap();
    assert!(!["done", "failed", "rolled_back"].contains(&stopped.state.as_str()), "{stopped:?}");

    rt.block_on(async {
        let watch = BrokerWatch::start(&BrokerSpec::new(&broker.url(), FLEET).unwrap(), |_| {});
        connected(&watch).await;
        let directory = broker_directory(&agents, &watch);
        let (seen, progress) = recorder();
        let outcome = tokio::time::timeout(
            Duration::from_secs(90),
            rollout::resume_rollout(store.clone(), directory, deployment_id, progress),
        )
        .await
        .expect("resumed within 90 s")
        .unwrap();
        assert_eq!(outcome.state, "done", "{outcome:?}");
        let first = seen.lock().unwrap().iter().find(|p| p.device_id == "re-1" && p.bytes_sent > 0).cloned();
        eprintln!("re-1 resumed at {:?} of {size} bytes", first.map(|p| p.bytes_sent));
        watch.stop();
    });
    let sha = sha256_of(&model);
    for (a, d) in agents.iter().zip(&dirs) {
        assert_eq!(rt.block_on(active(a, "resumed")), Some((rollout::default_version(&sha), sha.clone())));
        assert_eq!(parts_left(d), Vec::<String>::new());
    }
    for a in agents {
        rt.block_on(a.shutdown());
    }
    broker.kill();
}
