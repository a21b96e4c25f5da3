//! The upstream an agent offloads low-confidence predictions to (another
//! agent, typically an edge server with a bigger model).

use edgefleet_core::wire::{InfoResponse, PredictRequest, PredictResponse};
use std::time::Duration;
use tokio::sync::OnceCell;

/// Give up on the upstream after this long and answer locally.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct Upstream {
    base_url: String,
    token: Option<String>,
    client: reqwest::Client,
    id: OnceCell<String>,
}

impl Upstream {
    pub fn new(base_url: &str, token: Option<String>) -> Result<Upstream, reqwest::Error> {
        let client = reqwest::Client::builder().timeout(UPSTREAM_TIMEOUT).build()?;
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
                let info: InfoResponse = self
                    .authed(self.client.get(format!("{}/v1/info", self.base_url)))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                Ok::<_, reqwest::Error>(info.device.device_id)
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
        let resp = self
            .authed(self.client.post(url))
            .json(&PredictRequest { inputs: rows })
            .send()
            .await
            .map_err(|e| format!("unreachable: {e}"))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(format!("answered {status}: {body}"));
        }
        resp.json().await.map_err(|e| format!("sent an unreadable answer: {e}"))
    }
}
