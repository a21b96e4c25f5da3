//! The token on a real agent over 127.0.0.1: every route but health
//! refuses a missing, a wrong and a rotated-away token; rotation works
//! with the old token once; guessing (different wrong tokens) is
//! rate-limited per peer; a
//! token given on the command line cannot be rotated; simulated fleets
//! never reuse a token found on disk.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod common;

use common::*;
use edgefleet_agent::{MAX_FAILURES_PER_WINDOW, SimulateOptions, simulate};
use edgefleet_core::wire::ErrorBody;
use reqwest::Method;
use serde_json::json;

/// Every route behind the token, with a body that would be valid.
fn routes() -> Vec<(Method, &'static str, Option<serde_json::Value>)> {
    vec![
        (Method::GET, "/v1/info", None),
        (Method::GET, "/v1/metrics", None),
        (Method::GET, "/metrics", None),
        (Method::GET, "/v1/models", None),
        (Method::GET, "/v1/models/m/1/upload", None),
        (Method::PUT, "/v1/models/m/2", None),
        (Method::DELETE, "/v1/models/m/1", None),
        (Method::POST, "/v1/models/m/activate", Some(json!({"version": "1"}))),
        (Method::POST, "/v1/models/m/rollback", Some(json!({}))),
        (Method::POST, "/v1/predict/m", Some(json!({"inputs": [[1, 2, 3]]}))),
        (Method::POST, "/v1/benchmark/m", Some(json!({"batch_sizes": [1], "iterations": 1}))),
        (Method::POST, "/v1/token", Some(json!({"token": "x".repeat(40)}))),
    ]
}

async fn call(
    agent: &TestAgent,
    method: &Method,
    path: &str,
    body: &Option<serde_json::Value>,
    token: Option<&str>,
) -> u16 {
    let mut req = agent.client.request(method.clone(), agent.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    if *method == Method::PUT {
        req = req.header("x-content-sha256", "ab".repeat(32)).body(vec![1u8; 10]);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn every_route_refuses_missing_wrong_and_rotated_away_tokens() {
    let agent = start("routes-dev", |c| c.max_auth_failures = 1000).await;
    agent.install("m", "1", matmul_model([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), None).await;
    let old = agent.handle.token.clone();
    assert_eq!(old.len(), 64, "a generated token");
    for (method, path, body) in routes() {
        assert_eq!(call(&agent, &method, path, &body, None).await, 401, "{method} {path} without a token");
        assert_eq!(call(&agent, &method, path, &body, Some("wrong")).await, 401, "{method} {path} wrong token");
    }
    // Rotate with the old token; the old one then fails everywhere.
    let new = "n".repeat(48);
    let r = agent.post("/v1/token").json(&json!({ "token": new })).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let stored = std::fs::read_to_string(agent.dir.path().join("token.sha256")).unwrap();
    assert_eq!(stored.trim(), sha256_hex(new.as_bytes()));
    for (method, path, body) in routes() {
        assert_eq!(call(&agent, &method, path, &body, Some(&old)).await, 401, "{method} {path} rotated-away token");
    }
    // The new token gets past the check on every route (whatever the route then says).
    for (method, path, body) in routes().into_iter().filter(|(_, p, _)| *p != "/v1/token") {
        let status = call(&agent, &method, path, &body, Some(&new)).await;
        assert_ne!(status, 401, "{method} {path} with the new token");
    }
    // Too short a token is refused and changes nothing.
    let r = agent.client.post(agent.url("/v1/token")).bearer_auth(&new).json(&json!({"token": "short"})).send();
    assert_eq!(r.await.unwrap().status(), 400);
    assert_eq!(call(&agent, &Method::GET, "/v1/info", &None, Some(&new)).await, 200);
    agent.handle.shutdown().await;
}

#[tokio::test]
async fn guessed_tokens_are_rate_limited_per_peer() {
    let agent = start("ratelimit-dev", |_| {}).await;
    // A console retrying the one wrong token it has, or sending none, is not guessing.
    for _ in 0..3 * MAX_FAILURES_PER_WINDOW {
        assert_eq!(call(&agent, &Method::GET, "/v1/info", &None, Some("lab-wide")).await, 401);
        assert_eq!(call(&agent, &Method::GET, "/v1/info", &None, None).await, 401);
    }
    assert_eq!(call(&agent, &Method::GET, "/v1/info", &None, Some(&agent.handle.token)).await, 200);
    // Different wrong tokens are guesses: after the limit, even the right token waits.
    for i in 1..MAX_FAILURES_PER_WINDOW {
        assert_eq!(call(&agent, &Method::GET, "/v1/info", &None, Some(&format!("guess-{i}"))).await, 401);
    }
    let r = agent.client.get(agent.url("/v1/info")).bearer_auth(&agent.handle.token).send().await.unwrap();
    assert_eq!(r.status(), 429, "even the right token waits once the peer used up its attempts");
    assert!(r.headers().contains_key("retry-after"));
    let e: ErrorBody = r.json().await.unwrap();
    assert_eq!(e.error, "too_many_attempts");
    // Health stays open.
    assert_eq!(agent.client.get(agent.url("/v1/health")).send().await.unwrap().status(), 200);
    agent.handle.shutdown().await;
}

#[tokio::test]
async fn a_token_given_at_start_is_not_rotated_over_http() {
    let agent = start("given-dev", |c| c.token = Some("g".repeat(40))).await;
    let r = agent.post("/v1/token").json(&json!({"token": "z".repeat(40)})).send().await.unwrap();
    assert_eq!(r.status(), 409);
    assert!(!agent.dir.path().join("token.sha256").exists(), "a given token is never written");
    assert_eq!(call(&agent, &Method::GET, "/v1/info", &None, Some(&"g".repeat(40))).await, 200);
    agent.handle.shutdown().await;
}

#[tokio::test]
async fn simulated_fleets_never_reuse_tokens_found_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = SimulateOptions::loopback(2, dir.path());
    opts.advertise = false;
    let first = simulate(opts.clone()).await.unwrap();
    let tokens: Vec<String> = first.agents().iter().map(|a| a.token.clone()).collect();
    first.shutdown().await;
    let again = simulate(opts).await.unwrap();
    for (a, old) in again.agents().iter().zip(&tokens) {
        assert_eq!(a.token.len(), 64);
        assert_ne!(&a.token, old, "a fresh token on every start");
        let r = reqwest::Client::new().get(format!("{}/v1/info", a.base_url())).bearer_auth(old).send().await.unwrap();
        assert_eq!(r.status(), 401, "the previous run's token does not work");
    }
    again.shutdown().await;
}

#[test]
fn the_simulation_dir_is_private_and_unpredictable() {
    use std::os::unix::fs::PermissionsExt;
    let a = edgefleet_agent::private_temp_dir("edgefleet-sim-test").unwrap();
    let b = edgefleet_agent::private_temp_dir("edgefleet-sim-test").unwrap();
    assert_ne!(a, b);
    assert_eq!(std::fs::metadata(&a).unwrap().permissions().mode() & 0o777, 0o700);
    std::fs::remove_dir(&a).unwrap();
    std::fs::remove_dir(&b).unwrap();
}
