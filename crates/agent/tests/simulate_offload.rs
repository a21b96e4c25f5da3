//! `simulate` with `offload_to_edge`: small devices name an edge server of
//! the fleet as their upstream, so unsure predictions are answered by it —
//! over plain HTTP, and over HTTPS with the edge server's key pinned.

// Helpers outside #[test] fns: a failed setup step should panic at once.
#![allow(clippy::unwrap_used)]

mod common;

use common::{assets_dir, digits_eval, sha256_hex};
use edgefleet_agent::{AgentHandle, SimulateOptions, simulate};
use edgefleet_core::DeviceType;
use edgefleet_core::wire::PredictResponse;

/// Upload and activate a model on one simulated agent.
async fn install(http: &reqwest::Client, agent: &AgentHandle, bytes: &[u8], threshold: f64) {
    let sha = sha256_hex(bytes);
    let url = format!("{}/v1/models/digits/v1", agent.base_url());
    let r = http
        .put(url)
        .bearer_auth(&agent.token)
        .header("x-content-sha256", sha)
        .body(bytes.to_vec())
        .send()
        .await
        .expect("agent answers");
    assert_eq!(r.status(), 201);
    let body = serde_json::json!({ "version": "v1", "confidence_threshold": threshold });
    let url = format!("{}/v1/models/digits/activate", agent.base_url());
    let r = http.post(url).bearer_auth(&agent.token).json(&body).send().await.expect("agent answers");
    assert_eq!(r.status(), 200);
}

async fn predict(http: &reqwest::Client, agent: &AgentHandle, rows: Vec<Vec<f32>>) -> PredictResponse {
    let url = format!("{}/v1/predict/digits", agent.base_url());
    let r = http
        .post(url)
        .bearer_auth(&agent.token)
        .json(&serde_json::json!({ "inputs": rows }))
        .send()
        .await
        .expect("agent answers");
    assert_eq!(r.status(), 200);
    r.json().await.expect("agent answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_devices_fall_back_to_an_edge_server_of_the_fleet() {
    fall_back_to_an_edge_server(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_devices_fall_back_to_an_edge_server_over_pinned_https() {
    fall_back_to_an_edge_server(true).await;
}

async fn fall_back_to_an_edge_server(tls: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = SimulateOptions::loopback(6, dir.path());
    opts.advertise = false;
    opts.token = Some("sim-offload".into());
    opts.offload_to_edge = true;
    opts.tls = tls;
    let fleet = simulate(opts).await.unwrap();
    assert!(
        fleet.agents().iter().all(|a| a.tls == tls && a.base_url().starts_with(if tls { "https" } else { "http:" }))
    );
    // This test's own client does not check keys (the agents' upstream client does).
    let http = reqwest::Client::builder().tls_danger_accept_invalid_certs(true).build().unwrap();
    let model = std::fs::read(assets_dir().join("mlp_digits.onnx")).unwrap();

    // agents() keeps device-index order even though servers start first.
    let ids: Vec<&str> = fleet.agents().iter().map(|a| a.device_id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort_by_key(|id| id.split('-').nth(2).map(str::to_owned));
    assert_eq!(ids, sorted, "agents in index order");

    let mut servers = Vec::new();
    let mut small = Vec::new();
    for a in fleet.agents() {
        let info: serde_json::Value = http
            .get(format!("{}/v1/info", a.base_url()))
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if info["device_type"] == DeviceType::EdgeServer.as_str() { servers.push(a) } else { small.push(a) }
    }
    assert!(!servers.is_empty() && !small.is_empty(), "a 6-device fleet has both kinds");
    for s in &servers {
        install(&http, s, &model, 0.0).await;
    }
    // Threshold 1.0: every row is "unsure" on the small device.
    let device = small[0];
    install(&http, device, &model, 1.0).await;
    let rows: Vec<Vec<f32>> = digits_eval().into_iter().take(3).map(|(r, _)| r).collect();
    let answer = predict(&http, device, rows).await;
    assert!(
        servers.iter().any(|s| s.device_id == answer.served_by),
        "served by {} rather than an edge server",
        answer.served_by
    );
    fleet.shutdown().await;
}
