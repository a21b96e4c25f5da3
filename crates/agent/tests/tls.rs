//! The agent over HTTPS (real agent on 127.0.0.1): a plain-HTTP client gets
//! no answer from it, its identity key survives a restart (same
//! fingerprint), and health names the id and key it claims.

// A failed unwrap is a failed test, which is what we want here.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Send a plain HTTP/1.1 request on a raw socket; what came back (at most
/// a second's worth).
async fn plain_http_get(addr: std::net::SocketAddr, path: &str) -> Vec<u8> {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(1), s.read_to_end(&mut out)).await;
    out
}

#[tokio::test]
async fn a_plain_http_client_cannot_talk_to_a_tls_agent() {
    let a = common::start("tls-dev", |c| c.tls = true).await;
    assert!(a.handle.tls);
    assert!(a.handle.base_url().starts_with("https://"));
    let answer = plain_http_get(a.handle.addr, "/v1/health").await;
    assert!(
        !answer.starts_with(b"HTTP/1.1"),
        "a TLS agent answered plain HTTP: {:?}",
        String::from_utf8_lossy(&answer)
    );

    // The same agent with --insecure-http answers, and says which id and key it has.
    let dir = a.dir;
    let fingerprint = a.handle.fingerprint.clone();
    a.handle.shutdown().await;
    let mut config = edgefleet_agent::AgentConfig::new(common::test_device("tls-dev"), dir.path());
    config.benchmark_duration = Duration::from_millis(10);
    let plain = edgefleet_agent::spawn(config).await.unwrap();
    assert_eq!(plain.fingerprint, fingerprint, "the identity key is kept in the data dir");
    let answer = String::from_utf8_lossy(&plain_http_get(plain.addr, "/v1/health").await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"device_id\":\"tls-dev\""), "{answer}");
    assert!(answer.contains(&fingerprint), "{answer}");
    plain.shutdown().await;
}

#[test]
fn the_mdns_record_carries_a_short_fingerprint() {
    let mut d = common::test_device("fp-dev");
    assert!(!edgefleet_agent::txt_properties(&d).contains_key("fp"));
    d.key_fingerprint = Some("ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ".into());
    assert_eq!(edgefleet_agent::txt_properties(&d).get("fp").map(String::as_str), Some("ABCDEFGHIJ"));
}
