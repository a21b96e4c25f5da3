//! The agent's HTTP API, version 1: one definition shared by the agent
//! (server) and the console (client). JSON over HTTP; every error leaves as
//! [`ErrorBody`].

use crate::device::Device;
use serde::{Deserialize, Serialize};

/// Path prefix and TXT `api` value of this version.
pub const API_VERSION: &str = "v1";
/// The mDNS service type agents advertise.
pub const SERVICE_TYPE: &str = "_edgefleet._tcp.local.";
/// Header carrying the SHA-256 (lowercase hex) of the complete upload.
pub const CONTENT_SHA256_HEADER: &str = "x-content-sha256";
/// Header on predict responses: who answered (`local` or an upstream id).
pub const SERVED_BY_LOCAL: &str = "local";

/// mDNS TXT keys (each value < 200 bytes).
pub mod txt {
    pub const ID: &str = "id";
    pub const TYPE: &str = "type";
    pub const CORES: &str = "cores";
    pub const MEM_MB: &str = "mem_mb";
    pub const STORAGE_GB: &str = "storage_gb";
    pub const BW_MBPS: &str = "bw_mbps";
    pub const LAT: &str = "lat";
    pub const LON: &str = "lon";
    pub const BATTERY_MAH: &str = "battery_mah";
    pub const API: &str = "api";
    pub const VER: &str = "ver";
    /// `1` for simulated agents (synthetic hardware profile).
    pub const SIM: &str = "sim";
    /// Human name, when set.
    pub const NAME: &str = "name";
    /// The inference runtime, short: `tract-0.23`, `ort-1.32` (see
    /// [`super::runtime_txt`]). Absent on agents older than the key: tract.
    pub const RUNTIME: &str = "rt";
    /// The first characters of the device key's fingerprint (agents with a
    /// key; see `Device::key_fingerprint`).
    pub const FINGERPRINT: &str = "fp";
}

/// The TXT form of a runtime label: `ort 1.32.0` → `ort-1.32`.
pub fn runtime_txt(label: &str) -> String {
    let (name, version) = label.split_once(' ').unwrap_or((label, ""));
    let major_minor: Vec<&str> = version.split('.').take(2).collect();
    if major_minor.iter().all(|p| p.is_empty()) { name.to_owned() } else { format!("{name}-{}", major_minor.join(".")) }
}

/// The runtime label a TXT value stands for, as far as it tells:
/// `ort-1.32` → `ort 1.32`.
pub fn runtime_from_txt(value: &str) -> String {
    match value.split_once('-') {
        Some((name, version)) => format!("{name} {version}"),
        None => value.to_owned(),
    }
}

/// `GET /v1/health` (no auth).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub version: String,
    pub uptime_s: u64,
    /// The id the agent claims (absent on older agents). Public, like the
    /// mDNS record: a console uses it to pick the key it pinned for that id
    /// before sending any token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Its key's fingerprint (agents with a key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_fingerprint: Option<String>,
}

/// `GET /v1/info`: the device description plus agent facts. The device's
/// `runtime` and `runtime_ops` say what runs models there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InfoResponse {
    #[serde(flatten)]
    pub device: Device,
    pub agent_version: String,
    pub api: String,
    /// How the agent chose its runtime (absent on older agents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_info: Option<RuntimeInfo>,
}

/// The inference runtime an agent runs and why.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RuntimeInfo {
    /// `tract` or `ort`.
    pub name: String,
    pub version: String,
    /// The shared library ONNX Runtime was loaded from, and where it was
    /// found (`--ort-lib`, `ORT_DYLIB_PATH`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library: Option<String>,
    /// Why this runtime (e.g. auto fell back to tract: the library was not found).
    #[serde(default)]
    pub why: String,
}

