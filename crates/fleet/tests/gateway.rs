//! The load-balancing gateway against real agents on 127.0.0.1: right
//! answers, load spread, failover when an agent dies, devices joining when
//! they gain the model, and clear errors.

// Helpers outside #[test] fns: a failed setup step should panic at once.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use edgefleet_core::wire::{PredictRequest, PredictResponse};
use edgefleet_fleet::gateway::SERVED_BY_DEVICE_HEADER;
use edgefleet_fleet::{
    BackendStatus, GatewayConfig, GatewayHealth, RolloutPlan, RolloutRequest, run_gateway, run_rollout,
};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn deploy(agents: &Agents, targets: &[String]) {
    let req = RolloutRequest {
        name: "digits".into(),
        ..RolloutRequest::for_file(mlp_path(), targets.to_vec(), RolloutPlan::default())
    };
    let out = run_rollout(memory_store(), agents.directory(), req, Arc::new(|_| {})).await.unwrap();
    assert_eq!(out.state, "done", "{out:?}");
}

struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), edgefleet_fleet::GatewayError>>,
}

async fn start_gateway(config: GatewayConfig) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run_gateway(listener, config, async move {
        let _ = rx.await;
    }));
    Running { addr, stop: Some(tx), task }
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
    }
}

fn config(agents: &Agents) -> GatewayConfig {
    GatewayConfig { probe_interval: Duration::from_millis(200), ..GatewayConfig::new("digits", agents.directory()) }
}

async fn predict(
    http: &reqwest::Client,
    addr: SocketAddr,
    rows: Vec<Vec<f32>>,
) -> Result<(PredictResponse, String), String> {
    let resp = http
        .post(format!("http://{addr}/v1/predict/digits"))
        .json(&PredictRequest { inputs: rows })
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let device = resp.headers().get(SERVED_BY_DEVICE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {text}"));
    }
    Ok((serde_json::from_str(&text).map_err(|e| e.to_string())?, device))
}

