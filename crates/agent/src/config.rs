//! What an agent is started with: its device description, where it keeps
//! its files, how it is reached and advertised.

use crate::advertise::MdnsDaemon;
use crate::bounded_server::ServeLimits;
use crate::model_store::{DEFAULT_KEEP_VERSIONS, DEFAULT_MAX_PARTS_BYTES, DEFAULT_PART_TTL};
use crate::mqtt_link::BrokerConfig;
use crate::token_gate::MAX_FAILURES_PER_WINDOW;
use edgefleet_core::Device;
use edgefleet_optimize::runtime::Selected;
use std::path::PathBuf;
use std::time::Duration;

/// Default cap on one model upload.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 512 * 1024 * 1024;
/// Confidence below which a prediction is offloaded, unless a model sets its own.
pub const DEFAULT_CONFIDENCE_THRESHOLD: f64 = 0.7;

/// Everything `run` / `spawn` need to start one agent.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The hardware description served on `/v1/info` and in mDNS TXT.
    pub device: Device,
    /// Token, installed models and upload parts live here.
    pub data_dir: PathBuf,
    /// Bearer token; `None` = the one stored in `data_dir`, generated on first start.
    pub token: Option<String>,
    /// Network interfaces mDNS uses (`lo`, `eth0`, …); empty = all.
    pub interfaces: Vec<String>,
    /// Register `_edgefleet._tcp.local.` on mDNS.
    pub advertise: bool,
    /// Synthetic hardware profile and load (`simulate`).
    pub simulated: bool,
    /// Base URL of the agent low-confidence predictions are forwarded to.
    pub upstream: Option<String>,
    /// Bearer token for the upstream.
    pub upstream_token: Option<String>,
    /// Fingerprint of an `https://` upstream's key: only that key is trusted.
    pub upstream_fingerprint: Option<String>,
    /// Largest model upload accepted (413 beyond).
    pub max_upload_bytes: u64,
    /// Bytes all partial uploads together may hold (507 beyond).
    pub max_parts_bytes: u64,
    /// Upload parts untouched this long are deleted.
    pub part_ttl: Duration,
    /// Installed versions of a model kept besides the active and previous one.
    pub keep_versions: usize,
    /// Bytes the model store may hold on disk in all (`--storage-mb`);
    /// uploads beyond are refused and the free storage reported is capped
    /// by it. `None`: the disk's own free space.
    pub storage_budget_bytes: Option<u64>,
    /// Seed of the synthetic load (simulated agents).
    pub seed: u64,
    /// Offload threshold for models activated without their own.
    pub confidence_threshold: f64,
    /// How long each part of the start-up compute probe runs (one thread,
    /// all cores, per-call overhead; real agents only).
    pub benchmark_duration: Duration,
    /// A daemon shared by several agents (a simulated fleet); `None` = the
    /// agent starts its own when `advertise` is set.
    pub mdns: Option<MdnsDaemon>,
    /// The inference runtime models run on, and why it was chosen;
    /// `None` = tract.
    pub runtime: Option<Selected>,
    /// Connection cap and timeouts of the HTTP server.
    pub serve_limits: ServeLimits,
    /// Different wrong tokens one peer address may present per minute before it gets 429.
    pub max_auth_failures: u32,
    /// An MQTT broker to publish state and telemetry to and take commands
    /// from (`--broker`); `None` = HTTP only.
    pub broker: Option<BrokerConfig>,
    /// Serve HTTPS with a certificate over the device's identity key. The
    /// binary turns it on unless `--insecure-http`; library callers (tests,
    /// embedded agents) choose.
    pub tls: bool,
    /// Activate models without a valid console signature even after a
    /// console key was pinned (`--allow-unsigned`).
    pub allow_unsigned: bool,
}

impl AgentConfig {
    /// A config for `device` with files in `data_dir`: not advertised, no
    /// upstream, generated token, default limits.
    pub fn new(device: Device, data_dir: impl Into<PathBuf>) -> Self {
        AgentConfig {
            simulated: device.simulated,
            device,
            data_dir: data_dir.into(),
            token: None,
            interfaces: Vec::new(),
            advertise: false,
            upstream: None,
            upstream_token: None,
            upstream_fingerprint: None,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            max_parts_bytes: DEFAULT_MAX_PARTS_BYTES,
            part_ttl: DEFAULT_PART_TTL,
            keep_versions: DEFAULT_KEEP_VERSIONS,
            storage_budget_bytes: None,
            seed: 0,
            confidence_threshold: DEFAULT_CONFIDENCE_THRESHOLD,
            benchmark_duration: Duration::from_millis(60),
            mdns: None,
            runtime: None,
            serve_limits: ServeLimits::default(),
            max_auth_failures: MAX_FAILURES_PER_WINDOW,
            broker: None,
            tls: false,
            allow_unsigned: false,
        }
    }
}
