//! One device, whichever way the console reaches it: its HTTP API
//! ([`AgentClient`]) or commands through the broker ([`BrokerLink`]). The
//! rollout's steps call these and never ask which: an install is an upload
//! over HTTP, or a `deploy` command the agent answers by pulling the file
//! from the console's model file server (with `Range` resume); listing,
//! activating, rolling back, the health check and pinning this console's
//! model-signing key at pairing are the same requests on either transport,
//! and their errors are the same [`FleetError`]s.

use crate::broker_link::BrokerLink;
use crate::client::AgentClient;
use crate::error::{FleetError, Result};
use crate::model_signing::ModelSigner;
use edgefleet_core::mqtt_wire::{BrokerCommand, Progress, PullRequest};
use edgefleet_core::wire::{
    ActivateRequest, ActivateResponse, BenchmarkRequest, BenchmarkResponse, ModelsResponse, TrustRequest,
    TrustResponse, UploadResponse,
};
use serde::de::DeserializeOwned;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long a quick command (list, roll back) may go without a reply.
const QUICK_REPLY: Duration = Duration::from_secs(10);
/// Loading a model (activation, a benchmark) may take longer.
const SLOW_REPLY: Duration = Duration::from_secs(60);
/// A download reports progress every second; this long without any
/// message about it, the command is taken as lost (and retried: the agent
/// resumes from what its store holds).
const PULL_IDLE: Duration = Duration::from_secs(20);

/// A device reached through the broker.
#[derive(Clone)]
pub struct BrokerDevice {
    link: BrokerLink,
    device_id: String,
    token: Option<String>,
    /// Signs what this console deploys, as over HTTP (see `model_signing`).
    signer: Option<Arc<ModelSigner>>,
}

impl std::fmt::Debug for BrokerDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerDevice").field("device_id", &self.device_id).field("link", &self.link).finish()
    }
}

/// How to talk to one device.
#[derive(Debug, Clone)]
pub enum DeviceLink {
    Http(AgentClient),
    Broker(BrokerDevice),
}

/// What a file install needs besides the file.
pub struct InstallRequest<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub path: &'a Path,
    pub sha256: &'a str,
    pub size_bytes: u64,
    /// Where a device on the broker pulls the file from (`http://…`);
    /// unused over HTTP.
    pub url: Option<&'a str>,
}

/// The `upload` part of a deploy command's answer.
#[derive(serde::Deserialize)]
struct Pulled {
    received_bytes: u64,
    complete: bool,
    #[serde(default)]
    sha256: Option<String>,
}

impl DeviceLink {
    pub(crate) fn broker(
        link: BrokerLink,
        device_id: &str,
        token: Option<String>,
        signer: Option<Arc<ModelSigner>>,
    ) -> Self {
        DeviceLink::Broker(BrokerDevice { link, device_id: device_id.to_owned(), token, signer })
    }

    /// Where the device is, as messages name it.
    pub fn addr(&self) -> String {
        match self {
            DeviceLink::Http(c) => c.base().to_owned(),
            DeviceLink::Broker(b) => b.link.device_addr(&b.device_id),
        }
    }

    pub fn is_broker(&self) -> bool {
        matches!(self, DeviceLink::Broker(_))
    }

    /// An HTTP link's requests time out after `timeout` (a look at many
    /// devices at once); a broker link keeps its own bounds.
    pub fn with_timeout(self, timeout: Duration) -> Self {
        match self {
            DeviceLink::Http(c) => DeviceLink::Http(c.timeout(timeout)),
            other => other,
        }
    }

    /// The same link sending `token` (pairing: the token just given).
    pub fn with_token(self, token: Option<String>) -> Self {
        match self {
            DeviceLink::Http(c) => DeviceLink::Http(c.with_token(token)),
            DeviceLink::Broker(b) => DeviceLink::Broker(BrokerDevice { token, ..b }),
        }
    }

    /// Pin this console's model-signing key on the device (`POST /v1/trust`,
    /// or the broker's `trust` command); `replace` replaces a different key
    /// already pinned there. From then on it activates only models this
    /// console signed.
    pub async fn trust(&self, replace: bool) -> Result<TrustResponse> {
        match self {
            DeviceLink::Http(c) => c.trust(replace).await,
            DeviceLink::Broker(b) => {
                let Some(signer) = &b.signer else {
                    return Err(FleetError::BadInput("this console has no signing key to pin".into()));
                };
                let request = TrustRequest { console_key: signer.public_key_hex(), replace };
                b.call(BrokerCommand::Trust { request }, QUICK_REPLY, &|_| {}).await
            }
        }
    }

    pub async fn models(&self) -> Result<ModelsResponse> {
        match self {
            DeviceLink::Http(c) => c.models().await,
            DeviceLink::Broker(b) => b.call(BrokerCommand::Models, QUICK_REPLY, &|_| {}).await,
        }
    }

