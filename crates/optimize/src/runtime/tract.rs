//! tract behind the [`Runtime`] trait: pure Rust, no native library, one
//! thread. A loaded model builds an optimized plan per batch size (cached,
//! batch 1 built at load so an op tract cannot run is reported then).

use super::{Runtime, RuntimeKind, Session};
use crate::error::{OptimizeError, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tract_onnx::pb;
use tract_onnx::prelude::*;

/// The tract-onnx version edgefleet is built with (checked against
/// Cargo.lock by a test, since tract exports no version constant).
pub const TRACT_VERSION: &str = "0.23.9";

/// How many batch sizes keep a compiled plan (batch 1's always stays; of
/// the others the least recently used is dropped). Each plan holds its own
/// copy of the weights, so this bounds what a served model can grow to:
/// the decoded model + this many copies (a client sending every batch size
/// in turn cannot make it hold more). Rebuilding a dropped plan costs
/// milliseconds for small models.
const MAX_CACHED_PLANS: usize = 4;

type Plan = Arc<TypedRunnableModel>;

/// tract, the runtime that needs no native library.
#[derive(Debug, Clone, Copy, Default)]
pub struct TractRuntime;

impl Runtime for TractRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Tract
    }

    fn version(&self) -> String {
        TRACT_VERSION.to_owned()
    }

    fn supported_ops(&self) -> Vec<String> {
        super::ops::tract_ops().iter().cloned().collect()
    }

    fn load(&self, model: &Arc<pb::ModelProto>, _input_name: &str, sample_shape: &[usize]) -> Result<Box<dyn Session>> {
        // Intermediate shapes written with a symbolic batch (ONNX Runtime's
        // tools write them) would not unify with the concrete batch of a
        // plan; tract infers them itself. Only such a model is copied (to
        // drop them); any other is shared with the caller.
        let has_value_info = model.graph.as_ref().is_some_and(|g| !g.value_info.is_empty());
        let proto = if has_value_info {
            let mut copy = pb::ModelProto::clone(model);
            if let Some(g) = copy.graph.as_mut() {
                g.value_info.clear();
            }
            Arc::new(copy)
        } else {
            Arc::clone(model)
        };
        let session =
            TractSession { proto, sample_shape: sample_shape.to_vec(), plans: Mutex::new(PlanCache::default()) };
        session.plan(1)?;
        Ok(Box::new(session))
    }
}

/// A model tract loaded: the decoded graph and its plans by batch size.
pub struct TractSession {
    proto: Arc<pb::ModelProto>,
    sample_shape: Vec<usize>,
    /// Plans by batch size, each with the tick it was last used at.
    plans: Mutex<PlanCache>,
}

#[derive(Default)]
struct PlanCache {
    plans: HashMap<usize, (Plan, u64)>,
    tick: u64,
}

impl std::fmt::Debug for TractSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TractSession").field("sample_shape", &self.sample_shape).finish()
    }
}

impl TractSession {
    fn plan(&self, batch: usize) -> Result<Plan> {
        let poisoned = || OptimizeError::Runtime("plan cache poisoned".into());
        {
            let mut cache = self.plans.lock().map_err(|_| poisoned())?;
            cache.tick += 1;
            let tick = cache.tick;
            if let Some((p, used)) = cache.plans.get_mut(&batch) {
                *used = tick;
                return Ok(p.clone());
            }
        }
        let mut shape = vec![batch];
        shape.extend_from_slice(&self.sample_shape);
        let plan = tract_onnx::onnx()
            .model_for_proto_model(&self.proto)
            .and_then(|m| m.with_input_fact(0, f32::fact(&shape).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(OptimizeError::runtime)?;
        let mut cache = self.plans.lock().map_err(|_| poisoned())?;
        if cache.plans.len() >= MAX_CACHED_PLANS
            && let Some(evict) =
                cache.plans.iter().filter(|(b, _)| **b != 1).min_by_key(|(_, (_, used))| *used).map(|(b, _)| *b)
        {
            cache.plans.remove(&evict);
        }
        cache.tick += 1;
        let tick = cache.tick;
        cache.plans.insert(batch, (plan.clone(), tick));
        Ok(plan)
    }

    /// The batch sizes holding a plan now.
    #[cfg(test)]
    fn cached_batches(&self) -> Vec<usize> {
        let mut b: Vec<usize> = self.plans.lock().map(|c| c.plans.keys().copied().collect()).unwrap_or_default();
        b.sort_unstable();
        b
    }
}

impl Session for TractSession {
    fn run(&self, shape: &[usize], data: &[f32]) -> Result<Vec<f32>> {
        let batch = shape.first().copied().unwrap_or(1);
        let tensor = Tensor::from_shape(shape, data).map_err(OptimizeError::runtime)?;
        let outputs = self.plan(batch)?.run(tvec!(tensor.into())).map_err(OptimizeError::runtime)?;
        let out = outputs.first().ok_or_else(|| OptimizeError::Runtime("the model produced no output".into()))?;
        let out = out.cast_to::<f32>().map_err(OptimizeError::runtime)?;
        Ok(out.to_plain_array_view::<f32>().map_err(OptimizeError::runtime)?.iter().copied().collect())
    }

    fn plan_ops(&self, batch: usize) -> Result<Vec<String>> {
        let plan = self.plan(batch)?;
        Ok(plan.model().nodes().iter().map(|n| n.op().name().to_string()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_1_stays_and_the_least_recently_used_plan_goes() {
        let proto = crate::proto::decode_model(
            &std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/models/mlp_digits.onnx")).unwrap(),
        )
        .unwrap();
        let session =
            TractSession { proto: Arc::new(proto), sample_shape: vec![64], plans: Mutex::new(PlanCache::default()) };
        for b in [1, 2, 3, 4] {
            session.plan(b).unwrap();
        }
        session.plan(2).unwrap(); // 3 is now the least recently used
        session.plan(5).unwrap();
        assert_eq!(session.cached_batches(), vec![1, 2, 4, 5]);
        for b in 6..20 {
            session.plan(b).unwrap();
        }
        assert_eq!(session.cached_batches().len(), MAX_CACHED_PLANS);
        assert!(session.cached_batches().contains(&1));
    }

    #[test]
    fn the_version_constant_matches_the_lock_file() {
        let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock")).unwrap();
        let entry = format!("name = \"tract-onnx\"\nversion = \"{TRACT_VERSION}\"");
        assert!(lock.contains(&entry), "update TRACT_VERSION to the tract-onnx in Cargo.lock");
    }
}
