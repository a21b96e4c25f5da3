//! The agent's link to an MQTT broker (`--broker mqtt://HOST:PORT --fleet
//! NAME`), for fleets the console cannot reach over HTTP: the agent
//! publishes its state (retained, with a retained "offline" last will),
//! its telemetry every interval, and runs the commands it receives on its
//! `cmd` topic through the same handlers as the HTTP routes (a deploy
//! pulls the model itself: [`crate::pull_deploy`]; `trust` pins the
//! console's key like `POST /v1/trust`), answering on `reply`. Topics and payloads are [`edgefleet_core::mqtt_wire`]'s.
//!
//! The link never stops the agent: a broker that is down or refuses the
//! credentials is logged and retried with backoff while the HTTP API keeps
//! serving.

use crate::api_error::ApiError;
use crate::app_state::AppState;
use crate::{bench_routes, info_routes, model_routes};
use axum::Json;
use axum::extract::{Path, State};
use edgefleet_core::mqtt_wire::{
    self, BrokerAddr, BrokerCommand, Channel, CommandMessage, MAX_PAYLOAD_BYTES, ReplyMessage, StatePayload,
};
use rumqttc::{AsyncClient, ConnectionError, Event, LastWill, MqttOptions, Packet, QoS, Transport};
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;

/// First wait before reconnecting; doubled after each failure up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Commands run at once; more get a `busy` reply (the broker may be shared
/// with anyone able to publish on our `cmd` topic).
const MAX_COMMANDS_IN_FLIGHT: usize = 4;
/// Requests queued between the client handle and the event loop.
const CLIENT_QUEUE: usize = 64;
/// How long a goodbye waits for the broker on shutdown.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(1);
/// The peer address failed command tokens are counted under: a broker
/// hides who published, so all broker commands share one budget.
const BROKER_PEER: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// How an agent joins a broker.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub addr: BrokerAddr,
    /// The fleet: the third topic level.
    pub fleet: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Telemetry is published this often.
    pub telemetry_interval: Duration,
    /// MQTT keep-alive: the broker fires the last will after 1.5× this
    /// without a packet (a dead socket fires it at once).
    pub keep_alive: Duration,
    /// TLS for an `mqtts://` broker (its CA, and a client certificate when
    /// the broker logs devices in by certificate).
    pub tls: Option<crate::broker_tls::BrokerTlsConfig>,
}

impl BrokerConfig {
    /// A broker link with no credentials, telemetry every second, keep-alive 5 s.
    pub fn new(addr: BrokerAddr, fleet: impl Into<String>) -> Self {
        BrokerConfig {
            addr,
            fleet: fleet.into(),
            username: None,
            password: None,
            telemetry_interval: Duration::from_secs(1),
            keep_alive: Duration::from_secs(5),
            tls: None,
        }
    }
}

/// A running link; dropping it aborts the link like a crash (no goodbye,
/// so the broker fires the last will).
pub(crate) struct BrokerLink {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl BrokerLink {
    /// Check the topics, then connect in the background.
    pub(crate) fn start(
        state: Arc<AppState>,
        config: BrokerConfig,
        http_addr: SocketAddr,
    ) -> Result<BrokerLink, LinkError> {
        let topics = Topics::new(&config.fleet, &state.device.device_id)?;
        let transport = crate::broker_tls::transport(&config.addr, config.tls.as_ref())?;
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(state, config, topics, http_addr, transport, stopped));
        Ok(BrokerLink { stop: Some(stop), task })
    }

    /// Publish the retained offline state, disconnect cleanly, stop.
    pub(crate) async fn goodbye(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = &mut self.task;
        if tokio::time::timeout(GOODBYE_TIMEOUT * 2, task).await.is_err() {
            tracing::warn!("the broker link did not stop in time");
        }
    }
}

impl Drop for BrokerLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Topics {
    state: String,
    telemetry: String,
    cmd: String,
    reply: String,
}

impl Topics {
    fn new(fleet: &str, device_id: &str) -> Result<Topics, mqtt_wire::MqttWireError> {
        Ok(Topics {
            state: mqtt_wire::topic(fleet, device_id, Channel::State)?,
            telemetry: mqtt_wire::topic(fleet, device_id, Channel::Telemetry)?,
            cmd: mqtt_wire::topic(fleet, device_id, Channel::Cmd)?,
            reply: mqtt_wire::topic(fleet, device_id, Channel::Reply)?,
        })
    }
}

