//! The broker protocol, version 1: MQTT topics and JSON payloads shared by
//! the agent (`--broker`) and the console (broker discovery, commands).
//! Defined once here, like the HTTP API in [`crate::wire`].
//!
//! Topics: `edgefleet/v1/{fleet}/{device_id}/{state|telemetry|cmd|reply}`.
//! - `state` (retained, QoS 1): [`StatePayload`]; the agent's last will
//!   publishes `{"online": false}` there, retained, when it dies.
//! - `telemetry` (QoS 0): the `/v1/metrics` numbers ([`crate::wire::Metrics`]).
//! - `cmd` (QoS 1): a [`CommandMessage`] carrying the device's token.
//! - `reply` (QoS 1): a [`ReplyMessage`] with the command's correlation id.
//!
//! Fleet names, device ids and command ids follow the one segment rule of
//! [`crate::names`], which also keeps MQTT's `+`, `#` and `/` out of them.

use crate::names::{SEGMENT_RULE, check_segment};
use crate::wire::{ActivateRequest, BenchmarkRequest, ErrorBody, InfoResponse, TrustRequest};
use serde::{Deserialize, Serialize};

/// First topic level of every edgefleet topic.
pub const TOPIC_ROOT: &str = "edgefleet";
/// Second topic level: the protocol version.
pub const TOPIC_VERSION: &str = "v1";
/// Largest payload either side publishes or accepts (a state message with
/// a full device description is a few KB).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// The port an `mqtt://` URL without one means.
pub const DEFAULT_MQTT_PORT: u16 = 1883;
/// The port an `mqtts://` URL without one means.
pub const DEFAULT_MQTTS_PORT: u16 = 8883;

/// A topic, payload or broker URL that breaks the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MqttWireError {
    #[error("invalid {what} `{value}`: {SEGMENT_RULE}")]
    BadSegment { what: &'static str, value: String },
    #[error("`{0}` is not an edgefleet v1 topic")]
    NotOurTopic(String),
    #[error("payload of {0} bytes is over the {MAX_PAYLOAD_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("bad payload: {0}")]
    BadPayload(String),
    #[error("bad broker URL `{url}`: {why}")]
    BadUrl { url: String, why: String },
}

/// The four topics of one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    State,
    Telemetry,
    Cmd,
    Reply,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::State => "state",
            Channel::Telemetry => "telemetry",
            Channel::Cmd => "cmd",
            Channel::Reply => "reply",
        }
    }

    fn parse(s: &str) -> Option<Channel> {
        [Channel::State, Channel::Telemetry, Channel::Cmd, Channel::Reply].into_iter().find(|c| c.as_str() == s)
    }
}

fn segment(what: &'static str, value: &str) -> Result<(), MqttWireError> {
    check_segment(what, value).map_err(|_| MqttWireError::BadSegment { what, value: value.to_owned() })
}

/// Check a fleet name (one topic level).
pub fn check_fleet(fleet: &str) -> Result<(), MqttWireError> {
    segment("fleet name", fleet)
}

/// `edgefleet/v1/{fleet}/{device_id}/{channel}`.
pub fn topic(fleet: &str, device_id: &str, channel: Channel) -> Result<String, MqttWireError> {
    check_fleet(fleet)?;
    segment("device id", device_id)?;
    Ok(format!("{TOPIC_ROOT}/{TOPIC_VERSION}/{fleet}/{device_id}/{}", channel.as_str()))
}

/// The filter for one channel of every device of a fleet:
/// `edgefleet/v1/{fleet}/+/{channel}`.
pub fn fleet_filter(fleet: &str, channel: Channel) -> Result<String, MqttWireError> {
    check_fleet(fleet)?;
    Ok(format!("{TOPIC_ROOT}/{TOPIC_VERSION}/{fleet}/+/{}", channel.as_str()))
}

/// A parsed topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicParts {
    pub fleet: String,
    pub device_id: String,
    pub channel: Channel,
}

/// Split a topic into fleet, device and channel; anything else is refused.
pub fn parse_topic(topic: &str) -> Result<TopicParts, MqttWireError> {
    let not_ours = || MqttWireError::NotOurTopic(topic.chars().take(200).collect());
    let parts: Vec<&str> = topic.split('/').collect();
    let [root, version, fleet, device_id, channel] = parts[..] else { return Err(not_ours()) };
    if root != TOPIC_ROOT || version != TOPIC_VERSION {
        return Err(not_ours());
    }
    let channel = Channel::parse(channel).ok_or_else(not_ours)?;
    check_fleet(fleet)?;
    segment("device id", device_id)?;
    Ok(TopicParts { fleet: fleet.to_owned(), device_id: device_id.to_owned(), channel })
}

