//! One GUI test per journey of the fleet-wide features, with egui_kittest
//! (no display) against real agents served on 127.0.0.1 by this process,
//! mDNS off: sweep a port range and the agents appear; pair an unpaired
//! device with its token; select 10 devices and roll out with a canary of 2
//! where one device refuses the upload (its storage limit is below the
//! model's size) — that row shows the reason, the other 9 finish; roll one
//! device back from its detail view; compare three variants; change the
//! poll interval and see the engine poll at the new pace.

use edgefleet_agent::{AgentConfig, AgentHandle, spawn_on};
use edgefleet_core::{Device, DeviceType, Location, ModelProfile};
use edgefleet_fleet::{AgentClient, EngineConfig, JobState, StepState, http_client};
use edgefleet_ui::app::{App, AppConfig, ModelCard, Phase, Tab, UiCommand};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TOKEN: &str = "journey-token-0123456789abcdef0123456789";

/// Agents served on a runtime of their own, on consecutive ports.
struct Agents {
    rt: tokio::runtime::Runtime,
    handles: Vec<AgentHandle>,
    base_port: u16,
    _dir: tempfile::TempDir,
}

/// A run of `n` free consecutive ports on 127.0.0.1.
fn free_ports(n: u16) -> u16 {
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

/// Start `n` agents named `board-00`…; `tweak` adjusts one agent's config.
fn start_agents(n: usize, tweak: impl Fn(usize, &mut AgentConfig)) -> Agents {
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
    Agents { rt, handles, base_port, _dir: dir }
}

impl Agents {
    fn client(&self, i: usize) -> AgentClient {
        AgentClient::new(http_client().expect("http"), self.handles[i].addr, Some(TOKEN.into()))
    }

    fn active_version(&self, i: usize, name: &str) -> Option<String> {
        let models = self.rt.block_on(self.client(i).models()).expect("GET /v1/models");
        models.models.into_iter().find(|m| m.active && m.name == name).map(|m| m.version)
    }
}

/// The app over the user's own fleet (no demo), mDNS off, fast polling.
fn app(token: Option<&str>) -> App {
    let engine = EngineConfig {
        mdns: false,
        poll_interval_ms: 250,
        default_token: token.map(str::to_owned),
        ..EngineConfig::default()
    };
    App::new_for_test(AppConfig { seed_library: false, ..AppConfig::new(engine, None) }).expect("the app starts")
}

fn harness(app: App) -> Harness<'static, App> {
    Harness::builder().with_size([1440.0, 900.0]).build_ui_state(|ui, app: &mut App| app.frame_ui(ui), app)
}

