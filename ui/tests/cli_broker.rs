//! The CLI with a real Mosquitto on 127.0.0.1 and a real agent that only
//! the broker connects to the console: `edgefleet scan --broker … --no-mdns`
//! records it in the SQLite registry as found via `mqtt`, `edgefleet
//! devices` lists it so, `edgefleet broker-cmd` rolls its model back
//! through the broker (with the token; a wrong one is refused) and deploys
//! a file the agent pulls from the CLI; `edgefleet pair --broker` pins the
//! console's key through the broker, turning on signed models.

#![allow(clippy::unwrap_used)] // test code: a failure should panic

#[path = "../../crates/agent/tests/support/mosquitto.rs"]
mod mosquitto;

use edgefleet_agent::{AgentConfig, BrokerConfig, spawn};
use edgefleet_core::{Device, DeviceType};
use edgefleet_fleet::{AgentClient, http_client};
use mosquitto::Mosquitto;
use sha2::Digest;
use std::path::Path;
use std::process::Command;

const TOKEN: &str = "cli-broker-token";
const FLEET: &str = "cli-fleet";

fn edgefleet(db: &Path, token: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_edgefleet"));
    c.arg("--db").arg(db).arg("--token").arg(token).env_remove("EDGEFLEET_DB").env_remove("EDGEFLEET_TOKEN");
    c
}

fn json_of(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_devices_and_broker_cmd_work_through_the_broker_only() {
    let Some(broker) = Mosquitto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let device = Device::new("far-cam", DeviceType::SmartCamera, 4, 2048, 16.0);
    let mut config = AgentConfig::new(device, dir.path().join("agent"));
    config.token = Some(TOKEN.into());
    config.broker = Some(BrokerConfig::new(broker.url().parse().unwrap(), FLEET));
    let agent = spawn(config).await.unwrap();
    let client = AgentClient::new(http_client().unwrap(), agent.addr, Some(TOKEN.into()));
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/models/mlp_digits.onnx");
    let sha = hex::encode(sha2::Sha256::digest(std::fs::read(&model).unwrap()));
    for v in ["a", "b"] {
        client.upload_model("digits", v, &model, &sha, |_, _| {}).await.unwrap();
        client.activate("digits", v, None).await.unwrap();
    }
    let db = dir.path().join("console.db");
    let url = broker.url();
    let broker_args = ["--broker", url.as_str(), "--fleet", FLEET];

    let out = edgefleet(&db, TOKEN)
        .args(["scan", "--no-mdns", "--expect", "1", "--timeout-ms", "10000", "--json"])
        .args(broker_args)
        .output()
        .unwrap();
    let rows = json_of(&out);
    assert_eq!(rows[0]["device_id"], "far-cam", "{rows}");
    assert_eq!(rows[0]["source"], "mqtt");
    let listed = json_of(&edgefleet(&db, TOKEN).args(["devices", "--json"]).output().unwrap());
    assert_eq!(listed[0]["device_id"], "far-cam");
    assert_eq!(listed[0]["source"], "mqtt");

    let wrong = edgefleet(&db, "not-the-token")
        .args(["broker-cmd", "--device-id", "far-cam"])
        .args(broker_args)
        .args(["rollback", "digits"])
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stdout).contains("unauthorized"));
    let ok = edgefleet(&db, TOKEN)
        .args(["broker-cmd", "--device-id", "far-cam"])
        .args(broker_args)
        .args(["rollback", "digits"])
        .output()
        .unwrap();
    let reply = json_of(&ok);
    assert_eq!(reply["result"]["active_version"], "a", "{reply}");
    let models = client.models().await.unwrap().models;
    assert_eq!(models.iter().find(|m| m.active).map(|m| m.version.as_str()), Some("a"));

    // Deploy by pull: the CLI serves the file, the agent fetches, verifies, activates.
    let cnn = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/models/cnn_digits.onnx");
    let pulled = edgefleet(&db, TOKEN)
        .args(["broker-cmd", "--device-id", "far-cam"])
        .args(broker_args)
        .arg("deploy")
        .arg(&cnn)
        .args(["--name", "digits", "--version", "cnn-1"])
        .output()
        .unwrap();
    let reply = json_of(&pulled);
    assert_eq!(reply["result"]["activated"]["active_version"], "cnn-1", "{reply}");
    let cnn_sha = hex::encode(sha2::Sha256::digest(std::fs::read(&cnn).unwrap()));
    let models = client.models().await.unwrap().models;
    let active = models.iter().find(|m| m.active).unwrap();
    assert_eq!((active.version.as_str(), active.sha256.as_str()), ("cnn-1", cnn_sha.as_str()));
    agent.shutdown().await;
}