/// Where a broker is: `mqtt://HOST[:PORT]`, or `mqtts://HOST[:PORT]` for
/// TLS (the client then needs the broker's CA, and may present a
/// certificate of its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddr {
    pub host: String,
    pub port: u16,
    /// `mqtts://`: the connection is TLS.
    pub tls: bool,
}

impl std::str::FromStr for BrokerAddr {
    type Err = MqttWireError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| MqttWireError::BadUrl { url: url.to_owned(), why: why.to_owned() };
        let (tls, rest) = match url.split_once("://") {
            Some(("mqtt", rest)) => (false, rest),
            Some(("mqtts", rest)) => (true, rest),
            Some(_) => return Err(bad("the scheme must be mqtt:// or mqtts://")),
            None => (false, url),
        };
        let default_port = if tls { DEFAULT_MQTTS_PORT } else { DEFAULT_MQTT_PORT };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains(['/', '@', '?', '#']) {
            return Err(bad("expected mqtt://HOST[:PORT]"));
        }
        // `[v6]:port`, `host:port` or a bare host.
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(':') && !p.contains(']') => {
                (h, p.parse::<u16>().map_err(|_| bad("the port is not a number in 1..=65535"))?)
            }
            _ => (rest, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 {
            return Err(bad("expected mqtt://HOST[:PORT]"));
        }
        Ok(BrokerAddr { host: host.to_owned(), port, tls })
    }
}

impl std::fmt::Display for BrokerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// The retained message on `.../state`: the device's `/v1/info` and where
/// its HTTP API listens while it is online; `{"online": false}` (its last
/// will, or its goodbye) once it is not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatePayload {
    pub online: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<InfoResponse>,
    /// `IP:PORT` of the agent's HTTP API as the agent sees it (it may not
    /// be reachable from a console on another network).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_addr: Option<String>,
}

impl StatePayload {
    /// The last will and goodbye message.
    pub fn offline() -> Self {
        StatePayload { online: false, info: None, http_addr: None }
    }
}

/// What a command asks of the device: the same requests as the HTTP routes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum BrokerCommand {
    /// `POST /v1/models/{model}/activate`; `signature` is what the HTTP
    /// route takes in its signature header (needed once the agent pinned a
    /// console's model-signing key).
    Activate {
        model: String,
        request: ActivateRequest,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
    /// `POST /v1/models/{model}/rollback`.
    Rollback { model: String },
    /// `POST /v1/benchmark/{model}`.
    Benchmark { model: String, request: BenchmarkRequest },
    /// `GET /v1/models`: what the device holds (a rollout verifies an
    /// install and reads the version it replaces with it).
    Models,
    /// Fetch a model version from a URL (resuming with `Range` where a
    /// part is held), verify it and install it through the same store as
    /// an upload; then activate it when asked.
    Deploy { model: String, request: PullRequest },
    /// `POST /v1/trust`: pin the console's model-signing key, so a device
    /// reached only through the broker can be paired too (accepted once;
    /// a different key already pinned is replaced only with `replace`).
    /// An agent older than this command answers `bad_request`.
    Trust { request: TrustRequest },
}

/// What a deploy command pulls: the file's URL and what it must be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullRequest {
    pub version: String,
    /// `http://…` (https comes with TLS, issue #11).
    pub url: String,
    pub size_bytes: u64,
    /// SHA-256 of the whole file, lowercase hex.
    pub sha256: String,
    /// Activate the version once installed.
    #[serde(default)]
    pub activate: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence_threshold: Option<f64>,
    /// The console's signature over (name, version, SHA-256), for an
    /// agent that requires signed models (used when `activate` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// A message on `.../cmd`. The token is the device's bearer token: the
/// broker is shared, so the agent checks it (hashed, constant time) like
/// the HTTP API does before running anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandMessage {
    /// Correlation id, echoed on the reply (the segment rule: 1–64 of A–Z a–z 0–9 . _ -).
    pub id: String,
    pub token: String,
    #[serde(flatten)]
    pub command: BrokerCommand,
}

