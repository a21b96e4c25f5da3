//! ONNX Runtime behind the [`Runtime`] trait, through the `ort` crate with
//! `load-dynamic`: nothing is downloaded at build time; the shared library
//! is found at run time ([`super::locate`]) and loaded once per process
//! (ONNX Runtime allows one environment a process).
//!
//! Sessions run every graph optimization level (basic, extended, layout —
//! what Python's `onnxruntime` does by default) with the intra-op thread
//! count set explicitly (1 unless told otherwise, so figures compare with
//! tract's single thread) and one inter-op thread.

use super::locate::{INSTALL_HINT, OrtLibrary, locate, version_from_path};
use super::{Runtime, RuntimeKind, Session};
use crate::error::{OptimizeError, Result};
use crate::proto::encode_model;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tract_onnx::pb;

/// The library loaded in this process and its environment.
#[derive(Debug)]
struct Loaded {
    library: OrtLibrary,
    version: String,
    env: ort::environment::Environment,
}

static LOADED: Mutex<Option<Arc<Loaded>>> = Mutex::new(None);

/// ONNX Runtime, loaded.
#[derive(Debug, Clone)]
pub struct OrtRuntime {
    loaded: Arc<Loaded>,
    intra_threads: usize,
}

fn ort_err(e: impl std::fmt::Display) -> OptimizeError {
    OptimizeError::Ort(e.to_string())
}

impl OrtRuntime {
    /// Find and load the library (see [`super::locate`]); later calls reuse
    /// the one already loaded. A missing or incompatible library is a
    /// one-line [`OptimizeError::OrtUnavailable`], never a panic.
    pub fn load(ort_lib: Option<&Path>) -> Result<OrtRuntime> {
        let mut slot =
            LOADED.lock().map_err(|_| OptimizeError::OrtUnavailable("ONNX Runtime state poisoned".into()))?;
        if let Some(loaded) = slot.as_ref() {
            if let Some(flag) = ort_lib {
                let wanted = locate(Some(flag))?;
                let same = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
                if same(&wanted.path) != same(&loaded.library.path) {
                    return Err(OptimizeError::OrtUnavailable(format!(
                        "ONNX Runtime is already loaded from {} in this process; cannot load {} too",
                        loaded.library,
                        wanted.path.display()
                    )));
                }
            }
            return Ok(OrtRuntime { loaded: loaded.clone(), intra_threads: 1 });
        }
        let library = locate(ort_lib)?;
        let unusable = |e: &dyn std::fmt::Display| {
            OptimizeError::OrtUnavailable(format!(
                "ONNX Runtime library {library} cannot be used: {}; {INSTALL_HINT}",
                e.to_string().replace('\n', " ")
            ))
        };
        let builder = ort::init_from(&library.path).map_err(|e| unusable(&e))?;
        let env = builder.with_name("edgefleet").with_telemetry(false).build().map_err(|e| unusable(&e))?;
        let version = version_from_path(&library.path).unwrap_or_else(|| "unknown".into());
        let loaded = Arc::new(Loaded { library, version, env });
        *slot = Some(loaded.clone());
        Ok(OrtRuntime { loaded, intra_threads: 1 })
    }

    /// Use `n` intra-op threads (at least 1) in sessions loaded from now on.
    pub fn with_intra_threads(mut self, n: usize) -> OrtRuntime {
        self.intra_threads = n.max(1);
        self
    }

    pub fn intra_threads(&self) -> usize {
        self.intra_threads
    }

    /// The library file and where it was found.
    pub fn library(&self) -> &OrtLibrary {
        &self.loaded.library
    }
}

impl Runtime for OrtRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Ort
    }

    fn version(&self) -> String {
        self.loaded.version.clone()
    }

    fn supported_ops(&self) -> Vec<String> {
        super::ops::ort_ops().iter().cloned().collect()
    }

    fn library(&self) -> Option<String> {
        Some(self.loaded.library.to_string())
    }

    fn load(&self, model: &Arc<pb::ModelProto>, input_name: &str, _sample_shape: &[usize]) -> Result<Box<dyn Session>> {
        let bytes = encode_model(model);
        let session = ort::session::Session::builder(&self.loaded.env)
            .map_err(ort_err)?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(ort_err)?
            .with_intra_threads(self.intra_threads)
            .map_err(ort_err)?
            .with_inter_threads(1)
            .map_err(ort_err)?
            .commit_from_memory(&bytes)
            .map_err(ort_err)?;
        Ok(Box::new(OrtSession { session: Mutex::new(session), input_name: input_name.to_owned() }))
    }
}

/// A model ONNX Runtime loaded. `ort` runs a session through `&mut`, so
/// concurrent requests take turns on it.
#[derive(Debug)]
pub struct OrtSession {
    session: Mutex<ort::session::Session>,
    input_name: String,
}

impl Session for OrtSession {
    fn run(&self, shape: &[usize], data: &[f32]) -> Result<Vec<f32>> {
        let input = TensorRef::from_array_view((shape.to_vec(), data)).map_err(ort_err)?;
        let mut session = self.session.lock().map_err(|_| OptimizeError::Ort("session poisoned".into()))?;
        let outputs = session.run(ort::inputs![self.input_name.as_str() => input]).map_err(ort_err)?;
        if outputs.len() == 0 {
            return Err(OptimizeError::Ort("the model produced no output".into()));
        }
        let (_, values) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| OptimizeError::Ort(format!("the first output is not a float tensor: {e}")))?;
        Ok(values.to_vec())
    }
}