/// A broker whose only login is `user`/`password` (anonymous clients refused).
fn broker_with_login(dir: &Path, user: &str, password: &str) -> Option<Mosquitto> {
    let passwd = dir.join("passwd");
    match Command::new("mosquitto_passwd").arg("-c").arg("-b").arg(&passwd).args([user, password]).status() {
        Ok(s) => assert!(s.success(), "mosquitto_passwd failed"),
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "CI is set but mosquitto_passwd is missing: {e}");
            eprintln!("skipped: no mosquitto_passwd ({e})");
            return None;
        }
    }
    Mosquitto::start_with(&format!("allow_anonymous false\npassword_file {}\n", passwd.display()))
}

/// `edgefleet deploy --broker`: a staged rollout (canary 1 of 3) to agents
/// the console reaches only through the broker, recorded in the registry;
/// `rollback --broker` puts them back. A login the broker refuses is said
/// plainly by `scan` and `deploy`, and the registry keeps its devices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_with_a_canary_and_rollback_go_through_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let Some(broker) = broker_with_login(dir.path(), "console", "right-pw") else { return };
    std::fs::write(dir.path().join("pw"), "right-pw\n").unwrap();
    std::fs::write(dir.path().join("bad-pw"), "wrong\n").unwrap();
    let mut agents = Vec::new();
    for i in 0..3 {
        let device = Device::new(format!("site-cam-{i}"), DeviceType::SmartCamera, 4, 2048, 16.0);
        let mut config = AgentConfig::new(device, dir.path().join(format!("agent-{i}")));
        config.token = Some(TOKEN.into());
        let mut link = BrokerConfig::new(broker.url().parse().unwrap(), FLEET);
        link.username = Some("console".into());
        link.password = Some("right-pw".into());
        config.broker = Some(link);
        agents.push(spawn(config).await.unwrap());
    }
    let db = dir.path().join("console.db");
    let url = broker.url();
    let pw = dir.path().join("pw").display().to_string();
    let login = ["--broker", url.as_str(), "--fleet", FLEET, "--broker-user", "console", "--broker-password-file", &pw];
    let out = edgefleet(&db, TOKEN)
        .args(["scan", "--no-mdns", "--expect", "3", "--timeout-ms", "10000", "--json"])
        .args(login)
        .output()
        .unwrap();
    assert_eq!(json_of(&out).as_array().unwrap().len(), 3);
    assert!(String::from_utf8_lossy(&out.stderr).contains("connected; 3 device(s) online"));

    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/models/mlp_digits.onnx");
    let targets = "site-cam-0,site-cam-1,site-cam-2";
    for version in ["1", "2"] {
        let out = edgefleet(&db, TOKEN)
            .arg("deploy")
            .arg(&model)
            .args(["--name", "digits", "--version", version, "--to", targets, "--canary", "1", "--parallel", "2"])
            .args(["--json", "--wait-for-device-s", "20"])
            .args(login)
            .output()
            .unwrap();
        let outcome = json_of(&out);
        assert_eq!(outcome["state"], "done", "{outcome}");
        assert_eq!(outcome["done"].as_array().unwrap().len(), 3);
    }
    let deployments = json_of(&edgefleet(&db, TOKEN).args(["deployments", "--json"]).output().unwrap());
    let size = std::fs::metadata(&model).unwrap().len();
    let steps = deployments[0]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3, "{deployments}");
    assert!(steps.iter().all(|s| s["state"] == "done" && s["bytes_sent"] == size), "{deployments}");

    let back =
        edgefleet(&db, TOKEN).args(["rollback", "digits", "--to", targets, "--json"]).args(login).output().unwrap();
    let rows = json_of(&back);
    assert!(rows.as_array().unwrap().iter().all(|r| r["active_version"] == "1"), "{rows}");
    for a in &agents {
        let client = AgentClient::new(http_client().unwrap(), a.addr, Some(TOKEN.into()));
        let models = client.models().await.unwrap().models;
        assert_eq!(models.iter().find(|m| m.active).map(|m| m.version.as_str()), Some("1"));
    }

    // A wrong password: a clear status, and nothing lost from the registry.
    let bad = dir.path().join("bad-pw").display().to_string();
    let refused =
        ["--broker", url.as_str(), "--fleet", FLEET, "--broker-user", "console", "--broker-password-file", &bad];
    for cmd in [vec!["scan", "--no-mdns", "--timeout-ms", "5000"], vec!["rollback", "digits", "--to", "site-cam-0"]] {
        let out = edgefleet(&db, TOKEN).args(&cmd).args(refused).output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("refused: bad credentials"), "{cmd:?}: {err}");
    }
    let listed = json_of(&edgefleet(&db, TOKEN).args(["devices", "--json"]).output().unwrap());
    assert_eq!(listed.as_array().unwrap().len(), 3, "the registry kept its devices: {listed}");
    for a in agents {
        a.shutdown().await;
    }
}

