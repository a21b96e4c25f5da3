//! One GUI test per journey of the fleet-wide features, with egui_kittest
//! (no display) against real agents served on 127.0.0.1 by this process,
//! mDNS off: sweep a port range and the agents appear; pair an unpaired
//! device with its token; select 10 devices and roll out with a canary of 2
//! where one device has too little storage left by the time of the upload
//! (its storage budget filled up after the fit) — that row shows the
//! reason, the other 9 finish; roll one
//! device back from its detail view; compare three variants; change the
//! poll interval and see the engine poll at the new pace.

mod support;

use edgefleet_core::{Device, DeviceType};
use edgefleet_fleet::{EngineConfig, JobState, StepState};
use edgefleet_ui::app::{App, AppConfig, Phase, Tab, UiCommand};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::time::{Duration, Instant};
use support::{TOKEN, add_all, card, drag_and_drop, harness, own_fleet_app as app, start_agents, wait_until};

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

/// board-09's storage budget: room for the 70 KB model at fit time.
const SMALL_STORAGE_BYTES: u64 = 1_000_000;

#[test]
fn a_canary_rollout_to_ten_selected_devices_with_one_short_of_storage() {
    let agents = start_agents(10, |i, c| {
        if i == 9 {
            c.storage_budget_bytes = Some(SMALL_STORAGE_BYTES);
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
    drag_and_drop(&mut h, from, to);
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
    // Meanwhile another model is installed on board-09 (someone else's
    // deploy): the agent reports the storage left, and at upload time our
    // model no longer fits it.
    let model_bytes = std::fs::metadata(support::asset("models/mlp_digits.onnx")).expect("model").len();
    let tmp = tempfile::tempdir().expect("tmp");
    let other = support::padded_mlp(tmp.path(), (SMALL_STORAGE_BYTES - model_bytes - model_bytes / 2) as usize);
    let sha = edgefleet_fleet::rollout::sha256_file(&other).expect("sha");
    let put = agents.rt.block_on(agents.client(9).upload_model("other", "1", &other, &sha, |_, _| {}));
    assert!(put.is_ok_and(|p| p.complete), "the other model fits the budget");
    wait_until(&mut h, Duration::from_secs(10), "the console to see board-09's storage nearly full", |app| {
        app.state
            .fleet
            .get("board-09")
            .and_then(|e| e.metrics.as_ref())
            .is_some_and(|m| m.storage_free_gb * 1e9 < model_bytes as f64)
    });
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
    assert!(reason.contains("not enough storage") && reason.contains("free"), "{reason}");
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
