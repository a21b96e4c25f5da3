//! Rotating a real agent's token from the console side, and deleting a
//! version through the client: the old token stops working everywhere,
//! the new one works, and the active version cannot be deleted.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

use edgefleet_agent::{AgentConfig, spawn};
use edgefleet_core::{Device, DeviceType};
use edgefleet_fleet::token_rotation::{new_token, rotate_device_token};
use edgefleet_fleet::{AgentClient, FleetError, http_client};
use std::time::Duration;

#[tokio::test]
async fn a_rotated_token_replaces_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = AgentConfig::new(Device::new("rot-1", DeviceType::EdgeServer, 2, 2048, 16.0), dir.path());
    config.benchmark_duration = Duration::from_millis(10);
    let agent = spawn(config).await.unwrap();
    let http = http_client().unwrap();
    let old = AgentClient::new(http.clone(), agent.addr, Some(agent.token.clone()));
    old.info().await.unwrap();

    let token = new_token();
    assert_eq!(token.len(), 64);
    assert_ne!(token, new_token());
    rotate_device_token(&old, &token).await.unwrap();
    let err = old.info().await.unwrap_err();
    assert!(matches!(err, FleetError::Agent { status: 401, .. }), "{err}");
    let new = AgentClient::new(http.clone(), agent.addr, Some(token.clone()));
    assert_eq!(new.info().await.unwrap().device.device_id, "rot-1");
    // Refused outright (too short): the token in use stays.
    let err = rotate_device_token(&new, "short").await.unwrap_err();
    assert!(matches!(err, FleetError::Agent { status: 400, .. }), "{err}");
    new.info().await.unwrap();
    // Deleting through the client: nothing installed, so 404.
    let err = new.delete_model("m", "1").await.unwrap_err();
    assert!(matches!(err, FleetError::Agent { status: 404, .. }), "{err}");
    agent.shutdown().await;
}
