//! The Deployments tab's rollout controls, clicked with egui_kittest
//! against real agents on 127.0.0.1 (mDNS off): Pause stops a running
//! rollout and Resume completes it; Abort puts back every device the
//! rollout switched and ends it aborted; a finished rollout's Roll back puts
//! its devices on the version they ran before. What each agent runs is
//! asked of the agent itself.

mod support;

use edgefleet_fleet::{RolloutPlan, StepState};
use edgefleet_ui::app::{App, Phase, UiCommand};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::time::Duration;
use support::{
    TOKEN, add_all, card, card_for_path, harness, own_fleet_app, padded_mlp, run_for, start_agents, wait_until,
};

/// Big enough that each device's step (upload, hash, load, health check)
/// takes a visible while, so a click lands in the middle of the rollout.
const PAD_BYTES: usize = 32 * 1024 * 1024;

/// One device at a time after a canary of one: the rollout is slow and in order.
fn one_at_a_time() -> RolloutPlan {
    RolloutPlan { canary: 1, parallel: 1, ..RolloutPlan::default() }
}

fn boards(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("board-{i:02}")).collect()
}

/// Devices of rollout `index` whose step is in `state`.
fn in_state(app: &App, index: usize, state: StepState) -> usize {
    let Some(r) = app.rollouts().list.get(index) else { return 0 };
    r.targets.iter().filter(|d| r.step(d).is_some_and(|s| s.state == state)).count()
}

/// Roll card `card_id` out to `targets` and wait until that rollout (the
/// `n`th) ended well.
fn roll_out_and_wait(h: &mut Harness<'_, App>, card_id: i64, targets: Vec<String>, n: usize) {
    h.state_mut().push_command(UiCommand::RollOut { card_id, targets, plan: RolloutPlan::default() });
    wait_until(h, Duration::from_secs(60), "the rollout to end well", |app| {
        app.rollouts().list.get(n - 1).is_some_and(|r| matches!(r.phase, Phase::Ended { ok: true, .. }))
    });
}

#[test]
fn pause_stops_a_running_rollout_and_resume_completes_it() {
    let agents = start_agents(4, |_, _| {});
    let dir = tempfile::tempdir().expect("tmp");
    let big = padded_mlp(dir.path(), PAD_BYTES);
    let mut h = harness(own_fleet_app(Some(TOKEN)));
    h.state_mut().state.library.upsert(card_for_path(1, "digits", "big", big, None));
    add_all(&mut h, &agents);
    h.state_mut().push_command(UiCommand::RollOut { card_id: 1, targets: boards(4), plan: one_at_a_time() });
    wait_until(&mut h, Duration::from_secs(60), "the canary to finish", |app| in_state(app, 0, StepState::Done) >= 1);

    h.get_by_label("⏸ Pause").click();
    h.run_steps(3);
    assert_eq!(h.state().rollouts().list[0].phase, Phase::Paused);
    h.get_by_label("paused");
    let done_at_pause = in_state(h.state(), 0, StepState::Done);
    assert!(done_at_pause < 4, "the rollout had finished before Pause took effect");
    // Paused means nothing moves on: no device finishes meanwhile.
    run_for(&mut h, Duration::from_secs(3));
    assert_eq!(in_state(h.state(), 0, StepState::Done), done_at_pause, "a paused rollout went on");
    assert_eq!(h.state().rollouts().list[0].phase, Phase::Paused);
    let untouched = (0..4).filter(|&i| agents.active_version(i, "digits").is_none()).count();
    assert!(untouched >= 1, "some device must still be waiting for the model");

    h.get_by_label("▶ Resume").click();
    h.run_steps(2);
    wait_until(&mut h, Duration::from_secs(120), "the resumed rollout to end", |app| {
        matches!(app.rollouts().list[0].phase, Phase::Ended { .. })
    });
    let phase = h.state().rollouts().list[0].phase.clone();
    assert!(matches!(phase, Phase::Ended { ok: true, .. }), "{phase:?}");
    assert_eq!(in_state(h.state(), 0, StepState::Done), 4);
    for i in 0..4 {
        assert_eq!(agents.active_version(i, "digits").as_deref(), Some("big"), "board-0{i}");
    }
}

