//! The real binary: SIGKILL it in the middle of an upload, restart it on
//! the same data dir, and check the active model survived intact.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod common;

use common::{assets_dir, sha256_hex, spawn_binary};
use edgefleet_core::wire::{ModelsResponse, PredictResponse, UploadStatus};
use serde_json::json;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

const TOKEN: &str = "process-test-token";

#[tokio::test]
async fn sigkill_during_upload_keeps_the_active_model() {
    // Built with the console's TLS (a workspace build), reqwest needs a
    // process-wide crypto provider before any client exists.
    edgefleet_agent::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let model = std::fs::read(assets_dir().join("mlp_digits.onnx")).unwrap();
    let sha = sha256_hex(&model);

    let (mut child, addr) = spawn_binary(dir.path(), TOKEN, &["--interface", "lo", "--name", "kill-test"]);
    let url = |addr: SocketAddr, p: &str| format!("http://{addr}{p}");
    let r = client
        .put(url(addr, "/v1/models/digits/1"))
        .bearer_auth(TOKEN)
        .header("x-content-sha256", &sha)
        .body(model.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r =
        client.post(url(addr, "/v1/models/digits/activate")).bearer_auth(TOKEN).json(&json!({"version": "1"})).send();
    assert_eq!(r.await.unwrap().status(), 200);

    // Version 2 is the same bytes with a trailing byte changed; upload part of it.
    let mut v2 = model.clone();
    *v2.last_mut().unwrap() ^= 0xff;
    let v2_sha = sha256_hex(&v2);
    let half = v2.len() / 2;
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PUT /v1/models/digits/2 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nX-Content-Sha256: {v2_sha}\r\nContent-Length: {}\r\n\r\n",
        v2.len()
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.write_all(&v2[..half]).await.unwrap();
    sock.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    drop(sock);

    let (mut child, addr) = spawn_binary(dir.path(), TOKEN, &["--interface", "lo", "--name", "kill-test"]);
    let listed: ModelsResponse =
        client.get(url(addr, "/v1/models")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed.models.len(), 1, "{listed:?}");
    let m = &listed.models[0];
    assert!(m.active && m.version == "1" && m.sha256 == sha && m.size_bytes == model.len() as u64);
    assert_eq!(sha256_hex(&std::fs::read(dir.path().join("models/digits/1.onnx")).unwrap()), sha);

    let p: PredictResponse = client
        .post(url(addr, "/v1/predict/digits"))
        .bearer_auth(TOKEN)
        .json(&json!({"inputs": [common::digits_eval()[0].0]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p.model_version, "1");
    assert_eq!(p.outputs[0].top_class, common::digits_eval()[0].1);

    // What reached the disk before the kill is resumable.
    let st: UploadStatus = client
        .get(url(addr, "/v1/models/digits/2/upload"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!st.complete && st.received_bytes <= half as u64, "{st:?}");
    let held = st.received_bytes as usize;
    let r = client
        .put(url(addr, "/v1/models/digits/2"))
        .bearer_auth(TOKEN)
        .header("x-content-sha256", &v2_sha)
        .header("content-range", format!("bytes {held}-{}/{}", v2.len() - 1, v2.len()))
        .body(v2[held..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    assert_eq!(sha256_hex(&std::fs::read(dir.path().join("models/digits/2.onnx")).unwrap()), v2_sha);

    // SIGTERM is a graceful stop.
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let code = child.wait().unwrap();
    assert!(code.success(), "{code:?}");
}
