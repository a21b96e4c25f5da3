//! The console's agent client against fake agents on 127.0.0.1 that answer
//! badly: a 1 GiB body (chunked, and with a Content-Length) does not raise
//! the console's memory by more than a few MB, a redirect is not followed
//! (the token never reaches its target), and an upload the agent stops
//! reading times out by lack of progress.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

use edgefleet_fleet::{AgentClient, FleetError, http_client};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn status_kb(key: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = text.lines().find(|l| l.starts_with(key)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Read a request's head (up to the blank line).
async fn read_head(s: &mut tokio::net::TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        if s.read(&mut byte).await.unwrap_or(0) == 0 {
            break;
        }
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A fake agent answering every request with 200 and 1 GiB of JSON-ish
/// bytes, chunked or with a Content-Length; counts the bytes it got out.
async fn gigabyte_server(chunked: bool) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let written = Arc::new(AtomicUsize::new(0));
    let w = written.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let w = w.clone();
            tokio::spawn(async move {
                read_head(&mut s).await;
                const GIB: usize = 1 << 30;
                let head = if chunked {
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n".to_owned()
                } else {
                    format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {GIB}\r\n\r\n")
                };
                if s.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let block = vec![b' '; 64 * 1024];
                let mut sent = 0;
                while sent < GIB {
                    let ok = if chunked {
                        s.write_all(format!("{:x}\r\n", block.len()).as_bytes()).await.is_ok()
                            && s.write_all(&block).await.is_ok()
                            && s.write_all(b"\r\n").await.is_ok()
                    } else {
                        s.write_all(&block).await.is_ok()
                    };
                    if !ok {
                        return; // the client hung up: what we want
                    }
                    sent += block.len();
                    w.fetch_add(block.len(), Ordering::Relaxed);
                }
            });
        }
    });
    (addr, written)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gigabyte_answer_does_not_raise_the_consoles_memory() {
    for chunked in [true, false] {
        let (addr, written) = gigabyte_server(chunked).await;
        let client = AgentClient::new(http_client().unwrap(), addr, Some("t".into())).timeout(Duration::from_secs(20));
        std::fs::write("/proc/self/clear_refs", "5").unwrap();
        let before_kb = status_kb("VmRSS:");
        let t = Instant::now();
        let err = client.info().await.unwrap_err();
        let peak_kb = status_kb("VmHWM:");
        let grew_kb = peak_kb.saturating_sub(before_kb);
        println!(
            "chunked={chunked}: refused after {:.0} ms, server wrote {} MB, peak RSS +{} kB: {err}",
            t.elapsed().as_secs_f64() * 1e3,
            written.load(Ordering::Relaxed) >> 20,
            grew_kb
        );
        assert!(matches!(&err, FleetError::Protocol { reason, .. } if reason.contains("larger than")), "{err}");
        assert!(grew_kb < 8 * 1024, "peak RSS grew {grew_kb} kB");
        assert!(written.load(Ordering::Relaxed) < 256 << 20, "the client stopped reading early");
    }
}

#[tokio::test]
async fn redirects_are_not_followed() {
    // The target counts requests: it must get none.
    let target = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target_addr = target.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = target.accept().await {
            h.fetch_add(1, Ordering::Relaxed);
            read_head(&mut s).await;
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").await;
        }
    });
    let redirector = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = redirector.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = redirector.accept().await {
            read_head(&mut s).await;
            let answer = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://{target_addr}/v1/info\r\ncontent-length: 0\r\n\r\n"
            );
            let _ = s.write_all(answer.as_bytes()).await;
        }
    });
    let client = AgentClient::new(http_client().unwrap(), addr, Some("secret".into()));
    let err = client.info().await.unwrap_err();
    assert!(matches!(err, FleetError::Agent { status: 307, .. }), "{err}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(hits.load(Ordering::Relaxed), 0, "the redirect target got the token");
}

#[tokio::test]
async fn an_upload_the_agent_stops_reading_times_out_by_progress() {
    // Answers the status query, then takes the upload's head and reads nothing more.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut s, _)) = listener.accept().await {
            let head = read_head(&mut s).await;
            if head.starts_with("GET") {
                let body = r#"{"name":"m","version":"1","received_bytes":0,"complete":false,"sha256":null}"#;
                let answer = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                let _ = s.write_all(answer.as_bytes()).await;
            }
            held.push(s); // never read the body, never answer
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.onnx");
    // Sparse: nothing is allocated in this process (the RSS test runs alongside).
    std::fs::File::create(&file).unwrap().set_len(64 << 20).unwrap();
    let client = AgentClient::new(http_client().unwrap(), addr, Some("t".into()))
        .upload_stall_timeout(Duration::from_millis(1500));
    let t = Instant::now();
    let err = client.upload_model("m", "1", &file, &"ab".repeat(32), |_, _| {}).await.unwrap_err();
    let took = t.elapsed();
    println!("stalled upload gave up after {:.1} s: {err}", took.as_secs_f64());
    assert!(err.to_string().contains("no progress"), "{err}");
    assert!(took < Duration::from_secs(10), "gave up after {took:?}");
}
