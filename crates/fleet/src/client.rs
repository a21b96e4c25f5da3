//! HTTP client for one agent's v1 API (`edgefleet_core::wire`).
//!
//! Every call has a timeout, so one hung device never stalls a scan or the
//! poller. Uploads are resumable: the client asks the agent how many bytes it
//! already holds and sends only the rest with `Content-Range`.

use crate::error::{FleetError, Result};
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

/// Default timeout of ordinary calls.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// Uploads and benchmarks may take long; they get this instead.
pub const LONG_TIMEOUT: Duration = Duration::from_secs(600);

/// A client bound to one agent.
#[derive(Debug, Clone)]
pub struct AgentClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    timeout: Duration,
}

/// One shared connection pool for all clients of a process.
pub fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .no_proxy()
        .build()
        .map_err(|e| FleetError::BadInput(format!("cannot build HTTP client: {e}")))
}

impl AgentClient {
    /// A client for `http://{addr}`.
    pub fn new(http: reqwest::Client, addr: SocketAddr, token: Option<String>) -> Self {
        Self::with_base(http, format!("http://{addr}"), token)
    }

    /// A client for a base URL such as `http://127.0.0.1:7000`.
    pub fn with_base(http: reqwest::Client, base: impl Into<String>, token: Option<String>) -> Self {
        let base = base.into().trim_end_matches('/').to_owned();
        AgentClient { http, base, token, timeout: DEFAULT_TIMEOUT }
    }

    /// The same client with another per-call timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
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
            "timed out".to_owned()
        } else if e.is_connect() {
            "connection refused or no route".to_owned()
        } else {
            e.to_string()
        };
        FleetError::Unreachable { addr: self.base.clone(), reason }
    }

    async fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T> {
        let resp = req.send().await.map_err(|e| self.unreachable(e))?;
        self.decode(resp).await
    }

    async fn decode<T: DeserializeOwned>(&self, resp: reqwest::Response) -> Result<T> {
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| self.unreachable(e))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| FleetError::Protocol { addr: self.base.clone(), reason: format!("bad JSON: {e}") });
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(FleetError::Agent {
                addr: self.base.clone(),
                status: status.as_u16(),
                error: body.error,
                detail: body.detail,
            }),
            Err(_) => Err(FleetError::Agent {
                addr: self.base.clone(),
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
        if status.complete {
            if status.sha256.as_deref().is_some_and(|h| h != sha256) {
                return Err(FleetError::BadInput(format!(
                    "{name} {version} is already installed on {} with a different SHA-256; use a new version",
                    self.base
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
        // A partial upload larger than the file belongs to another file: start over.
        let start = if status.received_bytes <= total { status.received_bytes } else { 0 };
        progress(start, total);
        let mut file = tokio::fs::File::open(path).await.map_err(io_err)?;
        file.seek(std::io::SeekFrom::Start(start)).await.map_err(io_err)?;
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(start));
        let progress = std::sync::Arc::new(progress);
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).map({
            let sent = sent.clone();
            let progress = progress.clone();
            move |chunk| {
                if let Ok(c) = &chunk {
                    let now = sent.fetch_add(c.len() as u64, std::sync::atomic::Ordering::Relaxed) + c.len() as u64;
                    progress(now, total);
                }
                chunk
            }
        });
        let mut req = self
            .request(reqwest::Method::PUT, &format!("/models/{name}/{version}"))
            .timeout(LONG_TIMEOUT)
            .header(wire::CONTENT_SHA256_HEADER, sha256)
            .header(reqwest::header::CONTENT_LENGTH, total - start)
            .body(reqwest::Body::wrap_stream(stream));
        if start > 0 || total == 0 {
            let last = total.saturating_sub(1);
            req = req.header(reqwest::header::CONTENT_RANGE, format!("bytes {start}-{last}/{total}"));
        }
        self.send(req).await
    }

    pub async fn activate(
        &self,
        name: &str,
        version: &str,
        confidence_threshold: Option<f64>,
    ) -> Result<ActivateResponse> {
        let body = ActivateRequest { version: version.to_owned(), confidence_threshold };
        self.send(
            self.request(reqwest::Method::POST, &format!("/models/{name}/activate")).timeout(LONG_TIMEOUT).json(&body),
        )
        .await
    }

    pub async fn rollback(&self, name: &str) -> Result<ActivateResponse> {
        self.post(&format!("/models/{name}/rollback"), &serde_json::json!({})).await
    }

    pub async fn predict(&self, model: &str, inputs: Vec<Vec<f32>>) -> Result<PredictResponse> {
        self.send(
            self.request(reqwest::Method::POST, &format!("/predict/{model}"))
                .timeout(self.timeout.max(Duration::from_secs(10)))
                .json(&PredictRequest { inputs }),
        )
        .await
    }

    pub async fn benchmark(&self, model: &str, req: &BenchmarkRequest) -> Result<BenchmarkResponse> {
        self.send(self.request(reqwest::Method::POST, &format!("/benchmark/{model}")).timeout(LONG_TIMEOUT).json(req))
            .await
    }
}
