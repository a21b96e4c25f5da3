//! Commands to devices through the broker, as request and reply: a
//! [`BrokerLink`] rides on a running [`crate::discovery::mqtt::BrokerWatch`]'s
//! connection, publishes a command on a device's `cmd` topic and waits for
//! the reply with the same correlation id on its `reply` topic (progress
//! reports included). It also says how the connection is
//! ([`BrokerStatus`]), for the status bar, the CLI and the rollouts.
//!
//! A broker that goes down fails every waiting command at once (the caller
//! retries, like after a dropped HTTP connection); a command whose reply is
//! lost times out after `idle` without a message about it.

use crate::discovery::broker_spec::BrokerSpec;
use crate::error::{FleetError, Result};
use edgefleet_core::mqtt_wire::{self, BrokerCommand, Channel, CommandMessage, Progress, ReplyMessage, RolloutReport};
use rumqttc::{AsyncClient, QoS};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How long a command waits for the connection to be up, and then for its
/// device to be online on it, before it fails.
const CONNECTED_WAIT: Duration = Duration::from_secs(5);
/// How often a command waiting for its device looks again.
const ONLINE_POLL: Duration = Duration::from_millis(50);

/// How the console's broker connection is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerStatus {
    /// The first attempt is under way.
    Connecting,
    /// Connected and subscribed to the fleet.
    Connected,
    /// The connection failed or dropped; the next attempt is in `retry_in_ms`.
    Down { reason: String, retry_in_ms: u64 },
    /// The broker refused our login (bad user name or password, not
    /// authorised); retried with backoff like a down broker, but said apart.
    Refused { reason: String, retry_in_ms: u64 },
}

impl BrokerStatus {
    pub fn is_connected(&self) -> bool {
        matches!(self, BrokerStatus::Connected)
    }

    /// The status without when the next attempt is, for a command that
    /// gives up ("refused: bad credentials …", "down: connection refused").
    pub fn summary(&self) -> String {
        match self {
            BrokerStatus::Down { reason, .. } => format!("down: {reason}"),
            BrokerStatus::Refused { reason, .. } => format!("refused: {reason}"),
            other => other.to_string(),
        }
    }
}

impl std::fmt::Display for BrokerStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = |ms: &u64| ms.div_ceil(1000);
        match self {
            BrokerStatus::Connecting => f.write_str("connecting"),
            BrokerStatus::Connected => f.write_str("connected"),
            BrokerStatus::Down { reason, retry_in_ms } => {
                write!(f, "down: {reason}; retry in {} s", secs(retry_in_ms))
            }
            BrokerStatus::Refused { reason, retry_in_ms } => {
                write!(f, "refused: {reason}; retry in {} s", secs(retry_in_ms))
            }
        }
    }
}

type Waiters = Mutex<HashMap<String, mpsc::UnboundedSender<ReplyMessage>>>;

struct Shared {
    spec: BrokerSpec,
    client: AsyncClient,
    waiters: Waiters,
    status: watch::Sender<BrokerStatus>,
    /// Devices whose state said online since this connection was made: the
    /// agent subscribes to its commands before it says so, so a command to
    /// one of them is heard (after a broker restart, one sent before the
    /// agent is back would be lost).
    online: Mutex<HashSet<String>>,
}

/// Request and reply over one broker connection; clones share it.
#[derive(Clone)]
pub struct BrokerLink {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for BrokerLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerLink").field("broker", &self.shared.spec.addr.to_string()).finish()
    }
}

/// Removes a command's waiter however its wait ends.
struct WaiterGuard<'a> {
    waiters: &'a Waiters,
    id: String,
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut w) = self.waiters.lock() {
            w.remove(&self.id);
        }
    }
}

impl BrokerLink {
    pub(crate) fn new(spec: BrokerSpec, client: AsyncClient) -> Self {
        let (status, _) = watch::channel(BrokerStatus::Connecting);
        BrokerLink {
            shared: Arc::new(Shared { spec, client, waiters: Mutex::default(), status, online: Mutex::default() }),
        }
    }

    pub fn spec(&self) -> &BrokerSpec {
        &self.shared.spec
    }

    /// The connection's status now.
    pub fn status(&self) -> BrokerStatus {
        self.shared.status.borrow().clone()
    }

    /// Follow the status as it changes.
    pub fn subscribe_status(&self) -> watch::Receiver<BrokerStatus> {
        self.shared.status.subscribe()
    }

    /// A device's state said online (or offline) on this connection.
    pub(crate) fn set_online(&self, device_id: &str, online: bool) {
        let mut set = self.shared.online.lock().unwrap_or_else(|e| e.into_inner());
        if online {
            set.insert(device_id.to_owned());
        } else {
            set.remove(device_id);
        }
    }

    fn is_online(&self, device_id: &str) -> bool {
        self.shared.online.lock().unwrap_or_else(|e| e.into_inner()).contains(device_id)
    }

    /// The watch is connected and subscribed (the retained states follow).
    pub(crate) fn set_connected(&self) {
        self.shared.online.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.shared.status.send_replace(BrokerStatus::Connected);
    }

    /// The connection is gone: every waiting command fails now.
    pub(crate) fn set_down(&self, status: BrokerStatus) {
        self.shared.status.send_replace(status);
        if let Ok(mut w) = self.shared.waiters.lock() {
            w.clear();
        }
    }

