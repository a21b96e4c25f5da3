//! The MQTT broker as a discovery source beside mDNS and the sweep: agents
//! started with `--broker … --fleet NAME` keep a retained state message
//! (their `/v1/info` and HTTP address, or "offline" from their last will)
//! and stream telemetry; the console subscribes to the fleet's topics and
//! needs no route to the devices. Commands go the other way on each
//! device's `cmd` topic and are answered on `reply`.
//!
//! Topics and payloads are [`edgefleet_core::mqtt_wire`]'s. A message that
//! breaks them (bad topic, oversized or malformed payload, a state whose
//! device id is not its topic's) is dropped and logged, never fatal.

pub use super::broker_spec::BrokerSpec;
use crate::broker_link::{BrokerLink, BrokerStatus};
use crate::error::{FleetError, Result};
use crate::scan::{Found, Source};
use edgefleet_core::mqtt_wire::{
    self, BrokerCommand, Channel, CommandMessage, ReplyMessage, RolloutReport, StatePayload,
};
use edgefleet_core::wire::Metrics;
use edgefleet_core::{DeviceStatus, now_ms};
use rumqttc::{AsyncClient, ConnectReturnCode, ConnectionError, Event, Packet, QoS, SubscribeFilter};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::task::JoinHandle;

/// First wait before reconnecting, doubled up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Requests queued between the client handle and its event loop.
const CLIENT_QUEUE: usize = 256;

/// What a broker watch hears.
#[derive(Debug, Clone, PartialEq)]
pub enum BrokerEvent {
    /// Connected (again) and subscribed to the fleet.
    Connected,
    /// The connection's status changed (every failed attempt says when
    /// the next one is).
    Status(BrokerStatus),
    /// The connection failed or dropped; it is retried with backoff.
    Down(String),
    /// A device's retained state: its description, or offline (last will).
    /// (Boxed: a device description is far larger than the other events.)
    State {
        device_id: String,
        state: Box<StatePayload>,
    },
    Telemetry {
        device_id: String,
        metrics: Metrics,
    },
    Reply {
        device_id: String,
        reply: ReplyMessage,
    },
    /// Another console's rollout progress (our own reports are not echoed).
    Rollout(Box<RolloutReport>),
}

fn describe(e: &ConnectionError) -> String {
    match e {
        ConnectionError::ConnectionRefused(code) => format!("the broker refused the connection ({code:?})"),
        other => other.to_string(),
    }
}

/// Turn one message into an event; `None` (and a log line) for one that
/// breaks the protocol or belongs to another fleet.
fn event_of(fleet: &str, topic: &str, payload: &[u8]) -> Option<BrokerEvent> {
    if let Ok((f, console_id)) = mqtt_wire::parse_rollout_topic(topic) {
        return match mqtt_wire::decode_rollout(payload, &console_id) {
            Ok(r) if f == fleet => Some(BrokerEvent::Rollout(Box::new(r))),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!("broker: dropped a message on {topic}: {e}");
                None
            }
        };
    }
    let parts = match mqtt_wire::parse_topic(topic) {
        Ok(p) if p.fleet == fleet => p,
        Ok(_) => return None,
        Err(e) => {
            tracing::debug!("broker: {e}");
            return None;
        }
    };
    let device_id = parts.device_id;
    let decoded = match parts.channel {
        Channel::State => mqtt_wire::decode::<StatePayload>(payload).and_then(|state| match &state.info {
            Some(info) if info.device.device_id != device_id => Err(mqtt_wire::MqttWireError::BadPayload(format!(
                "state of `{}` published on `{device_id}`'s topic",
                info.device.device_id
            ))),
            _ => Ok(BrokerEvent::State { device_id: device_id.clone(), state: Box::new(state) }),
        }),
        Channel::Telemetry => mqtt_wire::decode::<Metrics>(payload)
            .map(|metrics| BrokerEvent::Telemetry { device_id: device_id.clone(), metrics }),
        Channel::Reply => mqtt_wire::decode::<ReplyMessage>(payload)
            .map(|reply| BrokerEvent::Reply { device_id: device_id.clone(), reply }),
        Channel::Cmd => return None,
    };
    match decoded {
        Ok(ev) => Some(ev),
        Err(e) => {
            tracing::warn!("broker: dropped a message on {topic}: {e}");
            None
        }
    }
}

