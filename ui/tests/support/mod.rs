//! What the GUI tests share: the egui_kittest harness over the app, waiting
//! for a condition while frames run, real agents served on 127.0.0.1 by the
//! test process, library cards of the shipped models, dragging with the
//! pointer, and a big model file (an upload that takes a while).
//!
//! Each test file includes it with `mod support;` and uses a part of it.
#![allow(dead_code)]

use edgefleet_agent::{AgentConfig, AgentHandle, spawn_on};
use edgefleet_core::{Device, DeviceType, Location, ModelProfile};
use edgefleet_fleet::{AgentClient, EngineConfig, JobState, http_client};
use edgefleet_ui::app::{App, AppConfig, ModelCard, UiCommand};
use egui_kittest::Harness;
use prost::Message;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The token every agent of [`start_agents`] has.
pub const TOKEN: &str = "journey-token-0123456789abcdef0123456789";

/// The app in a window-sized harness, one frame per step.
pub fn harness(app: App) -> Harness<'static, App> {
    Harness::builder().with_size([1440.0, 900.0]).build_ui_state(|ui, app: &mut App| app.frame_ui(ui), app)
}

/// The app over the user's own fleet (no demo), mDNS off, fast polling,
/// an empty library; `token` is tried for devices without one.
pub fn own_fleet_app(token: Option<&str>) -> App {
    let engine = EngineConfig {
        mdns: false,
        poll_interval_ms: 250,
        default_token: token.map(str::to_owned),
        ..EngineConfig::default()
    };
    App::new_for_test(AppConfig { seed_library: false, ..AppConfig::new(engine, None) }).expect("the app starts")
}

/// Run frames until `cond` holds; fail with `what` and what the app knows
/// after `timeout`.
pub fn wait_until(h: &mut Harness<'_, App>, timeout: Duration, what: &str, cond: impl Fn(&App) -> bool) {
    let start = Instant::now();
    while !cond(h.state()) {
        if start.elapsed() > timeout {
            let app = h.state();
            let log: Vec<&str> = app.state.log.lines.iter().rev().take(12).map(|l| l.message.as_str()).collect();
            let fleet: Vec<(&str, bool)> =
                app.state.fleet.entries().iter().map(|e| (e.id(), e.metrics.is_some())).collect();
            let cards: Vec<(&str, bool)> =
                app.state.library.cards.iter().map(|c| (c.name.as_str(), c.path.is_some())).collect();
            panic!(
                "timed out after {timeout:?} waiting for {what}; jobs: {:?}; fleet {fleet:?}; library {cards:?}; recent log: {log:#?}",
                app.state.jobs.list
            );
        }
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    h.run_steps(2);
}

/// Click "Optimize for this device" in the open fit panel, wait (up to
/// 240 s) for the latest optimize job to end, and return its message;
/// panics when it failed.
pub fn run_optimize(h: &mut Harness<'_, App>) -> String {
    use egui_kittest::kittest::Queryable;
    h.get_by_label("⚙ Optimize for this device").click();
    h.run_steps(2);
    wait_until(h, Duration::from_secs(240), "the optimize job to end", |app| {
        app.state.jobs.list.iter().any(|j| j.title.starts_with("Optimize") && j.state != JobState::Running)
    });
    let job = h.state().state.jobs.list.iter().find(|j| j.title.starts_with("Optimize")).cloned().expect("job");
    let JobState::Done(message) = job.state else { panic!("optimize failed: {job:?}") };
    message
}

/// Run frames for `window` (something must *not* happen meanwhile).
pub fn run_for(h: &mut Harness<'_, App>, window: Duration) {
    let start = Instant::now();
    while start.elapsed() < window {
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Press at `from`, move away a little (so egui sees a drag), move to `to`
/// and release there, with frames in between as a real pointer gives.
pub fn drag_and_drop(h: &mut Harness<'_, App>, from: egui::Pos2, to: egui::Pos2) {
    h.drag_at(from);
    h.run_steps(2);
    h.hover_at(from + egui::vec2(-30.0, 0.0));
    h.run_steps(2);
    h.hover_at(to);
    h.run_steps(2);
    h.drop_at(to);
    h.run_steps(3);
}

/// Agents served on a runtime of their own, on consecutive ports.
pub struct Agents {
    pub rt: tokio::runtime::Runtime,
    pub handles: Vec<AgentHandle>,
    pub base_port: u16,
    /// Each agent's data dir is `agent-{i}` in here.
    pub dir: tempfile::TempDir,
}

/// A run of `n` free consecutive ports on 127.0.0.1.
pub fn free_ports(n: u16) -> u16 {
    // Tests run in parallel: each call starts from a block of its own.
    static CALLS: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let seed = 20_000 + (std::process::id() % 2_000) as u16 * 10 + call * 211;
    for attempt in 0..200u16 {
        let base = seed.wrapping_add(attempt * 37) % 40_000 + 20_000;
        let all_free = (0..n).all(|i| TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, base + i))).is_ok());
        if all_free {
            return base;
        }
    }
    panic!("no {n} consecutive free ports on 127.0.0.1");
}

