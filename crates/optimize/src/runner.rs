//! Running an ONNX model: [`Runner`] checks the input, hands batches of
//! flat float rows to a [`Session`] of whichever [`Runtime`] loaded it
//! (tract unless the caller chose), and splits the output per sample.
//!
//! This is the one inference path of edgefleet: the agent serves predictions
//! through it and the optimizer measures latency and accuracy through it, so
//! what is measured is what is served.

use crate::error::{OptimizeError, Result};
pub use crate::proto::decode_model;
use crate::runtime::{Runtime, RuntimeKind, Session, TractRuntime};
use std::sync::Arc;
use tract_onnx::pb;

/// A loaded model ready to run batches.
pub struct Runner {
    /// Shared with the session where the runtime keeps it (see [`Runtime::load`]).
    proto: Arc<pb::ModelProto>,
    input_name: String,
    /// Shape of one sample (the input shape without its batch dimension).
    sample_shape: Vec<usize>,
    runtime: RuntimeKind,
    runtime_label: String,
    session: Box<dyn Session>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("input", &self.input_name)
            .field("sample_shape", &self.sample_shape)
            .field("runtime", &self.runtime_label)
            .finish()
    }
}

/// The graph inputs that are real inputs (not initializers listed as inputs).
pub fn real_inputs(graph: &pb::GraphProto) -> Vec<&pb::ValueInfoProto> {
    let inits: std::collections::HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    graph.input.iter().filter(|i| !inits.contains(i.name.as_str())).collect()
}

