//! Deploy by pull over the broker, against a real Mosquitto and a real
//! agent on 127.0.0.1: the agent downloads the model from an HTTP server
//! that drops the first connection halfway, resumes with `Range` from the
//! bytes its store kept, verifies the SHA-256, installs and activates it;
//! a wrong SHA-256 installs nothing; a part that already holds the whole
//! file (cut off before it was installed) is fetched again from the start.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod common;
#[path = "support/mosquitto.rs"]
mod mosquitto;

use common::{assets_dir, sha256_hex, start};
use edgefleet_agent::BrokerConfig;
use edgefleet_core::mqtt_wire::{self, BrokerCommand, Channel, CommandMessage, Progress, PullRequest, ReplyMessage};
use edgefleet_core::wire::ModelsResponse;
use mosquitto::Mosquitto;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FLEET: &str = "pull-fleet";
const TOKEN: &str = "pull-deploy-test-token";

/// An HTTP server for one file: the first GET gets half the bytes and a
/// closed connection; later ones honour `Range: bytes=N-`. Records each
/// request's Range header.
async fn flaky_file_server(bytes: Vec<u8>) -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/model.onnx", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for n in 0.. {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let got = s.read(&mut buf).await.unwrap();
                assert!(got > 0 && head.len() < 16 * 1024);
                head.extend_from_slice(&buf[..got]);
            }
            let text = String::from_utf8_lossy(&head).to_lowercase();
            let range = text.lines().find_map(|l| l.strip_prefix("range: bytes=")).map(|r| r.trim().to_owned());
            log.lock().unwrap().push(range.clone());
            let total = bytes.len();
            if n == 0 {
                let h = format!("HTTP/1.1 200 OK\r\ncontent-length: {total}\r\n\r\n");
                s.write_all(h.as_bytes()).await.unwrap();
                s.write_all(&bytes[..total / 2]).await.unwrap();
                continue; // dropped: the connection closes mid-body
            }
            let start: usize = range.as_deref().map_or(0, |r| r.trim_end_matches('-').parse().unwrap());
            let h = format!(
                "HTTP/1.1 206 Partial Content\r\ncontent-length: {}\r\ncontent-range: bytes {start}-{}/{total}\r\nconnection: close\r\n\r\n",
                total - start,
                total - 1
            );
            s.write_all(h.as_bytes()).await.unwrap();
            s.write_all(&bytes[start..]).await.unwrap();
        }
    });
    (url, seen)
}

