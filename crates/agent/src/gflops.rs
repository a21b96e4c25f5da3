//! The start-up compute probe: what a model of the usual kind really gets
//! on this machine, measured through the agent's own runtime.
//!
//! - per thread: a dense layer (`MatMul`, [64 × 512] · [512 × 512]), the
//!   shape of a batched MLP layer, run by the runtime on one thread — the
//!   way tract runs a model — its fastest call;
//! - all cores: the same on one thread per core at once (the sum), the
//!   device's total;
//! - per-call overhead: the p50 of a call of a 1 × 3 · 3 × 3 `MatMul`,
//!   where compute is nothing and dispatch, copies and output are all;
//! - weight reading: the fastest batch-1 call of a 1024 × 1024 layer (4 MiB
//!   of weights, each used once: memory-bound), less the overhead — what a
//!   small batch costs however few its FLOPs.
//!
//! A hand-rolled loop or another GEMM library would measure something the
//! models never run on; this runs the same code path as `/v1/predict`.

use edgefleet_optimize::{OptimizeError, Runner, Runtime};
use std::time::{Duration, Instant};
use tract_onnx::pb;

/// Rows, inner and output width of the probe layer.
const PROBE_M: usize = 64;
const PROBE_K: usize = 512;
const PROBE_N: usize = 512;
/// Side of the weight-reading layer: 4 MiB of f32 weights, beyond most L2 caches.
const WIDE: usize = 1024;

/// What the probe found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ComputeProbe {
    /// One inference thread, GFLOP/s.
    pub gflops_per_thread: f64,
    /// All cores at once, GFLOP/s.
    pub gflops_all_threads: f64,
    /// One near-empty call, ms (p50).
    pub call_overhead_ms: f64,
    /// GB/s one thread streams weights at (batch-1 dense layer).
    pub weight_read_gbps: f64,
}