/// Why a broker link cannot start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LinkError {
    #[error(transparent)]
    Wire(#[from] mqtt_wire::MqttWireError),
    #[error(transparent)]
    Tls(#[from] crate::broker_tls::BrokerTlsError),
}

fn options(config: &BrokerConfig, device_id: &str, will_topic: &str, transport: Transport) -> MqttOptions {
    let mut opts = MqttOptions::new(format!("edgefleet-agent-{device_id}"), &config.addr.host, config.addr.port);
    opts.set_transport(transport);
    opts.set_keep_alive(config.keep_alive.max(Duration::from_secs(1)));
    // A payload bigger than the protocol allows is refused by the client
    // before it is buffered (the MQTT fixed header adds a few bytes).
    opts.set_max_packet_size(MAX_PAYLOAD_BYTES + 1024, MAX_PAYLOAD_BYTES + 1024);
    let offline = mqtt_wire::encode(&StatePayload::offline()).unwrap_or_default();
    opts.set_last_will(LastWill::new(will_topic, offline, QoS::AtLeastOnce, true));
    if let Some(user) = &config.username {
        opts.set_credentials(user.clone(), config.password.clone().unwrap_or_default());
    }
    opts
}

/// Why a connection attempt failed, in words for the log.
fn describe(e: &ConnectionError) -> String {
    match e {
        ConnectionError::ConnectionRefused(code) => format!("the broker refused the connection ({code:?})"),
        other => other.to_string(),
    }
}

async fn run(
    state: Arc<AppState>,
    config: BrokerConfig,
    topics: Topics,
    http_addr: SocketAddr,
    transport: Transport,
    mut stopped: oneshot::Receiver<()>,
) {
    let device_id = state.device.device_id.clone();
    let (client, mut events) = AsyncClient::new(options(&config, &device_id, &topics.state, transport), CLIENT_QUEUE);
    crate::broker_tls::no_delay(&mut events);
    let topics = Arc::new(topics);
    let permits = Arc::new(Semaphore::new(MAX_COMMANDS_IN_FLIGHT));
    let mut telemetry = tokio::time::interval(config.telemetry_interval.max(Duration::from_millis(100)));
    telemetry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut backoff = MIN_BACKOFF;
    let mut connected = false;
    let mut failures = 0u32;
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            _ = telemetry.tick(), if connected => publish_telemetry(&state, &client, &topics.telemetry),
            event = events.poll() => match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    connected = true;
                    backoff = MIN_BACKOFF;
                    failures = 0;
                    tracing::info!("broker {}: connected as {device_id} in fleet {}", config.addr, config.fleet);
                    if let Err(e) = client.subscribe(topics.cmd.clone(), QoS::AtLeastOnce).await {
                        tracing::warn!("broker: cannot subscribe to {}: {e}", topics.cmd);
                    }
                    publish_state(&state, &client, &topics.state, http_addr).await;
                }
                Ok(Event::Incoming(Packet::Publish(p))) if p.topic == topics.cmd => {
                    on_command(&state, &client, &topics, &permits, p.payload.to_vec());
                }
                Ok(_) => {}
                Err(e) => {
                    connected = false;
                    failures += 1;
                    // The first failure and then every tenth: a broker down for
                    // hours must not flood the log.
                    if failures == 1 || failures.is_multiple_of(10) {
                        tracing::warn!(
                            "broker {}: {} (attempt {failures}; retrying in {} ms; the HTTP API keeps serving)",
                            config.addr, describe(&e), backoff.as_millis()
                        );
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = &mut stopped => return,
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            },
        }
    }
    if connected {
        say_goodbye(&client, &mut events, &topics.state).await;
    }
}

