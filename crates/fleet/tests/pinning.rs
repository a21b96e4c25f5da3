//! Device keys pinned at pairing, against real agents serving HTTPS on
//! 127.0.0.1: a pinned client talks only to the key it pins, and something
//! claiming a paired device's id with another key (or with no TLS) never
//! receives the token — it is reported, and the registry entry keeps
//! pointing at the real device.

// Helpers outside #[test] fns: a failed setup step should panic at once.
#![allow(clippy::unwrap_used)]

mod common;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use edgefleet_agent::{AgentConfig, AgentHandle, DeviceKey, ServeLimits, serve_bounded_tls, spawn};
use edgefleet_core::wire::{Health, InfoResponse};
use edgefleet_core::{Device, DeviceType};
use edgefleet_fleet::scan::{Credentials, confirm};
use edgefleet_fleet::{
    AgentClient, Command, EngineConfig, Event, FleetEngine, FleetError, LogLevel, Source, http_client,
};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const TOKEN: &str = "pinning-test-token-0123";

async fn tls_agent(id: &str, dir: &std::path::Path) -> AgentHandle {
    let mut config = AgentConfig::new(Device::new(id, DeviceType::EdgeServer, 2, 2048, 16.0), dir);
    config.token = Some(TOKEN.into());
    config.tls = true;
    config.benchmark_duration = Duration::from_millis(10);
    spawn(config).await.unwrap()
}

/// A fake agent claiming `device_id`: answers health and info like an agent
/// and counts every request that carries `TOKEN`.
struct Impostor {
    addr: SocketAddr,
    token_seen: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

#[derive(Clone)]
struct ImpostorState {
    device: Device,
    token_seen: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

impl ImpostorState {
    fn count(&self, headers: &HeaderMap) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        if auth.contains(TOKEN) {
            self.token_seen.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Start an impostor with its own key; `tls` false makes it plain HTTP.
async fn impostor(device_id: &str, tls: bool) -> Impostor {
    let dir = tempfile::tempdir().unwrap();
    let key = DeviceKey::load_or_create(dir.path()).unwrap();
    let mut device = Device::new(device_id, DeviceType::EdgeServer, 2, 2048, 16.0);
    device.key_fingerprint = Some(key.fingerprint.clone());
    let state = ImpostorState { device, token_seen: Arc::default(), requests: Arc::default() };
    let app = Router::new()
        .route(
            "/v1/health",
            get(|State(s): State<ImpostorState>, h: HeaderMap| async move {
                s.count(&h);
                axum::Json(Health {
                    status: "ok".into(),
                    version: "0".into(),
                    uptime_s: 1,
                    device_id: Some(s.device.device_id.clone()),
                    key_fingerprint: s.device.key_fingerprint.clone(),
                })
            }),
        )
        .fallback(|State(s): State<ImpostorState>, h: HeaderMap| async move {
            s.count(&h);
            axum::Json(InfoResponse {
                device: s.device.clone(),
                agent_version: "0".into(),
                api: "v1".into(),
                runtime_info: None,
            })
        })
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls_config = tls.then(|| key.tls_server_config().unwrap());
    tokio::spawn(serve_bounded_tls(listener, app, ServeLimits::default(), tls_config, std::future::pending()));
    Impostor { addr, token_seen: state.token_seen, requests: state.requests, _dir: dir }
}

struct Paired {
    pins: HashMap<String, String>,
}

impl Credentials for Paired {
    fn token_for(&self, _device_id: &str) -> Option<String> {
        Some(TOKEN.into())
    }
    fn pin_for(&self, device_id: &str) -> Option<String> {
        self.pins.get(device_id).cloned()
    }
}

#[tokio::test]
async fn a_pinned_client_talks_only_to_the_pinned_key() {
    let dir = tempfile::tempdir().unwrap();
    let agent = tls_agent("dev-a", dir.path()).await;
    let http = http_client().unwrap();
    let pinned = AgentClient::pinned(http.clone(), agent.addr, &agent.fingerprint, Some(TOKEN.into()));
    let info = pinned.info().await.unwrap();
    assert_eq!(info.device.device_id, "dev-a");
    assert_eq!(info.device.key_fingerprint.as_deref(), Some(agent.fingerprint.as_str()));

    let other = tempfile::tempdir().unwrap();
    let wrong = DeviceKey::load_or_create(other.path()).unwrap().fingerprint;
    let e = AgentClient::pinned(http.clone(), agent.addr, &wrong, Some(TOKEN.into())).info().await.unwrap_err();
    assert!(matches!(e, FleetError::Unreachable { .. }), "{e}");

    // The probe reports the key the agent proved.
    let (health, key) = AgentClient::tls_probe(http.clone(), agent.addr).health_and_key().await.unwrap();
    assert_eq!(key.as_deref(), Some(agent.fingerprint.as_str()));
    assert_eq!(health.device_id.as_deref(), Some("dev-a"));

    // Plain HTTP to a TLS agent gets no answer at all.
    assert!(AgentClient::new(http, agent.addr, None).health().await.is_err());
    agent.shutdown().await;
}

#[tokio::test]
async fn an_impostor_with_another_key_or_no_tls_never_gets_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let agent = tls_agent("dev-a", dir.path()).await;
    let creds = Paired { pins: HashMap::from([("dev-a".to_owned(), agent.fingerprint.clone())]) };
    let http = http_client().unwrap();
    for tls in [true, false] {
        let fake = impostor("dev-a", tls).await;
        for source in [Source::Sweep, Source::Manual] {
            let e = confirm(&http, fake.addr, None, source, &creds).await.unwrap_err();
            let text = e.to_string();
            assert!(matches!(e, FleetError::KeyMismatch { .. }), "{text}");
            assert!(text.contains("device dev-a now presents a different key"), "{text}");
        }
        // An mDNS record naming the device with another short key is refused too.
        let mut advertised = Device::new("dev-a", DeviceType::EdgeServer, 2, 2048, 16.0);
        advertised.key_fingerprint = Some("ZZZZZZZZZZ".into());
        let e = confirm(&http, fake.addr, Some(advertised), Source::Mdns, &creds).await.unwrap_err();
        assert!(matches!(e, FleetError::KeyMismatch { .. }), "{e}");
        assert!(fake.requests.load(Ordering::SeqCst) > 0, "the impostor was asked (without a token)");
        assert_eq!(fake.token_seen.load(Ordering::SeqCst), 0, "the token reached the impostor (tls {tls})");
    }
    // The real device still confirms with its pinned key.
    let found = confirm(&http, agent.addr, None, Source::Manual, &creds).await.unwrap();
    assert!(found.confirmed);
    assert_eq!(found.device.key_fingerprint.as_deref(), Some(agent.fingerprint.as_str()));
    agent.shutdown().await;
}

/// Drain events until `pred` holds, failing after `within`.
fn wait_for(engine: &FleetEngine, within: Duration, what: &str, mut pred: impl FnMut(&Event) -> bool) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let event = engine.recv_timeout(Duration::from_millis(50));
        if let Some(Event::Log(l)) = &event {
            eprintln!("log: {:?} {}", l.level, l.message);
        }
        if event.is_some_and(|e| pred(&e)) {
            return;
        }
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn the_engine_warns_about_an_impostor_and_keeps_the_real_entry() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let agent = rt.block_on(tls_agent("dev-a", dir.path()));
    let fake = rt.block_on(impostor("dev-a", true));
    let store = common::memory_store();
    let config = EngineConfig { mdns: false, store: Some(store.clone()), ..EngineConfig::default() };
    let engine = FleetEngine::start(config, || {}).unwrap();