/// A message on `.../reply`: `ok` with the HTTP route's answer as
/// `result`, or not `ok` with the route's [`ErrorBody`]. A long command
/// (deploy) first sends replies with `progress` and no result: every
/// console subscribed to the fleet sees them; the last reply has none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyMessage {
    /// The command's id; empty when the command was too broken to have one.
    pub id: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    /// The HTTP status the same request would have been answered with
    /// (failures only), so a console treats both transports alike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
}

/// How far a deploy's download is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub received_bytes: u64,
    pub total_bytes: u64,
}

impl ReplyMessage {
    pub fn success(id: &str, result: serde_json::Value) -> Self {
        ReplyMessage { id: id.to_owned(), ok: true, result: Some(result), error: None, status: None, progress: None }
    }

    pub fn failure(id: &str, error: &str, detail: impl Into<String>) -> Self {
        let error = ErrorBody { error: error.to_owned(), detail: detail.into() };
        ReplyMessage { id: id.to_owned(), ok: false, result: None, error: Some(error), status: None, progress: None }
    }

    /// This failure with the HTTP status its route would have answered.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// An intermediate reply: the command is still running.
    pub fn in_progress(id: &str, received_bytes: u64, total_bytes: u64) -> Self {
        let progress = Some(Progress { received_bytes, total_bytes });
        ReplyMessage { id: id.to_owned(), ok: true, result: None, error: None, status: None, progress }
    }

    /// True for the reply that ends a command (not a progress report).
    pub fn is_final(&self) -> bool {
        self.progress.is_none()
    }
}

/// The topic level, right under the fleet, of the consoles' own topics:
/// `edgefleet/v1/{fleet}/console/{console_id}/rollout` is one level deeper
/// than any device topic, so no device id can collide with it.
pub const CONSOLE_LEVEL: &str = "console";
/// The last level of a console's rollout reports.
pub const ROLLOUT_CHANNEL: &str = "rollout";
/// Steps one [`RolloutReport`] carries at most (the payload stays far under
/// [`MAX_PAYLOAD_BYTES`]); the rest are counted in `steps_omitted`.
pub const MAX_REPORTED_STEPS: usize = 200;

/// `edgefleet/v1/{fleet}/console/{console_id}/rollout`: where a console
/// publishes its rollouts' progress for the other consoles of the fleet.
pub fn rollout_topic(fleet: &str, console_id: &str) -> Result<String, MqttWireError> {
    check_fleet(fleet)?;
    segment("console id", console_id)?;
    Ok(format!("{TOPIC_ROOT}/{TOPIC_VERSION}/{fleet}/{CONSOLE_LEVEL}/{console_id}/{ROLLOUT_CHANNEL}"))
}

/// Every console's rollout reports in a fleet.
pub fn rollout_filter(fleet: &str) -> Result<String, MqttWireError> {
    check_fleet(fleet)?;
    Ok(format!("{TOPIC_ROOT}/{TOPIC_VERSION}/{fleet}/{CONSOLE_LEVEL}/+/{ROLLOUT_CHANNEL}"))
}

/// (fleet, console id) of a rollout report topic; anything else is refused.
pub fn parse_rollout_topic(topic: &str) -> Result<(String, String), MqttWireError> {
    let not_ours = || MqttWireError::NotOurTopic(topic.chars().take(200).collect());
    let parts: Vec<&str> = topic.split('/').collect();
    let [root, version, fleet, console, console_id, channel] = parts[..] else { return Err(not_ours()) };
    if root != TOPIC_ROOT || version != TOPIC_VERSION || console != CONSOLE_LEVEL || channel != ROLLOUT_CHANNEL {
        return Err(not_ours());
    }
    check_fleet(fleet)?;
    segment("console id", console_id)?;
    Ok((fleet.to_owned(), console_id.to_owned()))
}

/// A console's rollout as it stands (QoS 1, not retained; every report
/// carries the whole state, so a console that missed some catches up with
/// the next). Other consoles record it, read-only, as "by console X".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutReport {
    /// Must be the console id of the topic it came on.
    pub console_id: String,
    /// The deployment's id in that console's registry.
    pub deployment_id: i64,
    pub model_name: String,
    pub model_version: String,
    /// SHA-256 of the model file, lowercase hex.
    pub sha256: String,
    pub size_bytes: u64,
    /// The deployment state (`canary`, `rolling`, `stopping`, `done`, …).
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub steps: Vec<RolloutStepReport>,
    /// Steps left out to stay within [`MAX_REPORTED_STEPS`].
    #[serde(default)]
    pub steps_omitted: usize,
    pub created_ms: u64,
    pub updated_ms: u64,
}