/// Send one command and wait for its reply.
/// Send one command; its final reply and the progress reports before it.
async fn command(port: u16, device: &str, msg: CommandMessage) -> (ReplyMessage, Vec<Progress>) {
    let (client, mut events) = AsyncClient::new(MqttOptions::new(format!("t-{}", msg.id), "127.0.0.1", port), 16);
    let reply_topic = mqtt_wire::topic(FLEET, device, Channel::Reply).unwrap();
    let cmd_topic = mqtt_wire::topic(FLEET, device, Channel::Cmd).unwrap();
    let state_topic = mqtt_wire::topic(FLEET, device, Channel::State).unwrap();
    let exchange = async {
        let mut sent = false;
        let mut progress = Vec::new();
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    client.subscribe(reply_topic.clone(), QoS::AtLeastOnce).await.unwrap();
                    client.subscribe(state_topic.clone(), QoS::AtLeastOnce).await.unwrap();
                }
                // Sent once the agent is online (so subscribed to its commands).
                Ok(Event::Incoming(Packet::Publish(p))) if p.topic == state_topic => {
                    let online = mqtt_wire::decode::<mqtt_wire::StatePayload>(&p.payload).unwrap().online;
                    if online && !std::mem::replace(&mut sent, true) {
                        let bytes = mqtt_wire::encode(&msg).unwrap();
                        client.publish(cmd_topic.clone(), QoS::AtLeastOnce, false, bytes).await.unwrap();
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) if p.topic == reply_topic => {
                    let r: ReplyMessage = mqtt_wire::decode(&p.payload).unwrap();
                    if r.id == msg.id && r.is_final() {
                        return (r, progress);
                    }
                    if r.id == msg.id {
                        progress.push(r.progress.unwrap());
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), exchange).await.expect("a reply within 30 s")
}

fn deploy(id: &str, url: &str, bytes: &[u8], sha: &str) -> CommandMessage {
    let request = PullRequest {
        version: "v1".into(),
        url: url.into(),
        size_bytes: bytes.len() as u64,
        sha256: sha.into(),
        activate: true,
        confidence_threshold: None,
        signature: None,
    };
    CommandMessage {
        id: id.into(),
        token: TOKEN.into(),
        command: BrokerCommand::Deploy { model: "digits".into(), request },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_command_pulls_resumes_with_range_verifies_and_activates() {
    let Some(broker) = Mosquitto::start() else { return };
    let agent = start("pull-dev", |c| {
        c.token = Some(TOKEN.into());
        c.broker = Some(BrokerConfig::new(broker.url().parse().unwrap(), FLEET));
    })
    .await;
    let bytes = std::fs::read(assets_dir().join("mlp_digits.onnx")).unwrap();
    let sha = sha256_hex(&bytes);

    // A wrong SHA-256: refused by the store, nothing installed.
    let (url, _) = flaky_file_server(bytes.clone()).await;
    let (r, _) = command(broker.port, "pull-dev", deploy("bad-sha", &url, &bytes, &"0".repeat(64))).await;
    assert!(!r.ok, "{r:?}");
    let models: ModelsResponse = agent.get("/v1/models").send().await.unwrap().json().await.unwrap();
    assert!(models.models.is_empty(), "{models:?}");

    let (url, seen) = flaky_file_server(bytes.clone()).await;
    let (r, progress) = command(broker.port, "pull-dev", deploy("pull-1", &url, &bytes, &sha)).await;
    assert!(r.ok, "{r:?}");
    // Progress came first (on the reply topic every console of the fleet reads).
    assert!(!progress.is_empty() && progress.iter().all(|p| p.total_bytes == bytes.len() as u64), "{progress:?}");
    let result = r.result.unwrap();
    assert_eq!(result["activated"]["active_version"], "v1", "{result}");
    // The second request resumed where the store's part ended (half the file).
    let ranges = seen.lock().unwrap().clone();
    assert_eq!(ranges[0], None);
    let resumed: u64 = ranges[1].as_deref().unwrap().trim_end_matches('-').parse().unwrap();
    assert!(resumed > 0 && resumed <= bytes.len() as u64 / 2, "{ranges:?}");
    let models: ModelsResponse = agent.get("/v1/models").send().await.unwrap().json().await.unwrap();
    let m = models.models.iter().find(|m| m.active).unwrap();
    assert_eq!((m.version.as_str(), m.sha256.as_str()), ("v1", sha.as_str()));
    // It serves predictions with the pulled model.
    let row = vec![0.0f32; 64];
    let p = agent.post("/v1/predict/digits").json(&serde_json::json!({ "inputs": [row] })).send().await.unwrap();
    assert_eq!(p.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_holding_the_whole_file_is_fetched_again_from_the_start() {
    let Some(broker) = Mosquitto::start() else { return };
    let agent = start("pull-whole", |c| {
        c.token = Some(TOKEN.into());
        c.broker = Some(BrokerConfig::new(broker.url().parse().unwrap(), FLEET));
    })
    .await;
    let bytes = std::fs::read(assets_dir().join("mlp_digits.onnx")).unwrap();
    let sha = sha256_hex(&bytes);
    // What a download cut off after its last byte, before the store checked
    // and installed it, leaves behind.
    let uploads = agent.dir.path().join("uploads/digits");
    std::fs::create_dir_all(&uploads).unwrap();
    std::fs::write(uploads.join(format!("v1.{sha}.part")), &bytes).unwrap();

    let (url, seen) = flaky_file_server(bytes.clone()).await;
    let (r, _) = command(broker.port, "pull-whole", deploy("pull-whole", &url, &bytes, &sha)).await;
    assert!(r.ok, "{r:?}");
    // No `Range: bytes=SIZE-` (a real server answers it 416): from the start.
    let ranges = seen.lock().unwrap().clone();
    assert_eq!(ranges[0], None, "{ranges:?}");
    let models: ModelsResponse = agent.get("/v1/models").send().await.unwrap().json().await.unwrap();
    let m = models.models.iter().find(|m| m.active).unwrap();
    assert_eq!((m.version.as_str(), m.sha256.as_str()), ("v1", sha.as_str()));
}