/// A running subscription to a fleet's state, telemetry and replies.
pub struct BrokerWatch {
    spec: BrokerSpec,
    link: BrokerLink,
    task: JoinHandle<()>,
}

/// The status a failed connection attempt leaves, retried in `retry`.
fn down_status(e: &ConnectionError, retry: Duration) -> BrokerStatus {
    let retry_in_ms = retry.as_millis() as u64;
    match e {
        ConnectionError::ConnectionRefused(
            code @ (ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized),
        ) => {
            let reason = match code {
                ConnectReturnCode::BadUserNamePassword => "bad credentials (user name or password)",
                _ => "bad credentials or not authorised",
            };
            BrokerStatus::Refused { reason: reason.into(), retry_in_ms }
        }
        other => BrokerStatus::Down { reason: describe(other), retry_in_ms },
    }
}

impl BrokerWatch {
    /// Connect in the background and hand every event to `forward`;
    /// reconnects with backoff until stopped. Replies to commands sent
    /// through [`BrokerWatch::link`] go to their sender, not to `forward`.
    pub fn start(spec: &BrokerSpec, forward: impl Fn(BrokerEvent) + Send + 'static) -> BrokerWatch {
        let (client, mut events) = AsyncClient::new(spec.options("console"), CLIENT_QUEUE);
        edgefleet_agent::broker_tls::no_delay(&mut events);
        let filters: Vec<SubscribeFilter> = [Channel::State, Channel::Telemetry, Channel::Reply]
            .into_iter()
            .filter_map(|c| mqtt_wire::fleet_filter(&spec.fleet, c).ok())
            .chain(mqtt_wire::rollout_filter(&spec.fleet).ok())
            .map(|f| SubscribeFilter::new(f, QoS::AtLeastOnce))
            .collect();
        let own_console = spec.console_id.clone();
        let link = BrokerLink::new(spec.clone(), client.clone());
        let (c, fleet, l) = (client, spec.fleet.clone(), link.clone());
        let task = tokio::spawn(async move {
            let mut backoff = MIN_BACKOFF;
            let mut reported_down = false;
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        backoff = MIN_BACKOFF;
                        if let Err(e) = c.subscribe_many(filters.clone()).await {
                            tracing::warn!("broker: cannot subscribe to the fleet: {e}");
                        }
                    }
                    // Subscribed: commands may go out now, their replies will be heard.
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        reported_down = false;
                        l.set_connected();
                        forward(BrokerEvent::Status(BrokerStatus::Connected));
                        forward(BrokerEvent::Connected);
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => match event_of(&fleet, &p.topic, &p.payload) {
                        Some(BrokerEvent::Reply { device_id, reply }) => {
                            if let Some(reply) = l.dispatch(reply) {
                                forward(BrokerEvent::Reply { device_id, reply });
                            }
                        }
                        Some(BrokerEvent::Rollout(r)) if r.console_id == own_console => {}
                        Some(ev) => {
                            if let BrokerEvent::State { device_id, state } = &ev {
                                l.set_online(device_id, state.online);
                            }
                            forward(ev)
                        }
                        None => {}
                    },
                    Ok(_) => {}
                    Err(e) => {
                        let status = down_status(&e, backoff);
                        l.set_down(status.clone());
                        forward(BrokerEvent::Status(status));
                        if !reported_down {
                            reported_down = true;
                            forward(BrokerEvent::Down(describe(&e)));
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
        });
        BrokerWatch { spec: spec.clone(), link, task }
    }

    /// Request and reply to devices over this watch's connection.
    pub fn link(&self) -> BrokerLink {
        self.link.clone()
    }

    pub fn spec(&self) -> &BrokerSpec {
        &self.spec
    }

    /// Stop watching (the connection closes).
    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for BrokerWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A device as its retained state describes it: `None` for an offline
/// state (nothing to describe). `paired` says whether we hold a token for it.
pub fn found_from_state(state: &StatePayload, paired: bool) -> Option<Found> {
    let info = state.info.as_ref().filter(|_| state.online)?;
    let mut device = info.device.clone();
    device.status = DeviceStatus::Online;
    device.last_heartbeat_ms = Some(now_ms());
    // The address the agent listens on, as it sees it; unknown = 0.0.0.0:0.
    let addr =
        state.http_addr.as_deref().and_then(|a| a.parse().ok()).unwrap_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)));
    let problem = (!paired).then(|| "not paired: no token".to_owned());
    Some(Found { device, addr, source: Source::Mqtt, confirmed: true, paired, problem, found_after_ms: None })
}