/// Per-model serving statistics since the agent started.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ModelStats {
    pub name: String,
    pub version: String,
    pub requests: u64,
    /// Requests per second over the last few seconds.
    pub qps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Requests forwarded to the upstream because confidence was low.
    pub offloaded: u64,
    /// Requests answered locally because the upstream was down.
    #[serde(default)]
    pub upstream_failures: u64,
    /// Rows answered by the local model (confident, or kept local by the
    /// offload rule); absent on older agents.
    #[serde(default)]
    pub answered_locally: u64,
    /// Rows the offload rule sent to the upstream and it answered.
    #[serde(default)]
    pub sent_upstream: u64,
}

/// `GET /v1/metrics`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Metrics {
    /// Unix time (ms) the sample was taken on the device.
    pub timestamp_ms: u64,
    /// CPU load, 0..=1.
    pub cpu_load: f64,
    pub memory_used_mb: u64,
    pub memory_total_mb: u64,
    pub storage_free_gb: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_c: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery_percent: Option<f64>,
    pub uptime_s: u64,
    #[serde(default)]
    pub models: Vec<ModelStats>,
}

/// One installed model version in `GET /v1/models`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub size_bytes: u64,
    pub active: bool,
    /// The version rollback would return to.
    #[serde(default)]
    pub previous: bool,
    /// The offload confidence threshold set at activation (on the active
    /// version; `None`: the agent's default). Older agents send neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offload_threshold: Option<f64>,
    /// The latency SLA set at activation, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offload_sla_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ModelsResponse {
    pub models: Vec<ModelEntry>,
}