/// The declared dims of a value: `Some(n)` for a fixed dim, `None` for a
/// symbolic or missing one.
pub fn value_dims(v: &pb::ValueInfoProto) -> Vec<Option<i64>> {
    use pb::tensor_shape_proto::dimension::Value as D;
    use pb::type_proto::Value as T;
    match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(T::TensorType(t)) => t
            .shape
            .as_ref()
            .map(|s| {
                s.dim
                    .iter()
                    .map(|d| match d.value {
                        Some(D::DimValue(n)) if n > 0 => Some(n),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        None => Vec::new(),
    }
}

impl Runner {
    /// Load a model from ONNX bytes with tract.
    pub fn from_bytes(bytes: &[u8]) -> Result<Runner> {
        Runner::from_proto(decode_model(bytes)?)
    }

    /// Load a model already decoded (e.g. one just rewritten in memory)
    /// with tract.
    pub fn from_proto(proto: pb::ModelProto) -> Result<Runner> {
        Runner::load(&TractRuntime, proto)
    }

    /// Load ONNX bytes with `runtime`.
    pub fn load_bytes(runtime: &dyn Runtime, bytes: &[u8]) -> Result<Runner> {
        Runner::load(runtime, decode_model(bytes)?)
    }

    /// Load a decoded model with `runtime`. Ops the runtime does not
    /// implement are refused up front, naming them; then the runtime loads
    /// the model, so anything else it cannot run is reported here too.
    pub fn load(runtime: &dyn Runtime, proto: pb::ModelProto) -> Result<Runner> {
        let graph = proto.graph.as_ref().ok_or_else(|| OptimizeError::Decode("the file has no graph".into()))?;
        let inputs = real_inputs(graph);
        let input = match inputs.as_slice() {
            [one] => *one,
            [] => return Err(OptimizeError::Unsupported("the model has no input".into())),
            many => {
                return Err(OptimizeError::Unsupported(format!(
                    "the model has {} inputs; edgefleet runs single-input models",
                    many.len()
                )));
            }
        };
        let dims = value_dims(input);
        if dims.is_empty() {
            return Err(OptimizeError::Unsupported(format!("input `{}` has no declared shape", input.name)));
        }
        let sample_shape = dims[1..]
            .iter()
            .enumerate()
            .map(|(i, d)| {
                d.map(|n| n as usize).ok_or_else(|| {
                    OptimizeError::Unsupported(format!(
                        "input `{}` dimension {} is symbolic; only the batch (first) dimension may be",
                        input.name,
                        i + 1
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let missing = runtime.unsupported_ops(&proto);
        if !missing.is_empty() {
            let other = match runtime.kind() {
                RuntimeKind::Tract => RuntimeKind::Ort,
                RuntimeKind::Ort => RuntimeKind::Tract,
            };
            let hint = if missing.iter().all(|op| other.supports(op)) {
                format!(" (only {} runs it)", other.display_name())
            } else {
                String::new()
            };
            return Err(OptimizeError::OpsUnsupported { runtime: runtime.label(), ops: missing.join(", "), hint });
        }
        let input_name = input.name.clone();
        let proto = Arc::new(proto);
        let session = runtime.load(&proto, &input_name, &sample_shape)?;
        Ok(Runner { input_name, proto, sample_shape, runtime: runtime.kind(), runtime_label: runtime.label(), session })
    }

    /// Which runtime runs this model.
    pub fn runtime(&self) -> RuntimeKind {
        self.runtime
    }

    /// The runtime and its version (`tract 0.23.9`, `ort 1.32.0`).
    pub fn runtime_label(&self) -> &str {
        &self.runtime_label
    }

    /// The loaded session (to benchmark it directly).
    pub fn session(&self) -> &dyn Session {
        self.session.as_ref()
    }

    /// Number of floats in one sample (one row of a predict request).
    pub fn features_per_sample(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// The sample shape without the batch dimension.
    pub fn sample_shape(&self) -> &[usize] {
        &self.sample_shape
    }

    /// The full input shape at a batch size.
    pub fn input_shape(&self, batch: usize) -> Vec<usize> {
        let mut shape = vec![batch];
        shape.extend_from_slice(&self.sample_shape);
        shape
    }

    /// The batch size the model's input fixes, if its first dimension is
    /// a number rather than a symbol (then only that batch runs).
    pub fn fixed_batch(&self) -> Option<usize> {
        let graph = self.proto.graph.as_ref()?;
        let input = real_inputs(graph).into_iter().find(|i| i.name == self.input_name)?;
        value_dims(input).first().copied().flatten().map(|n| n as usize)
    }

    /// The ops of the runtime's optimized plan at a batch size (e.g. to
    /// check which kernels an integer model really runs in tract).
    pub fn plan_ops(&self, batch: usize) -> Result<Vec<String>> {
        self.session.plan_ops(batch)
    }

    /// The decoded model.
    pub fn proto(&self) -> &pb::ModelProto {
        &self.proto
    }

    /// Run a batch given as one flat buffer of `batch × features` floats;
    /// returns the first output as one row of values per sample.
    pub fn run_flat(&self, batch: usize, data: &[f32]) -> Result<Vec<Vec<f32>>> {
        let features = self.features_per_sample();
        if batch == 0 {
            return Err(OptimizeError::BadInput("the batch is empty".into()));
        }
        if data.len() != batch * features {
            return Err(OptimizeError::BadInput(format!(
                "expected {batch} × {features} = {} values, got {}",
                batch * features,
                data.len()
            )));
        }
        let values = self.session.run(&self.input_shape(batch), data)?;
        if values.is_empty() || !values.len().is_multiple_of(batch) {
            return Err(OptimizeError::Runtime(format!(
                "output of {} values does not split into {batch} samples",
                values.len()
            )));
        }
        Ok(values.chunks(values.len() / batch).map(<[f32]>::to_vec).collect())
    }

    /// Run a batch of rows, each `features_per_sample()` floats long.
    pub fn run_rows(&self, rows: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        let features = self.features_per_sample();
        if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != features) {
            return Err(OptimizeError::BadInput(format!("row {i} has {} values; the model takes {features}", r.len())));
        }
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        self.run_flat(rows.len(), &flat)
    }
}

/// Index and value of the largest score, and its softmax probability when
/// the scores are not already probabilities.
pub fn top_class(values: &[f32]) -> Option<(usize, f32)> {
    let (k, &max) = values.iter().enumerate().filter(|(_, v)| v.is_finite()).max_by(|a, b| a.1.total_cmp(b.1))?;
    let is_prob = values.iter().all(|v| (0.0..=1.0).contains(v)) && (values.iter().sum::<f32>() - 1.0).abs() < 1e-3;
    let confidence = if is_prob {
        max
    } else {
        let denom: f32 = values.iter().filter(|v| v.is_finite()).map(|v| (v - max).exp()).sum();
        1.0 / denom
    };
    Some((k, confidence))
}