/// Listen to the broker for up to `timeout` (or until `expect` devices are
/// online) and return every device whose retained state says it is
/// online. Fails when the broker cannot be reached or refuses us.
pub async fn scan_broker(
    spec: &BrokerSpec,
    timeout: Duration,
    expect: Option<usize>,
    paired: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Vec<Found>> {
    let started = tokio::time::Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watch = BrokerWatch::start(spec, move |ev| drop(tx.send(ev)));
    let mut by_id: BTreeMap<String, Found> = BTreeMap::new();
    let mut connected = false;
    let mut down: Option<String> = None;
    let deadline = started + timeout;
    while expect.is_none_or(|n| by_id.len() < n) {
        let Ok(Some(ev)) = tokio::time::timeout_at(deadline, rx.recv()).await else { break };
        match ev {
            BrokerEvent::Connected => connected = true,
            BrokerEvent::Down(_) => {}
            // A refused login stays refused: no use waiting out the timeout.
            BrokerEvent::Status(s @ BrokerStatus::Refused { .. }) => {
                down = Some(s.summary());
                break;
            }
            BrokerEvent::Status(s) if !s.is_connected() => down = Some(s.summary()),
            BrokerEvent::State { device_id, state } => match found_from_state(&state, paired(&device_id)) {
                Some(mut f) => {
                    f.found_after_ms = Some(started.elapsed().as_millis() as u64);
                    by_id.insert(device_id, f);
                }
                None => {
                    by_id.remove(&device_id);
                }
            },
            BrokerEvent::Telemetry { .. }
            | BrokerEvent::Reply { .. }
            | BrokerEvent::Status(_)
            | BrokerEvent::Rollout(_) => {}
        }
    }
    watch.stop();
    if !connected {
        return Err(spec.error(down.unwrap_or_else(|| format!("no connection within {} ms", timeout.as_millis()))));
    }
    Ok(by_id.into_values().collect())
}

/// Send one command to `device_id` through the broker and wait up to
/// `timeout` for its final reply (progress reports are skipped).
pub async fn send_command(
    spec: &BrokerSpec,
    device_id: &str,
    token: &str,
    command: BrokerCommand,
    timeout: Duration,
) -> Result<ReplyMessage> {
    let reply_topic =
        mqtt_wire::topic(&spec.fleet, device_id, Channel::Reply).map_err(|e| FleetError::BadInput(e.to_string()))?;
    let cmd_topic =
        mqtt_wire::topic(&spec.fleet, device_id, Channel::Cmd).map_err(|e| FleetError::BadInput(e.to_string()))?;
    let id = format!("c{:016x}", fastrand::u64(..));
    let msg = CommandMessage { id: id.clone(), token: token.to_owned(), command };
    let bytes = mqtt_wire::encode(&msg).map_err(|e| FleetError::BadInput(e.to_string()))?;
    let (client, mut events) = AsyncClient::new(spec.options("cmd"), 16);
    edgefleet_agent::broker_tls::no_delay(&mut events);
    let exchange = async {
        loop {
            match events.poll().await.map_err(|e| spec.error(describe(&e)))? {
                Event::Incoming(Packet::ConnAck(_)) => client
                    .subscribe(reply_topic.clone(), QoS::AtLeastOnce)
                    .await
                    .map_err(|e| spec.error(e.to_string()))?,
                // Subscribed to the reply first, so the answer cannot be missed.
                Event::Incoming(Packet::SubAck(_)) => client
                    .publish(cmd_topic.clone(), QoS::AtLeastOnce, false, bytes.clone())
                    .await
                    .map_err(|e| spec.error(e.to_string()))?,
                Event::Incoming(Packet::Publish(p)) if p.topic == reply_topic => {
                    match mqtt_wire::decode::<ReplyMessage>(&p.payload) {
                        Ok(r) if r.id == id && r.is_final() => return Ok(r),
                        Ok(_) => {}
                        Err(e) => tracing::warn!("broker: dropped a reply: {e}"),
                    }
                }
                _ => {}
            }
        }
    };
    let outcome = tokio::time::timeout(timeout, exchange).await;
    let _ = client.try_disconnect();
    outcome.unwrap_or_else(|_| {
        Err(spec.error(format!("{device_id} did not answer within {} ms (is it online?)", timeout.as_millis())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgefleet_core::mqtt_wire::MAX_PAYLOAD_BYTES;
    use edgefleet_core::wire::{API_VERSION, InfoResponse};
    use edgefleet_core::{Device, DeviceType};

    fn state_of(id: &str) -> StatePayload {
        let device = Device::new(id, DeviceType::SmartCamera, 2, 512, 4.0);
        let info = InfoResponse { device, agent_version: "0".into(), api: API_VERSION.into(), runtime_info: None };
        StatePayload { online: true, info: Some(info), http_addr: Some("10.0.0.7:8470".into()) }
    }

    #[test]
    fn states_become_devices_found_via_mqtt() {
        let bytes = mqtt_wire::encode(&state_of("cam-1")).unwrap();
        let Some(BrokerEvent::State { device_id, state }) = event_of("f", "edgefleet/v1/f/cam-1/state", &bytes) else {
            panic!("no state")
        };
        assert_eq!(device_id, "cam-1");
        let found = found_from_state(&state, false).unwrap();
        assert_eq!((found.source, found.addr.to_string()), (Source::Mqtt, "10.0.0.7:8470".to_owned()));
        assert_eq!(found.device.status, DeviceStatus::Online);
        assert!(found_from_state(&StatePayload::offline(), true).is_none());
    }

    #[test]
    fn foreign_spoofed_and_broken_messages_are_dropped() {
        let bytes = mqtt_wire::encode(&state_of("cam-1")).unwrap();
        assert_eq!(event_of("other", "edgefleet/v1/f/cam-1/state", &bytes), None);
        assert_eq!(event_of("f", "edgefleet/v1/f/cam-2/state", &bytes), None, "state of cam-1 on cam-2's topic");
        assert_eq!(event_of("f", "edgefleet/v1/f/cam-1/telemetry", b"{not json"), None);
        assert_eq!(event_of("f", "elsewhere/x", b"{}"), None);
        assert_eq!(event_of("f", "edgefleet/v1/f/cam-1/state", &vec![b' '; MAX_PAYLOAD_BYTES + 1]), None);
    }

    #[test]
    fn specs_check_the_url_and_fleet() {
        assert!(BrokerSpec::new("mqtt://127.0.0.1:1883", "plant-1").is_ok());
        assert!(matches!(BrokerSpec::new("mqtt://h", "a/b"), Err(FleetError::BadInput(_))));
        let no_ca = BrokerSpec::new("mqtts://h", "f").unwrap_err().to_string();
        assert!(no_ca.contains("CA certificate"), "{no_ca}");
        assert!(matches!(BrokerSpec::new("ws://h", "f"), Err(FleetError::BadInput(_))));
    }
}
