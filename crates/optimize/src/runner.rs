//! Running an ONNX model with tract: load once, build an optimized plan per
//! batch size (cached), and run batches of flat float rows.
//!
//! This is the one inference path of edgefleet: the agent serves predictions
//! through it and the optimizer measures latency and accuracy through it, so
//! what is measured is what is served.

use crate::error::{OptimizeError, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tract_onnx::pb;
use tract_onnx::prelude::*;

/// How many batch sizes keep a compiled plan; older ones are dropped.
const MAX_CACHED_PLANS: usize = 8;

type Plan = Arc<TypedRunnableModel>;

/// A loaded model ready to run batches.
pub struct Runner {
    proto: pb::ModelProto,
    input_name: String,
    /// Shape of one sample (the input shape without its batch dimension).
    sample_shape: Vec<usize>,
    plans: Mutex<HashMap<usize, Plan>>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("input", &self.input_name).field("sample_shape", &self.sample_shape).finish()
    }
}

/// Decode ONNX bytes into the protobuf model.
pub fn decode_model(bytes: &[u8]) -> Result<pb::ModelProto> {
    use prost::Message;
    let proto = pb::ModelProto::decode(bytes).map_err(|e| OptimizeError::Decode(e.to_string()))?;
    if proto.graph.is_none() {
        return Err(OptimizeError::Decode("the file has no graph".into()));
    }
    Ok(proto)
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
    /// Load a model from ONNX bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Runner> {
        Runner::from_proto(decode_model(bytes)?)
    }

    /// Load a model already decoded (e.g. one just rewritten in memory).
    pub fn from_proto(proto: pb::ModelProto) -> Result<Runner> {
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
        let runner = Runner { input_name: input.name.clone(), proto, sample_shape, plans: Mutex::new(HashMap::new()) };
        // Build the batch-1 plan now so an op tract cannot run is reported at load.
        runner.plan(1)?;
        Ok(runner)
    }

    /// Number of floats in one sample (one row of a predict request).
    pub fn features_per_sample(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// The sample shape without the batch dimension.
    pub fn sample_shape(&self) -> &[usize] {
        &self.sample_shape
    }

    /// The batch size the model's input fixes, if its first dimension is
    /// a number rather than a symbol (then only that batch runs).
    pub fn fixed_batch(&self) -> Option<usize> {
        let graph = self.proto.graph.as_ref()?;
        let input = real_inputs(graph).into_iter().find(|i| i.name == self.input_name)?;
        value_dims(input).first().copied().flatten().map(|n| n as usize)
    }

    /// The ops of tract's optimized plan at a batch size (e.g. to check
    /// which kernels an integer model really runs).
    pub fn plan_ops(&self, batch: usize) -> Result<Vec<String>> {
        let plan = self.plan(batch)?;
        Ok(plan.model().nodes().iter().map(|n| n.op().name().to_string()).collect())
    }

    /// The decoded model.
    pub fn proto(&self) -> &pb::ModelProto {
        &self.proto
    }

    fn plan(&self, batch: usize) -> Result<Plan> {
        if let Some(p) =
            self.plans.lock().map_err(|_| OptimizeError::Runtime("plan cache poisoned".into()))?.get(&batch)
        {
            return Ok(p.clone());
        }
        let mut shape = vec![batch];
        shape.extend_from_slice(&self.sample_shape);
        let plan = tract_onnx::onnx()
            .model_for_proto_model(&self.proto)
            .and_then(|m| m.with_input_fact(0, f32::fact(&shape).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(OptimizeError::runtime)?;
        let mut plans = self.plans.lock().map_err(|_| OptimizeError::Runtime("plan cache poisoned".into()))?;
        if plans.len() >= MAX_CACHED_PLANS
            && let Some(&evict) = plans.keys().find(|&&b| b != 1)
        {
            plans.remove(&evict);
        }
        plans.insert(batch, plan.clone());
        Ok(plan)
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
        let mut shape = vec![batch];
        shape.extend_from_slice(&self.sample_shape);
        let tensor = Tensor::from_shape(&shape, data).map_err(OptimizeError::runtime)?;
        let outputs = self.plan(batch)?.run(tvec!(tensor.into())).map_err(OptimizeError::runtime)?;
        let out = outputs.first().ok_or_else(|| OptimizeError::Runtime("the model produced no output".into()))?;
        let out = out.cast_to::<f32>().map_err(OptimizeError::runtime)?;
        let values: Vec<f32> =
            out.to_plain_array_view::<f32>().map_err(OptimizeError::runtime)?.iter().copied().collect();
        if !values.len().is_multiple_of(batch) {
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
