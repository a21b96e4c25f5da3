//! Serving one model file over HTTP for agents that pull it (a `deploy`
//! command through the broker): `GET /{file name}` answers the whole file,
//! or from byte N on with `Range: bytes=N-` (206), so an agent whose
//! download broke resumes where its store's part ends. Any HTTP server or
//! object store that honours `Range` does the same job.

use crate::error::{FleetError, Result};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_RANGE, RANGE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::oneshot;

/// A running file server; stops when dropped or [`ModelFileServer::stop`]ped.
pub struct ModelFileServer {
    /// `http://ADDR/FILE`: what a deploy command names.
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl ModelFileServer {
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for ModelFileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Served {
    path: PathBuf,
    name: String,
}

/// Serve `path` on `bind` (port 0 = any) under its own file name. The URL
/// names the bound address, so bind the address agents reach (not 0.0.0.0).
pub async fn serve_model_file(path: PathBuf, bind: SocketAddr) -> Result<ModelFileServer> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
    serve_model_file_as(path, &name, bind).await
}

/// Serve `path` on `bind` as `http://ADDR/{name}` (a rollout serves each
/// model version under `NAME-VERSION.onnx`, whatever the file is called).
pub async fn serve_model_file_as(path: PathBuf, name: &str, bind: SocketAddr) -> Result<ModelFileServer> {
    if bind.ip().is_unspecified() {
        return Err(FleetError::BadInput(format!("{bind}: serve on an address the agents reach, not {}", bind.ip())));
    }
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        return Err(FleetError::BadInput(format!("{}: use a file name of A–Z a–z 0–9 . _ -", path.display())));
    }
    let name = name.to_owned();
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|source| FleetError::Io { path: bind.to_string(), source })?;
    let addr = listener.local_addr().map_err(|source| FleetError::Io { path: bind.to_string(), source })?;
    let url = format!("http://{addr}/{name}");
    let app = Router::new().route("/{file}", axum::routing::get(get_file)).with_state(Arc::new(Served { path, name }));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::warn!("model file server stopped: {e}");
        }
    });
    Ok(ModelFileServer { url, stop: Some(stop), task })
}

fn status(code: StatusCode, text: impl Into<String>) -> Response {
    (code, text.into()).into_response()
}

/// `bytes=N-` → N; anything else (multiple ranges, suffixes) is refused.
fn range_start(headers: &HeaderMap) -> std::result::Result<Option<u64>, ()> {
    let Some(v) = headers.get(RANGE) else { return Ok(None) };
    let v = v.to_str().map_err(|_| ())?;
    let n = v.strip_prefix("bytes=").and_then(|r| r.strip_suffix('-')).ok_or(())?;
    n.trim().parse().map(Some).map_err(|_| ())
}

async fn get_file(State(served): State<Arc<Served>>, Path(file): Path<String>, headers: HeaderMap) -> Response {
    if file != served.name {
        return status(StatusCode::NOT_FOUND, "no such file");
    }
    let Ok(start) = range_start(&headers) else {
        return status(StatusCode::RANGE_NOT_SATISFIABLE, "only `Range: bytes=N-` is served");
    };
    let mut f = match tokio::fs::File::open(&served.path).await {
        Ok(f) => f,
        Err(e) => return status(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let total = match f.metadata().await {
        Ok(m) => m.len(),
        Err(e) => return status(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let from = start.unwrap_or(0);
    if from >= total && total > 0 {
        return status(StatusCode::RANGE_NOT_SATISFIABLE, format!("bytes {from}- of a {total}-byte file"));
    }
    if let Err(e) = f.seek(std::io::SeekFrom::Start(from)).await {
        return status(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    }
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(f.take(total - from)));
    let len = (CONTENT_LENGTH, (total - from).to_string());
    match start {
        Some(s) => {
            let range = (CONTENT_RANGE, format!("bytes {s}-{}/{total}", total - 1));
            (StatusCode::PARTIAL_CONTENT, [len, range], body).into_response()
        }
        None => (StatusCode::OK, [len], body).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_the_file_whole_or_from_a_byte_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.onnx");
        std::fs::write(&path, b"0123456789").unwrap();
        let server = serve_model_file(path, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        // reqwest is built without a crypto provider of its own (the console
        // installs ring's); this test may run before anything else did.
        edgefleet_agent::install_crypto_provider();
        let http = reqwest::Client::new();
        let whole = http.get(&server.url).send().await.unwrap();
        assert_eq!(whole.status(), 200);
        assert_eq!(whole.bytes().await.unwrap().as_ref(), b"0123456789");
        let part = http.get(&server.url).header("range", "bytes=4-").send().await.unwrap();
        assert_eq!(part.status(), 206);
        assert_eq!(part.headers()["content-range"], "bytes 4-9/10");
        assert_eq!(part.bytes().await.unwrap().as_ref(), b"456789");
        let other = http.get(server.url.replace("m.onnx", "x.onnx")).send().await.unwrap();
        assert_eq!(other.status(), 404);
        let bad = http.get(&server.url).header("range", "bytes=-3").send().await.unwrap();
        assert_eq!(bad.status(), 416);
        server.stop().await;
        assert!(serve_model_file("m.onnx".into(), "0.0.0.0:0".parse().unwrap()).await.is_err());
    }
}