/// Start `n` agents named `board-00`…, one per 0.01° of latitude near
/// Paris; `tweak` adjusts one agent's config.
pub fn start_agents(n: usize, tweak: impl Fn(usize, &mut AgentConfig)) -> Agents {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tmp");
    let base_port = free_ports(n as u16);
    let handles = (0..n)
        .map(|i| {
            let mut device = Device::new(format!("board-{i:02}"), DeviceType::EdgeServer, 8, 16_384, 64.0);
            device.simulated = true;
            // On the map (not in its tray), so the list row is the one widget with its name.
            device.location = Some(Location { latitude: 48.85 + i as f64 * 0.01, longitude: 2.35 });
            let mut config = AgentConfig::new(device, dir.path().join(format!("agent-{i}")));
            config.token = Some(TOKEN.into());
            tweak(i, &mut config);
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, base_port + i as u16));
            rt.block_on(spawn_on(addr, config)).expect("the agent starts")
        })
        .collect();
    Agents { rt, handles, base_port, dir }
}

impl Agents {
    pub fn client(&self, i: usize) -> AgentClient {
        AgentClient::new(http_client().expect("http"), self.handles[i].addr, Some(TOKEN.into()))
    }

    /// The version of `name` agent `i` runs now, asked over HTTP.
    pub fn active_version(&self, i: usize, name: &str) -> Option<String> {
        let models = self.rt.block_on(self.client(i).models()).expect("GET /v1/models");
        models.models.into_iter().find(|m| m.active && m.name == name).map(|m| m.version)
    }

    /// Agent `i`'s data dir.
    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("agent-{i}"))
    }
}

/// Add every agent by address and wait until each is listed with metrics.
pub fn add_all(h: &mut Harness<'_, App>, agents: &Agents) {
    for a in &agents.handles {
        h.state_mut().push_command(UiCommand::AddDevice { addr: a.addr.to_string() });
    }
    let n = agents.handles.len();
    wait_until(h, Duration::from_secs(20), "every agent listed with metrics", |app| {
        app.state.fleet.len() == n && app.state.fleet.entries().iter().all(|e| e.metrics.is_some())
    });
}

/// A file of the shipped `assets/`.
pub fn asset(path: &str) -> PathBuf {
    std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets").join(path)).expect("asset")
}

/// A library card for the model file `path` under `name` and `version`,
/// with the shipped profile of the MLP or the CNN.
pub fn card_for_path(id: i64, name: &str, version: &str, path: PathBuf, parent: Option<i64>) -> ModelCard {
    let cnn = path.file_name().and_then(|f| f.to_str()).is_some_and(|f| f.starts_with("cnn"));
    let profile_file = if cnn { "profiles/cnn_digits.json" } else { "profiles/mlp_digits.json" };
    let text = std::fs::read_to_string(asset(profile_file)).expect("profile");
    let profile: ModelProfile = serde_json::from_str(&text).expect("a profile");
    let size_bytes = std::fs::metadata(&path).expect("model file").len();
    ModelCard {
        id,
        name: name.into(),
        version: version.into(),
        path: Some(path),
        size_bytes,
        parent_id: parent,
        ..ModelCard::profile_only(id, profile)
    }
}

/// A library card for the shipped model `file` (in `assets/models/`).
pub fn card(id: i64, name: &str, version: &str, file: &str, parent: Option<i64>) -> ModelCard {
    card_for_path(id, name, version, asset(&format!("models/{file}")), parent)
}

/// The demo MLP plus an unused `pad_bytes` initializer: the same answers
/// from a big file, whose upload, hashing and loading take a while.
pub fn padded_mlp(dir: &Path, pad_bytes: usize) -> PathBuf {
    let bytes = std::fs::read(asset("models/mlp_digits.onnx")).expect("demo model");
    let mut m = tract_onnx::pb::ModelProto::decode(bytes.as_slice()).expect("valid ONNX");
    m.graph.as_mut().expect("a graph").initializer.push(tract_onnx::pb::TensorProto {
        name: "unused_padding".into(),
        dims: vec![pad_bytes as i64],
        data_type: 2, // uint8
        raw_data: (0..pad_bytes).map(|i| (i as u8).wrapping_mul(31)).collect(),
        ..Default::default()
    });
    let path = dir.join(format!("mlp_padded_{pad_bytes}.onnx"));
    std::fs::write(&path, m.encode_to_vec()).expect("write the padded model");
    path
}
