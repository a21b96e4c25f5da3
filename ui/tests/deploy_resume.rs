//! `edgefleet deploy` killed with SIGKILL in the middle of an upload, then
//! run again: it resumes the same deployment and completes, and the agent
//! ends with the model active. A real agent on 127.0.0.1, the real CLI
//! binary, a real SQLite file.

use edgefleet_agent::{AgentConfig, spawn};
use edgefleet_core::{Device, DeviceType};
use edgefleet_fleet::{AgentClient, http_client};
use prost::Message;
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tract_onnx::pb;

const TOKEN: &str = "resume-test-token";
/// Large enough that the upload takes a while on loopback.
const PAD_BYTES: usize = 200 * 1024 * 1024;

/// The demo MLP plus an unused initializer: same answers, a big file.
fn padded_mlp(dir: &Path) -> PathBuf {
    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/models/mlp_digits.onnx"))
        .expect("demo model");
    let mut m = pb::ModelProto::decode(bytes.as_slice()).expect("valid ONNX");
    m.graph.as_mut().expect("a graph").initializer.push(pb::TensorProto {
        name: "unused_padding".into(),
        dims: vec![PAD_BYTES as i64],
        data_type: 2, // uint8
        raw_data: (0..PAD_BYTES).map(|i| (i as u8).wrapping_mul(31)).collect(),
        ..Default::default()
    });
    let path = dir.join("big_mlp.onnx");
    std::fs::write(&path, m.encode_to_vec()).expect("write the padded model");
    path
}

fn edgefleet(db: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_edgefleet"));
    c.arg("--db").arg(db).arg("--token").arg(TOKEN).env_remove("EDGEFLEET_DB").env_remove("EDGEFLEET_TOKEN");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_deploy_resumes_and_completes() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::new("resume-board", DeviceType::EdgeServer, 8, 16_384, 64.0);
    let mut config = AgentConfig::new(device, dir.path().join("agent"));
    config.token = Some(TOKEN.into());
    let agent = spawn(config).await.unwrap();
    let client = AgentClient::new(http_client().unwrap(), agent.addr, Some(TOKEN.into()));
    let db = dir.path().join("console.db");
    let model = padded_mlp(dir.path());
    let sha = hex::encode(sha2::Sha256::digest(std::fs::read(&model).unwrap()));
    let version = &sha[..12];

    let add = edgefleet(&db).arg("add").arg(agent.addr.to_string()).output().unwrap();
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));

    // First run: kill it as soon as the agent holds part of the file.
    let mut first = edgefleet(&db)
        .arg("deploy")
        .arg(&model)
        .args(["--to", "resume-board", "--canary", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let held = loop {
        if Instant::now() > deadline {
            break None;
        }
        if let Ok(s) = client.upload_status("big_mlp", version).await
            && s.received_bytes > 0
        {
            break Some(s.received_bytes);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let held = held.expect("the upload never started");
    let after_kill = client.upload_status("big_mlp", version).await.unwrap();
    assert!(!after_kill.complete, "the kill came after the upload finished; the file is too small for this machine");
    assert!(after_kill.received_bytes >= held && after_kill.received_bytes > 0);
    let active = client.models().await.unwrap().models.into_iter().find(|m| m.active && m.name == "big_mlp");
    assert!(active.is_none(), "nothing may be active after a kill mid-upload");

    // The deployment is on record as unfinished.
    let listed = edgefleet(&db).args(["deployments", "--json"]).output().unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let first_id = listed[0]["id"].as_i64().expect("a deployment id");

    // Second run: resumes and completes.
    let second = edgefleet(&db)
        .arg("deploy")
        .arg(&model)
        .args(["--to", "resume-board", "--canary", "0", "--json"])
        .output()
        .unwrap();
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    let outcome: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(outcome["deployment_id"].as_i64(), Some(first_id), "resumed the same deployment: {outcome}");

    let models = client.models().await.unwrap().models;
    let m = models.iter().find(|m| m.name == "big_mlp" && m.active).expect("active after resume");
    assert_eq!(m.sha256, sha);
    agent.shutdown().await;
}
