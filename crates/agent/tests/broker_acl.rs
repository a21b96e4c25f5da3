//! The shipped Mosquitto ACL (deploy/mosquitto/edgefleet.acl) on a real
//! broker with logins: an agent logged in as its device id publishes its
//! state, a console sees it, and a device cannot publish on another
//! device's topics (the broker drops it); a wrong password or no login is
//! refused.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod common;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use common::start;
use edgefleet_agent::BrokerConfig;
use edgefleet_core::mqtt_wire::{self, Channel, StatePayload};
use edgefleet_core::wire::Metrics;
use mosquitto::Mosquitto;
use rumqttc::{AsyncClient, ConnectionError, Event, MqttOptions, Packet, QoS};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tokio::sync::mpsc;

const FLEET: &str = "acl-fleet";
const WAIT: Duration = Duration::from_secs(15);

fn shipped_acl() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/mosquitto/edgefleet.acl")
}

/// A broker with logins (`users`: name, password) and the shipped ACL.
fn broker_with_logins(dir: &Path, users: &[(&str, &str)]) -> Option<Mosquitto> {
    let passwd = dir.join("passwd");
    for (i, (user, password)) in users.iter().enumerate() {
        let mut c = Command::new("mosquitto_passwd");
        if i == 0 {
            c.arg("-c");
        }
        let status = c.arg("-b").arg(&passwd).args([user, password]).status();
        match status {
            Ok(s) => assert!(s.success(), "mosquitto_passwd failed"),
            Err(e) => {
                assert!(std::env::var_os("CI").is_none(), "CI is set but mosquitto_passwd is missing: {e}");
                eprintln!("skipped: no mosquitto_passwd ({e})");
                return None;
            }
        }
    }
    let config =
        format!("allow_anonymous false\npassword_file {}\nacl_file {}\n", passwd.display(), shipped_acl().display());
    Mosquitto::start_with(&config)
}

fn options(port: u16, client: &str, user: Option<(&str, &str)>) -> MqttOptions {
    let mut o = MqttOptions::new(client, "127.0.0.1", port);
    if let Some((u, p)) = user {
        o.set_credentials(u, p);
    }
    o
}

/// A console client: every message on the fleet's state and telemetry.
async fn console(port: u16) -> (AsyncClient, mpsc::UnboundedReceiver<(String, Vec<u8>)>) {
    let (client, mut events) = AsyncClient::new(options(port, "acl-console", Some(("console", "pc"))), 64);
    let (tx, rx) = mpsc::unbounded_channel();
    let c = client.clone();
    tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    for ch in [Channel::State, Channel::Telemetry] {
                        c.subscribe(mqtt_wire::fleet_filter(FLEET, ch).unwrap(), QoS::AtLeastOnce).await.unwrap();
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
    (client, rx)
}

/// Connect once and say how the broker answered.
async fn try_login(port: u16, user: Option<(&str, &str)>) -> Result<(), ConnectionError> {
    let (_client, mut events) = AsyncClient::new(options(port, "acl-probe", user), 4);
    loop {
        match tokio::time::timeout(WAIT, events.poll()).await.expect("an answer") {
            Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(e),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_cannot_publish_on_another_devices_topics_under_the_shipped_acl() {
    let dir = tempfile::tempdir().unwrap();
    let users = [("cam-a", "pa"), ("cam-b", "pb"), ("console", "pc")];
    let Some(broker) = broker_with_logins(dir.path(), &users) else { return };
    let (_console, mut heard) = console(broker.port).await;

    // A real agent logged in as its device id.
    let mut link = BrokerConfig::new(broker.url().parse().unwrap(), FLEET);
    link.username = Some("cam-a".into());
    link.password = Some("pa".into());
    let _agent = start("cam-a", |c| c.broker = Some(link)).await;
    let state_a = mqtt_wire::topic(FLEET, "cam-a", Channel::State).unwrap();
    let online = tokio::time::timeout(WAIT, async {
        loop {
            let (t, p) = heard.recv().await.unwrap();
            if t == state_a && mqtt_wire::decode::<StatePayload>(&p).unwrap().online {
                return;
            }
        }
    });
    online.await.expect("cam-a online through the ACL broker");

    // cam-a's credentials used to pose as cam-b: dropped by the broker. Then
    // a message on cam-a's own topic, which arrives (after the forged one,
    // had it been let through: one client's messages keep their order).
    let (forger, mut events) = AsyncClient::new(options(broker.port, "forger", Some(("cam-a", "pa"))), 16);
    tokio::spawn(async move { while events.poll().await.is_ok() {} });
    let forged = mqtt_wire::encode(&StatePayload::offline()).unwrap();
    let state_b = mqtt_wire::topic(FLEET, "cam-b", Channel::State).unwrap();
    forger.publish(state_b.clone(), QoS::AtLeastOnce, true, forged).await.unwrap();
    let telemetry_a = mqtt_wire::topic(FLEET, "cam-a", Channel::Telemetry).unwrap();
    let control = mqtt_wire::encode(&Metrics { uptime_s: 424_242, ..Metrics::default() }).unwrap();
    forger.publish(telemetry_a.clone(), QoS::AtLeastOnce, false, control).await.unwrap();
    let outcome = tokio::time::timeout(WAIT, async {
        loop {
            let (t, p) = heard.recv().await.unwrap();
            assert_ne!(t, state_b, "a message forged on cam-b's state topic got through");
            if t == telemetry_a && mqtt_wire::decode::<Metrics>(&p).unwrap().uptime_s == 424_242 {
                return;
            }
        }
    });
    outcome.await.expect("the control message on cam-a's own topic");

    // Wrong password, no login: refused.
    assert!(matches!(
        try_login(broker.port, Some(("cam-a", "wrong"))).await,
        Err(ConnectionError::ConnectionRefused(_))
    ));
    assert!(matches!(try_login(broker.port, None).await, Err(ConnectionError::ConnectionRefused(_))));
    assert!(try_login(broker.port, Some(("cam-b", "pb"))).await.is_ok());
}
