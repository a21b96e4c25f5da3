//! `scan::confirm`'s probes against real agents on 127.0.0.1: an HTTPS
//! agent is confirmed with the key it proves, one in clear (after its TLS
//! probe is refused) without a key, a closed port is unreachable, and an
//! address that accepts connections but never answers costs one probe's
//! timeout, not the TLS probe's, the plain one's and the info call's.

// Helpers outside #[test] fns: a failed setup step should panic at once.
#![allow(clippy::unwrap_used)]

use edgefleet_agent::{AgentConfig, AgentHandle, spawn};
use edgefleet_core::{Device, DeviceType};
use edgefleet_fleet::scan::{Credentials, confirm};
use edgefleet_fleet::{FleetError, Source, http_client};
use std::time::{Duration, Instant};

const TOKEN: &str = "confirm-probes-token-0123";

struct Token;

impl Credentials for Token {
    fn token_for(&self, _device_id: &str) -> Option<String> {
        Some(TOKEN.into())
    }
    fn pin_for(&self, _device_id: &str) -> Option<String> {
        None
    }
}

async fn agent(id: &str, tls: bool, dir: &std::path::Path) -> AgentHandle {
    let mut config = AgentConfig::new(Device::new(id, DeviceType::EdgeServer, 2, 2048, 16.0), dir.join(id));
    config.token = Some(TOKEN.into());
    config.tls = tls;
    config.benchmark_duration = Duration::from_millis(10);
    spawn(config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_candidate_is_probed_over_tls_then_in_clear_and_a_silent_one_once() {
    let dir = tempfile::tempdir().unwrap();
    let https = agent("probe-https", true, dir.path()).await;
    let plain = agent("probe-plain", false, dir.path()).await;
    let http = http_client().unwrap();

    let found = confirm(&http, https.addr, None, Source::Manual, &Token).await.unwrap();
    assert!(found.confirmed && found.paired, "{found:?}");
    assert_eq!(found.device.key_fingerprint.as_deref(), Some(https.fingerprint.as_str()));
    let found = confirm(&http, plain.addr, None, Source::Manual, &Token).await.unwrap();
    assert!(found.confirmed, "an agent in clear is confirmed after its TLS probe fails: {found:?}");
    assert_eq!(found.device.device_id, "probe-plain");
    assert_eq!(found.device.key_fingerprint, None);

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let e = confirm(&http, closed, None, Source::Manual, &Token).await.unwrap_err();
    assert!(matches!(e, FleetError::Unreachable { .. }), "{e}");

    // Connections are accepted (the kernel's backlog) but nothing answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let started = Instant::now();
    let e = confirm(&http, silent.local_addr().unwrap(), None, Source::Manual, &Token).await.unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(&e, FleetError::Unreachable { reason, .. } if reason == "timed out"), "{e}");
    // One probe's timeout (the client's 2 s connect timeout covers the TLS
    // handshake; a request times out after 3 s): 6 s before, when the plain
    // probe and the info call each waited too.
    assert!(waited < Duration::from_millis(4_500), "a silent address took {waited:?}");
    https.shutdown().await;
    plain.shutdown().await;
}