/// One device's step in a [`RolloutReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutStepReport {
    pub device_id: String,
    /// `pending`, `uploading`, `verifying`, `activating`, `health_check`,
    /// `done`, `failed` or `rolled_back`.
    pub state: String,
    pub bytes_sent: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Decode a rollout report that arrived on `console_id`'s topic; one that
/// claims another console, or has too many steps, is refused.
pub fn decode_rollout(bytes: &[u8], console_id: &str) -> Result<RolloutReport, MqttWireError> {
    let r: RolloutReport = decode(bytes)?;
    if r.console_id != console_id {
        return Err(MqttWireError::BadPayload(format!(
            "a report of console `{}` on `{console_id}`'s topic",
            r.console_id
        )));
    }
    if r.steps.len() > MAX_REPORTED_STEPS {
        return Err(MqttWireError::BadPayload(format!("{} steps, more than {MAX_REPORTED_STEPS}", r.steps.len())));
    }
    Ok(r)
}

/// Encode a payload, refusing one over [`MAX_PAYLOAD_BYTES`].
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, MqttWireError> {
    let bytes = serde_json::to_vec(value).map_err(|e| MqttWireError::BadPayload(e.to_string()))?;
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(MqttWireError::TooLarge(bytes.len()));
    }
    Ok(bytes)
}

/// Decode a payload, refusing one over [`MAX_PAYLOAD_BYTES`] before parsing.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, MqttWireError> {
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(MqttWireError::TooLarge(bytes.len()));
    }
    serde_json::from_slice(bytes).map_err(|e| MqttWireError::BadPayload(e.to_string()))
}

/// Decode a command; a command id that breaks the segment rule is refused.
pub fn decode_command(bytes: &[u8]) -> Result<CommandMessage, MqttWireError> {
    let msg: CommandMessage = decode(bytes)?;
    segment("command id", &msg.id)?;
    Ok(msg)
}