    /// Hand a reply to the command waiting for it; gives it back when
    /// nobody waits (another console's command, or one that gave up).
    pub(crate) fn dispatch(&self, reply: ReplyMessage) -> Option<ReplyMessage> {
        let Ok(mut w) = self.shared.waiters.lock() else { return Some(reply) };
        let Some(tx) = w.get(&reply.id) else { return Some(reply) };
        let (id, last) = (reply.id.clone(), reply.is_final());
        if tx.send(reply).is_err() || last {
            w.remove(&id);
        }
        None
    }

    /// Publish one of our rollouts' progress for the fleet's other consoles
    /// (best effort: a report that cannot go out is logged, the next one
    /// carries the whole state again).
    pub fn publish_rollout(&self, report: &RolloutReport) {
        let spec = &self.shared.spec;
        let sent = mqtt_wire::rollout_topic(&spec.fleet, &spec.console_id).and_then(|topic| {
            let bytes = mqtt_wire::encode(report)?;
            Ok((topic, bytes))
        });
        match sent {
            Ok((topic, bytes)) => {
                if let Err(e) = self.shared.client.try_publish(topic, QoS::AtLeastOnce, false, bytes) {
                    tracing::debug!("broker: rollout report not sent: {e}");
                }
            }
            Err(e) => tracing::warn!("broker: rollout report not sent: {e}"),
        }
    }

    /// Where a device is, as errors name it: `mqtt://HOST:PORT/DEVICE`.
    pub fn device_addr(&self, device_id: &str) -> String {
        format!("{}/{device_id}", self.shared.spec.addr)
    }

    /// Wait until connected and `device_id` said online on this connection.
    async fn wait_online(&self, device_id: &str) -> Result<()> {
        let mut rx = self.shared.status.subscribe();
        // (One statement: the status borrow must not live across the waits below.)
        let up =
            matches!(tokio::time::timeout(CONNECTED_WAIT, rx.wait_for(BrokerStatus::is_connected)).await, Ok(Ok(_)));
        if !up {
            return Err(FleetError::Unreachable {
                addr: self.device_addr(device_id),
                reason: format!("the broker is not connected ({})", self.status()),
            });
        }
        let deadline = tokio::time::Instant::now() + CONNECTED_WAIT;
        while !self.is_online(device_id) {
            if tokio::time::Instant::now() >= deadline {
                return Err(FleetError::Unreachable {
                    addr: self.device_addr(device_id),
                    reason: "the device is not online on the broker".into(),
                });
            }
            tokio::time::sleep(ONLINE_POLL).await;
        }
        Ok(())
    }

    /// Send `command` to `device_id` and wait for its final reply; `idle`
    /// bounds the wait for each message about it (progress reports reset
    /// it). A refusal comes back as [`FleetError::Agent`] with the status
    /// the HTTP route would have answered, silence or a lost connection as
    /// [`FleetError::Unreachable`].
    pub async fn request(
        &self,
        device_id: &str,
        token: &str,
        command: BrokerCommand,
        idle: Duration,
        on_progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<serde_json::Value> {
        let addr = self.device_addr(device_id);
        let bad = |e: mqtt_wire::MqttWireError| FleetError::BadInput(e.to_string());
        let topic = mqtt_wire::topic(&self.shared.spec.fleet, device_id, Channel::Cmd).map_err(bad)?;
        self.wait_online(device_id).await?;
        let id = format!("c{:016x}", fastrand::u64(..));
        let msg = CommandMessage { id: id.clone(), token: token.to_owned(), command };
        let bytes = mqtt_wire::encode(&msg).map_err(bad)?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.shared.waiters.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), tx);
        let _guard = WaiterGuard { waiters: &self.shared.waiters, id: id.clone() };
        let unreachable = |reason: String| FleetError::Unreachable { addr: addr.clone(), reason };
        self.shared
            .client
            .publish(topic, QoS::AtLeastOnce, false, bytes)
            .await
            .map_err(|e| unreachable(format!("cannot publish the command: {e}")))?;
        loop {
            let reply = match tokio::time::timeout(idle, rx.recv()).await {
                Ok(Some(r)) => r,
                Ok(None) => return Err(unreachable("the broker connection dropped before the reply".into())),
                Err(_) => return Err(unreachable(format!("no reply within {} s", idle.as_secs_f32()))),
            };
            if let Some(p) = reply.progress {
                on_progress(p);
                continue;
            }
            return match (reply.ok, reply.error) {
                (true, _) => Ok(reply.result.unwrap_or(serde_json::Value::Null)),
                (false, error) => {
                    let (error, detail) = error.map_or(("failed".into(), String::new()), |e| (e.error, e.detail));
                    let status = reply.status.unwrap_or_else(|| status_of_code(&error));
                    Err(FleetError::Agent { addr, status, error, detail })
                }
            };
        }
    }
}

/// The HTTP status an agent without the `status` field meant by its code.
fn status_of_code(code: &str) -> u16 {
    match code {
        "unauthorized" => 401,
        "not_found" => 404,
        "conflict" => 409,
        "too_many_attempts" => 429,
        "busy" => 503,
        "download_failed" => 502,
        "internal" | "storage" => 500,
        "invalid_model" | "hash_mismatch" => 422,
        _ => 400,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_reads_plainly() {
        assert_eq!(BrokerStatus::Connected.to_string(), "connected");
        let down = BrokerStatus::Down { reason: "connection refused".into(), retry_in_ms: 1500 };
        assert_eq!(down.to_string(), "down: connection refused; retry in 2 s");
        let refused = BrokerStatus::Refused { reason: "bad credentials".into(), retry_in_ms: 250 };
        assert_eq!(refused.to_string(), "refused: bad credentials; retry in 1 s");
        assert_eq!(status_of_code("unauthorized"), 401);
        assert_eq!(status_of_code("busy"), 503);
    }
}
