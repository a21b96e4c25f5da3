//! Rollouts against real agents on 127.0.0.1: deploy, canary failure,
//! failure threshold, unreachable devices, bad input, resume after an
//! interrupted upload, and the engine job the GUI uses.

// Helpers outside #[test] fns: a failed setup step should panic at once.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use edgefleet_fleet::rollout::ProgressFn;
use edgefleet_fleet::{
    EngineConfig, Event, FleetEngine, FleetError, JobState, RolloutPlan, RolloutRequest, StepProgress, StepState,
    resume_rollout, rollout_job, run_rollout,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn collect() -> (ProgressFn, Arc<Mutex<Vec<StepProgress>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    (Arc::new(move |p| sink.lock().unwrap().push(p)), events)
}

fn quiet() -> ProgressFn {
    Arc::new(|_| {})
}

fn request(path: std::path::PathBuf, name: &str, targets: &[String], plan: RolloutPlan) -> RolloutRequest {
    RolloutRequest { name: name.into(), ..RolloutRequest::for_file(path, targets.to_vec(), plan) }
}

/// Install the real MLP as `digits` everywhere and return its version.
async fn install_v1(agents: &Agents, store: &Arc<Mutex<edgefleet_store::Store>>) -> String {
    let out = run_rollout(
        store.clone(),
        agents.directory(),
        request(mlp_path(), "digits", &agents.ids, RolloutPlan::default()),
        quiet(),
    )
    .await
    .unwrap();
    assert_eq!(out.state, "done", "{out:?}");
    out.version
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_to_three_agents_activates_the_same_bytes_everywhere() {
    let agents = start_agents(3).await;
    let store = memory_store();
    let (progress, events) = collect();
    let req = RolloutRequest::for_file(mlp_path(), agents.ids.clone(), RolloutPlan::default());
    let out = run_rollout(store.clone(), agents.directory(), req, progress).await.unwrap();

    let sha = sha256_of(&mlp_path());
    assert_eq!(out.state, "done");
    assert_eq!(out.name, "mlp_digits", "default name is the file stem");
    assert_eq!(out.version, sha[..12], "default version is the hash prefix");
    assert_eq!(out.done.len(), 3);
    assert!(out.failed.is_empty() && out.rolled_back.is_empty());
    for i in 0..3 {
        assert_eq!(agents.active(i, "mlp_digits").await, Some((out.version.clone(), sha.clone())), "agent {i}");
    }

    // Every device went through every state, in order, and each was
    // recorded in the store (the last one is what the store shows).
    let events = events.lock().unwrap().clone();
    let order =
        [StepState::Uploading, StepState::Verifying, StepState::Activating, StepState::HealthCheck, StepState::Done];
    for id in &agents.ids {
        let mut seen: Vec<StepState> = events.iter().filter(|e| &e.device_id == id).map(|e| e.state).collect();
        seen.dedup();
        assert_eq!(seen, order, "{id}");
        let last_upload = events.iter().rfind(|e| &e.device_id == id && e.state == StepState::Uploading);
        assert_eq!(last_upload.map(|e| e.bytes_sent), Some(std::fs::metadata(mlp_path()).unwrap().len()));
    }
    let record = store.lock().unwrap().get_deployment(out.deployment_id).unwrap().unwrap();
    assert_eq!(record.state, "done");
    assert!(record.steps.iter().all(|s| s.state == "done"), "{:?}", record.steps);

    // The same bytes again: a new deployment that changes nothing and sends nothing.
    let (progress, events) = collect();
    let req = RolloutRequest::for_file(mlp_path(), agents.ids.clone(), RolloutPlan::default());
    let again = run_rollout(store.clone(), agents.directory(), req, progress).await.unwrap();
    assert_eq!(again.state, "done");
    assert_ne!(again.deployment_id, out.deployment_id);
    let total = std::fs::metadata(mlp_path()).unwrap().len();
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.state == StepState::Uploading)
            .all(|e| e.bytes_sent == 0 || e.bytes_sent == total),
        "an installed version must not be re-sent"
    );
    for i in 0..3 {
        assert_eq!(agents.versions(i, "mlp_digits").await.len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_that_cannot_load_stops_the_rollout_and_the_old_model_stays() {
    let agents = start_agents(3).await;
    let store = memory_store();
    let v1 = install_v1(&agents, &store).await;
    let dir = tempfile::tempdir().unwrap();
    let broken = unloadable_model(dir.path());

    let out = run_rollout(
        store.clone(),
        agents.directory(),
        request(broken.clone(), "digits", &agents.ids, RolloutPlan::default()),
        quiet(),
    )
    .await
    .unwrap();
    assert_eq!(out.state, "rolled_back", "{out:?}");
    assert_eq!(out.failed.len(), 1);
    assert_eq!(out.failed[0].0, agents.ids[0], "the canary");
    assert!(out.failed[0].1.contains("activation refused"), "{}", out.failed[0].1);
    assert!(out.done.is_empty());
    assert!(out.detail.as_deref().unwrap_or("").contains("canary dev-0 failed"), "{:?}", out.detail);
    for i in 0..3 {
        assert_eq!(agents.active(i, "digits").await.map(|a| a.0), Some(v1.clone()), "agent {i}");
    }
    // Only the canary ever received the file.
    assert_eq!(agents.versions(0, "digits").await.len(), 2);
    assert_eq!(agents.versions(1, "digits").await, vec![v1.clone()]);
    assert_eq!(agents.versions(2, "digits").await, vec![v1.clone()]);
    let record = store.lock().unwrap().get_deployment(out.deployment_id).unwrap().unwrap();
    assert_eq!(record.steps[1].state, "pending");
    assert_eq!(record.steps[1].detail.as_deref(), Some("not started: the rollout stopped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_failing_its_health_check_is_rolled_back() {
    let agents = start_agents(2).await;
    let store = memory_store();
    let v1 = install_v1(&agents, &store).await;
    let dir = tempfile::tempdir().unwrap();
    let nan = nan_model(dir.path());

    let out = run_rollout(
        store.clone(),
        agents.directory(),
        request(nan.clone(), "digits", &agents.ids, RolloutPlan::default()),
        quiet(),
    )
    .await
    .unwrap();
    assert_eq!(out.state, "rolled_back", "{out:?}");
    assert_eq!(out.rolled_back, [agents.ids[0].clone()]);
    let record = store.lock().unwrap().get_deployment(out.deployment_id).unwrap().unwrap();
    let canary = record.steps[0].detail.clone().unwrap();
    assert!(canary.contains("health check failed") && canary.contains(&format!("back on {v1}")), "{canary}");
    for i in 0..2 {
        assert_eq!(agents.active(i, "digits").await.map(|a| a.0), Some(v1.clone()), "agent {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_failures_every_touched_device_is_rolled_back() {
    let agents = start_agents(3).await;
    let store = memory_store();
    let v1 = install_v1(&agents, &store).await;
    let dir = tempfile::tempdir().unwrap();
    let v2 = padded_model(dir.path(), "v2.onnx", 1000, 1);
    let v2_version = sha256_of(&v2)[..12].to_owned();
    // dev-2 already holds other bytes under v2's name and version: its upload is refused.
    let other = padded_model(dir.path(), "other.onnx", 1000, 2);
    agents.client(2).upload_model("digits", &v2_version, &other, &sha256_of(&other), |_, _| {}).await.unwrap();

    let plan = RolloutPlan { canary: 1, parallel: 1, max_failures: 0, ..RolloutPlan::default() };
    let out = run_rollout(store.clone(), agents.directory(), request(v2, "digits", &agents.ids, plan), quiet())
        .await
        .unwrap();
    assert_eq!(out.state, "rolled_back", "{out:?}");
    assert_eq!(out.rolled_back, [agents.ids[0].clone(), agents.ids[1].clone()]);
    assert_eq!(out.failed.len(), 1);
    assert!(out.failed[0].1.contains("different SHA-256"), "{}", out.failed[0].1);
    for i in 0..3 {
        assert_eq!(agents.active(i, "digits").await.map(|a| a.0), Some(v1.clone()), "agent {i}");
    }

    // With one failure allowed the same rollout completes on the others.
    let v3 = padded_model(dir.path(), "v3.onnx", 1000, 3);
    let v3_version = sha256_of(&v3)[..12].to_owned();
    agents.client(2).upload_model("digits", &v3_version, &other, &sha256_of(&other), |_, _| {}).await.unwrap();
    let plan = RolloutPlan { canary: 1, parallel: 2, max_failures: 1, ..RolloutPlan::default() };
    let out = run_rollout(store.clone(), agents.directory(), request(v3, "digits", &agents.ids, plan), quiet())
        .await
        .unwrap();
    assert_eq!(out.state, "failed", "{out:?}");
    assert_eq!(out.done.len(), 2);
    assert_eq!(agents.active(0, "digits").await.map(|a| a.0), Some(v3_version.clone()));
    assert_eq!(agents.active(2, "digits").await.map(|a| a.0), Some(v1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_device_fails_its_step_not_the_rollout() {
    let mut agents = start_agents(3).await;
    let store = memory_store();
    let directory = agents.directory();
    agents.handles[1].take().unwrap().abort();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let plan = RolloutPlan { retries: 1, ..RolloutPlan::default() };
    let started = std::time::Instant::now();
    let out = run_rollout(store, directory, request(mlp_path(), "digits", &agents.ids, plan), quiet()).await.unwrap();
    assert_eq!(out.state, "failed", "{out:?}");
    assert_eq!(out.done, [agents.ids[0].clone(), agents.ids[2].clone()]);
    assert_eq!(out.failed.len(), 1);
    assert_eq!(out.failed[0].0, "dev-1");
    assert!(out.failed[0].1.contains("unreachable"), "{}", out.failed[0].1);
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_before_anything_changes() {
    let agents = start_agents(1).await;
    let store = memory_store();
    let v1 = install_v1(&agents, &store).await;
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("truncated.onnx");
    let bytes = std::fs::read(mlp_path()).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();

    let cases: Vec<(RolloutRequest, &str)> = vec![
        (request(mlp_path(), "digits", &["nope".to_string()], RolloutPlan::default()), "unknown device: nope"),
        (request(dir.path().join("missing.onnx"), "digits", &agents.ids, RolloutPlan::default()), "cannot read"),
        (request(truncated, "digits", &agents.ids, RolloutPlan::default()), "not a valid ONNX model"),
        (request(mlp_path(), "bad/name", &agents.ids, RolloutPlan::default()), "is not allowed"),
        (request(mlp_path(), "digits", &[], RolloutPlan::default()), "no target devices"),
        (request(mlp_path(), "digits", &agents.ids, RolloutPlan { parallel: 0, ..RolloutPlan::default() }), "parallel"),
    ];
    let before = store.lock().unwrap().list_deployments().unwrap().len();
    for (req, expect) in cases {
        let err = run_rollout(store.clone(), agents.directory(), req, quiet()).await.unwrap_err();
        assert!(matches!(err, FleetError::BadInput(_)), "{err:?}");
        assert!(err.to_string().contains(expect), "`{err}` lacks `{expect}`");
    }
    assert_eq!(store.lock().unwrap().list_deployments().unwrap().len(), before, "nothing recorded");
    assert_eq!(agents.versions(0, "digits").await, vec![v1.clone()]);
    assert_eq!(agents.active(0, "digits").await.map(|a| a.0), Some(v1));

    let err = resume_rollout(store.clone(), agents.directory(), 999, quiet()).await.unwrap_err();
    assert!(err.to_string().contains("no deployment 999"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_rollout_resumes_without_resending_held_bytes() {
    let agents = start_agents(1).await;
    let store = memory_store();
    let dir = tempfile::tempdir().unwrap();
    let big = padded_model(dir.path(), "big.onnx", 24 << 20, 7);
    let total = std::fs::metadata(&big).unwrap().len();
    let req = request(big.clone(), "big", &agents.ids, RolloutPlan::default());

    // Slow the upload down (the callback runs as chunks are produced) and
    // stop the console once a few MB are out.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<StepProgress>();
    let progress: ProgressFn = Arc::new(move |p: StepProgress| {
        if p.state == StepState::Uploading {
            std::thread::sleep(Duration::from_millis(3));
        }
        let _ = tx.send(p);
    });
    let task = tokio::spawn(run_rollout(store.clone(), agents.directory(), req.clone(), progress));
    let mut deployment_id = None;
    while let Some(p) = rx.recv().await {
        deployment_id = Some(p.deployment_id);
        if p.state == StepState::Uploading && p.bytes_sent > 4 << 20 {
            break;
        }
    }
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    let deployment_id = deployment_id.unwrap();

    // The agent keeps what arrived once it sees the connection end.
    let client = agents.client(0);
    let version = sha256_of(&big)[..12].to_owned();
    let mut held = 0;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = client.upload_status("big", &version).await.unwrap().received_bytes;
        if now == held && now > 0 {
            break;
        }
        held = now;
    }
    assert!(held > 0 && held < total, "held {held} of {total}");
    let record = store.lock().unwrap().get_deployment(deployment_id).unwrap().unwrap();
    assert_eq!(record.state, "canary");
    assert_eq!(record.steps[0].state, "uploading", "the step was recorded before it was taken");

    // Deploying the same file to the same targets finds and resumes it.
    let (progress, events) = collect();
    let out = run_rollout(store.clone(), agents.directory(), req, progress).await.unwrap();
    assert_eq!(out.deployment_id, deployment_id);
    assert_eq!(out.state, "done", "{out:?}");
    let events = events.lock().unwrap().clone();
    let first = events.iter().find(|e| e.state == StepState::Uploading && e.bytes_sent > 0).unwrap();
    assert_eq!(first.bytes_sent, held, "the upload restarted at what the agent held");
    assert_eq!(first.detail.as_deref(), Some(format!("resuming at {held} of {total} bytes").as_str()));
    assert_eq!(agents.active(0, "big").await, Some((version, sha256_of(&big))));

    // A finished rollout resumes to its outcome and touches nothing.
    let (progress, events) = collect();
    let again = resume_rollout(store.clone(), agents.directory(), deployment_id, progress).await.unwrap();
    assert_eq!((again.state.as_str(), again.done.len()), ("done", 1));
    assert!(events.lock().unwrap().is_empty());
}

#[test]
fn the_engine_job_runs_the_same_rollout() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let agents = rt.block_on(start_agents(2));
    let store = memory_store();
    let config = EngineConfig { mdns: false, store: Some(store.clone()), ..EngineConfig::default() };
    let engine = FleetEngine::start(config, || {}).unwrap();
    for h in agents.handles.iter().flatten() {
        engine.directory().insert(&h.device_id, h.addr, Some(h.token.clone()));
    }
    let req = RolloutRequest::for_file(mlp_path(), agents.ids.clone(), RolloutPlan::default());
    engine.start_job("deploy", rollout_job(req));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut progressed = false;
    let state = loop {
        assert!(std::time::Instant::now() < deadline, "job did not finish");
        match engine.recv_timeout(Duration::from_secs(1)) {
            Some(Event::Job(u)) if u.state == JobState::Running => {
                progressed |= u.message.contains("health_check");
            }
            Some(Event::Job(u)) => break u.state,
            _ => {}
        }
    };
    assert!(matches!(&state, JobState::Done(m) if m.contains("done")), "{state:?}");
    assert!(progressed, "per-device progress reached the job");
    let deployments = store.lock().unwrap().list_deployments().unwrap();
    assert_eq!(deployments.len(), 1);
    assert_eq!(deployments[0].state, "done");
    engine.shutdown();
    let sha = sha256_of(&mlp_path());
    for i in 0..2 {
        assert_eq!(rt.block_on(agents.active(i, "mlp_digits")).map(|a| a.1), Some(sha.clone()));
    }
}