#[test]
fn abort_puts_back_every_switched_device_and_ends_the_rollout_aborted() {
    let agents = start_agents(4, |_, _| {});
    let dir = tempfile::tempdir().expect("tmp");
    let big = padded_mlp(dir.path(), PAD_BYTES);
    let mut h = harness(own_fleet_app(Some(TOKEN)));
    h.state_mut().state.library.upsert(card(1, "digits", "1", "mlp_digits.onnx", None));
    h.state_mut().state.library.upsert(card_for_path(2, "digits", "2", big, None));
    add_all(&mut h, &agents);
    roll_out_and_wait(&mut h, 1, boards(4), 1);

    h.state_mut().push_command(UiCommand::RollOut { card_id: 2, targets: boards(4), plan: one_at_a_time() });
    wait_until(&mut h, Duration::from_secs(60), "two devices switched to v2", |app| {
        app.rollouts().list.len() == 2 && in_state(app, 1, StepState::Done) >= 2
    });
    assert!(in_state(h.state(), 1, StepState::Done) < 4, "the rollout had finished before Abort");
    // The newest rollout is drawn first: its Abort is the first one.
    h.get_all_by_label("⏹ Abort").next().expect("Abort on the running rollout").click();
    h.run_steps(2);
    wait_until(&mut h, Duration::from_secs(60), "the aborted rollout to end", |app| {
        matches!(app.rollouts().list[1].phase, Phase::Ended { .. })
    });
    let Phase::Ended { ok, message } = h.state().rollouts().list[1].phase.clone() else { unreachable!() };
    assert!(!ok, "an aborted rollout does not end well: {message}");
    assert!(message.contains("rolled_back") && message.contains("aborted by the user"), "{message}");
    let rolled_back = in_state(h.state(), 1, StepState::RolledBack);
    assert!(rolled_back >= 2, "every device switched is rolled back ({rolled_back})");
    assert_eq!(in_state(h.state(), 1, StepState::Done), 0);
    // Every agent runs v1 again, or still.
    for i in 0..4 {
        assert_eq!(agents.active_version(i, "digits").as_deref(), Some("1"), "board-0{i}");
    }
    assert!(h.query_all_by_label_contains("aborted by the user").count() >= 1, "the tab says why it ended");
}

#[test]
fn roll_back_puts_a_finished_rollouts_devices_on_their_previous_version() {
    let agents = start_agents(3, |_, _| {});
    let mut h = harness(own_fleet_app(Some(TOKEN)));
    h.state_mut().state.library.upsert(card(1, "digits", "1", "mlp_digits.onnx", None));
    h.state_mut().state.library.upsert(card(2, "digits", "2", "cnn_digits.onnx", None));
    add_all(&mut h, &agents);
    roll_out_and_wait(&mut h, 1, boards(3), 1);
    roll_out_and_wait(&mut h, 2, boards(3), 2);
    for i in 0..3 {
        assert_eq!(agents.active_version(i, "digits").as_deref(), Some("2"));
    }

    // The newest rollout is drawn first: its Roll back is the first one.
    h.get_all_by_label("↩ Roll back").next().expect("Roll back on the finished rollout").click();
    h.run_steps(2);
    assert_eq!(h.state().rollouts().list[1].phase, Phase::RollingBack);
    wait_until(&mut h, Duration::from_secs(60), "the roll back to end", |app| {
        matches!(app.rollouts().list[1].phase, Phase::Ended { .. })
    });
    let phase = h.state().rollouts().list[1].phase.clone();
    let Phase::Ended { ok: true, message } = phase else { panic!("the roll back failed: {phase:?}") };
    assert!(message.contains("digits rolled back"), "{message}");
    for i in 0..3 {
        assert_eq!(agents.active_version(i, "digits").as_deref(), Some("1"), "board-0{i}");
    }
}