/// `edgefleet pair ID --broker …` pairs a device the console reaches only
/// through the broker (its registry address made dead): a wrong token is
/// refused and nothing stored; the right one is stored and this console's
/// key pinned through the broker, after which an unsigned activation
/// through the broker is refused and the console's own deploy goes live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_through_the_broker_turns_on_signed_models() {
    let Some(broker) = Mosquitto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let device = Device::new("far-signed", DeviceType::SmartCamera, 4, 2048, 16.0);
    let mut config = AgentConfig::new(device, dir.path().join("agent"));
    config.token = Some(TOKEN.into());
    config.broker = Some(BrokerConfig::new(broker.url().parse().unwrap(), FLEET));
    let agent = spawn(config).await.unwrap();
    let db = dir.path().join("console.db");
    let url = broker.url();
    let broker_args = ["--broker", url.as_str(), "--fleet", FLEET];
    let scan = edgefleet(&db, TOKEN)
        .args(["scan", "--no-mdns", "--expect", "1", "--timeout-ms", "10000", "--json"])
        .args(broker_args)
        .output()
        .unwrap();
    assert_eq!(json_of(&scan)[0]["source"], "mqtt");
    {
        let store = edgefleet_store::Store::open(&db).unwrap();
        let mut rec = store.get_device("far-signed").unwrap().unwrap();
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        rec.port = Some(dead.port());
        store.upsert_device(&rec).unwrap();
    }
    let pair = |token: &str| edgefleet(&db, token).args(["pair", "far-signed"]).args(broker_args).output().unwrap();
    let over_http = edgefleet(&db, TOKEN).args(["pair", "far-signed", "--yes"]).output().unwrap();
    assert!(!over_http.status.success(), "the registry address answers: {over_http:?}");
    let wrong = pair("not-the-token");
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("refused the token"), "{wrong:?}");
    assert!(!dir.path().join("agent/console_key.ed25519").exists(), "a wrong token pinned a key");
    let paired = pair(TOKEN);
    let said = String::from_utf8_lossy(&paired.stdout);
    assert!(paired.status.success() && said.contains("runs only models signed by this console"), "{paired:?}");
    assert!(dir.path().join("agent/console_key.ed25519").exists());

    // An unsigned version (uploaded by the test over the agent's own HTTP
    // API) is refused through the broker; the console's deploy goes live.
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/models/mlp_digits.onnx");
    let sha = hex::encode(sha2::Sha256::digest(std::fs::read(&model).unwrap()));
    let client = AgentClient::new(http_client().unwrap(), agent.addr, Some(TOKEN.into()));
    client.upload_model("digits", "unsigned", &model, &sha, |_, _| {}).await.unwrap();
    let refused = edgefleet(&db, TOKEN)
        .args(["broker-cmd", "--device-id", "far-signed"])
        .args(broker_args)
        .args(["activate", "digits", "unsigned"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stdout).contains("unsigned_model"), "{refused:?}");
    let deployed = edgefleet(&db, TOKEN)
        .arg("deploy")
        .arg(&model)
        .args(["--name", "digits", "--version", "1", "--to", "far-signed", "--json", "--wait-for-device-s", "20"])
        .args(broker_args)
        .output()
        .unwrap();
    assert_eq!(json_of(&deployed)["state"], "done");
    let models = client.models().await.unwrap().models;
    assert_eq!(models.iter().find(|m| m.active).map(|m| m.version.as_str()), Some("1"));
    agent.shutdown().await;
}