/// The id of a command too broken to decode, when it has a valid one, so
/// the error reply still reaches whoever sent it.
pub fn salvage_command_id(bytes: &[u8]) -> Option<String> {
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let id = value.get("id")?.as_str()?;
    check_segment("id", id).ok()?;
    Some(id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollout_reports_have_their_own_topics_and_name_their_console() {
        let t = rollout_topic("plant-1", "console-a").unwrap();
        assert_eq!(t, "edgefleet/v1/plant-1/console/console-a/rollout");
        assert_eq!(parse_rollout_topic(&t).unwrap(), ("plant-1".into(), "console-a".into()));
        assert_eq!(rollout_filter("plant-1").unwrap(), "edgefleet/v1/plant-1/console/+/rollout");
        assert!(parse_rollout_topic("edgefleet/v1/plant-1/cam-1/state").is_err());
        assert!(parse_topic(&t).is_err(), "not a device topic");
        assert!(rollout_topic("plant-1", "a/b").is_err());
        let report = RolloutReport {
            console_id: "console-a".into(),
            deployment_id: 3,
            model_name: "m".into(),
            model_version: "1".into(),
            sha256: "0".repeat(64),
            size_bytes: 10,
            state: "rolling".into(),
            detail: None,
            steps: vec![RolloutStepReport {
                device_id: "cam-1".into(),
                state: "uploading".into(),
                bytes_sent: 4,
                detail: None,
            }],
            steps_omitted: 0,
            created_ms: 1,
            updated_ms: 2,
        };
        let bytes = encode(&report).unwrap();
        assert_eq!(decode_rollout(&bytes, "console-a").unwrap(), report);
        assert!(decode_rollout(&bytes, "console-b").is_err(), "a report names the console whose topic it is on");
    }

    #[test]
    fn topics_round_trip_and_refuse_wildcards() {
        let t = topic("plant-1", "cam-7", Channel::Telemetry).unwrap();
        assert_eq!(t, "edgefleet/v1/plant-1/cam-7/telemetry");
        let p = parse_topic(&t).unwrap();
        assert_eq!((p.fleet.as_str(), p.device_id.as_str(), p.channel), ("plant-1", "cam-7", Channel::Telemetry));
        assert_eq!(fleet_filter("plant-1", Channel::State).unwrap(), "edgefleet/v1/plant-1/+/state");
        for bad in ["a+b", "#", "a/b", "", ".x", "sp ace"] {
            assert!(topic(bad, "d", Channel::State).is_err(), "fleet {bad:?} accepted");
            assert!(topic("f", bad, Channel::State).is_err(), "device {bad:?} accepted");
        }
        for bad in ["edgefleet/v2/f/d/state", "edgefleet/v1/f/d/other", "edgefleet/v1/f/state", "x/v1/f/d/state"] {
            assert!(parse_topic(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn broker_urls_parse_or_say_why_not() {
        let a: BrokerAddr = "mqtt://127.0.0.1:18830".parse().unwrap();
        assert_eq!(a, BrokerAddr { host: "127.0.0.1".into(), port: 18830, tls: false });
        assert_eq!(a.to_string(), "mqtt://127.0.0.1:18830");
        assert_eq!("mqtt://broker.local".parse::<BrokerAddr>().unwrap().port, DEFAULT_MQTT_PORT);
        assert_eq!("mqtt://[::1]:1884".parse::<BrokerAddr>().unwrap().host, "::1");
        let tls = "mqtts://b".parse::<BrokerAddr>().unwrap();
        assert_eq!((tls.port, tls.tls, tls.to_string().as_str()), (DEFAULT_MQTTS_PORT, true, "mqtts://b:8883"));
        for bad in ["http://b:1", "mqtt://", "mqtt://b:0", "mqtt://b:x", "mqtt://u@b:1", "mqtt://b:1/path"] {
            assert!(bad.parse::<BrokerAddr>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn commands_carry_id_token_and_the_route_request() {
        let json = br#"{"id":"c1","token":"t","command":"activate","model":"m","request":{"version":"v2"}}"#;
        let msg = decode_command(json).unwrap();
        assert_eq!(msg.id, "c1");
        let BrokerCommand::Activate { model, request, .. } = &msg.command else { panic!("{msg:?}") };
        assert_eq!((model.as_str(), request.version.as_str()), ("m", "v2"));
        let back = decode_command(&encode(&msg).unwrap()).unwrap();
        assert_eq!(back, msg);
        let rb = decode_command(br#"{"id":"c2","token":"t","command":"rollback","model":"m"}"#).unwrap();
        assert!(matches!(rb.command, BrokerCommand::Rollback { .. }));
        let deploy = br#"{"id":"c3","token":"t","command":"deploy","model":"m",
            "request":{"version":"v3","url":"http://h:1/m.onnx","size_bytes":10,"sha256":"ab","activate":true}}"#;
        let BrokerCommand::Deploy { request, .. } = decode_command(deploy).unwrap().command else { panic!() };
        assert!(request.activate && request.size_bytes == 10);
        let trust = br#"{"id":"c4","token":"t","command":"trust","request":{"console_key":"ab"}}"#;
        let BrokerCommand::Trust { request } = decode_command(trust).unwrap().command else { panic!() };
        assert_eq!((request.console_key.as_str(), request.replace), ("ab", false), "replace is off unless sent");
    }

    #[test]
    fn broken_commands_are_errors_with_what_id_can_be_saved() {
        assert!(decode_command(b"not json").is_err());
        assert!(decode_command(br#"{"id":"c1","token":"t","command":"format_disk"}"#).is_err());
        assert!(decode_command(br#"{"id":"../x","token":"t","command":"rollback","model":"m"}"#).is_err());
        assert_eq!(salvage_command_id(br#"{"id":"c9","command":"nope"}"#).as_deref(), Some("c9"));
        assert_eq!(salvage_command_id(br#"{"id":"a/b"}"#), None);
        let huge = vec![b' '; MAX_PAYLOAD_BYTES + 1];
        assert_eq!(decode_command(&huge), Err(MqttWireError::TooLarge(MAX_PAYLOAD_BYTES + 1)));
    }

    #[test]
    fn the_last_will_is_a_state_payload() {
        let will: StatePayload = decode(&encode(&StatePayload::offline()).unwrap()).unwrap();
        assert!(!will.online && will.info.is_none());
        assert_eq!(encode(&StatePayload::offline()).unwrap(), br#"{"online":false}"#);
    }
}
