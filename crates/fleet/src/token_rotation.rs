//! Replacing a device's bearer token: the console makes the new token,
//! sends it with the old one (`POST /v1/token`), and keeps it only once the
//! device has taken it. When the answer is lost, the new token is tried
//! before concluding anything, so a rotation that happened is never
//! mistaken for one that did not.

use crate::client::AgentClient;
use crate::error::{FleetError, Result};

/// A fresh token: 32 random bytes from the OS, hex.
pub fn new_token() -> String {
    edgefleet_agent::random_hex(32)
}

/// Rotate `client`'s device to `new_token`. `Ok(())` means the device
/// accepts `new_token` (and no longer the old one); the caller stores it.
pub async fn rotate_device_token(client: &AgentClient, new_token: &str) -> Result<()> {
    let sent = client.rotate_token(new_token).await;
    match sent {
        Ok(()) => Ok(()),
        // Refused outright: the old token stays valid.
        Err(e @ FleetError::Agent { .. }) => Err(e),
        Err(e) => {
            // The request may have arrived: ask with the new token.
            let probe = AgentClient::with_base(client.http().clone(), client.base(), Some(new_token.to_owned()));
            match probe.info().await {
                Ok(_) => Ok(()),
                Err(_) => Err(e),
            }
        }
    }
}
