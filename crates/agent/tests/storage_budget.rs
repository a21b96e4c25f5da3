//! The agent's storage budget (`--storage-mb`) on a real agent over HTTP:
//! uploads that fit what is left are taken, one that does not is refused
//! with 507 and "needs X, Y free" before a byte is written, the free
//! storage reported (metrics and device info) is what the budget leaves,
//! and deleting a version makes room again.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod common;

use common::{sha256_hex, start};

/// Room for two copies of the digits MLP (69.6 KB), not three.
const BUDGET_BYTES: u64 = 180_000;

fn mlp() -> Vec<u8> {
    std::fs::read(common::assets_dir().join("mlp_digits.onnx")).unwrap()
}

async fn free_storage_bytes(agent: &common::TestAgent) -> f64 {
    let m: serde_json::Value = agent.get("/v1/metrics").send().await.unwrap().json().await.unwrap();
    m["storage_free_gb"].as_f64().unwrap() * 1e9
}

#[tokio::test]
async fn uploads_beyond_the_storage_budget_are_refused_with_what_is_free() {
    let agent = start("budget-board", |c| c.storage_budget_bytes = Some(BUDGET_BYTES)).await;
    let model = mlp();
    let size = model.len() as f64;
    let sha = sha256_hex(&model);
    assert!((free_storage_bytes(&agent).await - BUDGET_BYTES as f64).abs() < 1.0, "an empty store has it all");

    for v in ["1", "2"] {
        let r = agent.put_model("digits", v, model.clone(), &sha).send().await.unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    let free = free_storage_bytes(&agent).await;
    assert!(free < BUDGET_BYTES as f64 - 2.0 * size && free > BUDGET_BYTES as f64 - 2.0 * size - 1_000.0, "{free}");
    let info: serde_json::Value = agent.get("/v1/info").send().await.unwrap().json().await.unwrap();
    let info_free = info["free_storage_gb"].as_f64().unwrap() * 1e9;
    assert!((info_free - free).abs() < 1.0, "info says {info_free}, metrics {free}");

    // A third copy does not fit: refused, with the figures, nothing kept.
    let r = agent.put_model("digits", "3", model.clone(), &sha).send().await.unwrap();
    assert_eq!(r.status(), 507);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "no_space", "{body}");
    let message = body["detail"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("not enough storage"), "{body}");
    assert!(message.contains("needs 68.0 KiB") && message.contains("KiB free"), "{message}");
    assert!(agent.upload_parts().is_empty(), "a refused upload leaves no part");
    assert!(!agent.dir.path().join("models/digits/3.onnx").exists());

    // Deleting a version makes room again.
    let del = agent.client.delete(agent.url("/v1/models/digits/1")).bearer_auth(&agent.handle.token);
    assert_eq!(del.send().await.unwrap().status(), 204);
    let r = agent.put_model("digits", "3", model, &sha).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn without_a_budget_the_disk_decides() {
    let agent = start("no-budget-board", |_| {}).await;
    let model = mlp();
    let sha = sha256_hex(&model);
    for v in ["1", "2", "3"] {
        let r = agent.put_model("digits", v, model.clone(), &sha).send().await.unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    assert!(free_storage_bytes(&agent).await > BUDGET_BYTES as f64);
}
