//! Shared helpers of the agent's integration tests: start an agent on
//! 127.0.0.1:0 (in this process, or the real binary as a child), talk to
//! it, build tiny ONNX models.
// Test helpers: a failed unwrap is a failed test, which is what we want.
#![allow(dead_code, clippy::unwrap_used)]

pub mod dense;

use edgefleet_agent::{AgentConfig, AgentHandle, spawn};
use edgefleet_core::wire::BenchmarkResponse;
use edgefleet_core::{Device, DeviceType};
use prost::Message;
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;
use tract_onnx::pb;

/// Start the agent binary on 127.0.0.1, a free port, over plain HTTP, with
/// `token`, the data in `data_dir` and `args` besides; the child and the
/// address from its first stdout line.
pub fn spawn_binary(data_dir: &Path, token: &str, args: &[&str]) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgefleet-agent"))
        .args(["--bind", "127.0.0.1", "--port", "0", "--token", token, "--insecure-http"])
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("first line: {line:?}"));
    (child, addr.parse().unwrap())
}

pub struct TestAgent {
    pub handle: AgentHandle,
    pub dir: TempDir,
    pub client: reqwest::Client,
}

pub fn test_device(id: &str) -> Device {
    Device::new(id, DeviceType::EmbeddedDevice, 2, 1024, 8.0)
}

pub async fn start(id: &str, configure: impl FnOnce(&mut AgentConfig)) -> TestAgent {
    let dir = tempfile::tempdir().unwrap();
    let mut config = AgentConfig::new(test_device(id), dir.path());
    config.benchmark_duration = Duration::from_millis(10);
    configure(&mut config);
    let handle = spawn(config).await.unwrap();
    TestAgent { handle, dir, client: reqwest::Client::new() }
}

impl TestAgent {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.handle.addr)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(&self.handle.token)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.post(self.url(path)).bearer_auth(&self.handle.token)
    }

    pub fn put_model(&self, name: &str, version: &str, bytes: Vec<u8>, sha: &str) -> reqwest::RequestBuilder {
        self.client
            .put(self.url(&format!("/v1/models/{name}/{version}")))
            .bearer_auth(&self.handle.token)
            .header("x-content-sha256", sha)
            .body(bytes)
    }

    /// `POST /v1/benchmark/{name}` at `batches`, `iterations` calls each.
    pub async fn benchmark(&self, name: &str, batches: &[u32], iterations: u32) -> BenchmarkResponse {
        let body = serde_json::json!({"batch_sizes": batches, "iterations": iterations});
        let r = self.post(&format!("/v1/benchmark/{name}")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200, "benchmark of {name}");
        r.json().await.unwrap()
    }

    /// Upload and activate `bytes` as `name`/`version`.
    pub async fn install(&self, name: &str, version: &str, bytes: Vec<u8>, threshold: Option<f64>) {
        let sha = sha256_hex(&bytes);
        let r = self.put_model(name, version, bytes, &sha).send().await.unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let mut body = serde_json::json!({ "version": version });
        if let Some(t) = threshold {
            body["confidence_threshold"] = t.into();
        }
        let r = self.post(&format!("/v1/models/{name}/activate")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    /// Every file under the data dir's `uploads/`.
    pub fn upload_parts(&self) -> Vec<PathBuf> {
        files_under(&self.dir.path().join("uploads"))
    }
}

pub fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A model `Y = X · W` with X of shape [N, 3]: a 3×3 `MatMul`, so the
/// output (logits) is known exactly for any input.
pub fn matmul_model(w: [[f32; 3]; 3]) -> Vec<u8> {
    matmul_model_with_batch(w, None)
}

/// The same with the batch dimension fixed to `batch` when given.
pub fn matmul_model_with_batch(w: [[f32; 3]; 3], batch: Option<i64>) -> Vec<u8> {
    use pb::tensor_shape_proto::{Dimension, dimension::Value as D};
    let batch_dim = match batch {
        Some(n) => D::DimValue(n),
        None => D::DimParam("N".into()),
    };
    let value = |name: &str| pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: 1,
                shape: Some(pb::TensorShapeProto {
                    dim: vec![
                        Dimension { value: Some(batch_dim.clone()), ..Default::default() },
                        Dimension { value: Some(D::DimValue(3)), ..Default::default() },
                    ],
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let weights = pb::TensorProto {
        name: "W".into(),
        dims: vec![3, 3],
        data_type: 1,
        float_data: w.iter().flatten().copied().collect(),
        ..Default::default()
    };
    let node = pb::NodeProto {
        input: vec!["X".into(), "W".into()],
        output: vec!["Y".into()],
        name: "matmul".into(),
        op_type: "MatMul".into(),
        ..Default::default()
    };
    let model = pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: 13 }],
        producer_name: "edgefleet-agent tests".into(),
        graph: Some(pb::GraphProto {
            node: vec![node],
            name: "tiny".into(),
            initializer: vec![weights],
            input: vec![value("X")],
            output: vec![value("Y")],
            ..Default::default()
        }),
        ..Default::default()
    };
    model.encode_to_vec()
}

pub const IDENTITY: [[f32; 3]; 3] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
/// Moves input feature 0 to output class 2 (1→0, 2→1).
pub const ROTATE: [[f32; 3]; 3] = [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];

pub fn assets_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/models")
}

/// The digits eval set: (64 features, label) rows.
pub fn digits_eval() -> Vec<(Vec<f32>, usize)> {
    let text = std::fs::read_to_string(assets_dir().join("digits_eval.csv")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut v: Vec<f32> = l.split(',').map(|x| x.trim().parse().unwrap()).collect();
            let label = v.pop().unwrap() as usize;
            (v, label)
        })
        .collect()
}

/// `rounds` rounds over every model (15 calls a batch), each (model, batch)
/// keeping its fastest p50: a busy second of other work then slows one
/// round, not the figure.
pub async fn best_of_rounds(
    agent: &TestAgent,
    names: &[&str],
    batches: &[u32],
    rounds: usize,
) -> Vec<BenchmarkResponse> {
    let mut best: Vec<Option<BenchmarkResponse>> = vec![None; names.len()];
    for _ in 0..rounds {
        for (i, name) in names.iter().enumerate() {
            let bench = agent.benchmark(name, batches, 15).await;
            best[i] = Some(match best[i].take() {
                None => bench,
                Some(mut kept) => {
                    for (k, new) in kept.results.iter_mut().zip(&bench.results) {
                        k.latency_ms_p50 = k.latency_ms_p50.min(new.latency_ms_p50);
                    }
                    kept
                }
            });
        }
    }
    best.into_iter().map(Option::unwrap).collect()
}
