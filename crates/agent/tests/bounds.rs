//! What an outsider can make an agent spend is bounded, checked on a real
//! agent over 127.0.0.1: idle and half-sent connections (cap, header-read
//! timeout), predict bodies (read up to a size from the model, rows
//! counted while parsing), partial uploads (quota, expiry, stalled uploads
//! letting go of their version), and deleting versions.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod common;

use common::*;
use edgefleet_agent::ServeLimits;
use edgefleet_core::wire::{ErrorBody, ModelsResponse};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const IDENTITY: [[f32; 3]; 3] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

/// A line of /proc/self/status in kB.
fn status_kb(key: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = text.lines().find(|l| l.starts_with(key)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Peak RSS is per process: tests that measure it take turns.
static RSS_MEASURED: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Reset the peak-RSS counter (VmHWM) of this process.
fn reset_peak_rss() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_idle_connections_do_not_stop_health() {
    let limits = ServeLimits {
        max_connections: 256,
        header_read_timeout: Duration::from_secs(2),
        io_idle_timeout: Duration::from_secs(5),
    };
    let agent = start("idle-dev", |c| c.serve_limits = limits).await;
    let fds_before = open_fds();
    // 2,000 connections, each with half a request (headers never finished).
    let mut idle = Vec::with_capacity(2000);
    for _ in 0..2000 {
        let mut s = TcpStream::connect(agent.handle.addr).await.unwrap();
        s.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        idle.push(s);
    }
    // The server side holds at most the cap (the client side holds 2,000).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let server_side = open_fds().saturating_sub(fds_before + 2000);
    assert!(server_side <= 256 + 16, "{server_side} server-side sockets for a cap of 256");

    let fresh = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
    for _ in 0..5 {
        let t = Instant::now();
        let r = fresh.get(agent.url("/v1/health")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        println!("health answered in {:.1} ms with 2,000 idle connections", t.elapsed().as_secs_f64() * 1e3);
    }
    // Half-sent requests that survived eviction are closed by the header-read timeout.
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let mut closed = 0;
    for s in idle.iter_mut().rev().take(50) {
        let mut buf = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
            Ok(Ok(_)) | Ok(Err(_)) => closed += 1, // EOF, a 408 answer or a reset
            Err(_) => {}
        }
    }
    assert_eq!(closed, 50, "the newest half-sent connections are closed after the header-read timeout");
    drop(idle);
    agent.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_concurrent_50_mb_predict_bodies_do_not_blow_rss() {
    let _turn = RSS_MEASURED.lock().await;
    let agent = start("rss-dev", |_| {}).await;
    agent.install("m", "1", matmul_model(IDENTITY), None).await;
    // 50 MB of empty rows, as in the report.
    let mut body = b"{\"inputs\": [".to_vec();
    while body.len() < 50_000_000 {
        body.extend_from_slice(b"[],");
    }
    body.extend_from_slice(b"[]]}");
    let body = axum::body::Bytes::from(body);
    let client = reqwest::Client::new();
    reset_peak_rss();
    let before_kb = status_kb("VmRSS:");
    let sends = (0..4).map(|_| {
        client
            .post(agent.url("/v1/predict/m"))
            .bearer_auth(&agent.handle.token)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
    });
    let results = futures_util::future::join_all(sends).await;
    let peak_kb = status_kb("VmHWM:");
    // The agent answers 413 as soon as the body passes the model's limit;
    // the client may see that answer or the connection closing under it.
    for r in results.into_iter().flatten() {
        assert_eq!(r.status(), 413, "{}", r.text().await.unwrap());
    }
    let grew_mb = peak_kb.saturating_sub(before_kb) / 1024;
    println!("peak RSS grew {grew_mb} MB over {} MB for four 50 MB predict bodies", before_kb / 1024);
    assert!(grew_mb < 64, "peak RSS grew {grew_mb} MB");

    // Below the size limit, a flood of empty rows fails at the first row.
    let small = format!("{{\"inputs\": [{}[]]}}", "[],".repeat(100_000));
    let r = agent.post("/v1/predict/m").header("content-type", "application/json").body(small).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let e: ErrorBody = r.json().await.unwrap();
    assert!(e.detail.contains("row 0 has 0 values; the model takes 3"), "{}", e.detail);
    // A normal request still works.
    let r = agent.post("/v1/predict/m").json(&serde_json::json!({"inputs": [[1, 2, 3]]})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    agent.handle.shutdown().await;
}

/// Upload the first `send` bytes of a file announced as `total` bytes.
async fn partial(agent: &TestAgent, version: &str, send: usize, total: usize) -> reqwest::Response {
    let sha = "ab".repeat(32);
    agent
        .put_model("m", version, vec![7u8; send], &sha)
        .header("content-range", format!("bytes 0-{}/{total}", send - 1))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_expire_and_the_quota_holds() {
    let agent = start("quota-dev", |c| {
        c.max_upload_bytes = 1 << 20;
        c.max_parts_bytes = 1 << 20;
        c.part_ttl = Duration::from_secs(2);
        c.serve_limits.io_idle_timeout = Duration::from_secs(1);
    })
    .await;
    // The quota is 1,024 KiB: what parts hold plus what a new upload
    // declares must fit.
    assert_eq!(partial(&agent, "1", 100 << 10, 900 << 10).await.status(), 202);
    assert_eq!(partial(&agent, "2", 100 << 10, 900 << 10).await.status(), 202, "100 + 900 KiB fit");
    let r = partial(&agent, "3", 100 << 10, 900 << 10).await;
    assert_eq!(r.status(), 507, "200 + 900 KiB do not fit");
    assert_eq!(r.json::<ErrorBody>().await.unwrap().error, "upload_quota");

    // An upload in progress reserves what it declared: version 4 sends
    // 10 KiB of 500 KiB and stalls.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    tx.send(Ok(vec![1u8; 10 << 10])).await.unwrap();
    let body = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let stalled = agent
        .client
        .put(agent.url("/v1/models/m/4"))
        .bearer_auth(&agent.handle.token)
        .header("x-content-sha256", "cd".repeat(32))
        .header("content-range", format!("bytes 0-{}/{}", (500 << 10) - 1, 500 << 10))
        .header("content-length", 500 << 10)
        .body(reqwest::Body::wrap_stream(body))
        .send();
    let stalled = tokio::spawn(stalled);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(partial(&agent, "5", 10 << 10, 400 << 10).await.status(), 507, "200 + 500 reserved + 400 KiB");
    assert_eq!(partial(&agent, "4", 10 << 10, 500 << 10).await.status(), 409, "version 4 is being uploaded");
    // After the idle timeout the stalled upload lets go of its version.
    let t = Instant::now();
    let answer = stalled.await.unwrap();
    println!("the stalled upload ended after {:.1} s: {:?}", t.elapsed().as_secs_f64(), answer.map(|r| r.status()));
    drop(tx);
    assert_eq!(partial(&agent, "4", 10 << 10, 500 << 10).await.status(), 202);

    // Parts nobody touches for the TTL are collected while the agent runs.
    let deadline = Instant::now() + Duration::from_secs(8);
    while !agent.upload_parts().is_empty() {
        assert!(Instant::now() < deadline, "parts left: {:?}", agent.upload_parts());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(partial(&agent, "3", 100 << 10, 900 << 10).await.status(), 202, "the quota is free again");
    agent.handle.shutdown().await;
}

#[tokio::test]
async fn delete_refuses_the_active_version() {
    let agent = start("delete-dev", |_| {}).await;
    agent.install("m", "1", matmul_model(IDENTITY), None).await;
    agent.install("m", "2", matmul_model([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]]), None).await;
    let delete =
        |v: &str| agent.client.delete(agent.url(&format!("/v1/models/m/{v}"))).bearer_auth(&agent.handle.token);
    let r = delete("2").send().await.unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.json::<ErrorBody>().await.unwrap().detail.contains("is active"));
    assert_eq!(delete("1").send().await.unwrap().status(), 204);
    assert_eq!(delete("1").send().await.unwrap().status(), 404);
    let listed: ModelsResponse = agent.get("/v1/models").send().await.unwrap().json().await.unwrap();
    let versions: Vec<(&str, bool, bool)> =
        listed.models.iter().map(|m| (m.version.as_str(), m.active, m.previous)).collect();
    assert_eq!(versions, vec![("2", true, false)]);
    // Nothing to roll back to any more.
    let r = agent.post("/v1/models/m/rollback").json(&serde_json::json!({})).send().await.unwrap();
    assert_eq!(r.status(), 409);
    agent.handle.shutdown().await;
}

/// A fake upstream: answers every request with 200 and up to 1 GiB of
/// chunked body, until the client hangs up.
async fn gigabyte_upstream() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).await.unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let ok = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if s.write_all(ok).await.is_err() {
                    return;
                }
                let block = vec![b' '; 64 * 1024];
                for _ in 0..(1usize << 30) / block.len() {
                    let chunk =
                        [format!("{:x}\r\n", block.len()).into_bytes(), block.clone(), b"\r\n".to_vec()].concat();
                    if s.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gigabyte_upstream_answer_is_abandoned_and_answered_locally() {
    let _turn = RSS_MEASURED.lock().await;
    let upstream = gigabyte_upstream().await;
    let agent = start("offload-rss-dev", |c| {
        c.upstream = Some(format!("http://{upstream}"));
        c.upstream_token = Some("t".into());
    })
    .await;
    // Threshold 1: every row is unsure and goes upstream.
    agent.install("m", "1", matmul_model(IDENTITY), Some(1.0)).await;
    reset_peak_rss();
    let before_kb = status_kb("VmRSS:");
    let r = agent.post("/v1/predict/m").json(&serde_json::json!({"inputs": [[1, 2, 3]]})).send().await.unwrap();
    let peak_kb = status_kb("VmHWM:");
    assert_eq!(r.status(), 200);
    let answer: edgefleet_core::wire::PredictResponse = r.json().await.unwrap();
    let note = answer.note.unwrap_or_default();
    assert!(note.contains("larger than"), "{note}");
    assert_eq!(answer.served_by, "local");
    let grew_mb = peak_kb.saturating_sub(before_kb) / 1024;
    println!("upstream sent up to 1 GiB; the agent's peak RSS grew {grew_mb} MB: {note}");
    assert!(grew_mb < 16, "peak RSS grew {grew_mb} MB");
    agent.handle.shutdown().await;
}
