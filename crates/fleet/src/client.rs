//! HTTP client for one agent's v1 API (`edgefleet_core::wire`).
//!
//! Every call has a timeout, so one hung device never stalls a scan or the
//! poller; uploads instead time out when they stop making progress. Answers
//! are read up to a size limit and redirects are not followed, so a device
//! (or something posing as one) can neither make the console buffer
//! gigabytes nor send the token elsewhere. Uploads are resumable: the
//! client asks the agent how many bytes it already holds and sends only the
//! rest with `Content-Range`.
//!
//! A device whose key is pinned is reached only over TLS with that key
//! ([`AgentClient::pinned`], see `pinned_tls`); [`AgentClient::new`] is
//! plain HTTP, for agents run with `--insecure-http`.

use crate::error::{FleetError, Result};
use edgefleet_agent::{BodyLimitError, read_body_limited};
use edgefleet_core::wire::{
    self, ActivateRequest, ActivateResponse, BenchmarkRequest, BenchmarkResponse, ErrorBody, Health, InfoResponse,
    Metrics, ModelsResponse, PredictRequest, PredictResponse, UploadResponse, UploadStatus,
};
use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncSeekExt;

/// The reason of a [`FleetError::Unreachable`] whose call ran out of time.
pub(crate) const TIMED_OUT: &str = "timed out";

/// Default timeout of ordinary calls.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// Activations and benchmarks may take long; they get this instead.
pub const LONG_TIMEOUT: Duration = Duration::from_secs(600);
/// An upload whose body has not moved for this long is abandoned (resumable).
pub const UPLOAD_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// After the last byte of an upload, the agent's answer must come within this.
pub const UPLOAD_ANSWER_TIMEOUT: Duration = Duration::from_secs(120);
/// Outer bound on one upload request, however steadily it moves.
const UPLOAD_SAFETY_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// Largest answer read from an agent, by default (info, metrics, lists...).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 2 * 1024 * 1024;
/// Largest predict or benchmark answer read.
pub const MAX_RESULT_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// A client bound to one agent.
#[derive(Debug, Clone)]
pub struct AgentClient {
    http: reqwest::Client,
    base: String,
    /// `scheme://ip:port`, for messages (the base of a pinned client is a
    /// long synthetic name).
    shown: String,
    token: Option<String>,
    timeout: Duration,
    upload_stall: Duration,
    /// Signs the versions this client uploads, for agents that pinned the
    /// console's key.
    signer: Option<std::sync::Arc<crate::model_signing::ModelSigner>>,
}

/// One shared connection pool for all clients of a process: plain HTTP,
/// and TLS only to agents through pinned names (see `pinned_tls`).
pub fn http_client() -> Result<reqwest::Client> {
    let tls = crate::pinned_tls::client_config()
        .map_err(|e| FleetError::BadInput(format!("cannot build the TLS configuration: {e}")))?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .tls_info(true)
        .dns_resolver(std::sync::Arc::new(crate::pinned_tls::PinResolver))
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .no_proxy()
        // A redirect would carry the bearer token to wherever it points.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| FleetError::BadInput(format!("cannot build HTTP client: {e}")))
}

impl AgentClient {
    /// A client for `http://{addr}` (an agent run with `--insecure-http`).
    pub fn new(http: reqwest::Client, addr: SocketAddr, token: Option<String>) -> Self {
        Self::with_base(http, format!("http://{addr}"), token)
    }

    /// A client for the agent at `addr` over TLS, accepting only the key
    /// with `fingerprint` (`http` must come from [`http_client`]).
    pub fn pinned(http: reqwest::Client, addr: SocketAddr, fingerprint: &str, token: Option<String>) -> Self {
        let host = crate::pinned_tls::pinned_host(Some(fingerprint), addr.ip());
        let mut client = Self::with_base(http, format!("https://{host}:{}", addr.port()), token);
        client.shown = format!("https://{addr}");
        client
    }