/// Publish the retained offline state and disconnect cleanly (a clean
/// disconnect cancels the last will, so the state says it instead).
async fn say_goodbye(client: &AsyncClient, events: &mut rumqttc::EventLoop, state_topic: &str) {
    let offline = mqtt_wire::encode(&StatePayload::offline()).unwrap_or_default();
    if client.publish(state_topic, QoS::AtLeastOnce, true, offline).await.is_err() {
        return;
    }
    let flush = async {
        let mut disconnect_sent = false;
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) if !disconnect_sent => {
                    disconnect_sent = client.disconnect().await.is_ok();
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    let _ = tokio::time::timeout(GOODBYE_TIMEOUT, flush).await;
}

async fn publish_state(state: &Arc<AppState>, client: &AsyncClient, topic: &str, http_addr: SocketAddr) {
    let info = match info_routes::info(State(state.clone())).await {
        Ok(Json(info)) => Some(info),
        Err(e) => {
            tracing::warn!("broker: cannot describe the device: {e}");
            None
        }
    };
    let payload = StatePayload { online: true, info, http_addr: Some(http_addr.to_string()) };
    publish_json(client, topic, QoS::AtLeastOnce, true, &payload).await;
}

/// Sample metrics off the async workers and publish them (QoS 0: a lost
/// sample is replaced by the next).
fn publish_telemetry(state: &Arc<AppState>, client: &AsyncClient, topic: &str) {
    let (state, client, topic) = (state.clone(), client.clone(), topic.to_owned());
    tokio::spawn(async move {
        let s = state.clone();
        let Ok(metrics) = tokio::task::spawn_blocking(move || s.metrics()).await else { return };
        match mqtt_wire::encode(&metrics) {
            // try_publish: a full queue (broker slow) drops this sample rather than piling up.
            Ok(bytes) => {
                if let Err(e) = client.try_publish(topic, QoS::AtMostOnce, false, bytes) {
                    tracing::debug!("broker: telemetry dropped: {e}");
                }
            }
            Err(e) => tracing::warn!("broker: telemetry not sent: {e}"),
        }
    });
}

async fn publish_json<T: Serialize>(client: &AsyncClient, topic: &str, qos: QoS, retain: bool, value: &T) {
    match mqtt_wire::encode(value) {
        Ok(bytes) => {
            if let Err(e) = client.publish(topic, qos, retain, bytes).await {
                tracing::warn!("broker: cannot publish on {topic}: {e}");
            }
        }
        Err(e) => tracing::warn!("broker: not published on {topic}: {e}"),
    }
}

/// Check and run one command in its own task; every outcome, a broken
/// command included, is answered on the reply topic.
fn on_command(
    state: &Arc<AppState>,
    client: &AsyncClient,
    topics: &Arc<Topics>,
    permits: &Arc<Semaphore>,
    payload: Vec<u8>,
) {
    let msg = match mqtt_wire::decode_command(&payload) {
        Ok(m) => m,
        Err(e) => {
            let id = mqtt_wire::salvage_command_id(&payload).unwrap_or_default();
            return reply_later(client, topics, ReplyMessage::failure(&id, "bad_request", e.to_string()));
        }
    };
    let gate = &state.token;
    if gate.blocked(BROKER_PEER) {
        let detail =
            format!("more than {} commands with a wrong token this minute; wait and retry", gate.max_failures());
        return reply_later(
            client,
            topics,
            ReplyMessage::failure(&msg.id, "too_many_attempts", detail).with_status(429),
        );
    }
    if !gate.matches(msg.token.trim()) {
        gate.record_failure(BROKER_PEER);
        tracing::warn!("broker: command {} refused: wrong token", msg.id);
        return reply_later(
            client,
            topics,
            ReplyMessage::failure(&msg.id, "unauthorized", "wrong token").with_status(401),
        );
    }
    let Ok(permit) = permits.clone().try_acquire_owned() else {
        let detail = format!("{MAX_COMMANDS_IN_FLIGHT} commands are running; retry later");
        return reply_later(client, topics, ReplyMessage::failure(&msg.id, "busy", detail).with_status(503));
    };
    let (state, client, topics) = (state.clone(), client.clone(), topics.clone());
    tokio::spawn(async move {
        let _permit = permit;
        // Progress reports: QoS 0 and dropped when the queue is full (the
        // next one, or the final reply, says more).
        let (c, t, id) = (client.clone(), topics.reply.clone(), msg.id.clone());
        let progress = move |received: u64, total: u64| {
            if let Ok(bytes) = mqtt_wire::encode(&ReplyMessage::in_progress(&id, received, total)) {
                let _ = c.try_publish(t.clone(), QoS::AtMostOnce, false, bytes);
            }
        };
        let reply = execute(state, msg, progress).await;
        publish_json(&client, &topics.reply, QoS::AtLeastOnce, false, &reply).await;
    });
}

fn reply_later(client: &AsyncClient, topics: &Arc<Topics>, reply: ReplyMessage) {
    let (client, topics) = (client.clone(), topics.clone());
    tokio::spawn(async move { publish_json(&client, &topics.reply, QoS::AtLeastOnce, false, &reply).await });
}

/// Run an authenticated command through the HTTP route's handler.
async fn execute(
    state: Arc<AppState>,
    msg: CommandMessage,
    progress: impl Fn(u64, u64) + Send + Sync + 'static,
) -> ReplyMessage {
    let id = msg.id.clone();
    let outcome = match msg.command {
        BrokerCommand::Activate { model, request, signature } => {
            tracing::info!("broker: command {id}: activate {model} {}", request.version);
            to_value(model_routes::activate_signed(state, model, Ok(Json(request)), signature).await)
        }
        BrokerCommand::Rollback { model } => {
            tracing::info!("broker: command {id}: rollback {model}");
            to_value(model_routes::rollback(State(state), Path(model)).await)
        }
        BrokerCommand::Benchmark { model, request } => {
            tracing::info!("broker: command {id}: benchmark {model}");
            to_value(bench_routes::benchmark(State(state), Path(model), Ok(Json(request))).await)
        }
        BrokerCommand::Models => to_value(model_routes::list(State(state)).await),
        BrokerCommand::Deploy { model, request } => {
            tracing::info!("broker: command {id}: deploy {model} {} from {}", request.version, request.url);
            crate::pull_deploy::pull(state, model, request, progress).await
        }
        BrokerCommand::Trust { request } => {
            tracing::info!("broker: command {id}: trust a console key (replace: {})", request.replace);
            to_value(crate::auth::trust(State(state), Ok(Json(request))).await)
        }
    };
    match outcome {
        Ok(value) => ReplyMessage::success(&id, value),
        Err(e) => ReplyMessage::failure(&id, e.code, e.detail).with_status(e.status.as_u16()),
    }
}

fn to_value<T: Serialize>(result: Result<Json<T>, ApiError>) -> Result<serde_json::Value, ApiError> {
    let Json(answer) = result?;
    serde_json::to_value(answer).map_err(|e| ApiError::internal(e.to_string()))
}
