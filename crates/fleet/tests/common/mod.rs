//! Shared helpers of the fleet's integration tests: real agents on
//! 127.0.0.1:0, a directory and store for them, and ONNX variants of the
//! demo model (broken, NaN-producing, padded to a large size).
// Test helpers: a failed setup step should panic the test at once.
#![allow(dead_code, clippy::unwrap_used)]

use edgefleet_agent::{AgentConfig, AgentHandle, spawn};
use edgefleet_core::{Device, DeviceType};
use edgefleet_fleet::{AgentClient, Directory, http_client};
use edgefleet_store::Store;
use prost::Message;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tempfile::TempDir;
use tract_onnx::pb;

pub const TOKEN: &str = "test-token-0123";

pub struct Agents {
    pub handles: Vec<Option<AgentHandle>>,
    pub ids: Vec<String>,
    pub dirs: Vec<TempDir>,
}

pub async fn start_agents(n: usize) -> Agents {
    let mut handles = Vec::new();
    let mut ids = Vec::new();
    let mut dirs = Vec::new();
    for i in 0..n {
        let dir = tempfile::tempdir().unwrap();
        let id = format!("dev-{i}");
        let mut config = AgentConfig::new(Device::new(&id, DeviceType::EdgeServer, 2, 2048, 16.0), dir.path());
        config.token = Some(TOKEN.into());
        config.benchmark_duration = Duration::from_millis(10);
        handles.push(Some(spawn(config).await.unwrap()));
        ids.push(id);
        dirs.push(dir);
    }
    Agents { handles, ids, dirs }
}

impl Agents {
    pub fn directory(&self) -> Directory {
        Directory::from_entries(
            http_client().unwrap(),
            self.handles.iter().flatten().map(|h| (h.device_id.clone(), h.addr, Some(h.token.clone()))),
        )
    }

    pub fn client(&self, i: usize) -> AgentClient {
        let h = self.handles[i].as_ref().unwrap();
        AgentClient::new(http_client().unwrap(), h.addr, Some(h.token.clone())).timeout(Duration::from_secs(10))
    }

    /// (version, sha256) of the active version of `name` on agent `i`.
    pub async fn active(&self, i: usize, name: &str) -> Option<(String, String)> {
        let models = self.client(i).models().await.unwrap().models;
        models.into_iter().find(|m| m.name == name && m.active).map(|m| (m.version, m.sha256))
    }

    pub async fn versions(&self, i: usize, name: &str) -> Vec<String> {
        let models = self.client(i).models().await.unwrap().models;
        models.into_iter().filter(|m| m.name == name).map(|m| m.version).collect()
    }
}

pub fn memory_store() -> Arc<Mutex<Store>> {
    Arc::new(Mutex::new(Store::open_in_memory().unwrap()))
}

pub fn assets() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/models")
}

pub fn mlp_path() -> PathBuf {
    assets().join("mlp_digits.onnx")
}

fn mlp_proto() -> pb::ModelProto {
    pb::ModelProto::decode(std::fs::read(mlp_path()).unwrap().as_slice()).unwrap()
}

fn write(dir: &Path, file: &str, model: &pb::ModelProto) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(&path, model.encode_to_vec()).unwrap();
    path
}

/// The MLP with an op no runtime knows: valid protobuf, refused at load.
pub fn unloadable_model(dir: &Path) -> PathBuf {
    let mut m = mlp_proto();
    m.graph.as_mut().unwrap().node[0].op_type = "NoSuchOp".into();
    write(dir, "unloadable.onnx", &m)
}

/// Loads and runs, but answers NaN for an all-zero input (`0 / 0`): fails
/// the health check after a successful activation.
pub fn nan_model(dir: &Path) -> PathBuf {
    use pb::tensor_shape_proto::{Dimension, dimension::Value as D};
    let value = |name: &str| pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: 1,
                shape: Some(pb::TensorShapeProto {
                    dim: vec![
                        Dimension { value: Some(D::DimParam("N".into())), ..Default::default() },
                        Dimension { value: Some(D::DimValue(64)), ..Default::default() },
                    ],
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let node = pb::NodeProto {
        input: vec!["X".into(), "X".into()],
        output: vec!["Y".into()],
        name: "div".into(),
        op_type: "Div".into(),
        ..Default::default()
    };
    let model = pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: 13 }],
        graph: Some(pb::GraphProto {
            node: vec![node],
            name: "nan".into(),
            input: vec![value("X")],
            output: vec![value("Y")],
            ..Default::default()
        }),
        ..Default::default()
    };
    write(dir, "nan.onnx", &model)
}

/// The MLP plus an unused initializer of `pad_bytes`: same answers, a file
/// large enough to interrupt mid-upload. `seed` makes distinct files.
pub fn padded_model(dir: &Path, file: &str, pad_bytes: usize, seed: u8) -> PathBuf {
    let mut m = mlp_proto();
    let raw: Vec<u8> = (0..pad_bytes).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
    m.graph.as_mut().unwrap().initializer.push(pb::TensorProto {
        name: "unused_padding".into(),
        dims: vec![pad_bytes as i64],
        data_type: 2, // uint8
        raw_data: raw,
        ..Default::default()
    });
    write(dir, file, &m)
}

/// The digits eval set: (64 features, label) rows.
pub fn digits_eval() -> Vec<(Vec<f32>, usize)> {
    let text = std::fs::read_to_string(assets().join("digits_eval.csv")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut v: Vec<f32> = l.split(',').map(|x| x.trim().parse().unwrap()).collect();
            let label = v.pop().unwrap() as usize;
            (v, label)
        })
        .collect()
}

pub fn sha256_of(path: &Path) -> String {
    edgefleet_fleet::rollout::sha256_file(path).unwrap()
}
