//! The agent's broker link against a real Mosquitto on 127.0.0.1: the
//! real binary publishes its retained state and telemetry, and its last
//! will marks it offline when it is killed with SIGKILL; commands over the
//! broker need the device's token, broken ones get an error reply, and
//! activate/rollback switch the active version like the HTTP routes; an
//! agent whose broker is down keeps serving HTTP and joins once it is up.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod common;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use common::{matmul_model, start};
use edgefleet_agent::BrokerConfig;
use edgefleet_core::mqtt_wire::{self, BrokerCommand, Channel, CommandMessage, ReplyMessage, StatePayload};
use edgefleet_core::wire::{ActivateRequest, Metrics, ModelsResponse};
use mosquitto::Mosquitto;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::sync::mpsc;

const FLEET: &str = "test-fleet";
const TOKEN: &str = "broker-link-test-token";
/// Every wait on the broker is bounded by this.
const WAIT: Duration = Duration::from_secs(15);

/// A plain MQTT client subscribed to `filters`, handing over every message.
struct Watcher {
    client: AsyncClient,
    rx: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn watch(port: u16, filters: &[String]) -> Watcher {
    let id = format!("watcher-{}", fastrand::u64(..));
    let (client, mut events) = AsyncClient::new(MqttOptions::new(id, "127.0.0.1", port), 64);
    let (tx, rx) = mpsc::unbounded_channel();
    let (c, filters) = (client.clone(), filters.to_vec());
    let task = tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    for f in &filters {
                        c.subscribe(f.clone(), QoS::AtLeastOnce).await.unwrap();
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if tx.send((p.topic.clone(), p.payload.to_vec())).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    Watcher { client, rx, task }
}

impl Watcher {
    /// The first message on `topic` that `want` accepts, within [`WAIT`].
    async fn next<T: serde::de::DeserializeOwned>(&mut self, topic: &str, want: impl Fn(&T) -> bool) -> T {
        let found = tokio::time::timeout(WAIT, async {
            loop {
                let (t, payload) = self.rx.recv().await.unwrap();
                if t == topic
                    && let Ok(v) = mqtt_wire::decode::<T>(&payload)
                    && want(&v)
                {
                    return v;
                }
            }
        });
        found.await.unwrap_or_else(|_| panic!("nothing wanted on {topic} within {WAIT:?}"))
    }
}

fn topic(device: &str, channel: Channel) -> String {
    mqtt_wire::topic(FLEET, device, channel).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_agent_announces_itself_and_its_last_will_fires_on_sigkill() {
    let Some(broker) = Mosquitto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut watcher = watch(broker.port, &[format!("edgefleet/v1/{FLEET}/#")]).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgefleet-agent"))
        .args(["--bind", "127.0.0.1", "--no-advertise", "--token", TOKEN, "--device-type", "smart_camera"])
        .args(["--broker", &broker.url(), "--fleet", FLEET, "--broker-telemetry-ms", "200"])
        .args(["--broker-keep-alive-s", "2"])
        .arg("--data-dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let http_addr = line.trim().strip_prefix("listening on ").unwrap().to_owned();
    let device_id = std::fs::read_to_string(dir.path().join("device_id")).unwrap().trim().to_owned();

    let state: StatePayload = watcher.next(&topic(&device_id, Channel::State), |s: &StatePayload| s.online).await;
    let info = state.info.unwrap();
    assert_eq!(info.device.device_id, device_id);
    assert_eq!(info.device.device_type.as_str(), "smart_camera");
    assert_eq!(state.http_addr.as_deref(), Some(http_addr.as_str()));
    let m: Metrics = watcher.next(&topic(&device_id, Channel::Telemetry), |m: &Metrics| m.memory_total_mb > 0).await;
    assert!((0.0..=1.0).contains(&m.cpu_load), "{m:?}");

    let killed = std::time::Instant::now();
    child.kill().unwrap(); // SIGKILL: no goodbye, only the socket closing
    child.wait().unwrap();
    let will: StatePayload = watcher.next(&topic(&device_id, Channel::State), |s: &StatePayload| !s.online).await;
    assert_eq!(will, StatePayload::offline());
    eprintln!("last will seen {} ms after SIGKILL", killed.elapsed().as_millis());
    // Retained: a console that subscribes later sees the device offline.
    let mut late = watch(broker.port, &[topic(&device_id, Channel::State)]).await;
    let retained: StatePayload = late.next(&topic(&device_id, Channel::State), |_: &StatePayload| true).await;
    assert!(!retained.online);
}

async fn send(watcher: &Watcher, device: &str, payload: Vec<u8>) {
    watcher.client.publish(topic(device, Channel::Cmd), QoS::AtLeastOnce, false, payload).await.unwrap();
}

fn command(id: &str, token: &str, command: BrokerCommand) -> Vec<u8> {
    mqtt_wire::encode(&CommandMessage { id: id.into(), token: token.into(), command }).unwrap()
}

fn activate(version: &str) -> BrokerCommand {
    let request = ActivateRequest { version: version.into(), confidence_threshold: None, offload_sla_ms: None };
    BrokerCommand::Activate { model: "m".into(), request, signature: None }
}

async fn reply(watcher: &mut Watcher, device: &str, id: &str) -> ReplyMessage {
    watcher.next(&topic(device, Channel::Reply), |r: &ReplyMessage| r.id == id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_need_the_token_and_switch_the_active_version() {
    let Some(broker) = Mosquitto::start() else { return };
    let cfg = BrokerConfig::new(broker.url().parse().unwrap(), FLEET);
    let agent = start("cmd-dev", |c| {
        c.token = Some(TOKEN.into());
        c.broker = Some(cfg);
    })
    .await;
    let dev = "cmd-dev";
    let mut w = watch(broker.port, &[topic(dev, Channel::Reply), topic(dev, Channel::State)]).await;
    let _: StatePayload = w.next(&topic(dev, Channel::State), |s: &StatePayload| s.online).await;
    let identity = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    agent.install("m", "v1", matmul_model(identity), None).await;
    agent.install("m", "v2", matmul_model([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]]), None).await;
    let active = || async {
        let models: ModelsResponse = agent.get("/v1/models").send().await.unwrap().json().await.unwrap();
        models.models.into_iter().find(|m| m.active).map(|m| m.version)
    };
    assert_eq!(active().await.as_deref(), Some("v2"));

    // A wrong token: refused, nothing changes.
    send(&w, dev, command("bad-1", "not-the-token", activate("v1"))).await;
    let r = reply(&mut w, dev, "bad-1").await;
    assert!(!r.ok);
    assert_eq!(r.error.unwrap().error, "unauthorized");
    assert_eq!(active().await.as_deref(), Some("v2"));

    // Broken commands: an error reply (with the id when it has one), no panic.
    send(&w, dev, br#"{"id":"junk-1","token":"x","command":"format_disk"}"#.to_vec()).await;
    assert_eq!(reply(&mut w, dev, "junk-1").await.error.unwrap().error, "bad_request");
    send(&w, dev, b"\xff\x00 not json".to_vec()).await;
    assert_eq!(reply(&mut w, dev, "").await.error.unwrap().error, "bad_request");

    // Rollback and activate through the HTTP routes' handlers.
    send(&w, dev, command("rb-1", TOKEN, BrokerCommand::Rollback { model: "m".into() })).await;
    let r = reply(&mut w, dev, "rb-1").await;
    assert!(r.ok, "{r:?}");
    assert_eq!(r.result.unwrap()["active_version"], "v1");
    assert_eq!(active().await.as_deref(), Some("v1"));
    send(&w, dev, command("act-1", TOKEN, activate("v2"))).await;
    assert!(reply(&mut w, dev, "act-1").await.ok);
    assert_eq!(active().await.as_deref(), Some("v2"));
    // An error from the route comes back as its error body.
    send(&w, dev, command("act-2", TOKEN, activate("v9"))).await;
    let r = reply(&mut w, dev, "act-2").await;
    assert!(!r.ok && r.error.is_some(), "{r:?}");
    agent.handle.shutdown().await;
    // A graceful stop says goodbye on the state topic.
    let bye: StatePayload = w.next(&topic(dev, Channel::State), |s: &StatePayload| !s.online).await;
    assert!(!bye.online);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_is_down_does_not_stop_the_agent_and_it_joins_later() {
    let Some(probe) = Mosquitto::start() else { return };
    let port = probe.port;
    probe.kill();
    let cfg = BrokerConfig::new(format!("mqtt://127.0.0.1:{port}").parse().unwrap(), FLEET);
    let agent = start("late-dev", |c| c.broker = Some(cfg)).await;
    // Serving over HTTP while the broker is down.
    let r = agent.client.get(agent.url("/v1/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let broker = Mosquitto::start_on(port).unwrap();
    let mut w = watch(broker.port, &[topic("late-dev", Channel::State)]).await;
    let s: StatePayload = w.next(&topic("late-dev", Channel::State), |s: &StatePayload| s.online).await;
    assert_eq!(s.info.unwrap().device.device_id, "late-dev");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_runs_many_agents_through_one_broker() {
    let Some(broker) = Mosquitto::start() else { return };
    let mut w = watch(broker.port, &[mqtt_wire::fleet_filter(FLEET, Channel::State).unwrap()]).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgefleet-agent"))
        .args(["simulate", "--count", "5", "--no-advertise", "--token", TOKEN])
        .args(["--broker", &broker.url(), "--fleet", FLEET])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut ids = std::collections::BTreeSet::new();
    for _ in 0..5 {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        ids.insert(line.split_whitespace().next().unwrap().to_owned());
    }
    let mut online = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + WAIT;
    while online.len() < 5 {
        assert!(std::time::Instant::now() < deadline, "online through the broker: {online:?} of {ids:?}");
        let Ok(Some((topic, payload))) = tokio::time::timeout(WAIT, w.rx.recv()).await else { continue };
        let parts = mqtt_wire::parse_topic(&topic).unwrap();
        if mqtt_wire::decode::<StatePayload>(&payload).unwrap().online {
            online.insert(parts.device_id);
        }
    }
    assert_eq!(online, ids);
    // SIGTERM: a graceful stop removes the fleet's private temp dir.
    Command::new("kill").arg(child.id().to_string()).status().unwrap();
    let stopped = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(stopped.elapsed() < WAIT, "simulate did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}