/// A one-node `Y = X · W` model, X of shape [N, k], W of shape [k, n].
pub(crate) fn matmul_model(k: usize, n: usize) -> pb::ModelProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value as D};
    let value = |name: &str, width: usize| pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: 1,
                shape: Some(pb::TensorShapeProto {
                    dim: vec![
                        Dimension { value: Some(D::DimParam("N".into())), ..Default::default() },
                        Dimension { value: Some(D::DimValue(width as i64)), ..Default::default() },
                    ],
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let weights = pb::TensorProto {
        name: "W".into(),
        dims: vec![k as i64, n as i64],
        data_type: 1,
        float_data: (0..k * n).map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.01).collect(),
        ..Default::default()
    };
    let node = pb::NodeProto {
        input: vec!["X".into(), "W".into()],
        output: vec!["Y".into()],
        name: "probe".into(),
        op_type: "MatMul".into(),
        ..Default::default()
    };
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: 13 }],
        producer_name: "edgefleet-agent compute probe".into(),
        graph: Some(pb::GraphProto {
            node: vec![node],
            name: "probe".into(),
            initializer: vec![weights],
            input: vec![value("X", k)],
            output: vec![value("Y", n)],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Calls of the probe layer that fit in `budget` on this thread: (calls,
/// seconds). At least 2, after one untimed call that builds the plan.
fn layer_calls(runner: &Runner, budget: Duration) -> Result<(u64, f64), OptimizeError> {
    let shape = runner.input_shape(PROBE_M);
    let data: Vec<f32> = (0..PROBE_M * PROBE_K).map(|i| (i % 17) as f32 * 0.05).collect();
    runner.session().run(&shape, &data)?;
    let start = Instant::now();
    let mut calls = 0u64;
    while calls < 2 || start.elapsed() < budget {
        std::hint::black_box(runner.session().run(&shape, &data)?);
        calls += 1;
    }
    Ok((calls, start.elapsed().as_secs_f64().max(1e-9)))
}

const LAYER_FLOPS: f64 = 2.0 * (PROBE_M * PROBE_K * PROBE_N) as f64;

/// The fastest of the probe layer's calls that fit in `budget` (at least
/// 5, after one untimed call that builds the plan), seconds.
fn fastest_call_s(runner: &Runner, budget: Duration) -> Result<f64, OptimizeError> {
    let shape = runner.input_shape(PROBE_M);
    let data: Vec<f32> = (0..PROBE_M * PROBE_K).map(|i| (i % 17) as f32 * 0.05).collect();
    runner.session().run(&shape, &data)?;
    let start = Instant::now();
    let (mut calls, mut fastest) = (0u32, f64::INFINITY);
    while calls < 5 || start.elapsed() < budget {
        let t = Instant::now();
        std::hint::black_box(runner.session().run(&shape, &data)?);
        fastest = fastest.min(t.elapsed().as_secs_f64());
        calls += 1;
    }
    Ok(fastest.max(1e-9))
}

/// The near-empty model whose calls measure the per-call overhead (a
/// 1 × 3 · 3 × 3 `MatMul`: compute is nothing; dispatch, copies and output
/// are all).
pub(crate) fn overhead_runner(runtime: &dyn Runtime) -> Result<Runner, OptimizeError> {
    Runner::load(runtime, matmul_model(3, 3))
}

/// The p50 of `runs` batch-1 calls of [`overhead_runner`]'s model, ms.
pub(crate) fn call_overhead_p50_ms(tiny: &Runner, runs: usize) -> Result<f64, OptimizeError> {
    let shape = tiny.input_shape(1);
    let mut times = tiny.session().benchmark(&shape, &[0.5, 0.25, 0.125], 3, runs.max(1))?;
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Probe this machine for about 3 × `budget` with `runtime`.
pub fn probe_compute(runtime: &dyn Runtime, budget: Duration) -> Result<ComputeProbe, OptimizeError> {
    let layer = Runner::load(runtime, matmul_model(PROBE_K, PROBE_N))?;
    // The fastest single call: on a shared machine most calls lose part of
    // the core to others, and the load is accounted for separately (the
    // scheduler share), so the thread's own speed is its best call.
    let gflops_per_thread = LAYER_FLOPS / fastest_call_s(&layer, budget)? / 1e9;

    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let gflops_all_threads = if threads <= 1 {
        gflops_per_thread
    } else {
        let runners = (0..threads)
            .map(|_| Runner::load(runtime, matmul_model(PROBE_K, PROBE_N)))
            .collect::<Result<Vec<_>, _>>()?;
        let results = std::thread::scope(|s| {
            let handles: Vec<_> = runners.iter().map(|r| s.spawn(move || layer_calls(r, budget))).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(OptimizeError::Unsupported("probe thread panicked".into()))))
                .collect::<Result<Vec<_>, _>>()
        })?;
        results.iter().map(|&(calls, secs)| LAYER_FLOPS * calls as f64 / secs / 1e9).sum::<f64>()
    };

    let runs = (budget.as_secs_f64() / 20e-6).clamp(50.0, 2000.0) as usize;
    let call_overhead_ms = call_overhead_p50_ms(&overhead_runner(runtime)?, runs)?;

    let wide = Runner::load(runtime, matmul_model(WIDE, WIDE))?;
    let shape = wide.input_shape(1);
    let x: Vec<f32> = (0..WIDE).map(|i| (i % 7) as f32 * 0.1).collect();
    let runs = (budget.as_secs_f64() / 0.5e-3).clamp(5.0, 400.0) as usize;
    let times = wide.session().benchmark(&shape, &x, 2, runs)?;
    let fastest_ms = times.iter().copied().fold(f64::INFINITY, f64::min);
    let weight_bytes = (WIDE * WIDE * 4) as f64;
    // Bytes per ms ÷ 10⁶ = GB/s; never below what the whole call implies.
    let read_ms = (fastest_ms - call_overhead_ms).max(fastest_ms * 0.5).max(1e-6);
    let weight_read_gbps = weight_bytes / read_ms / 1e6;
    Ok(ComputeProbe { gflops_per_thread, gflops_all_threads, call_overhead_ms, weight_read_gbps })
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgefleet_optimize::TractRuntime;

    #[test]
    fn probe_measures_plausible_figures_in_budget() {
        let start = Instant::now();
        let p = probe_compute(&TractRuntime, Duration::from_millis(30)).unwrap();
        let took = start.elapsed();
        assert!(p.gflops_per_thread > 0.05 && p.gflops_per_thread < 2000.0, "{p:?}");
        // All cores together do at least most of what one does alone.
        assert!(p.gflops_all_threads > 0.5 * p.gflops_per_thread, "{p:?}");
        assert!(p.call_overhead_ms > 0.0 && p.call_overhead_ms < 5.0, "{p:?}");
        assert!(p.weight_read_gbps > 0.05 && p.weight_read_gbps < 1000.0, "{p:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }
}