/// `GET /v1/models/{name}/{version}/upload`: how much of an upload the agent
/// holds, so a client resumes with `Content-Range: bytes {received}-…/total`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadStatus {
    pub name: String,
    pub version: String,
    pub received_bytes: u64,
    /// True when this version is fully installed (nothing to send).
    pub complete: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Answer to `PUT /v1/models/{name}/{version}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadResponse {
    pub name: String,
    pub version: String,
    pub received_bytes: u64,
    pub complete: bool,
    pub sha256: String,
}

/// `POST /v1/models/{name}/activate` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivateRequest {
    pub version: String,
    /// Confidence threshold below which predictions go upstream (the
    /// per-model offload threshold; `offload_threshold` is accepted too).
    #[serde(default, alias = "offload_threshold", skip_serializing_if = "Option::is_none")]
    pub confidence_threshold: Option<f64>,
    /// End-to-end latency limit for this model's predictions: a row below
    /// the threshold stays local when local + upstream time would exceed it
    /// (the rule of [`crate::offload::decide`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offload_sla_ms: Option<f64>,
}

/// What a console signs for each model version it deploys (ed25519, see
/// `POST /v1/trust`): the three fields, NUL-separated after a fixed label,
/// so no two different triples give the same message.
pub fn model_signature_message(name: &str, version: &str, sha256: &str) -> Vec<u8> {
    format!("edgefleet-model-v1\0{name}\0{version}\0{}", sha256.to_ascii_lowercase()).into_bytes()
}

/// `POST /v1/trust`: pin the console's model-signing key (token required).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustRequest {
    /// The ed25519 public key, 32 bytes in hex.
    pub console_key: String,
    /// Replace a different key already pinned (a deliberate console flag).
    #[serde(default)]
    pub replace: bool,
}

/// Answer to `POST /v1/trust`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustResponse {
    pub console_key: String,
    /// True when activations now need a signature by that key.
    pub require_signed: bool,
}

/// Answer to activate and rollback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivateResponse {
    pub name: String,
    pub active_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_version: Option<String>,
}

/// `POST /v1/predict/{model}` body: a batch of flat float rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictRequest {
    pub inputs: Vec<Vec<f32>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictOutput {
    pub values: Vec<f32>,
    pub top_class: usize,
    pub confidence: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictResponse {
    pub outputs: Vec<PredictOutput>,
    pub latency_ms: f64,
    /// `local`, or the id of the upstream that answered.
    pub served_by: String,
    pub model_version: String,
    /// Set when the upstream should have answered but could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `POST /v1/benchmark/{model}` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkRequest {
    #[serde(default = "default_batches")]
    pub batch_sizes: Vec<u32>,
    #[serde(default = "default_iterations")]
    pub iterations: u32,
    /// An installed version to benchmark (active or not); `None` = the
    /// active version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

fn default_batches() -> Vec<u32> {
    vec![1, 8, 32]
}
fn default_iterations() -> u32 {
    20
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchLatency {
    pub batch: u32,
    pub latency_ms_p50: f64,
    pub latency_ms_p90: f64,
    /// What the model took while running this batch, MB: its growth on
    /// loading plus the peak of this batch's calls. Counted on the heap when
    /// the response's [`BenchmarkMemory::heap`] says so (then plans kept
    /// for other batch sizes are left out); otherwise the peak resident
    /// memory above the RSS before the model was loaded. Absent on older
    /// agents and where the OS does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_mb: Option<f64>,
}

/// Memory the benchmarked model really took on the device, around loading a
/// fresh copy of it: the resident set size (`VmRSS`) always, and the bytes
/// live on the heap when the agent counts its allocations (newer agent
/// binaries). Resident memory undercounts in a long-running process — freed
/// heap is reused, so a small model may show no growth at all — which is
/// why the heap figures are preferred where present.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BenchmarkMemory {
    pub rss_before_load_mb: f64,
    pub rss_after_load_mb: f64,
    /// `rss_after_load_mb − rss_before_load_mb`: weights plus what the
    /// runtime keeps per model, as far as resident memory shows it.
    pub load_mb: f64,
    /// Heap bytes live before loading, MB (absent when the agent does not
    /// count its allocations, or its runtime allocates outside them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap_before_load_mb: Option<f64>,
    /// Heap bytes live after loading, MB: the difference is what the model
    /// really keeps (weights, plan, runtime state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap_after_load_mb: Option<f64>,
}

impl BenchmarkMemory {
    /// Whether the figures (this one's load and every batch's `peak_mb`)
    /// were counted on the heap rather than read from resident memory.
    pub fn heap(&self) -> bool {
        self.heap_load_mb().is_some()
    }

    /// Heap growth on loading, MB, when counted.
    pub fn heap_load_mb(&self) -> Option<f64> {
        Some(self.heap_after_load_mb? - self.heap_before_load_mb?)
    }

    /// "heap" or "RSS": how the memory was measured, for people.
    pub fn source(&self) -> &'static str {
        if self.heap() { "heap" } else { "RSS" }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkResponse {
    pub model: String,
    pub version: String,
    pub results: Vec<BatchLatency>,
    /// Memory measured around loading the model (absent on older agents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<BenchmarkMemory>,
    /// True when the agent is simulated: the latencies are padded to its
    /// synthetic speed and the memory is synthetic — not a measurement of
    /// real hardware.
    #[serde(default)]
    pub synthetic: bool,
}

/// Every error response: a short machine-readable `error` code and a
/// sentence for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_labels_shorten_for_txt_and_back() {
        assert_eq!(runtime_txt("ort 1.32.0"), "ort-1.32");
        assert_eq!(runtime_txt("tract 0.23.9"), "tract-0.23");
        assert_eq!(runtime_txt("tract"), "tract");
        assert_eq!(runtime_from_txt("ort-1.32"), "ort 1.32");
    }

    #[test]
    fn info_from_an_agent_without_runtime_fields_still_parses() {
        let device = crate::Device::new("d", crate::DeviceType::EdgeServer, 4, 4096, 32.0);
        let old = InfoResponse { device, agent_version: "0.1.0".into(), api: API_VERSION.into(), runtime_info: None };
        let mut json = serde_json::to_value(&old).unwrap();
        json.as_object_mut().unwrap().remove("runtime_info");
        let back: InfoResponse = serde_json::from_value(json).unwrap();
        assert_eq!(back, old);
        assert_eq!(back.device.runtime, None);
    }
}