    // Added with its token: the key it proves on that first authenticated
    // contact is pinned.
    engine.send(Command::AddManual { addr: agent.addr.to_string(), token: Some(TOKEN.into()) }).unwrap();
    wait_for(
        &engine,
        Duration::from_secs(10),
        "the first poll",
        |e| matches!(e, Event::Metrics { device_id, .. } if device_id == "dev-a"),
    );
    assert_eq!(engine.directory().pinned("dev-a").as_deref(), Some(agent.fingerprint.as_str()));
    let real_base = engine.directory().client("dev-a").unwrap().base().to_owned();
    assert!(real_base.starts_with("https://"), "{real_base}");

    // The impostor answers a manual add (as it would a sweep) claiming dev-a.
    engine.send(Command::AddManual { addr: fake.addr.to_string(), token: Some(TOKEN.into()) }).unwrap();
    wait_for(
        &engine,
        Duration::from_secs(10),
        "the key warning",
        |e| matches!(e, Event::Log(l) if l.level == LogLevel::Warn && l.message.contains("device dev-a now presents a different key")),
    );
    // A few more polls: still the real device, still its key.
    wait_for(
        &engine,
        Duration::from_secs(10),
        "a poll after the warning",
        |e| matches!(e, Event::Metrics { device_id, .. } if device_id == "dev-a"),
    );
    assert_eq!(engine.directory().client("dev-a").unwrap().base(), real_base, "the entry was re-pointed");
    assert_eq!(fake.token_seen.load(Ordering::SeqCst), 0, "the token reached the impostor");
    engine.shutdown();
    let pinned = store.lock().unwrap().key_fingerprint("dev-a").unwrap();
    assert_eq!(pinned.as_deref(), Some(agent.fingerprint.as_str()));
    rt.block_on(agent.shutdown());
}