    /// Install a file (resuming): an upload, or a pull by the device.
    /// `progress` gets (bytes the device holds, total).
    pub async fn install(
        &self,
        req: &InstallRequest<'_>,
        progress: impl Fn(u64, u64) + Send + Sync + 'static,
    ) -> Result<UploadResponse> {
        match self {
            DeviceLink::Http(c) => c.upload_model(req.name, req.version, req.path, req.sha256, progress).await,
            DeviceLink::Broker(b) => {
                let url = req.url.ok_or_else(|| {
                    FleetError::BadInput(format!("{}: no URL to pull the model from", b.link.device_addr(&b.device_id)))
                })?;
                // This console deploys this file as (name, version): its
                // activation carries a signature over exactly that (the
                // agent checks it against the bytes it verified).
                if let Some(signer) = &b.signer {
                    signer.approve(req.name, req.version, req.sha256);
                }
                let pull = PullRequest {
                    version: req.version.to_owned(),
                    url: url.to_owned(),
                    size_bytes: req.size_bytes,
                    sha256: req.sha256.to_owned(),
                    activate: false,
                    confidence_threshold: None,
                    signature: None,
                };
                let command = BrokerCommand::Deploy { model: req.name.to_owned(), request: pull };
                let on_progress = move |p: Progress| progress(p.received_bytes, p.total_bytes);
                let answer: serde_json::Value = b.call(command, PULL_IDLE, &on_progress).await?;
                let pulled: Pulled = decode(&b.addr(), answer.get("upload").cloned().unwrap_or_default())?;
                Ok(UploadResponse {
                    name: req.name.to_owned(),
                    version: req.version.to_owned(),
                    received_bytes: pulled.received_bytes,
                    complete: pulled.complete,
                    sha256: pulled.sha256.unwrap_or_default(),
                })
            }
        }
    }

    pub async fn activate(&self, name: &str, version: &str, threshold: Option<f64>) -> Result<ActivateResponse> {
        self.activate_with_offload(name, version, threshold, None).await
    }

    /// Activate with the offload threshold and latency SLA (ms) to set.
    pub async fn activate_with_offload(
        &self,
        name: &str,
        version: &str,
        threshold: Option<f64>,
        offload_sla_ms: Option<f64>,
    ) -> Result<ActivateResponse> {
        match self {
            DeviceLink::Http(c) => c.activate_with_offload(name, version, threshold, offload_sla_ms).await,
            DeviceLink::Broker(b) => {
                let request =
                    ActivateRequest { version: version.to_owned(), confidence_threshold: threshold, offload_sla_ms };
                let signature = b.signer.as_ref().and_then(|s| s.signature_for(name, version));
                let command = BrokerCommand::Activate { model: name.to_owned(), request, signature };
                b.call(command, SLOW_REPLY, &|_| {}).await
            }
        }
    }

    pub async fn rollback(&self, name: &str) -> Result<ActivateResponse> {
        match self {
            DeviceLink::Http(c) => c.rollback(name).await,
            DeviceLink::Broker(b) => {
                b.call(BrokerCommand::Rollback { model: name.to_owned() }, QUICK_REPLY, &|_| {}).await
            }
        }
    }

    pub async fn benchmark(&self, name: &str, req: &BenchmarkRequest) -> Result<BenchmarkResponse> {
        match self {
            DeviceLink::Http(c) => c.benchmark(name, req).await,
            DeviceLink::Broker(b) => {
                let command = BrokerCommand::Benchmark { model: name.to_owned(), request: req.clone() };
                b.call(command, SLOW_REPLY, &|_| {}).await
            }
        }
    }

    /// The device answers at all (HTTP `/v1/health`; over the broker, a
    /// model list).
    pub async fn answers(&self) -> bool {
        match self {
            DeviceLink::Http(c) => c.health().await.is_ok(),
            DeviceLink::Broker(_) => self.models().await.is_ok(),
        }
    }
}

impl BrokerDevice {
    /// Where the console serves model files for this broker's devices.
    pub fn serve_models_on(&self) -> std::net::SocketAddr {
        self.link.spec().serve_models_on
    }

    fn addr(&self) -> String {
        self.link.device_addr(&self.device_id)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        command: BrokerCommand,
        idle: Duration,
        on_progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<T> {
        let Some(token) = &self.token else {
            return Err(FleetError::Agent {
                addr: self.addr(),
                status: 401,
                error: "unauthorized".into(),
                detail: format!("no token for {}: pair it first", self.device_id),
            });
        };
        let answer = self.link.request(&self.device_id, token, command, idle, on_progress).await?;
        decode(&self.addr(), answer)
    }
}

fn decode<T: DeserializeOwned>(addr: &str, value: serde_json::Value) -> Result<T> {
    serde_json::from_value(value)
        .map_err(|e| FleetError::Protocol { addr: addr.to_owned(), reason: format!("unexpected reply: {e}") })
}