async fn backends(http: &reqwest::Client, addr: SocketAddr) -> Vec<BackendStatus> {
    let v: serde_json::Value =
        http.get(format!("http://{addr}/v1/gateway/backends")).send().await.unwrap().json().await.unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|b| BackendStatus {
            device_id: b["device_id"].as_str().unwrap().into(),
            base_url: b["base_url"].as_str().unwrap().into(),
            healthy: b["healthy"].as_bool().unwrap(),
            has_model: b["has_model"].as_bool().unwrap(),
            outstanding: b["outstanding"].as_u64().unwrap() as u32,
            ewma_ms: b["ewma_ms"].as_f64(),
            requests: b["requests"].as_u64().unwrap(),
            failures: b["failures"].as_u64().unwrap(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predictions_through_the_gateway_are_right_and_spread() {
    let agents = start_agents(3).await;
    deploy(&agents, &agents.ids).await;
    let gw = start_gateway(config(&agents)).await;
    let http = reqwest::Client::new();

    let eval = digits_eval();
    let mut correct = 0;
    for (row, label) in eval.iter().take(200) {
        let (resp, device) = predict(&http, gw.addr, vec![row.clone()]).await.unwrap();
        assert!(agents.ids.contains(&device), "served by {device:?}");
        correct += usize::from(resp.outputs[0].top_class == *label);
    }
    assert!(correct >= 190, "{correct} of 200 right (the MLP scores ~0.98)");
    // Same answers as asking an agent directly, batch included.
    let rows: Vec<Vec<f32>> = eval.iter().skip(200).take(32).map(|r| r.0.clone()).collect();
    let direct = agents.client(0).predict("digits", rows.clone()).await.unwrap();
    let (via, _) = predict(&http, gw.addr, rows).await.unwrap();
    let classes = |r: &PredictResponse| r.outputs.iter().map(|o| o.top_class).collect::<Vec<_>>();
    assert_eq!(classes(&via), classes(&direct));

    // Concurrent requests spread over the devices.
    let mut tasks = Vec::new();
    for (row, _) in eval.iter().take(48) {
        let (http, addr, row) = (http.clone(), gw.addr, row.clone());
        tasks.push(tokio::spawn(async move { predict(&http, addr, vec![row]).await.map(|r| r.1) }));
    }
    let mut used = HashSet::new();
    for t in tasks {
        used.insert(t.await.unwrap().unwrap());
    }
    assert!(used.len() >= 2, "48 concurrent requests all went to {used:?}");

    let health: GatewayHealth =
        http.get(format!("http://{}/v1/health", gw.addr)).send().await.unwrap().json().await.unwrap();
    assert_eq!((health.status.as_str(), health.ready_devices, health.model.as_str()), ("ok", 3, "digits"));
    assert!(backends(&http, gw.addr).await.iter().all(|b| b.outstanding == 0 && b.ewma_ms.is_some()));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_keeps_serving_while_an_agent_dies() {
    let mut agents = start_agents(3).await;
    deploy(&agents, &agents.ids).await;
    let gw = start_gateway(config(&agents)).await;
    let http = reqwest::Client::new();
    let row = digits_eval()[0].0.clone();

    let started = Instant::now();
    let killed_at = Duration::from_millis(700);
    let run_for = Duration::from_millis(3000);
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (http, addr, row) = (http.clone(), gw.addr, row.clone());
        clients.push(tokio::spawn(async move {
            let mut errors = Vec::new();
            let mut ok = 0;
            while started.elapsed() < run_for {
                match predict(&http, addr, vec![row.clone()]).await {
                    Ok(_) => ok += 1,
                    Err(e) => errors.push((started.elapsed(), e)),
                }
            }
            (ok, errors)
        }));
    }
    tokio::time::sleep(killed_at).await;
    agents.handles[1].take().unwrap().abort();
    let mut ok_total = 0;
    let mut errors = Vec::new();
    for c in clients {
        let (ok, errs) = c.await.unwrap();
        ok_total += ok;
        errors.extend(errs);
    }
    let late: Vec<_> = errors.iter().filter(|(at, _)| *at > killed_at + Duration::from_secs(1)).collect();
    assert!(late.is_empty(), "errors after the first second: {late:?}");
    assert!(errors.is_empty(), "a failed request is retried on another device: {errors:?}");
    assert!(ok_total > 50, "only {ok_total} requests succeeded");
    let dead = backends(&http, gw.addr).await.into_iter().find(|b| b.device_id == "dev-1").unwrap();
    assert!(!dead.healthy, "{dead:?}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_that_gain_the_model_join_and_bad_requests_get_clear_errors() {
    let agents = start_agents(3).await;
    let http = reqwest::Client::new();
    let gw = start_gateway(config(&agents)).await;

    // Nobody has the model yet.
    let err = predict(&http, gw.addr, vec![vec![0.0; 64]]).await.unwrap_err();
    assert!(err.starts_with("503") && err.contains("no healthy device"), "{err}");

    deploy(&agents, &agents.ids[..2]).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let ready = |bs: Vec<BackendStatus>| bs.iter().filter(|b| b.healthy && b.has_model).count();
    assert_eq!(ready(backends(&http, gw.addr).await), 2);
    deploy(&agents, &agents.ids[2..]).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(ready(backends(&http, gw.addr).await), 3);

    // The request's own faults come back as the device said, not retried.
    let err = predict(&http, gw.addr, vec![vec![0.0; 5]]).await.unwrap_err();
    assert!(err.starts_with("400"), "{err}");
    let resp = http
        .post(format!("http://{}/v1/predict/other", gw.addr))
        .json(&PredictRequest { inputs: vec![] })
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert!(backends(&http, gw.addr).await.iter().all(|b| b.failures == 0));
    gw.stop().await;

    // Unknown devices and bad names are refused at start.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bad = GatewayConfig { devices: vec!["ghost".into()], ..config(&agents) };
    let err = run_gateway(listener, bad, async {}).await.unwrap_err();
    assert!(err.to_string().contains("unknown device(s): ghost"), "{err}");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = run_gateway(listener, GatewayConfig::new("../x", agents.directory()), async {}).await.unwrap_err();
    assert!(err.to_string().contains("not a valid model name"), "{err}");
}
