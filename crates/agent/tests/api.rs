//! The HTTP API over real sockets on 127.0.0.1: auth, the model store's
//! bad-input cases, activation, prediction, offload and metrics.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod common;

use common::*;
use edgefleet_core::wire::{
    ActivateResponse, ErrorBody, Health, InfoResponse, Metrics, ModelsResponse, PredictResponse, UploadResponse,
    UploadStatus,
};
use serde_json::json;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

async fn error_of(r: reqwest::Response) -> (u16, ErrorBody) {
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    (status, serde_json::from_str(&body).unwrap_or_else(|e| panic!("not an ErrorBody ({e}): {body}")))
}

async fn models(agent: &TestAgent) -> ModelsResponse {
    agent.get("/v1/models").send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn health_is_open_and_everything_else_needs_the_token() {
    let agent = start("auth-dev", |_| {}).await;
    let r = agent.client.get(agent.url("/v1/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Health>().await.unwrap().status, "ok");

    for path in ["/v1/info", "/v1/metrics", "/metrics", "/v1/models"] {
        let (status, body) = error_of(agent.client.get(agent.url(path)).send().await.unwrap()).await;
        assert_eq!((status, body.error.as_str()), (401, "unauthorized"), "{path} without token");
        let wrong = agent.client.get(agent.url(path)).bearer_auth("not-the-token").send().await.unwrap();
        let (status, body) = error_of(wrong).await;
        assert_eq!(status, 401, "{path} wrong token");
        assert!(body.detail.contains("wrong token"));
    }
    let r = agent.client.post(agent.url("/v1/predict/m")).json(&json!({"inputs": [[1.0]]})).send().await.unwrap();
    assert_eq!(r.status(), 401);

    let info: InfoResponse = agent.get("/v1/info").send().await.unwrap().json().await.unwrap();
    assert_eq!(info.device.device_id, "auth-dev");
    assert!(!info.device.simulated);
    assert!(info.device.gflops.unwrap() > 0.0, "start-up benchmark result");
    assert_eq!(info.api, "v1");
    // Only the generated token's SHA-256 is stored in the data dir.
    let stored = std::fs::read_to_string(agent.dir.path().join("token.sha256")).unwrap();
    assert_eq!(stored.trim(), sha256_hex(agent.handle.token.as_bytes()));
    assert!(!agent.dir.path().join("token").exists());
    agent.handle.shutdown().await;
}

#[tokio::test]
async fn real_agent_reports_real_metrics() {
    let agent = start("metrics-dev", |_| {}).await;
    let m: Metrics = agent.get("/v1/metrics").send().await.unwrap().json().await.unwrap();
    assert!(m.memory_total_mb > 0 && m.memory_used_mb <= m.memory_total_mb);
    assert!((0.0..=1.0).contains(&m.cpu_load));
    assert!(m.storage_free_gb > 0.0);
    let text = agent.get("/metrics").send().await.unwrap().text().await.unwrap();
    assert!(text.contains("# TYPE edgefleet_cpu_load gauge"));
    assert!(text.contains(&format!("edgefleet_memory_total_mb{{device=\"metrics-dev\"}} {}", m.memory_total_mb)));
}

#[tokio::test]
async fn wrong_hash_is_refused_and_nothing_is_kept() {
    let agent = start("hash-dev", |_| {}).await;
    let bytes = matmul_model(IDENTITY);
    let wrong = sha256_hex(b"something else");
    let (status, body) = error_of(agent.put_model("m", "1", bytes.clone(), &wrong).send().await.unwrap()).await;
    assert_eq!((status, body.error.as_str()), (422, "hash_mismatch"), "{}", body.detail);
    assert!(models(&agent).await.models.is_empty());
    assert!(agent.upload_parts().is_empty(), "{:?}", agent.upload_parts());
    let st: UploadStatus = agent.get("/v1/models/m/1/upload").send().await.unwrap().json().await.unwrap();
    assert_eq!((st.received_bytes, st.complete), (0, false));

    // Missing and malformed hash headers.
    let r = agent.client.put(agent.url("/v1/models/m/1")).bearer_auth(&agent.handle.token).body(bytes.clone());
    let (status, body) = error_of(r.send().await.unwrap()).await;
    assert_eq!((status, body.error.as_str()), (400, "bad_hash_header"));
    let (status, _) = error_of(agent.put_model("m", "1", bytes, "xyz").send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(agent.upload_parts().is_empty());
}

#[tokio::test]
async fn truncated_upload_resumes_with_content_range() {
    let agent = start("resume-dev", |_| {}).await;
    let bytes = matmul_model(ROTATE);
    let sha = sha256_hex(&bytes);
    let half = bytes.len() / 2;

    // Announce the whole file, send half, hang up.
    let mut sock = tokio::net::TcpStream::connect(agent.handle.addr).await.unwrap();
    let head = format!(
        "PUT /v1/models/tiny/2 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nX-Content-Sha256: {sha}\r\nContent-Length: {}\r\n\r\n",
        agent.handle.token,
        bytes.len()
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.write_all(&bytes[..half]).await.unwrap();
    sock.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(sock);

    let mut held = 0;
    for _ in 0..50 {
        let st: UploadStatus = agent.get("/v1/models/tiny/2/upload").send().await.unwrap().json().await.unwrap();
        held = st.received_bytes;
        if held == half as u64 {
            assert_eq!(st.sha256.as_deref(), Some(sha.as_str()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(held, half as u64, "the agent keeps the bytes it received");
    assert!(models(&agent).await.models.is_empty(), "nothing installed from a partial upload");

    // Resuming at the wrong offset: 416 with the held count. The hung-up
    // request may hold the upload (409) for a moment after its last byte.
    let mut r = None;
    for _ in 0..40 {
        let resp = agent
            .put_model("tiny", "2", bytes[half - 1..].to_vec(), &sha)
            .header("content-range", format!("bytes {}-{}/{}", half - 1, bytes.len() - 1, bytes.len()))
            .send()
            .await
            .unwrap();
        if resp.status() != 409 {
            r = Some(resp);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = r.expect("upload released");
    assert_eq!(r.headers()["x-received-bytes"], half.to_string().as_str());
    let (status, body) = error_of(r).await;
    assert_eq!(status, 416);
    assert!(body.detail.contains(&format!("holds {half} bytes")), "{}", body.detail);

    // Resume from the held count; the upload may still be marked busy for a moment.
    let mut answer = None;
    for _ in 0..20 {
        let r = agent
            .put_model("tiny", "2", bytes[half..].to_vec(), &sha)
            .header("content-range", format!("bytes {half}-{}/{}", bytes.len() - 1, bytes.len()))
            .send()
            .await
            .unwrap();
        if r.status() == 409 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        assert_eq!(r.status(), 201);
        answer = Some(r.json::<UploadResponse>().await.unwrap());
        break;
    }
    let answer = answer.expect("resume accepted");
    assert!(answer.complete);
    assert_eq!(answer.received_bytes, bytes.len() as u64);
    let listed = models(&agent).await.models;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].sha256, sha);
    // Installing again is idempotent: same bytes, same hash, nothing rewritten.
    let again = agent.put_model("tiny", "2", bytes.clone(), &sha).send().await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(listed[0].size_bytes, bytes.len() as u64);
    assert_eq!(std::fs::read(agent.dir.path().join("models/tiny/2.onnx")).unwrap(), bytes);
    assert!(agent.upload_parts().is_empty());
}

#[tokio::test]
async fn an_upload_without_content_range_starts_over() {
    let agent = start("restart-dev", |_| {}).await;
    let bytes = matmul_model(IDENTITY);
    let sha = sha256_hex(&bytes);
    // A first piece, announced as part of the whole file.
    let r = agent
        .put_model("m", "1", bytes[..10].to_vec(), &sha)
        .header("content-range", format!("bytes 0-9/{}", bytes.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let st: UploadResponse = r.json().await.unwrap();
    assert_eq!((st.received_bytes, st.complete), (10, false));
    // The whole file again, plainly: replaces the partial and installs.
    let r = agent.put_model("m", "1", bytes.clone(), &sha).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<UploadResponse>().await.unwrap().received_bytes, bytes.len() as u64);
    assert!(agent.upload_parts().is_empty());
}

#[tokio::test]
async fn malformed_range_and_body_longer_than_range_change_nothing() {
    let agent = start("range-dev", |_| {}).await;
    let bytes = matmul_model(IDENTITY);
    let sha = sha256_hex(&bytes);
    let r = agent.put_model("m", "1", bytes.clone(), &sha).header("content-range", "bytes=0-5").send().await.unwrap();
    assert_eq!(error_of(r).await.0, 400);
    let r =
        agent.put_model("m", "1", bytes.clone(), &sha).header("content-range", "bytes 9-3/10").send().await.unwrap();
    assert_eq!(error_of(r).await.0, 416);
    // A range announcing 10 bytes with a longer body.
    let r =
        agent.put_model("m", "1", bytes.clone(), &sha).header("content-range", format!("bytes 0-9/{}", bytes.len()));
    assert_eq!(error_of(r.send().await.unwrap()).await.0, 400);
    let st: UploadStatus = agent.get("/v1/models/m/1/upload").send().await.unwrap().json().await.unwrap();
    assert_eq!(st.received_bytes, 0);
    assert!(models(&agent).await.models.is_empty());
}

#[tokio::test]
async fn oversize_upload_is_refused_with_413() {
    let agent = start("big-dev", |c| c.max_upload_bytes = 1000).await;
    let bytes = vec![7u8; 5000];
    let sha = sha256_hex(&bytes);
    // Announced by Content-Length.
    let (status, body) = error_of(agent.put_model("big", "1", bytes.clone(), &sha).send().await.unwrap()).await;
    assert_eq!((status, body.error.as_str()), (413, "too_large"));
    // Streamed without a length: cut off while streaming.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = bytes.chunks(500).map(|c| Ok(c.to_vec())).collect();
    let r = agent
        .client
        .put(agent.url("/v1/models/big/1"))
        .bearer_auth(&agent.handle.token)
        .header("x-content-sha256", &sha)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 413);
    assert!(agent.upload_parts().is_empty());
    assert!(models(&agent).await.models.is_empty());
}

#[tokio::test]
async fn unknown_models_are_404_and_bad_json_is_400() {
    let agent = start("404-dev", |_| {}).await;
    for (path, body) in [
        ("/v1/predict/ghost", json!({"inputs": [[1.0, 2.0, 3.0]]})),
        ("/v1/models/ghost/activate", json!({"version": "1"})),
        ("/v1/models/ghost/rollback", json!({})),
        ("/v1/benchmark/ghost", json!({})),
    ] {
        let (status, _) = error_of(agent.post(path).json(&body).send().await.unwrap()).await;
        assert_eq!(status, 404, "{path}");
    }
    agent.install("m", "1", matmul_model(IDENTITY), None).await;
    let r = agent.post("/v1/models/m/activate").json(&json!({"version": "9"})).send().await.unwrap();
    assert_eq!(error_of(r).await.0, 404);
    let (status, _) = error_of(agent.get("/v1/nothing-here").send().await.unwrap()).await;
    assert_eq!(status, 404);

    for path in ["/v1/models/m/activate", "/v1/predict/m", "/v1/benchmark/m"] {
        let r =
            agent.post(path).header("content-type", "application/json").body("{\"version\": ").send().await.unwrap();
        let (status, body) = error_of(r).await;
        assert_eq!((status, body.error.as_str()), (400, "malformed_json"), "{path}");
    }
    for path in ["/v1/models/m/activate", "/v1/predict/m"] {
        let r = agent
            .post(path)
            .header("content-type", "application/json")
            .body("{\"inputs\": \"no\"}")
            .send()
            .await
            .unwrap();
        let (status, body) = error_of(r).await;
        assert_eq!(status, 422, "{path}: wrong shape of JSON: {}", body.detail);
    }
    let r =
        agent.post("/v1/models/m/activate").json(&json!({"version": "1", "confidence_threshold": 3.0})).send().await;
    assert_eq!(error_of(r.unwrap()).await.0, 400);
    let state: ActivateResponse =
        agent.post("/v1/models/m/activate").json(&json!({"version": "1"})).send().await.unwrap().json().await.unwrap();
    assert_eq!(state.active_version, "1");
}

#[tokio::test]
async fn path_traversal_and_odd_names_are_refused() {
    let agent = start("trav-dev", |_| {}).await;
    let bytes = matmul_model(IDENTITY);
    let sha = sha256_hex(&bytes);
    for (name, version) in
        [("..", "1"), ("m", ".."), ("..%2F..%2Fetc", "1"), ("m", "..%2Fescape"), (".hidden", "1"), ("a%20b", "1")]
    {
        let r = agent
            .client
            .put(agent.url(&format!("/v1/models/{name}/{version}")))
            .bearer_auth(&agent.handle.token)
            .header("x-content-sha256", &sha)
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert!(status == 400 || status == 404, "{name}/{version}: {status}");
        if status == 400 {
            assert_eq!(error_of(r).await.1.error, "invalid_name");
        }
    }
    let r = agent.post("/v1/models/m/activate").json(&json!({"version": "../../token"})).send().await.unwrap();
    assert_eq!(error_of(r).await.1.error, "invalid_name");
    assert!(files_under(&agent.dir.path().join("models")).is_empty());
    assert!(!agent.dir.path().parent().unwrap().join("escape.onnx").exists());
}

#[tokio::test]
async fn activate_rollback_and_refusing_a_broken_model() {
    let agent = start("act-dev", |_| {}).await;
    let predict = |rows: serde_json::Value| {
        let req = agent.post("/v1/predict/tiny").json(&json!({ "inputs": rows }));
        async move { req.send().await.unwrap().json::<PredictResponse>().await.unwrap() }
    };
    agent.install("tiny", "1", matmul_model(IDENTITY), None).await;
    let p = predict(json!([[5.0, 0.0, 0.0]])).await;
    assert_eq!((p.outputs[0].top_class, p.model_version.as_str(), p.served_by.as_str()), (0, "1", "local"));
    assert_eq!(p.outputs[0].values, vec![5.0, 0.0, 0.0]);

    agent.install("tiny", "2", matmul_model(ROTATE), None).await;
    let p = predict(json!([[5.0, 0.0, 0.0]])).await;
    assert_eq!((p.outputs[0].top_class, p.model_version.as_str()), (2, "2"), "{:?}", p.outputs[0].values);
    let listed = models(&agent).await.models;
    let v = |ver: &str| listed.iter().find(|m| m.version == ver).unwrap();
    assert!(v("2").active && !v("2").previous);
    assert!(v("1").previous && !v("1").active);

    // A file that is not ONNX uploads fine but does not activate.
    let junk = b"not an onnx model".to_vec();
    let r = agent.put_model("tiny", "3", junk.clone(), &sha256_hex(&junk)).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let r = agent.post("/v1/models/tiny/activate").json(&json!({"version": "3"})).send().await.unwrap();
    let (status, body) = error_of(r).await;
    assert_eq!((status, body.error.as_str()), (422, "invalid_model"));
    assert_eq!(predict(json!([[5.0, 0.0, 0.0]])).await.model_version, "2", "still version 2");

    let back: ActivateResponse = agent.post("/v1/models/tiny/rollback").send().await.unwrap().json().await.unwrap();
    assert_eq!((back.active_version.as_str(), back.previous_version.as_deref()), ("1", Some("2")));
    assert_eq!(predict(json!([[5.0, 0.0, 0.0]])).await.outputs[0].top_class, 0);
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(agent.dir.path().join("models/tiny/state.json")).unwrap()).unwrap();
    assert_eq!(state["active"], "1");

    // Versions are immutable.
    let other = matmul_model(ROTATE);
    let r = agent.put_model("tiny", "1", other.clone(), &sha256_hex(&other)).send().await.unwrap();
    assert_eq!(error_of(r).await.0, 409);
}

#[tokio::test]
async fn predicts_digits_with_the_demo_mlp() {
    let path = assets_dir().join("mlp_digits.onnx");
    let agent = start("mlp-dev", |_| {}).await;
    agent.install("digits", "1", std::fs::read(path).unwrap(), None).await;
    let eval = digits_eval();
    let rows: Vec<Vec<f32>> = eval.iter().map(|(x, _)| x.clone()).collect();
    let p: PredictResponse =
        agent.post("/v1/predict/digits").json(&json!({ "inputs": rows })).send().await.unwrap().json().await.unwrap();
    assert_eq!(p.outputs.len(), eval.len());
    let correct = p.outputs.iter().zip(&eval).filter(|(o, (_, label))| o.top_class == *label).count();
    let accuracy = correct as f64 / eval.len() as f64;
    assert!(accuracy > 0.95, "accuracy {accuracy}");
    assert!(p.outputs.iter().all(|o| (0.0..=1.0).contains(&o.confidence)));

    // Rows of the wrong length are a 400, and are not counted.
    let r = agent.post("/v1/predict/digits").json(&json!({"inputs": [[1.0, 2.0]]})).send().await.unwrap();
    assert_eq!(error_of(r).await.0, 400);
    let r = agent.post("/v1/predict/digits").json(&json!({"inputs": []})).send().await.unwrap();
    assert_eq!(error_of(r).await.0, 400);

    let m: Metrics = agent.get("/v1/metrics").send().await.unwrap().json().await.unwrap();
    let s = &m.models[0];
    assert_eq!((s.name.as_str(), s.version.as_str(), s.requests), ("digits", "1", 1));
    assert!(s.p50_ms > 0.0 && s.p99_ms >= s.p50_ms && s.qps > 0.0);
    let text = agent.get("/metrics").send().await.unwrap().text().await.unwrap();
    assert!(
        text.contains("edgefleet_model_requests_total{device=\"mlp-dev\",model=\"digits\",version=\"1\"} 1"),
        "{text}"
    );

    let b = agent.benchmark("digits", &[1, 16], 5).await;
    assert_eq!(b.results.iter().map(|r| r.batch).collect::<Vec<_>>(), vec![1, 16]);
    assert!(b.results.iter().all(|r| r.latency_ms_p50 > 0.0 && r.latency_ms_p90 >= r.latency_ms_p50));
    let r = agent.post("/v1/benchmark/digits").json(&json!({"batch_sizes": [0]})).send().await.unwrap();
    assert_eq!(error_of(r).await.0, 400);
}

#[tokio::test]
async fn offloads_only_low_confidence_rows_and_survives_a_dead_upstream() {
    // The upstream answers with a different model so its answers are recognisable.
    let upstream = start("edge-server-1", |_| {}).await;
    upstream.install("tiny", "big", matmul_model(ROTATE), None).await;
    let base = upstream.handle.base_url();
    let token = upstream.handle.token.clone();
    let edge = start("camera-1", |c| {
        c.upstream = Some(base);
        c.upstream_token = Some(token);
    })
    .await;
    edge.install("tiny", "small", matmul_model(IDENTITY), Some(0.7)).await;
    let predict = |rows: serde_json::Value| {
        let req = edge.post("/v1/predict/tiny").json(&json!({ "inputs": rows }));
        async move { req.send().await.unwrap().json::<PredictResponse>().await.unwrap() }
    };

    // Confident: softmax([10,0,0]) ≈ 1.0 — answered locally.
    let p = predict(json!([[10.0, 0.0, 0.0]])).await;
    assert_eq!((p.served_by.as_str(), p.outputs[0].top_class), ("local", 0));
    assert!(p.note.is_none());

    // Mixed: row 1 is unsure (softmax([0.1,0,0]) ≈ 0.36) and goes upstream.
    let p = predict(json!([[10.0, 0.0, 0.0], [0.1, 0.0, 0.0]])).await;
    assert_eq!(p.served_by, "edge-server-1");
    assert_eq!(p.outputs[0].top_class, 0, "confident row stays local");
    assert_eq!(p.outputs[1].top_class, 2, "unsure row answered by the upstream's model");
    assert!(p.note.as_deref().unwrap_or("").contains("1 of 2 rows"), "{:?}", p.note);
    let m: Metrics = upstream.get("/v1/metrics").send().await.unwrap().json().await.unwrap();
    assert_eq!(m.models[0].requests, 1, "only the offloaded request reached the upstream");

    // Upstream gone: answered locally, and said so.
    upstream.handle.shutdown().await;
    let p = predict(json!([[0.1, 0.0, 0.0]])).await;
    assert_eq!((p.served_by.as_str(), p.outputs[0].top_class), ("local", 0));
    assert!(p.note.as_deref().unwrap_or("").contains("answered locally"), "{:?}", p.note);

    let m: Metrics = edge.get("/v1/metrics").send().await.unwrap().json().await.unwrap();
    let s = &m.models[0];
    assert_eq!((s.requests, s.offloaded, s.upstream_failures), (3, 1, 1));
    let text = edge.get("/metrics").send().await.unwrap().text().await.unwrap();
    assert!(text.contains("edgefleet_model_offloaded_total{device=\"camera-1\",model=\"tiny\",version=\"small\"} 1"));
}

#[tokio::test]
async fn simulated_fleet_has_synthetic_devices_and_drifting_load() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = edgefleet_agent::SimulateOptions::loopback(6, dir.path());
    opts.advertise = false;
    opts.seed = 42;
    opts.token = Some("fleet-token".into());
    let fleet = edgefleet_agent::simulate(opts).await.unwrap();
    let client = reqwest::Client::new();
    let mut types = std::collections::HashSet::new();
    for a in fleet.agents() {
        assert_eq!(a.token, "fleet-token");
        let info: InfoResponse = client
            .get(format!("{}/v1/info", a.base_url()))
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(info.device.simulated);
        assert_eq!(info.device.device_id, a.device_id);
        assert!(info.device.gflops.is_some());
        info.device.validate().unwrap();
        types.insert(info.device.device_type);
        assert!(dir.path().join(&a.device_id).is_dir(), "own data dir");
    }
    assert_eq!(types.len(), 6, "one of each type");
    fleet.shutdown().await;
}

#[tokio::test]
async fn a_fixed_batch_model_refuses_other_batch_sizes_clearly() {
    let agent = start("fixed-dev", |_| {}).await;
    agent.install("one", "1", matmul_model_with_batch(IDENTITY, Some(1)), None).await;
    let ok: PredictResponse = agent
        .post("/v1/predict/one")
        .json(&json!({"inputs": [[0.0, 3.0, 0.0]]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ok.outputs[0].top_class, 1);
    let r = agent
        .post("/v1/predict/one")
        .json(&json!({"inputs": [[0.0, 3.0, 0.0], [1.0, 0.0, 0.0]]}))
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(r).await;
    assert_eq!(status, 400);
    assert!(body.detail.contains("fixes the batch at 1"), "{}", body.detail);
    let r = agent.post("/v1/benchmark/one").json(&json!({"batch_sizes": [1, 8]})).send().await.unwrap();
    assert_eq!(error_of(r).await.0, 400);
}

#[tokio::test]
async fn abort_cuts_a_request_in_flight_like_a_crash() {
    let agent = start("crash-http-dev", |_| {}).await;
    let bytes = matmul_model(IDENTITY);
    let sha = sha256_hex(&bytes);
    let half = bytes.len() / 2;
    let mut sock = tokio::net::TcpStream::connect(agent.handle.addr).await.unwrap();
    let head = format!(
        "PUT /v1/models/m/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nX-Content-Sha256: {sha}\r\nContent-Length: {}\r\n\r\n",
        agent.handle.token,
        bytes.len()
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.write_all(&bytes[..half]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let TestAgent { handle, dir, .. } = agent;
    handle.abort();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // A graceful stop would finish this upload and answer 201; a crash does not.
    let _ = sock.write_all(&bytes[half..]).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), tokio::io::AsyncReadExt::read_to_end(&mut sock, &mut answer))
        .await;
    assert!(!String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 201"), "answered after abort");
    assert!(!dir.path().join("models/m/1.onnx").exists());
}