    /// A client for the agent at `addr` over TLS accepting any key, never
    /// with a token: to learn which key it presents ([`Self::health_and_key`]).
    pub fn tls_probe(http: reqwest::Client, addr: SocketAddr) -> Self {
        let host = crate::pinned_tls::pinned_host(None, addr.ip());
        let mut client = Self::with_base(http, format!("https://{host}:{}", addr.port()), None);
        client.shown = format!("https://{addr}");
        client
    }

    /// A client for the device at `addr`: pinned TLS when its key is known,
    /// else plain HTTP.
    pub fn for_device(
        http: reqwest::Client,
        addr: SocketAddr,
        fingerprint: Option<&str>,
        token: Option<String>,
    ) -> Self {
        match fingerprint {
            Some(fp) => Self::pinned(http, addr, fp, token),
            None => Self::new(http, addr, token),
        }
    }

    /// A client for a base URL such as `http://127.0.0.1:7000`.
    pub fn with_base(http: reqwest::Client, base: impl Into<String>, token: Option<String>) -> Self {
        let base = base.into().trim_end_matches('/').to_owned();
        AgentClient {
            http,
            shown: base.clone(),
            base,
            token,
            timeout: DEFAULT_TIMEOUT,
            upload_stall: UPLOAD_STALL_TIMEOUT,
            signer: None,
        }
    }

    /// The same client signing what it uploads with `signer` (see
    /// `model_signing`): activations of those versions carry the signature.
    pub fn with_signer(mut self, signer: Option<std::sync::Arc<crate::model_signing::ModelSigner>>) -> Self {
        self.signer = signer;
        self
    }

    /// Pin this console's model-signing key on the agent (`POST /v1/trust`);
    /// `replace` replaces a different key already pinned there.
    pub async fn trust(&self, replace: bool) -> Result<wire::TrustResponse> {
        let Some(signer) = &self.signer else {
            return Err(FleetError::BadInput("this client has no signing key to pin".into()));
        };
        let body = wire::TrustRequest { console_key: signer.public_key_hex(), replace };
        self.post("/trust", &body).await
    }

    /// `scheme://ip:port` of the agent, for messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The same client sending `token` instead.
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// The same client with another per-call timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same client giving up on uploads that stall for `stall`.
    pub fn upload_stall_timeout(mut self, stall: Duration) -> Self {
        self.upload_stall = stall;
        self
    }