fn wait_until(h: &mut Harness<'_, App>, timeout: Duration, what: &str, cond: impl Fn(&App) -> bool) {
    let start = Instant::now();
    while !cond(h.state()) {
        if start.elapsed() > timeout {
            let app = h.state();
            let log: Vec<&str> = app.state.log.lines.iter().rev().take(12).map(|l| l.message.as_str()).collect();
            panic!("timed out after {timeout:?} waiting for {what}; jobs: {:?}; log: {log:#?}", app.state.jobs.list);
        }
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    h.step();
}

fn asset(path: &str) -> PathBuf {
    std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets").join(path)).expect("asset")
}

/// A library card for the model file `file` under `name` and `version`.
fn card(id: i64, name: &str, version: &str, file: &str, parent: Option<i64>) -> ModelCard {
    let profile_file = if file.starts_with("cnn") { "profiles/cnn_digits.json" } else { "profiles/mlp_digits.json" };
    let text = std::fs::read_to_string(asset(profile_file))
        .or_else(|_| std::fs::read_to_string(asset("profiles/mlp_digits.json")));
    let profile: ModelProfile = serde_json::from_str(&text.expect("profile")).expect("a profile");
    let path = asset(&format!("models/{file}"));
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

fn add_all(h: &mut Harness<'_, App>, agents: &Agents) {
    for a in &agents.handles {
        h.state_mut().push_command(UiCommand::AddDevice { addr: a.addr.to_string() });
    }
    let n = agents.handles.len();
    wait_until(h, Duration::from_secs(20), "every agent listed with metrics", |app| {
        app.state.fleet.len() == n && app.state.fleet.entries().iter().all(|e| e.metrics.is_some())
    });
}

#[test]
fn a_sweep_of_a_port_range_finds_the_agents() {
    let agents = start_agents(3, |_, _| {});
    let mut h = harness(app(Some(TOKEN)));
    h.run_steps(2);
    assert_eq!(h.state().state.fleet.len(), 0, "mDNS is off: nothing is found by itself");
    h.get_by_label("🔍 Find devices").click();
    h.run_steps(2);
    h.state_mut().state.find.sweep_spec = format!("127.0.0.1/32:{}-{}", agents.base_port, agents.base_port + 19);
    h.run_steps(1);
    h.get_by_label("Sweep").click();
    h.run_steps(2);
    wait_until(&mut h, Duration::from_secs(20), "the 3 swept agents", |app| app.state.fleet.len() == 3);
    for a in &agents.handles {
        assert!(h.state().state.fleet.get(&a.device_id).is_some_and(|e| e.addr == Some(a.addr) && e.paired));
    }
    h.get_by_label_contains("3 new device(s) so far");
    // The sweep's progress: all 20 addresses probed, 3 answered.
    wait_until(&mut h, Duration::from_secs(20), "the sweep to report its end", |app| {
        app.state.find.progress.is_some_and(|(_, finished)| finished)
    });
    let (p, _) = h.state().state.find.progress.expect("progress");
    assert_eq!((p.probed, p.total, p.answered), (20, 20, 3));
    h.get_by_label_contains("swept 20 address(es): 3 agent(s) answered");
    // A bad spec is refused with the reason, nothing sent.
    h.state_mut().push_command(UiCommand::Sweep { spec: "10.0.0.0/8:1-65535".into() });
    h.run_steps(2);
    assert!(h.state().state.find.last_error.as_deref().is_some_and(|e| e.contains("limit")));
}

#[test]
fn pairing_an_unpaired_device_with_its_token() {
    // Found by mDNS on loopback, as a board on the LAN would be: listed, not paired.
    let name = format!("unpaired-{}", std::process::id());
    let agents = start_agents(1, |_, c| {
        c.device.device_id = name.clone();
        c.advertise = true;
        c.interfaces = vec!["lo".into()];
    });
    let engine =
        EngineConfig { mdns: true, interfaces: vec!["lo".into()], poll_interval_ms: 250, ..EngineConfig::default() };
    let app = App::new_for_test(AppConfig { seed_library: false, ..AppConfig::new(engine, None) }).expect("app");
    let mut h = harness(app);
    wait_until(&mut h, Duration::from_secs(20), "the device, not paired", |app| {
        app.state.fleet.get(&name).is_some_and(|e| !e.paired)
    });
    assert_eq!(agents.handles[0].device_id, name);
    // Other programs' agents on lo may be listed too: filter to this one.
    h.state_mut().state.filter = name.clone();
    h.run_steps(2);
    h.get_by_label(&name).click();
    h.run_steps(2);
    h.get_by_label("Not paired: the console has no valid token for it");
    h.state_mut().state.pair_token = TOKEN.into();
    h.run_steps(1);
    h.get_by_label("Pair").click();
    h.run_steps(2);
    assert!(h.state().state.log.contains("token stored for 1 device"), "{:?}", h.state().state.log.lines);
    wait_until(&mut h, Duration::from_secs(20), "the device paired, with metrics", |app| {
        app.state.fleet.get(&name).is_some_and(|e| e.paired && e.metrics.is_some())
    });

    // Unpair: the token is forgotten and the device shows as unpaired again.
    h.get_by_label("Unpair").click();
    h.run_steps(2);
    wait_until(&mut h, Duration::from_secs(20), "the device unpaired", |app| {
        app.state.fleet.get(&name).is_some_and(|e| !e.paired)
    });
    h.get_by_label("Not paired: the console has no valid token for it");
}

#[test]
fn a_canary_rollout_to_ten_selected_devices_with_one_that_refuses() {
    // board-09 accepts uploads of at most 1 KB: less than the model needs.
    let agents = start_agents(10, |i, c| {
        if i == 9 {
            c.max_upload_bytes = 1024;
        }
    });
    let mut h = harness(app(Some(TOKEN)));
    h.state_mut().state.library.upsert(card(1, "mlp_digits", "1", "mlp_digits.onnx", None));
    add_all(&mut h, &agents);

    // Click the first row, Shift-click the last: ten selected.
    h.get_by_label("board-00").click();
    h.run_steps(1);
    h.state_mut().push_command(UiCommand::SelectRange("board-09".into()));
    h.run_steps(2);
    assert_eq!(h.state().state.selection.len(), 10);
    h.get_by_label("10 selected");

    // Drag the model onto a selected row: the group fit.
    let from = h.get_by_label_contains("mlp_digits").rect().center();
    let to = h.get_by_label("board-04").rect().center();
    h.drag_at(from);
    h.run_steps(2);
    h.hover_at(from + egui::vec2(-30.0, 0.0));
    h.run_steps(2);
    h.hover_at(to);
    h.run_steps(2);
    h.drop_at(to);
    h.run_steps(3);
    let group = h.state().state.group_fit.clone().expect("a drop on a selection opens the group fit");
    assert_eq!(group.fits.len(), 10, "misfits: {:?}", group.misfits);
    h.get_by_label("Fits 10 of 10");
    h.get_by_label("⬆ Roll out…").click();
    h.run_steps(2);
    {
        let g = h.state_mut().state.group_fit.as_mut().expect("the plan dialog");
        g.plan.canary = 2;
        g.plan.max_failures = 1;
    }
    h.run_steps(1);
    h.get_by_label("⬆ Roll out to 10").click();
    h.run_steps(2);
    assert_eq!(h.state().state.tab, Tab::Deployments);
    wait_until(&mut h, Duration::from_secs(90), "the rollout to end", |app| {
        app.rollouts().list.first().is_some_and(|r| matches!(r.phase, Phase::Ended { .. }))
    });
    let r = &h.state().rollouts().list[0];
    let bad = r.step("board-09").expect("a step for board-09");
    assert_eq!(bad.state, StepState::Failed, "{bad:?}");
    let reason = bad.detail.clone().unwrap_or_default();
    assert!(!reason.is_empty());
    for i in 0..9 {
        let s = r.step(&format!("board-{i:02}")).expect("a step");
        assert_eq!(s.state, StepState::Done, "{s:?}");
    }
    // The failed row shows its reason; the agents themselves run the model.
    h.get_by_label_contains(&edgefleet_ui::app::readable_detail(&reason));
    assert!(agents.active_version(0, "mlp_digits").is_some());
    assert!(agents.active_version(9, "mlp_digits").is_none());
}

#[test]
fn rolling_back_one_device_from_its_detail_view() {
    let agents = start_agents(1, |_, _| {});
    let mut h = harness(app(Some(TOKEN)));
    h.state_mut().state.library.upsert(card(1, "digits", "1", "mlp_digits.onnx", None));
    h.state_mut().state.library.upsert(card(2, "digits", "2", "cnn_digits.onnx", None));
    add_all(&mut h, &agents);
    for (card_id, n) in [(1, 1), (2, 2)] {
        let plan = edgefleet_fleet::RolloutPlan::default();
        h.state_mut().push_command(UiCommand::RollOut { card_id, targets: vec!["board-00".into()], plan });
        wait_until(&mut h, Duration::from_secs(60), "the rollout to end", |app| {
            app.rollouts().list.len() == n && matches!(app.rollouts().list[n - 1].phase, Phase::Ended { ok: true, .. })
        });
    }
    assert_eq!(agents.active_version(0, "digits").as_deref(), Some("2"));
    h.state_mut().push_command(UiCommand::SetTab(Tab::Map));
    h.run_steps(2);
    h.get_by_label("board-00").click();
    wait_until(&mut h, Duration::from_secs(15), "the detail to know the previous version", |app| {
        app.state.fleet.get("board-00").is_some_and(|e| e.models.iter().any(|m| m.previous && m.version == "1"))
    });
    h.run_steps(2);
    h.get_by_label("↩ Roll back").click();
    h.run_steps(2);
    wait_until(&mut h, Duration::from_secs(30), "the rollback job to end", |app| {
        app.state.jobs.list.iter().any(|j| j.title.starts_with("Roll back digits") && j.state != JobState::Running)
    });
    let job = h.state().state.jobs.list.iter().find(|j| j.title.starts_with("Roll back")).cloned().expect("job");
    assert!(matches!(job.state, JobState::Done(_)), "{job:?}");
    assert_eq!(agents.active_version(0, "digits").as_deref(), Some("1"));

    // Both installed versions have their file in the library: each can be measured there.
    h.run_steps(2);
    assert_eq!(h.query_all_by_label("Measure").count(), 2);
    h.query_all_by_label("Measure").next().expect("a Measure button").click();
    h.run_steps(2);
    wait_until(&mut h, Duration::from_secs(120), "the measure job to end", |app| {
        app.state.jobs.list.iter().any(|j| j.title.starts_with("Measure digits") && j.state != JobState::Running)
    });
    let job = h.state().state.jobs.list.iter().find(|j| j.title.starts_with("Measure")).cloned().expect("job");
    assert!(matches!(job.state, JobState::Done(_)), "{job:?}");
}

#[test]
fn comparing_three_variants_side_by_side() {
    let mut h = harness(app(None));
    let mut root = card(10, "digits", "a0", "mlp_digits.onnx", None);
    root.accuracy = Some(0.95);
    let mut int8 = card(11, "digits", "b1", "mlp_digits.onnx", Some(10));
    int8.recipe = Some("int8-dynamic".into());
    int8.accuracy = Some(0.94);
    int8.metrics = Some(
        serde_json::json!({"accuracy_after": 0.94, "eval_samples": 540, "latency_ms_after": 3.5, "runtime": "tract"}),
    );
    let mut pruned = card(12, "digits", "c2", "cnn_digits.onnx", Some(10));
    pruned.recipe = Some("prune-30".into());
    for c in [root, int8, pruned] {
        h.state_mut().state.library.upsert(c);
    }
    h.state_mut().state.fleet.upsert_device(Device::new("cam", DeviceType::SmartCamera, 2, 1024, 8.0));
    h.state_mut().push_command(UiCommand::SelectDevice("cam".into()));
    h.run_steps(2);
    h.get_by_label("⇔ Compare digits variants").click();
    h.run_steps(3);
    assert_eq!(h.state().state.compare, Some(10));
    h.get_by_label("digits va0");
    h.get_by_label_contains("└ digits vb1");
    h.get_by_label_contains("└ digits vc2");
    h.get_by_label("int8-dynamic");
    // The accuracy with its 95 % interval from 540 samples, and the measured latency.
    h.get_by_label_contains("94.0% [");
    h.get_by_label("3.50 ms (tract)");
    assert!(h.query_all_by_label_contains("ms").count() >= 3, "an estimate on the selected device per row");
}

#[test]
fn a_new_poll_interval_is_what_the_engine_polls_at() {
    let agents = start_agents(1, |_, _| {});
    let mut h = harness(app(Some(TOKEN)));
    add_all(&mut h, &agents);
    let samples_in = |h: &mut Harness<'_, App>, window: Duration| {
        let start = h.state().state.fleet.live_version();
        let t = Instant::now();
        while t.elapsed() < window {
            h.step();
            std::thread::sleep(Duration::from_millis(20));
        }
        h.state().state.fleet.live_version() - start
    };
    h.state_mut().state.poll_interval_ms = 2_000;
    h.state_mut().push_command(UiCommand::SetPollInterval { ms: 2_000 });
    h.run_steps(1);
    let slow = samples_in(&mut h, Duration::from_secs(4));
    h.state_mut().push_command(UiCommand::SetPollInterval { ms: 200 });
    h.run_steps(1);
    let fast = samples_in(&mut h, Duration::from_secs(4));
    assert!(slow <= 3, "at 2 s the engine polled {slow} times in 4 s");
    assert!(fast >= 3 * slow.max(3), "at 200 ms the engine polled {fast} times in 4 s (vs {slow})");
    assert_eq!(h.state().config().engine.poll_interval_ms, 200);
}
