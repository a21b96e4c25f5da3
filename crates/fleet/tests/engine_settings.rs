//! Live settings of a running engine against a real agent on 127.0.0.1:
//! the poll interval changes the poll cadence at once, the mDNS browser
//! restarts on new interfaces (or stops and starts) while known devices
//! stay, and jobs are told apart by id.

// Helpers outside #[test] fns: a failed setup step should panic at once.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use edgefleet_fleet::{Command, EngineConfig, Event, FleetEngine, JobFn, JobState, LogLevel};
use std::collections::HashMap;
use std::time::{Duration, Instant};

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

/// Metrics events for `device_id` over `window`: one per successful poll.
fn polls_during(engine: &FleetEngine, device_id: &str, window: Duration) -> usize {
    let end = Instant::now() + window;
    let mut polls = 0;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        if let Some(Event::Metrics { device_id: id, .. }) = engine.recv_timeout(left.min(Duration::from_millis(50))) {
            polls += usize::from(id == device_id);
        }
    }
    polls
}

/// An engine tracking one real agent, after its first successful poll.
fn engine_with_agent(rt: &tokio::runtime::Runtime, config: EngineConfig) -> (FleetEngine, Agents, String) {
    let agents = rt.block_on(start_agents(1));
    let agent = agents.handles[0].as_ref().unwrap();
    let id = agent.device_id.clone();
    let engine = FleetEngine::start(config, || {}).unwrap();
    engine.send(Command::AddManual { addr: agent.addr.to_string(), token: Some(agent.token.clone()) }).unwrap();
    wait_for(
        &engine,
        Duration::from_secs(10),
        "the first poll",
        |e| matches!(e, Event::Metrics { device_id, .. } if *device_id == id),
    );
    (engine, agents, id)
}

#[test]
fn set_poll_interval_changes_the_poll_cadence() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = EngineConfig { mdns: false, poll_interval_ms: 1_000, ..EngineConfig::default() };
    let (engine, _agents, id) = engine_with_agent(&rt, config);
    let window = Duration::from_millis(1_500);

    // Every second: one or two polls in a window of a second and a half.
    let slow = polls_during(&engine, &id, window);
    engine.send(Command::SetPollInterval { ms: 100 }).unwrap();
    // Every 100 ms: about fifteen; a loaded machine may answer some late.
    let fast = polls_during(&engine, &id, window);
    assert!(slow <= 3, "{slow} polls in 1.5 s at a 1 s interval");
    assert!(fast >= 6, "{fast} polls in 1.5 s at a 100 ms interval (was {slow} at 1 s)");

    // And back: the faster ticker is gone, not running beside the slow one.
    engine.send(Command::SetPollInterval { ms: 1_000 }).unwrap();
    let _settle = polls_during(&engine, &id, Duration::from_millis(300));
    let slow_again = polls_during(&engine, &id, window);
    assert!(slow_again <= 3, "{slow_again} polls in 1.5 s after going back to a 1 s interval");
    engine.shutdown();
}

#[test]
fn the_mdns_browser_restarts_on_new_interfaces_and_known_devices_stay() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config =
        EngineConfig { mdns: true, interfaces: vec!["lo".into()], poll_interval_ms: 200, ..EngineConfig::default() };
    let (engine, _agents, id) = engine_with_agent(&rt, config);
    let logged = |text: &'static str| move |e: &Event| matches!(e, Event::Log(l) if l.level == LogLevel::Info && l.message.contains(text));

    engine.send(Command::SetInterfaces { interfaces: vec!["lo".into()] }).unwrap();
    wait_for(&engine, Duration::from_secs(10), "the restart", logged("mDNS browser restarted on lo"));
    engine.send(Command::SetMdns { enabled: false }).unwrap();
    wait_for(&engine, Duration::from_secs(10), "the stop", logged("mDNS browsing stopped"));
    engine.send(Command::SetInterfaces { interfaces: vec!["lo".into()] }).unwrap();
    wait_for(&engine, Duration::from_secs(10), "the note", logged("mDNS is off"));
    engine.send(Command::SetMdns { enabled: true }).unwrap();
    wait_for(&engine, Duration::from_secs(10), "the start", logged("mDNS browsing on lo"));

    // The device known before all this is still tracked and polled, with no
    // status change on the way.
    let mut statuses = Vec::new();
    wait_for(&engine, Duration::from_secs(10), "a poll after the restarts", |e| match e {
        Event::Status { device_id, status } if *device_id == id => {
            statuses.push(*status);
            false
        }
        Event::Metrics { device_id, .. } => *device_id == id,
        _ => false,
    });
    assert!(statuses.is_empty(), "{statuses:?}");
    engine.shutdown();
}

#[test]
fn jobs_with_the_same_title_are_told_apart_by_id() {
    let engine = FleetEngine::start(EngineConfig { mdns: false, ..EngineConfig::default() }, || {}).unwrap();
    let job = |answer: Result<&'static str, &'static str>| -> JobFn {
        Box::new(move |_| Box::pin(async move { answer.map(str::to_owned).map_err(str::to_owned) }))
    };
    let first = engine.start_job("deploy", job(Ok("fine")));
    let second = engine.start_job("deploy", job(Err("broken")));
    assert_ne!(first, second);

    let mut ended = HashMap::new();
    wait_for(&engine, Duration::from_secs(10), "both jobs to end", |e| {
        if let Event::Job(u) = e
            && u.state != JobState::Running
        {
            ended.insert(u.id, u.state.clone());
        }
        ended.len() == 2
    });
    assert_eq!(ended[&first], JobState::Done("fine".into()));
    assert_eq!(ended[&second], JobState::Failed("broken".into()));
    engine.shutdown();
}