    /// The shared connection pool this client uses.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}{}", self.base, wire::API_VERSION, path)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self.http.request(method, self.url(path)).timeout(self.timeout);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        req
    }

    fn unreachable(&self, e: reqwest::Error) -> FleetError {
        let reason = if e.is_timeout() {
            TIMED_OUT.to_owned()
        } else if e.is_connect() {
            "connection refused or no route".to_owned()
        } else {
            e.to_string()
        };
        FleetError::Unreachable { addr: self.shown.clone(), reason }
    }

    async fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T> {
        self.send_limited(req, DEFAULT_MAX_RESPONSE_BYTES).await
    }

    async fn send_limited<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder, limit_bytes: usize) -> Result<T> {
        let resp = req.send().await.map_err(|e| self.unreachable(e))?;
        self.decode(resp, limit_bytes).await
    }

    async fn decode<T: DeserializeOwned>(&self, resp: reqwest::Response, limit_bytes: usize) -> Result<T> {
        let status = resp.status();
        let bytes = match read_body_limited(resp, limit_bytes).await {
            Ok(b) => b,
            Err(BodyLimitError::Read(e)) => return Err(self.unreachable(e)),
            Err(e @ BodyLimitError::TooLarge { .. }) => {
                return Err(FleetError::Protocol { addr: self.shown.clone(), reason: e.to_string() });
            }
        };
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| FleetError::Protocol { addr: self.shown.clone(), reason: format!("bad JSON: {e}") });
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(FleetError::Agent {
                addr: self.shown.clone(),
                status: status.as_u16(),
                error: body.error,
                detail: body.detail,
            }),
            Err(_) => Err(FleetError::Agent {
                addr: self.shown.clone(),
                status: status.as_u16(),
                error: status.canonical_reason().unwrap_or("error").to_owned(),
                detail: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            }),
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        self.send(self.request(reqwest::Method::POST, path).json(body)).await
    }

    pub async fn health(&self) -> Result<Health> {
        self.get("/health").await
    }

    /// `/v1/health` and the fingerprint of the key the agent proved in the
    /// TLS handshake (`None` over plain HTTP).
    pub async fn health_and_key(&self) -> Result<(Health, Option<String>)> {
        let resp = self.request(reqwest::Method::GET, "/health").send().await.map_err(|e| self.unreachable(e))?;
        let key = resp
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|info| info.peer_certificate())
            .and_then(crate::pinned_tls::certificate_fingerprint);
        Ok((self.decode(resp, DEFAULT_MAX_RESPONSE_BYTES).await?, key))
    }

    pub async fn info(&self) -> Result<InfoResponse> {
        self.get("/info").await
    }

    pub async fn metrics(&self) -> Result<Metrics> {
        self.get("/metrics").await
    }

    pub async fn models(&self) -> Result<ModelsResponse> {
        self.get("/models").await
    }

    pub async fn upload_status(&self, name: &str, version: &str) -> Result<UploadStatus> {
        self.get(&format!("/models/{name}/{version}/upload")).await
    }

    /// Upload a model file, resuming where the agent left off. `progress`
    /// gets (bytes the agent holds, total) as the upload goes.
    pub async fn upload_model(
        &self,
        name: &str,
        version: &str,
        path: &Path,
        sha256: &str,
        progress: impl Fn(u64, u64) + Send + Sync + 'static,
    ) -> Result<UploadResponse> {
        let io_err = |source| FleetError::Io { path: path.display().to_string(), source };
        let total = tokio::fs::metadata(path).await.map_err(io_err)?.len();
        let status = self.upload_status(name, version).await?;
        if let Some(signer) = &self.signer
            && status.sha256.as_deref().is_none_or(|h| h == sha256)
        {
            // This console deploys this file as (name, version): activating
            // it sends a signature over exactly that.
            signer.approve(name, version, sha256);
        }
        if status.complete {
            if status.sha256.as_deref().is_some_and(|h| h != sha256) {
                return Err(FleetError::BadInput(format!(
                    "{name} {version} is already installed on {} with a different SHA-256; use a new version",
                    self.shown
                )));
            }
            progress(total, total);
            return Ok(UploadResponse {
                name: name.to_owned(),
                version: version.to_owned(),
                received_bytes: total,
                complete: true,
                sha256: sha256.to_owned(),
            });
        }
        // A partial upload larger than the file belongs to another file, and
        // one as large as the file was cut off after its last byte, before
        // the agent checked it (no range can resume it): start over.
        let start = if status.received_bytes < total { status.received_bytes } else { 0 };
        progress(start, total);
        let mut file = tokio::fs::File::open(path).await.map_err(io_err)?;
        file.seek(std::io::SeekFrom::Start(start)).await.map_err(io_err)?;
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(start));
        let progress = std::sync::Arc::new(progress);
        let epoch = std::time::Instant::now();
        // When the body last moved (ms since `epoch`): the watchdog below
        // gives up on a stall, however long a moving upload takes.
        let moved_ms = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).map({
            let sent = sent.clone();
            let progress = progress.clone();
            let moved_ms = moved_ms.clone();
            move |chunk| {
                if let Ok(c) = &chunk {
                    let now = sent.fetch_add(c.len() as u64, std::sync::atomic::Ordering::Relaxed) + c.len() as u64;
                    moved_ms.store(epoch.elapsed().as_millis() as u64, std::sync::atomic::Ordering::Relaxed);
                    progress(now, total);
                }
                chunk
            }
        });
        let mut req = self
            .request(reqwest::Method::PUT, &format!("/models/{name}/{version}"))
            .timeout(UPLOAD_SAFETY_TIMEOUT)
            .header(wire::CONTENT_SHA256_HEADER, sha256)
            .header(reqwest::header::CONTENT_LENGTH, total - start)
            .body(reqwest::Body::wrap_stream(stream));
        if start > 0 || total == 0 {
            let last = total.saturating_sub(1);
            req = req.header(reqwest::header::CONTENT_RANGE, format!("bytes {start}-{last}/{total}"));
        }
        let (stall, answer) = (self.upload_stall, UPLOAD_ANSWER_TIMEOUT.max(self.upload_stall));
        let watchdog = async {
            loop {
                tokio::time::sleep((stall / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))).await;
                let idle = epoch
                    .elapsed()
                    .saturating_sub(Duration::from_millis(moved_ms.load(std::sync::atomic::Ordering::Relaxed)));
                let all_sent = sent.load(std::sync::atomic::Ordering::Relaxed) >= total;
                if idle > if all_sent { answer } else { stall } {
                    return (all_sent, idle);
                }
            }
        };
        tokio::select! {
            result = self.send(req) => result,
            (all_sent, idle) = watchdog => Err(FleetError::Unreachable {
                addr: self.shown.clone(),
                reason: if all_sent {
                    format!("no answer {} s after the last byte of the upload", idle.as_secs())
                } else {
                    format!("the upload made no progress for {} s (it resumes from what the agent holds)", idle.as_secs())
                },
            }),
        }
    }

    pub async fn activate(
        &self,
        name: &str,
        version: &str,
        confidence_threshold: Option<f64>,
    ) -> Result<ActivateResponse> {
        self.activate_with_offload(name, version, confidence_threshold, None).await
    }

    /// [`AgentClient::activate`] that also sets the model's offload latency
    /// SLA (ms): a row below the confidence threshold goes upstream only
    /// when local time + the upstream's time stays within it.
    pub async fn activate_with_offload(
        &self,
        name: &str,
        version: &str,
        confidence_threshold: Option<f64>,
        offload_sla_ms: Option<f64>,
    ) -> Result<ActivateResponse> {
        let body = ActivateRequest { version: version.to_owned(), confidence_threshold, offload_sla_ms };
        let mut req =
            self.request(reqwest::Method::POST, &format!("/models/{name}/activate")).timeout(LONG_TIMEOUT).json(&body);
        if let Some(signature) = self.signer.as_ref().and_then(|s| s.signature_for(name, version)) {
            req = req.header(edgefleet_agent::MODEL_SIGNATURE_HEADER, signature);
        }
        self.send(req).await
    }

    pub async fn rollback(&self, name: &str) -> Result<ActivateResponse> {
        self.post(&format!("/models/{name}/rollback"), &serde_json::json!({})).await
    }

    pub async fn predict(&self, model: &str, inputs: Vec<Vec<f32>>) -> Result<PredictResponse> {
        self.send_limited(
            self.request(reqwest::Method::POST, &format!("/predict/{model}"))
                .timeout(self.timeout.max(Duration::from_secs(10)))
                .json(&PredictRequest { inputs }),
            MAX_RESULT_RESPONSE_BYTES,
        )
        .await
    }

    pub async fn benchmark(&self, model: &str, req: &BenchmarkRequest) -> Result<BenchmarkResponse> {
        self.send_limited(
            self.request(reqwest::Method::POST, &format!("/benchmark/{model}")).timeout(LONG_TIMEOUT).json(req),
            MAX_RESULT_RESPONSE_BYTES,
        )
        .await
    }

    /// Delete an installed version that is not active (the agent answers
    /// 409 for the active one).
    pub async fn delete_model(&self, name: &str, version: &str) -> Result<()> {
        let resp = self
            .request(reqwest::Method::DELETE, &format!("/models/{name}/{version}"))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        if resp.status().is_success() {
            return Ok(());
        }
        self.decode::<serde_json::Value>(resp, DEFAULT_MAX_RESPONSE_BYTES).await.map(|_| ())
    }

    /// Replace the agent's bearer token with `new_token` (made by the
    /// caller, at least 32 characters). This client keeps the old one.
    pub async fn rotate_token(&self, new_token: &str) -> Result<()> {
        self.post::<_, serde_json::Value>("/token", &serde_json::json!({ "token": new_token })).await.map(|_| ())
    }
}
