//! The upstream an agent offloads low-confidence predictions to (another
//! agent, typically an edge server with a bigger model), and reading any
//! HTTP answer with a size limit ([`read_body_limited`], also used by the
//! console's client).

use edgefleet_core::wire::{InfoResponse, PredictRequest, PredictResponse};
use std::time::Duration;
use tokio::sync::OnceCell;

/// Give up on the upstream after this long and answer locally.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest `/v1/info` answer read.
const MAX_INFO_BYTES: usize = 1 << 20;
/// Largest error body read (it only goes into a log line).
const MAX_ERROR_BYTES: usize = 64 * 1024;
/// Predict answers are read up to this many bytes a forwarded row (plus
/// 1 MiB), and never past [`MAX_PREDICT_RESPONSE_BYTES`].
const PREDICT_RESPONSE_BYTES_PER_ROW: usize = 64 * 1024;
const MAX_PREDICT_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Why a response body was not read whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyLimitError {
    #[error("the answer is larger than {limit_bytes} bytes")]
    TooLarge { limit_bytes: usize },
    #[error("the answer broke off: {0}")]
    Read(#[from] reqwest::Error),
}

/// Read a response body chunk by chunk, giving up as soon as it passes
/// `limit_bytes` (a declared Content-Length over the limit fails at once),
/// so a hostile or broken server cannot make us buffer gigabytes.
pub async fn read_body_limited(mut resp: reqwest::Response, limit_bytes: usize) -> Result<Vec<u8>, BodyLimitError> {
    if resp.content_length().is_some_and(|n| n > limit_bytes as u64) {
        return Err(BodyLimitError::TooLarge { limit_bytes });
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if out.len() + chunk.len() > limit_bytes {
            return Err(BodyLimitError::TooLarge { limit_bytes });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[derive(Debug)]
pub struct Upstream {
    base_url: String,
    token: Option<String>,
    client: reqwest::Client,
    id: OnceCell<String>,
}

impl Upstream {
    /// An upstream at `base_url`. An `https://` one needs the fingerprint
    /// of its key (`--upstream-fingerprint`): only that key is trusted.
    pub fn new(base_url: &str, token: Option<String>, fingerprint: Option<&str>) -> Result<Upstream, String> {
        // Redirects are not followed: the token would go wherever one points.
        let builder = reqwest::Client::builder().timeout(UPSTREAM_TIMEOUT).redirect(reqwest::redirect::Policy::none());
        let builder = match (base_url.starts_with("https://"), fingerprint) {
            (true, Some(fp)) => {
                let tls = crate::upstream_tls::pinned_client_config(fp).map_err(|e| e.to_string())?;
                builder.use_preconfigured_tls(tls)
            }
            (true, None) => return Err("an https:// upstream needs the fingerprint of its key".into()),
            (false, Some(_)) => return Err("a fingerprint is only for an https:// upstream".into()),
            (false, None) => {
                crate::device_key::install_crypto_provider();
                builder
            }
        };
        let client = builder.build().map_err(|e| e.to_string())?;
        Ok(Upstream { base_url: base_url.trim_end_matches('/').to_owned(), token, client, id: OnceCell::new() })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn authed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// The upstream's device id (asked once); its URL while it cannot be asked.
    pub async fn id(&self) -> String {
        let fetched = self
            .id
            .get_or_try_init(|| async {
                let resp = self
                    .authed(self.client.get(format!("{}/v1/info", self.base_url)))
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|e| e.to_string())?;
                let bytes = read_body_limited(resp, MAX_INFO_BYTES).await.map_err(|e| e.to_string())?;
                let info: InfoResponse = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
                Ok::<_, String>(info.device.device_id)
            })
            .await;
        match fetched {
            Ok(id) => id.clone(),
            Err(_) => self.base_url.clone(),
        }
    }

    /// Run `rows` on the upstream's `model`.
    pub async fn predict(&self, model: &str, rows: Vec<Vec<f32>>) -> Result<PredictResponse, String> {
        let url = format!("{}/v1/predict/{model}", self.base_url);
        let limit =
            MAX_PREDICT_RESPONSE_BYTES.min(rows.len().saturating_mul(PREDICT_RESPONSE_BYTES_PER_ROW) + (1 << 20));
        let resp = self
            .authed(self.client.post(url))
            .json(&PredictRequest { inputs: rows })
            .send()
            .await
            .map_err(|e| format!("unreachable: {e}"))?;
        let status = resp.status();
        if !status.is_success() {
            let body = read_body_limited(resp, MAX_ERROR_BYTES).await.unwrap_or_default();
            return Err(format!("answered {status}: {}", String::from_utf8_lossy(&body)));
        }
        let bytes = read_body_limited(resp, limit).await.map_err(|e| format!("sent an unreadable answer: {e}"))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("sent an unreadable answer: {e}"))
    }
}
